"""Safety stage core: list files, domain and word blocklists (jieba boundaries, NFKC), PII, the stage."""
import gzip
import time

import polars as pl
import pytest

from corpus_dag.accounting import Tally
from corpus_dag.safety import pii
from corpus_dag.safety.domains import DomainBlocklist
from corpus_dag.safety.lists import ListError, ListFile
from corpus_dag.safety.stage import (
    Blocklists,
    SafetyConfig,
    SafetyConfigError,
    apply_safety,
    load_safety_config,
)
from corpus_dag.safety.words import WordBlocklist


def lf(name: str, text: str, gz: bool = False) -> ListFile:
    data = text.encode()
    return ListFile(name, gzip.compress(data) if gz else data)


# ---- list files --------------------------------------------------------------------------------
def test_domain_lists_parse_comments_hosts_lines_wildcards_and_gzip():
    lists = DomainBlocklist.load([lf("a.txt", "# header\nExample.BIZ  # trailing\n\n0.0.0.0 ads.example.net\n*.tracker.example.\n"), lf("b.txt.gz", "example.biz\nother.org\n", gz=True)])
    assert dict(zip(lists.domains, lists.list_of.tolist())) == {"example.biz": 0, "ads.example.net": 0, "tracker.example": 0, "other.org": 1}
    assert lists.sizes == (3, 2)


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("good.com\nhttp://bad.com/path\n", 2, "is not a domain"),
        ("good.com\nwith space.com\n", 2, "is not a domain"),
        ("a.com\nb.com\n-bad-.com\n", 3, "is not a domain"),
    ],
)
def test_a_malformed_domain_line_is_an_error_naming_file_and_line(text, line, what):
    with pytest.raises(ListError, match=rf"^lists/d.txt:{line}: .* {what}"):
        DomainBlocklist.load([lf("lists/d.txt", text)])


def test_bad_bytes_and_broken_gzip_name_the_file_and_line():
    with pytest.raises(ListError, match=r"^w.txt:3: not UTF-8"):
        WordBlocklist({"en": [ListFile("w.txt", b"one\ntwo\nbad \xff\n")]})
    with pytest.raises(ListError, match=r"^w.txt.gz: not a readable gzip file"):
        WordBlocklist({"en": [ListFile("w.txt.gz", b"\x1f\x8bnot gzip")]})
    with pytest.raises(ListError, match=r"^w.txt:2: 'bad\\x07word' is not a word or phrase"):
        WordBlocklist({"en": [lf("w.txt", "fine\nbad\x07word\n")]})


def test_empty_lists_are_allowed_and_reported():
    lists = Blocklists.load([lf("d.txt", "# nothing yet\n")], {"zh": [lf("z.txt", "")]})
    assert len(lists.domains) == 0 and len(lists.words) == 0
    assert lists.summary()["entries"].to_list() == [0, 0]
    split = apply_safety(pl.DataFrame({"doc_id": ["a"], "text": ["正常的文本。"], "url": ["https://x.org/"]}), lists, SafetyConfig())
    assert split.kept.height == 1


def test_a_million_domains_load_in_seconds():
    big = lf("big.txt.gz", "\n".join(f"host{i}.example{i % 97}.com" for i in range(1_000_000)), gz=True)
    t = time.perf_counter()
    lists = DomainBlocklist.load([big])
    print(f"1M domains loaded in {time.perf_counter() - t:.2f}s")  # a figure, not an assertion
    assert len(lists) == 1_000_000
    assert lists.matches(pl.Series(["https://a.host999999.example26.com/x"])) == [
        "a.host999999.example26.com matched host999999.example26.com in big.txt.gz"
    ]


# ---- domains -----------------------------------------------------------------------------------
def test_host_or_any_parent_domain_matches_and_names_domain_and_list():
    lists = DomainBlocklist.load([lf("ads.txt", "example.biz\n"), lf("more.txt", "bad.co.uk\n")])
    urls = pl.Series(
        [
            "https://spam.example.biz/a?b=1",
            "http://user:pw@Deep.Sub.Bad.CO.UK.:8080/",
            "example.biz/no-scheme",
            "https://notexample.biz/",
            "https://example.biz.safe.org/",
            None,
        ]
    )
    assert lists.matches(urls) == [
        "spam.example.biz matched example.biz in ads.txt",
        "deep.sub.bad.co.uk matched bad.co.uk in more.txt",
        "example.biz matched example.biz in ads.txt",
        None,
        None,
        None,
    ]


# ---- words -------------------------------------------------------------------------------------
ZH = lf("zh.txt", "傻瓜\n球吧\n赌博\n")
EN = lf("en.txt", "ass\ncasino bonus\n")


def test_chinese_words_fire_on_jieba_token_boundaries_only():
    words = WordBlocklist({"zh": [ZH]})
    hits = words.scan(pl.Series(["他是个大傻瓜。", "我们去打球吧", "网上赌博危害大", "赌博机"]))
    # 傻瓜 is a token of 大/傻瓜; 球吧 straddles 打球/吧; 赌博 is a token; 赌博机 is one longer word
    assert hits.counts.tolist() == [1, 0, 1, 0]
    assert hits.first_words[0] == ["傻瓜 (zh.txt)"]


def test_english_words_fire_on_word_boundaries_case_and_width_folded():
    words = WordBlocklist({"en": [EN]})
    texts = pl.Series(["A class of glass.", "You ASS!", "ｃａｓｉｎｏ　ｂｏｎｕｓ today", "Casino Bonuses", "ass-hat ass"])
    assert words.scan(texts).counts.tolist() == [0, 1, 1, 0, 2]


def test_hits_never_span_two_documents_of_a_batch():
    words = WordBlocklist({"zh": [lf("z.txt", "傻瓜\n")], "en": [lf("e.txt", "casino bonus\n")]})
    assert words.scan(pl.Series(["我是傻", "瓜子", "casino", " bonus"])).counts.tolist() == [0, 0, 0, 0]


# ---- PII ---------------------------------------------------------------------------------------
def _with_luhn(prefix: str) -> str:
    for d in "0123456789":
        if pii.luhn(prefix + d):
            return prefix + d
    raise AssertionError


def _id_card(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


def test_id_card_check_digit_and_birth_date():
    good = _id_card("11010519491231002")
    assert good == "11010519491231002X" and pii.valid_id_card(good) and pii.valid_id_card(good.lower())
    assert not pii.valid_id_card(good[:-1] + "1")  # wrong check digit
    assert not pii.valid_id_card(_id_card("11010519491331002"))  # month 13
    assert pii.valid_id_card(_id_card("44030420010229123")) is False  # 2001-02-29 does not exist


def test_luhn():
    assert pii.luhn("4111111111111111") and pii.luhn("79927398713")
    assert not pii.luhn("4111111111111112")


def test_pii_is_replaced_by_typed_placeholders_and_counted():
    card = _with_luhn("622202123456789012")
    idc = _id_card("31011519900307401")
    text = (
        f"邮箱 zhang.san@mail.example.cn，手机 13812345678 或 +86 139-1234-5678，座机 010-62345678，"
        f"身份证 {idc}，卡号 {card[:4]} {card[4:8]} {card[8:12]} {card[12:16]} {card[16:]}，"
        "服务器 192.168.10.1 与 2001:db8:85a3::8a2e:370:7334。"
    )
    out, counts = pii.scan_text(text, redact=True)
    assert counts == {"email": 1, "phone": 3, "id_card": 1, "bank_card": 1, "ip": 2}
    assert out == (
        "邮箱 <EMAIL>，手机 <PHONE> 或 <PHONE>，座机 <PHONE>，身份证 <ID_CARD>，卡号 <BANK_CARD>，服务器 <IP> 与 <IP>。"
    )


def test_numbers_that_validate_as_nothing_stay():
    text = "订单号 4111111111111112，时间 12:30:45，版本 1.2.3，编号 12345678901234567，std::vector, a::b, 256.1.1.1"
    out, counts = pii.scan_text(text, redact=True)
    assert out == text and sum(counts.values()) == 0


def test_scan_counts_without_redacting_when_asked():
    texts, counts = pii.scan(pl.Series(["mail me: a.b@example.org", "无", None]), redact=False)
    assert texts.to_list() == ["mail me: a.b@example.org", "无", None]
    assert counts.struct.field("email").to_list() == [1, 0, 0]


# ---- the stage ---------------------------------------------------------------------------------
LISTS = Blocklists.load([lf("domains.txt", "example.biz\n")], {"zh": [ZH], "en": [EN]})
DOCS = pl.DataFrame(
    {
        "doc_id": ["spam", "words", "pii", "clean"],
        "text": ["一篇普通的文章。", "网上赌博危害大，赌博害人。", "请联系 13812345678。", "今天天气很好。"],
        "url": ["https://spam.example.biz/1", "https://a.org/", "https://a.org/", None],
    }
)


def test_the_stage_drops_with_rule_value_and_reason_and_redacts_the_rest():
    split = apply_safety(DOCS, LISTS, SafetyConfig(max_word_hits_per_1k=10.0))
    assert split.n_in == DOCS.height
    assert split.kept["doc_id"].to_list() == ["pii", "clean"]
    assert split.kept["text"].to_list() == ["请联系 <PHONE>。", "今天天气很好。"]
    assert split.kept["pii"].struct.field("phone").to_list() == [1, 0]
    drops = split.dropped.rows_by_key("doc_id", named=True, unique=True)
    assert drops["spam"]["rule"] == "domain_blocklist@1"
    assert drops["spam"]["reason"] == "domain_blocklist@1: listed domain — spam.example.biz matched example.biz in domains.txt"
    assert drops["words"]["rule"] == "word_blocklist@1" and drops["words"]["value"] == pytest.approx(2000 / 13)
    assert drops["words"]["reason"].endswith("— 2 hits: 赌博 (zh.txt)")
    assert split.dropped.columns == [*DOCS.columns, "pii", "rule", "value", "reason"]
    tally = Tally()
    tally.add(split)
    assert tally.balanced and tally.dropped == {"domain_blocklist@1: listed domain": 1, "word_blocklist@1: above max 10.0 hits per 1k chars": 1}


def test_pii_actions_drop_and_keep():
    dropped = apply_safety(DOCS, LISTS, SafetyConfig(max_word_hits_per_1k=None, pii_action="drop"))
    assert dropped.kept["doc_id"].to_list() == ["words", "clean"]
    pii_row = dropped.dropped.filter(pl.col("doc_id") == "pii").row(0, named=True)
    assert pii_row["rule"] == "pii@1" and pii_row["reason"] == "pii@1: contains PII (action drop) — 1 phone"
    assert pii_row["text"] == "请联系 13812345678。"  # drops keep their input text
    kept = apply_safety(DOCS, LISTS, SafetyConfig(max_word_hits_per_1k=None, pii_action="keep"))
    assert "13812345678" in kept.kept.filter(pl.col("doc_id") == "pii")["text"][0]


def test_kind_config_and_source_overrides(tmp_path):
    path = tmp_path / "safety.yaml"
    path.write_text("kinds:\n  web:\n    max_word_hits_per_1k: 2.0\n    pii_action: drop\n")
    assert load_safety_config("web", path=path) == SafetyConfig(max_word_hits_per_1k=2.0, pii_action="drop")
    assert load_safety_config("web", {"pii_action": "keep"}, path=path).pii_action == "keep"
    with pytest.raises(SafetyConfigError, match=r"safety.yaml: kind 'web': pii_action 'erase'"):
        load_safety_config("web", {"pii_action": "erase"}, path=path)
    with pytest.raises(SafetyConfigError, match=r"unknown settings \['max_hits'\]"):
        load_safety_config("web", {"max_hits": 1}, path=path)
    with pytest.raises(SafetyConfigError, match=r"safety.yaml: kind 'web': max_word_hits_per_1k: .*greater than or equal to 0"):
        load_safety_config("web", {"max_word_hits_per_1k": -1}, path=path)  # would drop every document
    path.write_text("kinds:\n  web:\n    max_word_hits_per_1k: high\n")
    with pytest.raises(SafetyConfigError, match=r"safety.yaml: kind 'web': max_word_hits_per_1k: .*'high'"):
        load_safety_config("web", path=path)
    assert load_safety_config("patent").pii_action == "keep"  # the shipped config/safety.yaml
