"""numbers.scan and numbers.best_chain against the regexes and Python they replaced (kept below as
the reference, verbatim): crafted edge cases, the three generators' papers, and random texts over
the characters the patterns look at."""
import bisect
import random
import re
import unicodedata

import numpy as np
import pytest

from corpus_dag.exam.numbers import ALNUM, DEC, DIGIT, OPENS_SECTION, SPACE, best_chain, char_table, scan
from corpus_dag.exam.split import Candidate, SplitCfg, _anchored_finditer, find_sections

# ---- reference: the Python implementation numbers.py replaced ----

# `12.` `12．` `12、` `12 .` — not inside a longer number, not a decimal (`1.5`), not a year (`2019.`).
# Patterns are written to open with one literal or one character class where they can: `re` then
# skips ahead to that character instead of trying the whole pattern at every position (`\d\d*`
# rather than `\d+`, branches spelt out), several times faster on long documents.
NUMBER = re.compile(r"(\d\d*)([ \t\u3000]{0,2})([.．、])(?![.．])")
NOT_BEFORE_NUMBER = set(".．,，_\\^/")  # checked in Python: a leading look-behind makes `re` scan slowly

# What follows a number in an answer key or a worked solution, never in a question.
ANSWER_TAIL = re.compile(r"\s*(?:[A-H]{1,4}(?![A-Za-z])|【(?:答案|解析|详解|分析|点评|解答|考点)|答案|解[:：析]|故选)")
_ANSWER_ENTRY = r"\d{1,3}\s*[.．、:：]?\s*[A-H]{1,4}(?![A-Za-z])[\s,，;；]*"
ANSWER_ROW = re.compile(rf"\d\d{{0,2}}\s*[.．、:：]?\s*[A-H]{{1,4}}(?![A-Za-z])[\s,，;；]*(?:{_ANSWER_ENTRY}){{2,}}")  # 3+ entries
# Two entries in a row hold `D 2.C`: a search for that (opening with a letter, rarer than digits) rules
# most documents out before ANSWER_ROW is tried at every digit.
ANSWER_ROW_HINT = re.compile(r"[A-H][\s,，;；]*\d\d{0,2}\s*[.．、:：]?\s*[A-H]")
ENUMERATION = re.compile(r"\d+\s*[、,，.．]")  # `1、2、3` inside a sentence
SCORE_AFTER = re.compile(r"\s*[（(]\s*\d+\s*分")
# An answer printed under its question (`【答案】B【解析】…`, `答案：B`) ends the question.
INLINE_ANSWER = re.compile(  # `答案：` etc. only at the start of the text or after white space
    r"【(?:答案|解析|详解|分析|点评|解答|考点)】|答(?<!\S答)案\s*[:：]|解(?<!\S解)析\s*[:：]|参(?<!\S参)考答案\s*[:：]"
)
YEAR = re.compile(r"\d{4}\s*年")
STRONG_BEFORE = set("\n。？！；;:：）)】]」”\"'")

OPTION = re.compile(r"[A-D]\s*[.．、:：]")
SCORE_MARK = re.compile(r"（\s*\d+\s*分\s*[)）]|\(\s*\d+\s*分\s*[)）]|每小题\s*\d+\s*分|满分")
GLUED_SCORE = 0.6
# `D．42. 2019年…`: option D's value 4, then question 2, once the line break between them is lost
GLUED_OPTION = re.compile(r"[A-H][.．、]\d(\d{1,2})[ \t]{0,2}[.．、](?![.．\d])")
STOP = -1.0  # an answer-key entry: not a question, and it ends the question before it


def _sentence_end(text: str, i: int) -> bool:
    """text[i] is a half-width or full-width period closing a Chinese sentence (`危害.11．`), which
    dumps produce when they swap punctuation widths; after a digit it would be a decimal point."""
    return text[i] in ".．" and i > 0 and "\u4e00" <= text[i - 1] <= "\u9fff"


def _score(text: str, start: int, end: int, spaced: bool, mark: str) -> float | None:
    """How much the number at text[start:end] (`spaced`: blanks before its mark) looks like a question
    number; STOP for an answer-key entry, None when it is no question number at all."""
    after = text[end : end + 12]
    if ANSWER_TAIL.match(after):
        return STOP
    rest = after.lstrip(" \t\u3000")
    nxt = rest[:1]
    if not nxt or nxt in "、.．,，=+×*/)）":
        return None
    i = start - 1
    while i >= 0 and text[i] in " \t\u3000":
        i -= 1
    prev = text[i] if i >= 0 else "\n"
    gap = start - 1 - i
    strong = i < 0 or prev in STRONG_BEFORE or _sentence_end(text, i)
    if not strong and ENUMERATION.match(rest):
        return None  # `1、2、3` inside a sentence; after a sentence end `7．102，103，…` is question 7
    tight_digit = nxt.isdigit() and not YEAR.match(rest) and len(rest) == len(after) and not spaced
    if strong:
        s = 3.0
    elif gap > 0:
        s = 2.0 if prev.isalnum() and not ("\u4e00" <= prev <= "\u9fff") else 1.6
    else:
        s = 0.4
    if gap == 0 and (prev == "$" or prev.isascii() and prev.isalpha()):
        s = 0.4  # `$2.` / `ahead2.`: lost line breaks glue numbers to formulas and words
    if mark == "、" and gap == 0 and s < 3:
        s -= 0.3  # `1、2、3` enumerations inside a sentence
    if tight_digit:
        s -= 1.2  # `1.5` is a decimal unless a sure boundary comes before it (`D．5  14．20世纪`)
        return s if s > 0 else None
    if nxt in "（(":
        s += 0.7 if SCORE_AFTER.match(after) else 0.2
    elif "\u4e00" <= nxt <= "\u9fff" or nxt in "$“\"《【_":
        s += 0.5
    return s


def ref_candidates(text: str, max_no: int) -> tuple[list[Candidate], list[int]]:
    """Question-number candidates, and stop positions (answer-key entries end a question)."""
    cands, stops = [], []
    n_text = len(text)
    for m in NUMBER.finditer(text):
        digits, spaces, mark = m.groups()
        start, end = m.span()
        if len(digits) > 3 or (start and text[start - 1] in NOT_BEFORE_NUMBER and not _sentence_end(text, start - 1)):
            continue
        no = int(digits)
        if no < 1 or no > max_no:
            continue
        s = _score(text, start, end, bool(spaces), mark)
        if s is None:
            continue
        if s == STOP:
            stops.append(start)
            continue
        body = end
        while body < n_text and text[body] in " \t\u3000":
            body += 1
        cands.append(Candidate(start, body, no, s))
        for cut in range(1, len(digits)):  # `D．42．` with the line break lost: option 4, question 2
            if digits[cut] != "0":
                cands.append(Candidate(start + cut, body, int(digits[cut:]), GLUED_SCORE))
    stops.extend(m.start() for m in INLINE_ANSWER.finditer(text))
    if text.count("\n") < 3:  # only where line breaks were lost; the loop above left cands in order
        for m in GLUED_OPTION.finditer(text):
            if m.group(1)[0] != "0" and int(m.group(1)) <= max_no:
                cands.append(Candidate(m.start(1), m.end(), int(m.group(1)), GLUED_SCORE))
        cands.sort(key=lambda c: c.start)
    if ANSWER_ROW_HINT.search(text):
        stops.extend(m.start() for m in ANSWER_ROW.finditer(text))
    return cands, sorted(stops)


def ref_best_chain(cands: list[Candidate], restarts: list[int], cfg: SplitCfg) -> list[Candidate]:
    """Highest-scoring chain with numbers rising by one (or a small skip); may restart at 1 after a
    paper/section boundary in `restarts` (several papers in one document)."""
    if not cands:
        return []
    back: list[int] = []
    by_no: dict[int, tuple[float, int]] = {}
    get = by_no.get
    prefix_best: list[tuple[float, int]] = []  # best chain ending at or before index i
    starts = [c.start for c in cands] if restarts else []
    skips = [(skip, (skip - 1) * cfg.skip_penalty) for skip in range(1, cfg.max_skip + 2)]
    pb = (float("-inf"), -1)
    for i, (start, _body, no, own) in enumerate(cands):
        score, prev = own - (0.0 if no == 1 else cfg.start_penalty), -1
        for skip, penalty in skips:
            hit = get(no - skip)
            if hit is not None and hit[0] + own - penalty > score:
                score, prev = hit[0] + own - penalty, hit[1]
        if no == 1 and restarts:
            k = bisect.bisect_left(restarts, start) - 1
            if k >= 0:
                j = bisect.bisect_left(starts, restarts[k]) - 1
                if j >= 0 and prefix_best[j][0] + own - 0.5 > score:
                    score, prev = prefix_best[j][0] + own - 0.5, prefix_best[j][1]
        back.append(prev)
        old = get(no)
        if old is None or old[0] < score:
            by_no[no] = (score, i)
        if score > pb[0]:
            pb = (score, i)
        prefix_best.append(pb)
    i = prefix_best[-1][1]
    chain = []
    while i >= 0:
        chain.append(cands[i])
        i = back[i]
    return chain[::-1]


CN_NUM = "一二三四五六七八九十"
# A section name ends in a kind of question (选择题, 阅读理解, 写作, ...), never in 情况/措施.
SECTION_WORDS = "题|阅读|写作|作文|理解|填空|运用|表达|听力|默写|改错|拼写|积累|鉴赏|选择"
SECTION = re.compile(
    rf"(?:第[{CN_NUM}ⅠⅡⅢIV]+(?:部分|卷|大题)\s*|(?:[{CN_NUM}]{{1,3}}|[ⅠⅡⅢⅣⅤⅥⅦⅧ])\s*[、.．]|[（(][{CN_NUM}]{{1,3}}[)）])\s*"
    rf"(?P<name>(?!答)[\u4e00-\u9fff]{{0,10}}?(?:{SECTION_WORDS}))(?![\u4e00-\u9fff])"
    r"\s*(?:[（(][^（()）\n]{0,80}[)）])?[:：]?"
)
# Where a SECTION match can start (a necessary condition, opening with one class so `re` skips fast).
SECTION_ANCHOR = re.compile(
    rf"[第{CN_NUM}ⅠⅡⅢⅣⅤⅥⅦⅧ（(](?:[{CN_NUM}ⅠⅡⅢIV]+(?:部分|卷|大题)|[{CN_NUM}]{{0,2}}\s*[、.．]|[{CN_NUM}]{{1,3}}[)）])"
)
BEFORE_SECTION = set("\n\t \u3000。；;！？）)】]")


def ref_find_sections(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group("name")) for m in _anchored_finditer(SECTION, SECTION_ANCHOR, text)
            if not m.start() or text[m.start() - 1] in BEFORE_SECTION]


def ref_scan(text: str, max_no: int = 150):
    cands, stops = ref_candidates(text, max_no)
    sections = ref_find_sections(text)
    sec_starts, sec_ends = [a for a, _, _ in sections], [b for _, b, _ in sections]  # layout's filter: none in a header
    cands = [c for c in cands if (k := bisect.bisect_right(sec_starts, c.start) - 1) < 0 or c.start >= sec_ends[k]]
    return [tuple(c) for c in cands], stops, len(OPTION.findall(text)), len(SCORE_MARK.findall(text)), sections


def compiled_scan(text: str, max_no: int = 150):
    s = scan(text, max_no)
    cands = list(zip(s.start.tolist(), s.body.tolist(), s.no.tolist(), s.score.tolist()))
    return cands, s.stops.tolist(), s.n_options, s.n_score_marks, [tuple(x) for x in find_sections(text, s.sections)]


# ---- tests ----

CRAFTED = [
    "",
    "1.",
    "1. 下列说法正确的是（ ）A. 1 B. 2 C．3 D、4\n2．（5分）计算 1.5+2\n3 . 求x的值。",
    "一、选择题（每小题5分，满分20分）\n1．（ 12 分）已知 2．（3分） 3、 $x$ 4.“引号” 5.《书名》 6._填空",
    "危害.11．下列 今天.12.明天 3..4 5．．6 1.5 2019. 2019年.3.2019 年 7．102，103，104",
    "问题1、2、3都对 他说1、2、3 。4、5、6 甲2. 乙 3. ahead2. $2. x 2 . 选4、项",
    "1.A 2.B 3.C 4.D\n1．AB 2．CD 3．ABCDE 12345.A 2B 3C 1234A 5B 6C 7D",
    "11．A 12．C 13、B；14:D，15 D 16.答案 17.【答案】B 18．【分析】 19.故选C 20．解析 21．解：",
    "【答案】B【解析】略 答案：C 解析 ：见图 参考答案：1 x答案：D 【点评】无 【考点】 【答案",
    "A．42．下列 B．13. 2019年 C．305．x D．40．y E.17 .z F．123．a G．7．8",
    "１２．全角数字 ٣. 阿拉伯 ①．圈 2.① 3.² 4.٣ 5.x 6.Ａ",
    "\u3000\u30001．前面有全角空格\t\t2．制表 \u00a03．不换行空格 4\u3000．5 \u3000 .6．",
    "（共150分）第I卷 1.(5 分) 2.（ 5分） 3.( 分) 4.（5分 5.每小题 3 分 满分 满 分 (12分）",
    "𠀀1.甲 𠀀 2.乙 Ⅰ3.丙 ⅱ 4.丁 _5.戊 /6. ^7. \\8. ,9. ，10. 0. 000. 151. 150. 99.",
    "1.\n2.\n3.\n4.\n1.最后",
]


@pytest.mark.parametrize("text", CRAFTED)
def test_scan_matches_the_regexes_on_crafted_cases(text):
    assert compiled_scan(text) == ref_scan(text)
    assert compiled_scan(text, 5) == ref_scan(text, 5)


def test_crafted_cases_cover_every_outcome():
    """The crafted cases hit candidates of each score source, stops of each kind, and glued numbers."""
    scores = {s for t in CRAFTED for *_, s in compiled_scan(t)[0]}
    assert {0.6, 3.0, 3.5, 3.7, 3.2}.issubset(scores) and any(s < 0.6 for s in scores)
    assert all(compiled_scan(t)[1] for t in CRAFTED[6:9])
    header = "一、选择题（第1．小题5分）\n1．下列"  # a number inside a section header is no candidate; after `x` it is no header
    assert [c[0] for c in compiled_scan(header)[0]] == [15]
    assert [c[0] - 1 for c in compiled_scan("x" + header)[0]] == [7, 15]
    assert compiled_scan(CRAFTED[9])[0] != compiled_scan(CRAFTED[9] + "\n\n\n")[0]  # glued options only without line breaks


def test_scan_matches_the_regexes_on_generated_papers():
    from samples import build_wenku, build_wenku_alt, build_wenku_third

    texts = [r["text"] for g in (build_wenku, build_wenku_alt, build_wenku_third) for r, _ in g.generate(7, 40)]
    assert sum(len(compiled_scan(t)[0]) for t in texts) > 1000
    for text in texts:
        assert compiled_scan(text) == ref_scan(text), text[:200]


# What the patterns look at, and their neighbours: digits of other scripts, blanks, letters, marks, tags.
PIECES = (list("0123456789.．、,，:：;；  \t\n\u3000\u00a0ABCDEFGHaZx$（()）【】_“《。？=+/^的是分年题") +
          ["１", "٣", "²", "①", "𠀀", "答案", "解析", "参考答案", "故选", "满分", "每小题", "详解", "答", "案", "解", "参考",
           "一、选择题", "（二）填空题（每空1", "第Ⅱ卷 阅读"])  # numbers inside section headers are dropped


def test_scan_matches_the_regexes_on_random_texts():
    rng = random.Random(13)
    for _ in range(3000):
        text = "".join(rng.choices(PIECES, k=rng.randrange(60)))
        assert compiled_scan(text) == ref_scan(text), repr(text)
        assert compiled_scan(text, 3) == ref_scan(text, 3), repr(text)


@pytest.mark.parametrize("max_skip", [0, 2, 3])
def test_best_chain_matches_the_python_dynamic_programme(max_skip):
    rng = random.Random(max_skip)
    cfg = SplitCfg(max_skip=max_skip)
    for _ in range(2000):
        starts = sorted(rng.choices(range(200), k=rng.randrange(25)))
        cands = [Candidate(s, s + 2, rng.randrange(0, 12), rng.choice([0.4, 0.6, 1.3, 1.6, 2.0, 2.5, 3.0, 3.5, 3.7]))
                 for s in starts]
        restarts = sorted(rng.sample(range(200), rng.randrange(4)))
        idx = best_chain(np.array(starts, dtype=np.int64), np.array([c.no for c in cands], dtype=np.int64),
                         np.array([c.score for c in cands]), np.array(restarts, dtype=np.int64), cfg.max_skip,
                         cfg.skip_penalty, cfg.start_penalty)
        assert [cands[i] for i in idx] == ref_best_chain(cands, restarts, cfg)


def test_char_table_is_what_re_and_str_say():
    flags, values = char_table()
    chars = "".join(map(chr, range(0x110000)))
    for bit, pattern in ((DEC, r"\d"), (SPACE, r"\s")):
        assert np.flatnonzero(flags & bit).tolist() == [m.start() for m in re.finditer(pattern, chars)]
    assert np.flatnonzero(flags & ALNUM).tolist() == [m.start() for m in re.finditer(r"[^\W_]", chars)]
    assert np.flatnonzero(flags & DIGIT).tolist() == [i for i, c in enumerate(chars) if c.isdigit()]
    assert all(values[i] == unicodedata.decimal(chars[i]) for i in np.flatnonzero(flags & DEC))
    assert (values[(flags & DEC) == 0] == -1).all()
    assert {chars[i] for i in np.flatnonzero(flags & OPENS_SECTION)} == set("第一二三四五六七八九十ⅠⅡⅢⅣⅤⅥⅦⅧ（(")


SECTION_CASES = [
    "一、选择题（每小题5分，共60分）\n1．x 二、填空题:\n三. 解答题（共70分）：",
    "第Ⅰ卷 选择题 第二部分 阅读理解（共两节）第三大题 写作 第IV卷非选择题 第五部 分 阅读",
    "（一）现代文阅读 (二)古诗文阅读：（三）语言文字运用 （十一）题 (一二三四)题",
    "Ⅱ．完形填空 Ⅸ．阅读 一二三四、选择题 十一、 作文 四、答题卡 五、工作情况 六、注意事项",
    "说明。七、默写（8分 八、改错（这是一个很长的注释" + "很" * 90 + "）九、听力\n（5分）",
    "甲一、选择题 。二、选择题二、选择题 ；十、选择题题目很长很长很长很长的一、填空题",
    "一、A选择题 二、选择题（（6分）） 三、 \t\u3000拼写(每空1分)： 四、积累运用\n五、鉴赏",
]


@pytest.mark.parametrize("text", SECTION_CASES)
def test_find_sections_matches_the_regex_on_crafted_cases(text):
    assert [tuple(s) for s in find_sections(text)] == ref_find_sections(text)


def test_section_cases_hold_headers_kept_and_dropped():
    kept = sum(len(ref_find_sections(t)) for t in SECTION_CASES)
    assert kept >= 15 and sum(len(list(SECTION.finditer(t))) for t in SECTION_CASES) > kept


def test_find_sections_matches_the_regex_on_generated_papers():
    from samples import build_wenku, build_wenku_alt, build_wenku_third

    texts = [r["text"] for g in (build_wenku, build_wenku_alt, build_wenku_third) for r, _ in g.generate(8, 40)]
    assert sum(len(ref_find_sections(t)) for t in texts) > 50
    for text in texts:
        assert [tuple(s) for s in find_sections(text)] == ref_find_sections(text), text[:200]


SECTION_PIECES = list("第一二三四五六七八九十ⅠⅡⅢⅣⅧⅨIVX（()）、.．:： \t\n\u3000。；！】答题读卷分甲") + [
    "部分", "卷", "大题", "选择题", "阅读", "阅读理解", "写作", "情况", "（5分）", "(共两节)", "作文", "鉴赏", "A"]


def test_find_sections_matches_the_regex_on_random_texts():
    rng = random.Random(14)
    for _ in range(4000):
        text = "".join(rng.choices(SECTION_PIECES, k=rng.randrange(40)))
        assert [tuple(s) for s in find_sections(text)] == ref_find_sections(text), repr(text)
