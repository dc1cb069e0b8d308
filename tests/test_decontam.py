"""Decontamination: n-gram boundaries, normalisation, boilerplate, batching, and the shipped samples."""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from corpus_dag.accounting import Split
from corpus_dag.decontam import BenchmarkIndex, DecontamCfg, contaminated_counts, load_benchmarks

ROOT = Path(__file__).resolve().parent.parent
EN_ITEM = "Janet has ducks that lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends."
ZH_ITEM = "已知函数f(x)在区间上单调递增，且对任意实数都满足不等式，求实数a的取值范围以及最小值。"


@pytest.fixture(scope="module")
def small_index() -> BenchmarkIndex:
    bench = {
        "gsm8k": pl.DataFrame({"id": ["g/1"], "text": [EN_ITEM]}),
        "gaokao": pl.DataFrame({"id": ["k/1"], "text": [ZH_ITEM]}),
    }
    return BenchmarkIndex(bench, DecontamCfg(n_words=13, n_chars=20))


def docs(*texts: str) -> pl.DataFrame:
    return pl.DataFrame({"doc_id": [f"d{i}" for i in range(len(texts))], "text": list(texts)})


def test_thirteen_words_match_twelve_do_not(small_index):
    words = EN_ITEM.split()
    split = small_index.split(docs("Intro. " + " ".join(words[:13]) + " end", "Intro. " + " ".join(words[:12]) + " end"))
    assert split.kept["doc_id"].to_list() == ["d1"]
    row = split.dropped.row(0, named=True)
    assert (row["reason"], row["benchmark"], row["benchmark_item_id"], row["n_matched"]) == ("contaminated", "gsm8k", "g/1", 1)
    assert row["matched_ngram"] == "Janet has ducks that lay 16 eggs per day. She eats three for"


def test_case_spacing_and_width_do_not_hide_a_copy(small_index):
    disguised = "JANET has  ducks\nthat lay １６ eggs per day -- she eats THREE for breakfast, every morning!"
    assert small_index.split(docs(disguised)).dropped.height == 1


def test_chinese_uses_character_ngrams(small_index):
    stem = "在区间上单调递增，且对任意实数都满足不等式"  # 20 CJK characters
    assert len([c for c in stem if c.isalnum()]) == 20
    split = small_index.split(docs("练习：" + stem + "。", "练习：" + stem[1:] + "。", "Janet's ducks lay eggs, 已知函数"))
    assert split.dropped["doc_id"].to_list() == ["d0"] and split.dropped["benchmark"].to_list() == ["gaokao"]
    assert split.dropped["matched_ngram"][0] == "在区间上单调递增，且对任意实数都满足不等式"  # the span as written


def test_math_items_by_question_column_and_min_matches():
    bench = {"gsm8k": pl.DataFrame({"id": ["g/1"], "text": [EN_ITEM]})}
    items = pl.DataFrame({"item_id": ["m1", "m2"], "question": [EN_ITEM, " ".join(EN_ITEM.split()[:14])]})
    one = BenchmarkIndex(bench, DecontamCfg(column="question")).split(items)
    assert one.dropped["item_id"].to_list() == ["m1", "m2"] and one.dropped["n_matched"].to_list() == [10, 2]  # 22 and 14 words
    strict = BenchmarkIndex(bench, DecontamCfg(column="question", min_matches=3)).split(items)
    assert strict.dropped["item_id"].to_list() == ["m1"] and strict.kept["item_id"].to_list() == ["m2"]


def test_boilerplate_shared_by_many_items_is_not_indexed():
    common = "下列说法正确的是哪一项请从四个选项中选出最符合题意的答案"
    items = [common + f"（第{i}题的独特内容各不相同：{'甲乙丙丁戊己庚辛壬癸'[i]}类物质的性质与用途分析）" for i in range(8)]
    index = BenchmarkIndex({"gaokao": pl.DataFrame({"id": [f"k/{i}" for i in range(8)], "text": items})}, DecontamCfg(max_items_per_ngram=5))
    assert index.stats["ngrams_left_out_as_common"] > 0
    split = index.split(docs("复习题：" + common + "。", items[3]))
    assert split.kept["doc_id"].to_list() == ["d0"]
    assert split.dropped["benchmark_item_id"].to_list() == ["k/3"]


def test_batching_does_not_change_the_answer(small_index):
    texts = [f"filler text number {i} " * 5 for i in range(40)]
    texts[7] = EN_ITEM
    texts[33] = "前言" + ZH_ITEM
    texts[20] = "with a NUL \x00 inside " + EN_ITEM
    whole = small_index.split(docs(*texts))
    tiny = BenchmarkIndex(
        {"gsm8k": pl.DataFrame({"id": ["g/1"], "text": [EN_ITEM]}), "gaokao": pl.DataFrame({"id": ["k/1"], "text": [ZH_ITEM]})},
        DecontamCfg(batch_chars=100),
    ).split(docs(*texts))
    assert whole.dropped.equals(tiny.dropped) and whole.kept.equals(tiny.kept)
    assert whole.dropped["doc_id"].to_list() == ["d7", "d20", "d33"] and whole.n_in == 40


def test_shipped_web_sample_hits_exactly_the_planted_pages():
    index = BenchmarkIndex(load_benchmarks())
    assert set(load_benchmarks()) == {"gsm8k", "math500", "gaokao"}
    dropped, n_in, n_kept = [], 0, 0
    for path in sorted((ROOT / "samples/library/web").glob("*/part-0.jsonl")):
        recs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        df = pl.DataFrame({"doc_id": [r["id"] for r in recs], "text": [r["text"] for r in recs], "kind": [r["sample_kind"] for r in recs]})
        split = index.split(df)
        dropped.append(split.dropped)
        n_in, n_kept = n_in + df.height, n_kept + split.kept.height
    dropped = pl.concat(dropped)
    assert n_in == n_kept + dropped.height
    assert sorted(dropped["kind"].to_list()) == sorted(
        ["contaminated_gsm8k_forum", "contaminated_math500_blog", "contaminated_gaokao_page", "contaminated_gsm8k_edited"]
    )
    assert contaminated_counts(Split(dropped.head(0), dropped)) == {"gsm8k": 2, "math500": 1, "gaokao": 1}


def test_clear_errors(small_index, tmp_path):
    with pytest.raises(ValueError, match="column 'question' not in frame"):
        small_index.split(docs("x"), column="question")
    with pytest.raises(ValueError, match="n_words must be >= 1"):
        DecontamCfg(n_words=0)
    with pytest.raises(FileNotFoundError, match="no benchmark files"):
        load_benchmarks(tmp_path)
    (tmp_path / "bad.jsonl").write_text('{"question": "x"}\n')
    with pytest.raises(ValueError, match="need 'id' and 'text'"):
        load_benchmarks(tmp_path)


def test_the_index_is_built_once_per_process_until_its_files_change(tmp_path):
    from corpus_dag.decontam import shared_index

    bench = tmp_path / "bench"
    bench.mkdir()
    item = {"id": "g1", "text": " ".join(f"word{i}" for i in range(20))}
    (bench / "gsm8k.jsonl").write_text(json.dumps(item) + "\n")
    first = shared_index(bench, DecontamCfg())
    assert shared_index(str(bench), DecontamCfg()) is first
    assert shared_index(bench, DecontamCfg(min_matches=2)) is not first
    (bench / "math500.jsonl").write_text(json.dumps({"id": "m1", "text": "另一道题目的文字内容足够长可以建立索引"}) + "\n")
    changed = shared_index(bench, DecontamCfg())
    assert changed is not first and set(changed.items["benchmark"]) == {"gsm8k", "math500"}
