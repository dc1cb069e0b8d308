"""Split an exam paper into numbered questions.

wenku dumps lose line breaks and symbols, so a question number cannot be found by one regex: every
`N.` / `N．` / `N、` / `N .` is a *candidate*, scored by what surrounds it, and the split keeps the
chain of candidates whose numbers go up one by one with the best total score (a small dynamic
programme). Decimals, years and scores never become candidates; answer keys, page headers and
instructions are cut out before candidates are looked for. Candidates, section headers and the chain
are found by compiled kernels (corpus_dag.exam.numbers); the rest is `re` and Python.
"""
from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa

from corpus_dag.exam.numbers import Scan, best_chain, scan, section_spans

QUESTION_SCHEMA = {
    "question_id": pl.String,
    "doc_id": pl.String,
    "question_no": pl.Int64,
    "section": pl.String,
    "text": pl.String,
    "context": pl.String,
    "paper": pl.String,
}


@dataclass(frozen=True)
class SplitCfg:
    """max_no: largest question number believed; max_skip: numbers a chain may jump (lost marks)."""

    max_no: int = 150
    max_skip: int = 2
    skip_penalty: float = 1.5
    start_penalty: float = 3.0
    min_chars: int = 2


ANSWER_HEADER = re.compile(
    r"[【\[]?(?:参考答案(?:与|及|和)?(?:试题)?(?:解析|评分(?:标准|细则|参考))?|"
    r"答案(?:与|及|和)解析|试题解析|答案解析|答案详解|答案速查|评分标准)[】\]]?[ \t]*(?=[\n:：（(一1【]|$)"
)
# Where an ANSWER_HEADER match can start: one class, then the header word it opens (lookbehinds after the
# class keep `re` skipping by it). A bare `[【\[参答试评]` stopped at every 答 and 试 of a paper.
ANSWER_HEADER_ANCHOR = re.compile(
    r"[【\[参答试评](?:(?<=[【\[])(?:参考答案|答案|试题解析|评分标准)|(?<=参)考答案|(?<=答)案[与及和解详速]|(?<=试)题解析|(?<=评)分标准)"
)
BEFORE_ANSWER_HEADER = set("\n\t \u3000。）)")
# Page marks: `第 2 页 共 6 页`, `（共6页）第2页`, a line holding only `第 2 页`. Every form opens with
# 第 or 共 once its optional lead (`（`, blanks, the line's indent) is set aside; the lead is taken
# back in Python (page_mark_spans). Written as one leading class and then a branch per character it
# took, so `re` skips straight to 第/共 (an alternation of differently shaped branches is 3x slower).
PAGE_WORDS = re.compile(
    r"[第共](?:(?<=第)\s*\d+\s*页\s*[,，、/]?\s*[（(]?\s*共\s*\d+\s*页\s*[)）]?|"
    r"(?P<total_first>(?<=共))\s*\d+\s*页\s*[)）]?\s*第\s*\d+\s*页|"
    r"(?P<alone>(?<=第))\s*\d+\s*页[ \t]*$)",
    re.M,
)
# A line holding only `- 3 -` or `3/6`; written from its line break (not `^` under re.M) so `re` skips
# from one line break to the next. clean_page_marks puts a line break before the text's first line.
PAGE_LINE = re.compile(r"\n[ \t]*(?:[-—–]\s*\d+\s*[-—–]|\d+\s*/\s*\d+)[ \t]*(?=\n|\Z)")
FIRST = re.compile(r"(?<![\d.．])1\s*[.．、](?![\d.．])")
NOTICE = re.compile(r"(注意事项|考生须知|温馨提示|答题要求)[:：]?")


class Candidate(NamedTuple):  # a tuple: documents yield thousands, a frozen dataclass is slow to build
    start: int  # where the number begins
    body: int  # where the question text begins
    no: int
    score: float


class Question(NamedTuple):  # a tuple, like Candidate: a partition holds hundreds of thousands
    no: int
    section: str | None
    text: str
    paper: str | None = None  # the title line of the paper it belongs to, when the text has one
    context: str | None = None  # the material a group of questions shares (`阅读材料，完成 9～11 题`)


@dataclass(frozen=True)
class Layout:
    """What the splitter found in one document; also the structure evidence for detection."""

    questions: list[Question]
    n_sections: int
    n_options: int
    n_score_marks: int
    cut_answer_key: bool
    n_groups: int = 0  # material groups whose range matched the numbers found
    n_group_mismatch: int = 0  # group headers whose range disagreed with the numbers found


def _remove_spans(text: str, spans: list[tuple[int, int]], fill: str = "") -> str:
    out, last = [], 0
    for a, b in sorted(spans):
        if a >= last:
            out.append(text[last:a])
            last = b
    out.append(text[last:])
    return fill.join(out)


def page_mark_spans(text: str) -> list[tuple[int, int]]:
    """Spans of page marks, each with its lead: `（` and blanks before 共, the indent before a lone 第."""
    spans, last = [], 0
    for m in PAGE_WORDS.finditer(text):
        start = m.start()
        if m.group("alone") is not None:
            start = text.rfind("\n", 0, start) + 1
            if text[start : m.start()].strip(" \t"):
                continue  # `第 2 页` inside a sentence, not a line of its own
        elif m.group("total_first") is not None:
            while start > last and text[start - 1].isspace():
                start -= 1
            if start > last and text[start - 1] in "（(":
                start -= 1
        if start >= last:
            spans.append((start, m.end()))
            last = m.end()
    return spans


# The binding margin of a two-column page, read into the text: 密封线内不要答题, the ○装○订 line, and
# the 学校___ 班级___ 姓名___ blanks (two fields or more).
MARGIN = re.compile(
    r"密\s*封\s*线\s*内\s*不\s*要\s*答\s*题|○[…\.·○]*装[…\.·○]*订[…\.·○]*线?[…\.·○]*|"
    r"(?:(?:学校|班级|姓名|考号|学号|座号)\s*[:：]?\s*_{3,}\s*){2,}"
)
# Where a MARGIN match can start: one class (`re` skips fast), then what its branch needs next.
MARGIN_ANCHOR = re.compile(r"[密○学班姓考座](?:(?<=密)\s*封|(?<=○)|(?:(?<=学)[校号]|(?<=班)级|(?<=姓)名|(?<=[考座])号)\s*[:：]?\s*___)")


def clean_page_marks(text: str, title: str | None) -> str:
    """Drop page headers/footers and the binding margin's words; a running title repeated on every
    page goes too (first kept)."""
    if "密" in text or "○" in text or "___" in text and ("姓名" in text or "班级" in text):
        text = _remove_spans(text, [m.span() for m in _anchored_finditer(MARGIN, MARGIN_ANCHOR, text)], " ")
    if "页" in text and (spans := page_mark_spans(text)):
        text = _remove_spans(text, spans, " ")
    if "\n" in text:
        text = PAGE_LINE.sub("\n ", "\n" + text)[1:]
    if title and len(title) >= 6:
        first = text.find(title)
        if first >= 0:
            head, rest = text[: first + len(title)], text[first + len(title) :]
            text = head + rest.replace(title, " ")
    return text


def cut_answer_keys(text: str, titles: list[int]) -> tuple[str, bool]:
    """From an answer-key header on, everything is answers, up to the next paper's title."""
    spans = []
    for m in _anchored_finditer(ANSWER_HEADER, ANSWER_HEADER_ANCHOR, text):
        if m.start() and text[m.start() - 1] not in BEFORE_ANSWER_HEADER:
            continue
        if m.start() > len(text) * 0.1 and not (spans and m.start() < spans[-1][1]):
            end = next((t for t in titles if t > m.end()), len(text))
            spans.append((m.start(), end))
    return (_remove_spans(text, spans), True) if spans else (text, False)


def _search_anchored(pattern: re.Pattern, anchor: re.Pattern, text: str, pos: int) -> re.Match | None:
    """`pattern.search(text, pos)`, trying `pattern` only where `anchor` (a necessary condition) matches."""
    while (a := anchor.search(text, pos)) is not None:
        if m := pattern.match(text, a.start()):
            return m
        pos = a.start() + 1
    return None


def _anchored_finditer(pattern: re.Pattern, anchor: re.Pattern, text: str):
    """The matches `pattern.finditer(text)` yields (patterns here never match empty), found via `anchor`."""
    pos = 0
    while (m := _search_anchored(pattern, anchor, text, pos)) is not None:
        yield m
        pos = m.end()


class Section(NamedTuple):
    start: int
    end: int
    name: str  # the kind of question it heads (选择题, 阅读理解, ...)


def find_sections(text: str, spans: np.ndarray | None = None) -> list[Section]:
    """Section headers (`一、选择题（每小题5分）`) that start a line or follow a sentence end (`spans`:
    section_spans(text) when already found)."""
    return [Section(a, b, text[p:q]) for a, b, p, q in (section_spans(text) if spans is None else spans).tolist()]


def cut_notices(text: str, sections: list[Section]) -> str:
    """注意事项 blocks carry their own 1. 2. 3. list: drop them up to the next section header, or
    else up to where numbering starts again at 1."""
    spans = []
    for m in NOTICE.finditer(text):
        nxt = next((s.start for s in sections if s.start > m.end()), None)
        if nxt is None or nxt - m.start() > 1200:
            ones = [o.start() for o in FIRST.finditer(text, m.end(), m.end() + 1200)]
            nxt = ones[1] if len(ones) > 1 and ones[0] - m.end() < 20 else None
        if nxt is not None:
            spans.append((m.start(), nxt))
    return _remove_spans(text, spans) if spans else text


OPTION = re.compile(r"[A-D]\s*[.．、:：]")  # an option letter (its count is numbers.scan's)


# Without line breaks a paper title can only be recognised by its usual shape: `2019年……试卷`.
# Two shapes, matched as one alternation would (`NAMED|DATED`). NAMED is `[\u4e00-\u9fff（）()]{2,8}`
# before NAMED_TAIL: `re` would try it at every Chinese character, so the tail is searched for and the
# head walked back in Python. DATED is tried only at `【` or 4 digits.
NAMED_HEAD = re.compile(r"[\u4e00-\u9fff（）()]")
NAMED_TAIL = re.compile(r"(?:试卷|试题)[:：]\s*\d{4}")
INLINE_TITLE_DATED = re.compile(
    r"(?:【[^】]{1,6}】)?(?:\d{4}\s*[-—~至]\s*)?\d{4}\s*(?:学年|年|届)[^\n。？！，,；;:：]{2,50}?(?:试卷|试题|真题)"
    r"(?:[（(][^（()）]{1,10}[)）])?"
)
DATED_ANCHOR = re.compile(r"[【\d](?:(?<=【)|\d\d\d)")  # `【|\d{4}` opening with one class


def _named_title(text: str, pos: int) -> tuple[int, int] | None:
    """The leftmost span at or after `pos` of 2-8 NAMED_HEAD characters followed by NAMED_TAIL."""
    for m in NAMED_TAIL.finditer(text, pos):
        start, floor = m.start(), max(pos, m.start() - 8)
        while start > floor and NAMED_HEAD.match(text, start - 1):
            start -= 1
        if m.start() - start >= 2:
            return start, m.end()
    return None


def _inline_titles(text: str) -> list[int]:
    """Starts of NAMED|DATED title spans, leftmost first, named on a tie."""
    out = []
    named = _named_title(text, 0)
    dated = _search_anchored(INLINE_TITLE_DATED, DATED_ANCHOR, text, 0)
    dated = dated and dated.span()
    while named or dated:
        start, pos = named if named and (not dated or named[0] <= dated[0]) else dated
        out.append(start)
        if named and named[0] < pos:
            named = _named_title(text, pos)
        if dated and dated[0] < pos:
            dated = _search_anchored(INLINE_TITLE_DATED, DATED_ANCHOR, text, pos)
            dated = dated and dated.span()
    return out


def _paper_titles(text: str, keywords: tuple[str, ...]) -> list[int]:
    """Starts of paper titles (a second paper in the same document restarts numbering)."""
    if text.count("\n") < 3:
        return _inline_titles(text)
    kw, line = _title_patterns(keywords)
    # Try the title pattern only on the lines that hold a keyword, not at every line start.
    starts = dict.fromkeys(text.rfind("\n", 0, m.start()) + 1 for m in kw.finditer(text))
    return [s for s in starts if line.match(text, s)]


@functools.lru_cache(maxsize=8)
def _title_patterns(keywords: tuple[str, ...]) -> tuple[re.Pattern, re.Pattern]:
    """The keyword search and the title-line pattern for `keywords`, compiled once."""
    kw = "|".join(map(re.escape, keywords))
    return re.compile(kw), re.compile(rf"^(?!\s*\d{{1,3}}\s*[.．、])[^\n]{{0,40}}(?:{kw})[^\n]{{0,40}}$", re.M)


def _line_end(text: str, at: int) -> int:
    """Where the line holding `at` ends (its line break, or the end of the text)."""
    end = text.find("\n", at)
    return len(text) if end < 0 else end


def _drop_repeated_titles(text: str, titles: list[int], keywords: tuple[str, ...]) -> tuple[str, list[int]]:
    """A title line that recurs (the paper's title as a running page header) is kept once: repeated,
    it would sit inside the question it interrupts."""
    seen, spans = set(), []
    for t in titles:
        end = _line_end(text, t)
        line = text[t:end].strip()
        if line in seen:
            spans.append((t, min(end + 1, len(text))))
        seen.add(line)
    if not spans:
        return text, titles
    text = _remove_spans(text, spans)
    return text, _paper_titles(text, keywords)


# Between a question's number and a section-like line that opens the question itself
# (`5．（12分）（三）实用类文本阅读，阅读下面的文字…`): nothing, or its score mark.
SCORE_ONLY = re.compile(r"\s*(?:[（(]\s*\d+\s*分\s*[)）])?\s*")


def _opens_question(text: str, at: int, bodies: list[int]) -> bool:
    """Whether the section header at `at` follows a question number (`bodies`: where the chain's
    questions begin) with only its score mark between: then it is the question's own first words,
    not a section that ends a question."""
    k = bisect.bisect_right(bodies, at) - 1
    return k >= 0 and SCORE_ONLY.fullmatch(text, bodies[k], at) is not None


def _running_headers(text: str, starts: list[int]) -> list[tuple[int, int]]:
    """The line spans of title lines that start no new paper (page headers inside a question).
    Only whole lines: where line breaks are lost, the title's end is unknown and nothing is cut."""
    spans = []
    for t in starts:
        end = _line_end(text, t)
        if end < len(text) and end - t <= 90 and (t == 0 or text[t - 1] == "\n"):
            spans.append((t, end))
    return spans


def _cut_out(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> str:
    """text[start:end] without the `spans` inside it."""
    inside = [(max(a, start), min(b, end)) for a, b in spans if a < end and b > start]
    if not inside:
        return text[start:end]
    return _remove_spans(text[start:end], [(a - start, b - start) for a, b in inside], " ")


def _new_papers(titles: list[int], chain: list[Candidate]) -> list[int]:
    """The title lines after which numbering starts again at 1 (or nothing follows): a new paper.
    A title line inside a run of numbers is a running page header, or the heading of one subject's
    part of a 理科综合 paper: it names the paper of what follows but must not cut a question."""
    starts = [c.start for c in chain]
    out = []
    for t in titles:
        k = bisect.bisect_left(starts, t)
        if k == 0 or k == len(chain) or chain[k].no == 1:
            out.append(t)
    return out


# A material-group header: `据此完成 9～11 题`, `读图，回答6-8题`, `阅读下面的文字，完成下面小题`.
GROUP_HEADER = re.compile(
    r"(?:完成|回答)\s*(?:第\s*)?(?:(?P<a>\d{1,3})\s*(?:[～~\-—－至]{1,2}\s*(?P<b>\d{1,3})\s*)?小?题|下\s*[面列]\s*(?:各\s*)?(?:小\s*)?题)[。．.]?"
)
GROUP_ANCHOR = re.compile(r"[完回](?:(?<=完)成|(?<=回)答)")
OPEN_GROUP_MAX = 3  # `下面小题` names no range: the group is the next questions up to a section, at most this many
# What a question asks with: an answer blank, a question mark, the verbs of a task. Agenda items,
# rules, the points of a plan and a group's material rarely carry any of these. Every branch opens
# with a literal, so `re` skips ahead by the set of first characters (10x faster than `[（(]…`).
ASKING = re.compile(
    r"（[ \u3000]*[)）]|\([ \u3000]*[)）]|__|＿|下列|求|计算|多少|哪|选出|正确的是|错误的是|？|\?|为什么|怎样|如何|是什么|简述|"
    r"概括|指出|判断|解释|写出|填入|补写|默写|翻译|证明|化简|解方程|选择|找出|推断|说明理由|What|what|Which|which|Why|why|How|how"
)
SENTENCE_BREAK = re.compile(r"[\n。？！．]")
LEAD_WORDS = re.compile(r"(?:阅读|读|据此|根据)[^。；！？.．\n]{0,24}$")  # `阅读下面的文字，` before 完成…题
SUB_QUESTION = re.compile(r"[（(]\s*1\s*[)）]")
# Where an open question ends before a group's material: where it asks, task verbs included.
LAST_ASK = re.compile(rf"{ASKING.pattern}|分析|说明|评价|比较|归纳")
OWN_LEAD = re.compile(r"(?:[（(]\s*\d+\s*分\s*[)）])?\s*(?:阅读|仿照|依照|下面是|在下面|请对下面|名篇名句|名句)")


class Group(NamedTuple):
    start: int  # where the material begins (the end of the question before it)
    end: int  # where the group's first question begins
    members: list[int]  # chain indices of its questions


def _header_start(text: str, at: int) -> int:
    """Where a group header begins, with its lead-in (`阅读下面的文字，` / `读图，` / `据此`)."""
    lead = LEAD_WORDS.search(text, max(0, at - 30), at)
    return lead.start() if lead else at


def _material_start(text: str, prev_end: int, header: int, opens: bool) -> int:
    """Where a group's material begins, searched from `prev_end` (the previous question's body, or
    the section header before the group). After the line of the previous question's last option: a
    material may sit before its header (`……据此完成 9～11 题`), after it, or on both sides. Without
    options, a header that opens the material (`opens`) is its start; else the material follows the
    sentence in which the previous question asks."""
    opts = list(OPTION.finditer(text, prev_end, header))
    if opts:
        frm = opts[-1].end()
    elif opens:
        return header
    else:
        ask = LAST_ASK.search(text, prev_end, header)
        frm = ask.end() if ask else prev_end
    brk = SENTENCE_BREAK.search(text, frm, header)
    return brk.end() if brk else header


def _opens_own_material(text: str, body: int) -> bool:
    """A question that brings its own material or task (`阅读下面这首诗`, `仿照下面的示例`) ends an open group."""
    return OWN_LEAD.match(text, body) is not None


def _own_header(text: str, bodies: list[int], at: int, nxt: int, ranged: bool) -> bool:
    """The header is a question's own first words (`1．（4分）阅读下面这首诗，完成下列各题。（1）…`):
    nothing but a short lead since the question's number, or (without a range) its sub-questions follow."""
    k = bisect.bisect_right(bodies, at) - 1
    if k >= 0 and at - bodies[k] < 16 and SENTENCE_BREAK.search(text, bodies[k], at) is None:
        return True
    return not ranged and SUB_QUESTION.search(text, at, nxt) is not None


def find_groups(text: str, chain: list[Candidate], sections: list[Section]) -> tuple[list[Group], int]:
    """Material groups: a header, its material, and the questions its range names, checked against the
    chain (a header whose first number is not the next question is no group header: a mismatch).
    Sections end an open group and bound a material. Returns the groups and the mismatch count."""
    headers = list(_anchored_finditer(GROUP_HEADER, GROUP_ANCHOR, text))
    if not headers:  # most papers
        return [], 0
    bounds = [x.start for x in sections]
    starts, bodies = [c.start for c in chain], [c.body for c in chain]
    groups, mismatches = [], 0
    for h, m in enumerate(headers):
        k = bisect.bisect_left(starts, m.end())
        head = _header_start(text, m.start())
        if k == len(chain) or (groups and k <= groups[-1].members[-1]):
            continue
        if _own_header(text, bodies, head, chain[k].start, m.group("a") is not None):
            continue
        if m.group("a"):
            a = int(m.group("a"))
            b = int(m.group("b") or a)  # `完成第 9 题`: a material for one question
            members = [i for i in range(k, len(chain)) if a <= chain[i].no <= b and (i == k or chain[i].no == chain[i - 1].no + 1)]
            if chain[k].no != a or b < a or not members or members != list(range(k, k + len(members))):
                mismatches += 1
                continue
            mismatches += chain[members[-1]].no != b
        else:
            stop = min([x for x in bounds if x > chain[k].start] + [x.start() for x in headers[h + 1 :]] + [len(text)])
            members = [k]
            for i in range(k + 1, min(k + OPEN_GROUP_MAX, len(chain))):
                if chain[i].start >= stop or _opens_own_material(text, bodies[i]):
                    break
                members.append(i)
        sec = max([0] + [x.end for x in sections if x.end <= head])
        if k and bodies[k - 1] > sec:  # a question before the group: the material begins where it ends
            opens = len(text[m.end() : chain[k].start].strip()) > 10
            begin = _material_start(text, bodies[k - 1], head, opens)
        else:  # the group opens its section (or the paper): the material begins there
            begin = sec
        groups.append(Group(begin, chain[k].start, members))
    return groups, mismatches


def _chain(found: Scan, restarts: list[int], cfg: SplitCfg) -> list[Candidate]:
    """The best chain of the candidates `scan` found."""
    idx = best_chain(found.start, found.no, found.score, np.array(restarts, dtype=np.int64), cfg.max_skip,
                     float(cfg.skip_penalty), float(cfg.start_penalty))
    return [Candidate(*c) for c in zip(found.start[idx].tolist(), found.body[idx].tolist(), found.no[idx].tolist(),
                                        found.score[idx].tolist())]


def layout(text: str, title: str | None = None, cfg: SplitCfg = SplitCfg(),
           keywords: tuple[str, ...] = ("试卷", "试题", "考试", "测试")) -> Layout:
    """Find sections and questions in one document."""
    text = clean_page_marks(text, title)
    titles = _paper_titles(text, keywords)
    text, titles = _drop_repeated_titles(text, titles, keywords)
    text, had_key = cut_answer_keys(text, titles)
    notice = NOTICE.search(text) is not None
    if notice:
        text = cut_notices(text, find_sections(text))
        notice = NOTICE.search(text) is not None
    if had_key or notice:
        titles = _paper_titles(text, keywords)
    found = scan(text, cfg.max_no)
    sections = find_sections(text, found.sections)
    stops = found.stops.tolist()
    sec_starts = [s.start for s in sections]
    chain = _chain(found, sorted(set(sec_starts) | set(titles)), cfg)
    bodies = [c.body for c in chain]
    cutting = [s.start for s in sections if not _opens_question(text, s.start, bodies)]
    papers = _new_papers(titles, chain)
    headers = _running_headers(text, sorted(set(titles) - set(papers)))
    groups, mismatches = find_groups(text, chain, sections)
    ends = sorted(set(cutting + stops + [c.start for c in chain] + papers + [g.start for g in groups] + [len(text)]))
    context = {i: _cut_out(text, g.start, g.end, headers).strip() or None for g in groups for i in g.members}

    names = [None] + [s.name for s in sections]  # by section index + 1: None before the first
    paper_names = [None] + [text[t : t + 80].split("\n", 1)[0].strip() for t in titles]
    questions = []
    for i, c in enumerate(chain):
        end = ends[bisect.bisect_right(ends, c.body - 1)]
        body = _cut_out(text, c.body, end, headers).strip()
        if len(body) >= cfg.min_chars:
            questions.append(Question(c.no, names[bisect.bisect_right(sec_starts, c.start)], body,
                                      paper_names[bisect.bisect_right(titles, c.start)], context.get(i)))
    return Layout(questions, len(sections), found.n_options, found.n_score_marks, had_key,
                  len(groups), mismatches)


# The split of one document, as detection found it: stored with exam_documents, so splitting runs once
# and the asset page shows how each paper was cut.
QUESTIONS_TYPE = pl.List(pl.Struct({"question_no": pl.Int64, "section": pl.String, "text": pl.String, "paper": pl.String,
                                    "context": pl.String}))


def questions_column(layouts: list[Layout]) -> pl.Series:
    """The `questions` column of exam_documents: one list of questions per document (built as flat
    Arrow arrays plus offsets; a list of dicts per row is several times slower to convert)."""
    qs = [q for lay in layouts for q in lay.questions]
    offsets = np.zeros(len(layouts) + 1, dtype=np.int64)
    np.cumsum([len(lay.questions) for lay in layouts], out=offsets[1:])
    columns = list(zip(*qs)) or [()] * len(Question._fields)  # one tuple per field of Question
    types = [pa.int64()] + [pa.large_string()] * (len(columns) - 1)
    fields = pa.StructArray.from_arrays([pa.array(col, t) for col, t in zip(columns, types)],
                                        names=["question_no", "section", "text", "paper", "context"])
    return pl.Series("questions", pa.LargeListArray.from_arrays(offsets, fields), dtype=QUESTIONS_TYPE)


def split_questions(docs: pl.DataFrame, cfg: SplitCfg = SplitCfg()) -> pl.DataFrame:
    """exam_documents rows -> one row per question fragment (QUESTION_SCHEMA). Rows that carry their
    `questions` (detection's split) are exploded; others are split here."""
    if "questions" not in docs.columns:
        lays = [layout(x or "", t, cfg) for t, x in docs.select("title", "text").iter_rows()]
        docs = docs.with_columns(questions_column(lays))
    return (
        docs.select("doc_id", "questions")
        .explode("questions")
        .drop_nulls("questions")
        .unnest("questions")
        .with_columns((pl.col("doc_id") + "-q" + (pl.int_range(pl.len()).over("doc_id") + 1).cast(pl.String)).alias("question_id"))
        .select(list(QUESTION_SCHEMA))
        .cast(QUESTION_SCHEMA)
    )


NAIVE = re.compile(r"(\d+、)")


def split_naive(docs: pl.DataFrame) -> pl.DataFrame:
    """The seed's `re.split('(\\d+、)', sheet)`: the baseline the benchmark compares against."""
    out: dict[str, list] = {k: [] for k in QUESTION_SCHEMA}
    for doc_id, text in docs.select("doc_id", "text").iter_rows():
        parts = NAIVE.split(text or "")
        for n, i in enumerate(range(1, len(parts) - 1, 2), start=1):
            row = (f"{doc_id}-q{n}", doc_id, int(parts[i][:-1]), None, parts[i + 1].strip(), None, None)
            for k, v in zip(QUESTION_SCHEMA, row):
                out[k].append(v)
    return pl.DataFrame(out, schema=QUESTION_SCHEMA)
