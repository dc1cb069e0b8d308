"""Heuristic filters: each rule keeps good zh/en text and drops its own kind of garbage, with reasons."""
import dataclasses
import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from corpus_dag.accounting import Tally
from corpus_dag.quality.filters import (
    FilterConfig,
    FilterConfigError,
    apply_filters,
    heuristic_rules,
    load_filter_config,
    repetition,
)

# Real public test items shipped in the repo (attribution in data/benchmarks/README.md).
BENCHMARKS = Path(__file__).resolve().parents[1] / "data" / "benchmarks"


def real_items(name: str) -> list[dict]:
    """GAOKAO items (zh, with options) or GSM8K questions (en): {id, text}."""
    path = BENCHMARKS / name
    lines = gzip.open(path, "rt", encoding="utf-8") if name.endswith(".gz") else path.open(encoding="utf-8")
    with lines:
        return [json.loads(line) for line in lines]
CFG = FilterConfig(min_chars=50)

GOOD_ZH = (
    "春天来了，公园里的桃花和樱花都开了，许多家庭带着孩子去散步。\n"
    "老人们在湖边下棋聊天，年轻人在草地上放风筝，到处都是欢声笑语。\n"
    "傍晚时分，夕阳把湖面染成了金色，人们才依依不舍地回家。"
)
GOOD_EN = (
    "The library opens at nine in the morning and closes at six in the evening.\n"
    "Visitors can borrow up to five books at a time, and renew them online for two more weeks.\n"
    "Children's reading hour takes place every Saturday, and parents are welcome to join."
)
EN_WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()

# Each garbage document fails one rule first; the test checks that rule is the one named.
GARBAGE = {
    "doc_chars": "太短了。",
    "bad_char_ratio": GOOD_ZH + "\ufffd\ufffd\x00\x01\ue000" * 5,
    "letter_ratio": "——" * 20 + "，。；：、" * 10 + "注意事项如下。",
    "digit_ratio": "\n".join(f"订单编号{i:08d}已经发货完毕请注意查收快递。" for i in range(12345, 12350)),
    "symbol_ratio": "\n".join(f"★☆★ 热门推荐第{c}期 ☆★☆ 点击这里查看更多精彩内容 ♥♥♥ ＄＄。" for c in "一二三四五"),
    "punct_ratio": "\n".join(f"{w}{w}{w}！？！？，，{w}。" for w in ("好的", "快来", "真的", "不行", "走吧")),
    "line_end_punct": "\n".join(f"Home page of {w} and the many products of the company" for w in EN_WORDS[:8]),
    "short_lines": "\n".join(f"{w.title()}." for w in EN_WORDS) + "\nThis page lists the call signs used by radio operators.",
    "dup_lines": "\n".join(["点击下方按钮关注我们的公众号获取更多资讯。"] * 6 + ["本文介绍了春季旅游的几条路线和注意事项。"]),
    "lang": "Le renard brun rapide saute par-dessus le chien paresseux. Une phrase en français, pour tester la langue "
    "du document, qui n'est ni le chinois ni l'anglais.",
}


def _frame(texts: dict[str, str]) -> pl.DataFrame:
    return pl.DataFrame({"doc_id": list(texts), "text": list(texts.values())})


def test_good_zh_and_en_text_is_kept_with_its_language():
    split = apply_filters(_frame({"zh": GOOD_ZH, "en": GOOD_EN}), CFG)
    assert split.dropped.height == 0, split.dropped.select("doc_id", "reason", "value").to_dicts()
    assert dict(split.kept.select("doc_id", "lang").iter_rows()) == {"zh": "zh", "en": "en"}
    assert split.kept.columns == ["doc_id", "text", "lang"]


@pytest.mark.parametrize("rule", sorted(GARBAGE))
def test_each_rule_drops_its_garbage_with_name_value_and_reason(rule):
    split = apply_filters(_frame({"good_zh": GOOD_ZH, "bad": GARBAGE[rule], "good_en": GOOD_EN}), CFG)
    assert split.kept["doc_id"].to_list() == ["good_zh", "good_en"]
    row = split.dropped.row(0, named=True)
    assert row["doc_id"] == "bad"
    assert row["rule"] == f"{rule}@1"
    assert row["reason"].startswith(f"{rule}@1: ")
    assert row["value"] is not None


def test_rule_values_and_reasons_are_exact():
    split = apply_filters(_frame({"short": "短文本，只有十一个字符。", "dup": GARBAGE["dup_lines"]}), CFG)
    by_id = {r["doc_id"]: r for r in split.dropped.iter_rows(named=True)}
    assert by_id["short"]["value"] == 12.0
    assert by_id["short"]["reason"] == "doc_chars@1: below min 50"
    dup_line_bytes = len("点击下方按钮关注我们的公众号获取更多资讯。".encode())
    all_bytes = 6 * dup_line_bytes + len("本文介绍了春季旅游的几条路线和注意事项。".encode())
    assert by_id["dup"]["value"] == pytest.approx(5 * dup_line_bytes / all_bytes)
    assert by_id["dup"]["reason"] == "dup_lines@1: above max 0.3"


def test_rows_balance_and_the_tally_counts_reasons():
    docs = {f"g{i}": GOOD_ZH + f"\n第{i}段。" for i in range(3)} | {f"x_{k}": v for k, v in GARBAGE.items()}
    df = _frame(docs).with_columns(pl.Series("text", [*list(docs.values())[:-1], None]))  # a null text too
    tally = Tally()
    split = tally.add(apply_filters(df, CFG))
    assert tally.balanced and tally.n_in == df.height
    assert tally.n_kept == 3 and split.kept["doc_id"].to_list() == ["g0", "g1", "g2"]
    assert split.dropped["reason"].null_count() == 0 and split.dropped["rule"].null_count() == 0
    assert sum(tally.dropped.values()) == len(GARBAGE)


def test_turned_off_rules_keep_what_they_would_drop():
    off = FilterConfig(min_chars=None, max_chars=None, allowed_langs=())
    split = apply_filters(_frame({"short": "这段文字不到五十个字符，但是句子完整。", "fr": GARBAGE["lang"]}), off)
    assert split.kept.height == 2 and split.kept["lang"].null_count() == 2
    assert "doc_chars" not in {r.name for r in heuristic_rules(off)}


def test_kind_config_from_yaml_and_source_overrides(tmp_path):
    web, exam, code = (load_filter_config(k) for k in ("web", "exam_library", "code"))
    assert web.min_line_end_punct_ratio == 0.12 and exam.min_line_end_punct_ratio is None
    assert code.allowed_langs == () and exam.allowed_langs == ("zh", "en")
    assert load_filter_config("web", {"min_chars": 7}).min_chars == 7
    bad = tmp_path / "filters.yaml"
    bad.write_text("kinds:\n  web:\n    min_charz: 3\n")
    with pytest.raises(FilterConfigError, match="unknown settings \\['min_charz'\\]"):
        load_filter_config("web", path=bad)
    with pytest.raises(FilterConfigError, match="unknown source kind"):
        load_filter_config("novel")


def test_missing_text_column_is_a_clear_error():
    with pytest.raises(ValueError, match="needs a 'text' column"):
        apply_filters(pl.DataFrame({"doc_id": ["a"]}), CFG)


def test_real_exam_questions_mostly_pass_the_exam_library_rules():
    """Real exam items (GAOKAO-Bench, GAOKAO-MM, AGIEval gaokao, with their options) are what the
    exam_library thresholds are for: nearly all must survive."""
    rows = real_items("gaokao.jsonl.gz")
    df = pl.DataFrame({"doc_id": [r["id"] for r in rows], "text": [r["text"] for r in rows]})
    split = apply_filters(df, load_filter_config("exam_library"))
    assert split.n_in == len(rows)
    assert split.kept.height / len(rows) > 0.97, split.dropped.group_by("reason").len().to_dicts()


def test_japanese_kanji_is_not_taken_for_chinese():
    """Han characters alone would say Chinese; kana in the prefix sends the text to lingua instead."""
    ja = "東京の図書館は朝九時に開館し、夕方六時に閉館します。子供向けの読み聞かせは毎週土曜日に行われています。"
    split = apply_filters(_frame({"ja": ja, "zh": GOOD_ZH}), CFG)
    assert split.kept["doc_id"].to_list() == ["zh"]
    assert split.dropped.select("rule", "lang").row(0) == ("lang@1", "ja")


def test_tex_math_does_not_count_against_the_prose():
    """A web page carrying an exam item: its TeX is content, not symbol spam."""
    item = "今天分享一道练习题，附详细解析。\n题目：已知$$f(x)=a{{x}^{3}}+{{x}^{2}}+x+d$$，当$$x\\in [0,1]$$时，求$$a$$的取值范围。"
    split = apply_filters(_frame({"item": item}), load_filter_config("web"))
    assert split.kept.height == 1 and split.kept["lang"][0] == "zh"
    spam = "◇@+☆¥^<|$★■●<§▲☆$○@% 领取 |●◇■$■#◇△>■$&○◇>@ 领取 <○■<◇<|$|☆@ free ◇□◆★~※◆△$§■€*●☆%@@●☆$@@"
    assert apply_filters(_frame({"spam": spam}), load_filter_config("web")).dropped["rule"][0] == "letter_ratio@1"


def test_script_and_stop_word_shortcuts_agree_with_lingua_on_real_text():
    """The cheap decisions (Han script, English stop words) must say what lingua says, on real
    exam items (GAOKAO, mostly zh) and GSM8K questions (en) shipped in data/benchmarks."""
    from corpus_dag.quality.filters import _detector, detect_languages, lang_prefixes

    def texts(name):
        return [r["text"] for r in real_items(name)][:400]

    cfg = FilterConfig()
    prefixes = lang_prefixes(pl.Series(texts("gaokao.jsonl.gz") + texts("gsm8k.jsonl")), 200)
    ours, _ = detect_languages(prefixes, cfg)
    lingua = [
        v[0].language.iso_code_639_1.name.lower() if v and v[0].value > 0 else None
        for v in _detector(cfg.lang_candidates).compute_language_confidence_values_in_parallel(prefixes.to_list())
    ]
    agree = sum(a == b for a, b in zip(ours, lingua)) / len(ours)
    assert agree > 0.97, [(p[:60], a, b) for p, a, b in zip(prefixes, ours, lingua) if a != b][:10]
    assert ours.count("zh") > 250 and ours.count("en") > 400  # the first exam items are English papers


# ---- Gopher repetition rules -------------------------------------------------------------------
ONLY_REPETITION = FilterConfig(
    min_chars=None, max_chars=None, max_bad_char_ratio=None, min_letter_ratio=None, max_digit_ratio=None,
    max_symbol_ratio=None, max_punct_ratio=None, min_line_end_punct_ratio=None, max_short_line_ratio=None,
    max_dup_line_ratio=None, allowed_langs=(), ngram_min_tokens=10,
)


def test_repetition_features_count_han_characters_and_english_words_as_tokens():
    f = repetition(pl.Series(["春天来了春天来了春天来了", "the cat saw the cat\n\nthe cat saw the cat\n\nend"])).row(0, named=True)
    assert f["_tokens"] == 12 and f["_tok_chars"] == 12
    assert f["_top_2gram_chars"] == 3 * 2  # 春天 / 天来 / 来了: three times each, 2 characters
    assert f["_top_4gram_chars"] == 3 * 4
    assert f["_dup_5gram_chars"] == 8  # from the second 春天来了春 on, characters 4..11 are covered
    assert f["_dup_8gram_chars"] == 8  # 春天来了春天来了 again at 4 covers characters 4..11
    assert f["_dup_9gram_chars"] == 0
    en = repetition(pl.Series(["the cat saw the cat\n\nthe cat saw the cat\n\nend"])).row(0, named=True)
    assert en["_tokens"] == 11 and en["_tok_chars"] == 3 + 2 * 15
    assert (en["_paras"], en["_dup_paras"], en["_para_chars"], en["_dup_para_chars"]) == (3, 1, 33, 15)
    assert en["_top_2gram_chars"] == 4 * 6  # "the cat" four times, 6 characters without the space


def test_a_paragraph_is_ended_by_a_blank_line_only():
    f = repetition(pl.Series(["a b\nc d\n\na b\nc d\n\na b"])).row(0, named=True)
    assert (f["_paras"], f["_dup_paras"]) == (3, 1)  # "a b / c d" twice; "a b" alone is another paragraph


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        ("dup_line_count", "\n".join(["好"] * 4 + ["今天的天气非常好，我们去公园散步吧。"] * 2)),
        ("dup_para_count", "\n\n".join(["关注我们"] * 3 + ["今天天气很好，适合出门旅游和散步。"])),
        ("top_2gram", "点赞" * 8 + "今天的天气"),
        ("dup_5gram", "今天的天气很好适合出门" * 3),
        ("dup_10gram", " ".join(["alpha bravo charlie delta echo foxtrot golf hotel india juliet"] * 2)),
    ],
)
def test_each_repetition_rule_drops_its_garbage(rule, text):
    caps = {
        "dup_line_count": {"max_dup_line_count_ratio": 0.3, "max_dup_para_count_ratio": None, "max_dup_para_char_ratio": None},
        "dup_para_count": {"max_dup_line_count_ratio": None, "max_dup_para_count_ratio": 0.3},
        "top_2gram": {"max_top_ngram_char_ratio": ((2, 0.2),)},
        "dup_5gram": {"max_top_ngram_char_ratio": (), "max_dup_ngram_char_ratio": ((5, 0.15),)},
        "dup_10gram": {"max_top_ngram_char_ratio": (), "max_dup_ngram_char_ratio": ((10, 0.1),)},
    }[rule]
    off = {"max_dup_line_count_ratio": None, "max_dup_para_count_ratio": None, "max_dup_para_char_ratio": None,
           "max_top_ngram_char_ratio": (), "max_dup_ngram_char_ratio": ()}
    cfg = dataclasses.replace(ONLY_REPETITION, **(off | caps))
    split = apply_filters(_frame({"bad": text, "good": GOOD_ZH}), cfg)
    assert split.kept["doc_id"].to_list() == ["good"]
    assert split.dropped["rule"].to_list() == [f"{rule}@1"] and split.dropped["value"][0] > 0


def test_short_documents_are_not_judged_by_ngram_rules():
    cfg = dataclasses.replace(ONLY_REPETITION, ngram_min_tokens=50)
    assert apply_filters(_frame({"short": "点赞" * 8 + "今天的天气"}), cfg).kept.height == 1


def test_ngram_caps_from_yaml_and_bad_values(tmp_path):
    path = tmp_path / "filters.yaml"
    path.write_text("kinds:\n  web:\n    max_top_ngram_char_ratio: {2: 0.3}\n    max_dup_ngram_char_ratio: null\n")
    cfg = load_filter_config("web", path=path)
    assert cfg.max_top_ngram_char_ratio == ((2, 0.3),) and cfg.max_dup_ngram_char_ratio == ()
    path.write_text("kinds:\n  web:\n    max_top_ngram_char_ratio: {7: 0.3}\n")
    with pytest.raises(FilterConfigError, match=r"filters.yaml: kind 'web': max_top_ngram_char_ratio must map n"):
        load_filter_config("web", path=path)
    path.write_text("kinds:\n  web:\n    max_top_ngram_char_ratio: {2: high}\n")
    with pytest.raises(FilterConfigError, match=r"max_top_ngram_char_ratio must map n .* to a max ratio in \[0, 1\]"):
        load_filter_config("web", path=path)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("min_chars: many", r"min_chars: Input should be a valid integer.*'many'"),
        ("max_chars: 0", r"max_chars: Input should be greater than or equal to 1"),
        ("max_dup_line_ratio: 7", r"max_dup_line_ratio: Input should be less than or equal to 1"),
        ("min_lang_confidence: -0.5", r"min_lang_confidence: Input should be greater than or equal to 0"),
        ("allowed_langs: zh", r"allowed_langs: Input should be a valid tuple.*'zh'"),  # was read as the languages 'z' and 'h'
    ],
)
def test_a_wrong_type_or_range_in_the_filters_file_names_file_kind_and_key(tmp_path, setting, message):
    path = tmp_path / "filters.yaml"
    path.write_text(f"kinds:\n  web:\n    {setting}\n")
    with pytest.raises(FilterConfigError, match=rf"filters.yaml: kind 'web': {message}"):
        load_filter_config("web", path=path)
