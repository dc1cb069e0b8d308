"""Question-number candidates and section headers of a paper, found in compiled passes over its code points.

The splitter used to find them with a dozen regexes and a Python scoring function per `N.` match;
on a partition that was most of the exam stage's time. The kernel below does the same matching by
hand, pattern for pattern (each helper names the regex it stands for, which the tests keep as the
reference), and returns positions in code points, which are Python string indices. `\\d`, `\\s`,
`str.isdigit` and `str.isalnum` are looked up in a table of every code point, so non-ASCII digits
and blanks behave as they do in `re`.
"""
from __future__ import annotations

import functools
import unicodedata
from typing import NamedTuple

import numpy as np
from numba import njit

# Character classes of the table: `\d` (its value in the second table), `\s`, str.isdigit, str.isalnum, and
# what a section header's number opens with (checked first at every character).
DEC, SPACE, DIGIT, ALNUM, OPENS_SECTION = 1, 2, 4, 8, 16
GLUED_SCORE = 0.6  # a number read off a glued option value (`D．42．`: option 4, question 2)
NO_NUMBER, STOP, QUESTION = 0, 1, 2  # what _score makes of a number: nothing, an answer-key entry, a candidate


@functools.cache
def char_table() -> tuple[np.ndarray, np.ndarray]:
    """Class bits of every code point and the value of each `\\d` (-1 elsewhere)."""
    chars = np.arange(0x110000, dtype=np.uint32).view("U1")
    flags = (np.char.isdecimal(chars) * DEC | np.char.isspace(chars) * SPACE | np.char.isdigit(chars) * DIGIT
             | np.char.isalnum(chars) * ALNUM).astype(np.uint8)
    flags[[ord(c) for c in "第一二三四五六七八九十ⅠⅡⅢⅣⅤⅥⅦⅧ（("]] |= OPENS_SECTION
    values = np.full(0x110000, -1, dtype=np.int8)
    for c in np.flatnonzero(flags & DEC):
        values[c] = unicodedata.decimal(chr(c))
    return flags, values


def codes_of(text: str) -> np.ndarray:
    """The code points of `text` (an index into it is an index into the string)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _ords(chars: str) -> np.ndarray:
    return np.array([ord(c) for c in chars], dtype=np.uint32)


BLANKS = _ords(" \t\u3000")
MARKS = _ords(".．、")  # a question number's mark
ROW_MARKS = _ords(".．、:：")  # after an answer key's number, or an option letter
ROW_SEPS = _ords(",，;；")
NOT_BEFORE_NUMBER = _ords(".．,，_\\^/")
NOT_NEXT = _ords("、.．,，=+×*/)）")  # what never follows a question number's mark
STRONG_BEFORE = _ords("\n。？！；;:：）)】]」”\"'")
ENUM_MARKS = _ords("、,，.．")
OPENS_CJK = _ords("$“\"《【_")  # count as the start of a sentence, like a Chinese character
# `【答案】` etc.: the two characters between the brackets
TAGS = np.array([[ord(a), ord(b)] for a, b in ("答案", "解析", "详解", "分析", "点评", "解答", "考点")], dtype=np.uint32)


@njit(nogil=True, cache=True, inline="always")
def _in(c, chars):
    for x in chars:
        if c == x:
            return True
    return False


@njit(nogil=True, cache=True, inline="always")
def _cjk(c):
    return 0x4E00 <= c <= 0x9FFF


@njit(nogil=True, cache=True, inline="always")
def _upper_ah(c):
    return 65 <= c <= 72  # A-H


@njit(nogil=True, cache=True, inline="always")
def _ascii_letter(c):
    return 65 <= c <= 90 or 97 <= c <= 122


@njit(nogil=True, cache=True, inline="always")
def _is(codes, i, ch):
    return i < codes.size and codes[i] == ord(ch)


@njit(nogil=True, cache=True)
def _skip(codes, flags, i, end, bit):
    """The first index from i (below end) whose character lacks `bit`: `\\s*`, `\\d*`."""
    while i < end and flags[codes[i]] & bit:
        i += 1
    return i


@njit(nogil=True, cache=True)
def _sentence_end(codes, i):
    """codes[i] is a period closing a Chinese sentence (`危害.11．`), not a decimal point."""
    return (codes[i] == ord(".") or codes[i] == ord("．")) and i > 0 and _cjk(codes[i - 1])


@njit(nogil=True, cache=True)
def _digits_value(codes, values, a, b):
    v = 0
    for i in range(a, b):
        v = v * 10 + values[codes[i]]
    return v


@njit(nogil=True, cache=True)
def _answer_tail(codes, flags, p, lim):
    """ANSWER_TAIL.match: `\\s*(?:[A-H]{1,4}(?![A-Za-z])|【(?:答案|解析|…)|答案|解[:：析]|故选)` within codes[:lim]."""
    p = _skip(codes, flags, p, lim, SPACE)
    q = p
    while q < lim and q - p < 4 and _upper_ah(codes[q]):
        q += 1
    if q > p and not (q < lim and _ascii_letter(codes[q])):
        return True
    if p + 2 > lim:
        return False
    c, d = codes[p], codes[p + 1]
    if c == ord("【") and p + 3 <= lim:
        for t in range(TAGS.shape[0]):
            if d == TAGS[t, 0] and codes[p + 2] == TAGS[t, 1]:
                return True
    return ((c == ord("答") and d == ord("案")) or (c == ord("故") and d == ord("选"))
            or (c == ord("解") and (d == ord(":") or d == ord("：") or d == ord("析"))))


@njit(nogil=True, cache=True)
def _enumeration(codes, flags, p, lim):
    """ENUMERATION.match, `\\d+\\s*[、,，.．]` (`1、2、3` inside a sentence)."""
    q = _skip(codes, flags, p, lim, DEC)
    if q == p:
        return False
    q = _skip(codes, flags, q, lim, SPACE)
    return q < lim and _in(codes[q], ENUM_MARKS)


@njit(nogil=True, cache=True)
def _year(codes, flags, p, lim):
    """YEAR.match, `\\d{4}\\s*年`."""
    if p + 4 > lim:
        return False
    for i in range(p, p + 4):
        if not flags[codes[i]] & DEC:
            return False
    q = _skip(codes, flags, p + 4, lim, SPACE)
    return q < lim and codes[q] == ord("年")


@njit(nogil=True, cache=True)
def _score_after(codes, flags, p, lim):
    """SCORE_AFTER.match, `\\s*[（(]\\s*\\d+\\s*分`."""
    p = _skip(codes, flags, p, lim, SPACE)
    if p >= lim or not (codes[p] == ord("（") or codes[p] == ord("(")):
        return False
    q = _skip(codes, flags, p + 1, lim, SPACE)
    r = _skip(codes, flags, q, lim, DEC)
    if r == q:
        return False
    r = _skip(codes, flags, r, lim, SPACE)
    return r < lim and codes[r] == ord("分")


@njit(nogil=True, cache=True)
def _score(codes, flags, start, end, spaced, mark):
    """How much the number at codes[start:end] (`spaced`: blanks before its mark) looks like a
    question number: (QUESTION, score), (STOP, 0) for an answer-key entry, (NO_NUMBER, 0)."""
    lim = min(end + 12, codes.size)  # what follows is read 12 characters far
    if _answer_tail(codes, flags, end, lim):
        return STOP, 0.0
    r = end
    while r < lim and _in(codes[r], BLANKS):
        r += 1
    if r == lim or _in(codes[r], NOT_NEXT):
        return NO_NUMBER, 0.0
    nxt = codes[r]
    i = start - 1
    while i >= 0 and _in(codes[i], BLANKS):
        i -= 1
    prev = codes[i] if i >= 0 else ord("\n")
    gap = start - 1 - i
    strong = i < 0 or _in(prev, STRONG_BEFORE) or _sentence_end(codes, i)
    if not strong and _enumeration(codes, flags, r, lim):
        return NO_NUMBER, 0.0  # `1、2、3` inside a sentence; after a sentence end `7．102，103，…` is question 7
    tight_digit = flags[nxt] & DIGIT != 0 and not _year(codes, flags, r, lim) and r == end and not spaced
    if strong:
        s = 3.0
    elif gap > 0:
        s = 2.0 if flags[prev] & ALNUM != 0 and not _cjk(prev) else 1.6
    else:
        s = 0.4
    if gap == 0 and (prev == ord("$") or _ascii_letter(prev)):
        s = 0.4  # `$2.` / `ahead2.`: lost line breaks glue numbers to formulas and words
    if mark == ord("、") and gap == 0 and s < 3:
        s -= 0.3  # `1、2、3` enumerations inside a sentence
    if tight_digit:
        s -= 1.2  # `1.5` is a decimal unless a sure boundary comes before it (`D．5  14．20世纪`)
        return (QUESTION, s) if s > 0 else (NO_NUMBER, 0.0)
    if nxt == ord("（") or nxt == ord("("):
        s += 0.7 if _score_after(codes, flags, end, lim) else 0.2
    elif _cjk(nxt) or _in(nxt, OPENS_CJK):
        s += 0.5
    return QUESTION, s


@njit(nogil=True, cache=True)
def _inline_answer(codes, flags, i):
    """The end of an INLINE_ANSWER match at i (`【答案】`, or `答案：`/`解析：`/`参考答案：` after a
    blank or at the text's start), else -1."""
    n = codes.size
    c = codes[i]
    if c == ord("【"):
        if i + 3 < n and codes[i + 3] == ord("】"):
            for t in range(TAGS.shape[0]):
                if codes[i + 1] == TAGS[t, 0] and codes[i + 2] == TAGS[t, 1]:
                    return i + 4
        return -1
    if i > 0 and not flags[codes[i - 1]] & SPACE:
        return -1
    if c == ord("答") and _is(codes, i + 1, "案"):
        q = i + 2
    elif c == ord("解") and _is(codes, i + 1, "析"):
        q = i + 2
    elif c == ord("参") and _is(codes, i + 1, "考") and _is(codes, i + 2, "答") and _is(codes, i + 3, "案"):
        q = i + 4
    else:
        return -1
    q = _skip(codes, flags, q, n, SPACE)
    return q + 1 if _is(codes, q, ":") or _is(codes, q, "：") else -1


@njit(nogil=True, cache=True)
def _glued_option(codes, flags, i):
    """GLUED_OPTION at i, `[A-H][.．、]\\d(\\d{1,2})[ \\t]{0,2}[.．、](?![.．\\d])`: (start, end) of
    group 1 and the match's end, else (-1, -1, -1)."""
    n = codes.size
    if not (_upper_ah(codes[i]) and i + 2 < n and _in(codes[i + 1], MARKS) and flags[codes[i + 2]] & DEC):
        return -1, -1, -1
    g = i + 3
    g_end = _skip(codes, flags, g, n, DEC)
    if g_end == g or g_end - g > 2:
        return -1, -1, -1
    k = g_end
    while k < n and k - g_end < 2 and (codes[k] == ord(" ") or codes[k] == ord("\t")):
        k += 1
    if k < n and _in(codes[k], MARKS) and not (k + 1 < n and (codes[k + 1] == ord(".") or codes[k + 1] == ord("．")
                                                                or flags[codes[k + 1]] & DEC != 0)):
        return g, g_end, k + 1
    return -1, -1, -1


@njit(nogil=True, cache=True)
def _answer_entry(codes, flags, p):
    """The end of one answer-key entry at p, `\\d{1,3}\\s*[.．、:：]?\\s*[A-H]{1,4}(?![A-Za-z])[\\s,，;；]*`, else -1."""
    n = codes.size
    q = _skip(codes, flags, p, n, DEC)
    if q == p or q - p > 3:
        return -1
    q = _skip(codes, flags, q, n, SPACE)
    if q < n and _in(codes[q], ROW_MARKS):
        q += 1
    q = _skip(codes, flags, q, n, SPACE)
    r = q
    while r < n and r - q < 4 and _upper_ah(codes[r]):
        r += 1
    if r == q or (r < n and _ascii_letter(codes[r])):
        return -1
    while r < n and (flags[codes[r]] & SPACE != 0 or _in(codes[r], ROW_SEPS)):
        r += 1
    return r


@njit(nogil=True, cache=True)
def _score_mark(codes, flags, i):
    """SCORE_MARK at i: `（5分）`, `(5分)`, `每小题5分`, `满分`."""
    n = codes.size
    c = codes[i]
    if c == ord("满"):
        return _is(codes, i + 1, "分")
    if c == ord("每"):
        if not (_is(codes, i + 1, "小") and _is(codes, i + 2, "题")):
            return False
        q = i + 3
    elif c == ord("（") or c == ord("("):
        q = i + 1
    else:
        return False
    q = _skip(codes, flags, q, n, SPACE)
    r = _skip(codes, flags, q, n, DEC)
    if r == q:
        return False
    r = _skip(codes, flags, r, n, SPACE)
    if not _is(codes, r, "分"):
        return False
    if c == ord("每"):
        return True
    r = _skip(codes, flags, r + 1, n, SPACE)
    return _is(codes, r, ")") or _is(codes, r, "）")


CN_NUMS = _ords("一二三四五六七八九十")
PART_NUMS = _ords("一二三四五六七八九十ⅠⅡⅢIV")  # after 第, before 部分/卷/大题
ROMAN = _ords("ⅠⅡⅢⅣⅤⅥⅦⅧ")
BEFORE_SECTION = _ords("\n\t \u3000。；;！？）)】]")
# A section name ends in a kind of question (选择题, 阅读理解, 写作, ...), never in 情况/措施.
SECTION_WORDS_1 = _ords("题")
SECTION_WORDS_2 = np.array([[ord(a), ord(b)] for a, b in ("阅读", "写作", "作文", "理解", "填空", "运用", "表达", "听力",
                                                          "默写", "改错", "拼写", "积累", "鉴赏", "选择")], dtype=np.uint32)
NOT_IN_NOTE = _ords("（()）\n")


@njit(nogil=True, cache=True)
def _run(codes, i, chars, most):
    """The end of the run of `chars` from i, read at most `most` long."""
    j = i
    while j < codes.size and j - i < most and _in(codes[j], chars):
        j += 1
    return j


@njit(nogil=True, cache=True)
def _section_number(codes, flags, p):
    """Where a section header's number ends (`第二部分`, `三、`, `Ⅱ．`, `（一）`) at p, else -1."""
    n = codes.size
    c = codes[p]
    if c == ord("第"):
        q = _run(codes, p + 1, PART_NUMS, n)
        if q == p + 1:
            return -1
        if _is(codes, q, "部") and _is(codes, q + 1, "分"):
            q += 2
        elif _is(codes, q, "卷"):
            q += 1
        elif _is(codes, q, "大") and _is(codes, q + 1, "题"):
            q += 2
        else:
            return -1
        return q
    if _in(c, CN_NUMS) or _in(c, ROMAN):
        q = _run(codes, p, CN_NUMS, 4) if _in(c, CN_NUMS) else p + 1
        if q - p > 3:
            return -1
        q = _skip(codes, flags, q, n, SPACE)
        return q + 1 if q < n and _in(codes[q], MARKS) else -1
    if c == ord("（") or c == ord("("):
        q = _run(codes, p + 1, CN_NUMS, 4)
        if q == p + 1 or q - p - 1 > 3:
            return -1
        return q + 1 if _is(codes, q, ")") or _is(codes, q, "）") else -1
    return -1


@njit(nogil=True, cache=True)
def _section_at(codes, flags, p):
    """SECTION matched at p: (end, end of the name), the name starting after the number and blanks;
    (-1, -1) when none. A name is a run of Chinese characters of at most 10 more than the kind of
    question it ends in, and not one that starts with 答."""
    n = codes.size
    q = _section_number(codes, flags, p)
    if q < 0:
        return -1, -1, -1
    q = _skip(codes, flags, q, n, SPACE)
    r = q
    while r < n and _cjk(codes[r]):
        r += 1
    if r == q or codes[q] == ord("答"):
        return -1, -1, -1
    named = r - q - 1 <= 10 and _in(codes[r - 1], SECTION_WORDS_1)
    if not named and r - q >= 2 and r - q - 2 <= 10:
        for w in range(SECTION_WORDS_2.shape[0]):
            if codes[r - 2] == SECTION_WORDS_2[w, 0] and codes[r - 1] == SECTION_WORDS_2[w, 1]:
                named = True
    if not named:
        return -1, -1, -1
    e = _skip(codes, flags, r, n, SPACE)
    if e < n and (codes[e] == ord("（") or codes[e] == ord("(")):  # a note in brackets: `（每小题5分，共60分）`
        u = e + 1
        while u < n and u - e - 1 < 80 and not _in(codes[u], NOT_IN_NOTE):
            u += 1
        if _is(codes, u, ")") or _is(codes, u, "）"):
            e = u + 1
    if _is(codes, e, ":") or _is(codes, e, "："):
        e += 1
    return q, r, e


@njit(nogil=True, cache=True)
def _sections(codes, flags):
    """(start, end, name start, name end) of each section header that starts the text, a line or
    follows a sentence end, as SECTION.finditer finds them."""
    n = codes.size
    out = np.empty((n // 3 + 1, 4), np.int64)
    m = 0
    p = 0
    while p < n:
        q, r, e = _section_at(codes, flags, p) if flags[codes[p]] & OPENS_SECTION else (-1, -1, -1)
        if e < 0:
            p += 1
            continue
        if p == 0 or _in(codes[p - 1], BEFORE_SECTION):
            out[m, 0], out[m, 1], out[m, 2], out[m, 3] = p, e, q, r
            m += 1
        p = e
    return out[:m]



@njit(nogil=True, cache=True)
def _scan(codes, flags, values, max_no):
    """Candidates (start, body, number, score) outside the section headers, sorted stops, the counts
    of options and score marks, and the section headers (as `_sections` gives them)."""
    n = codes.size
    cap = n + n // 4 + 1  # a NUMBER match yields at most one candidate per digit, a glued option needs 5 characters
    c_start = np.empty(cap, np.int64)
    c_body = np.empty(cap, np.int64)
    c_no = np.empty(cap, np.int64)
    c_score = np.empty(cap, np.float64)
    stops = np.empty(2 * n + 1, np.int64)
    nc = ns = 0
    # NUMBER: `(\d\d*)([ \t\u3000]{0,2})([.．、])(?![.．])`, scored by what surrounds it
    i = 0
    while i < n:
        if not flags[codes[i]] & DEC:
            i += 1
            continue
        a = i
        b = _skip(codes, flags, i, n, DEC)
        k = b
        while k < n and k - b < 2 and _in(codes[k], BLANKS):
            k += 1
        if not (k < n and _in(codes[k], MARKS) and not (k + 1 < n and (codes[k + 1] == ord(".") or codes[k + 1] == ord("．")))):
            i = b  # no start inside the run can match either
            continue
        end = i = k + 1
        if b - a > 3 or (a > 0 and _in(codes[a - 1], NOT_BEFORE_NUMBER) and not _sentence_end(codes, a - 1)):
            continue
        no = _digits_value(codes, values, a, b)
        if no < 1 or no > max_no:
            continue
        kind, s = _score(codes, flags, a, end, k > b, codes[k])
        if kind == NO_NUMBER:
            continue
        if kind == STOP:
            stops[ns] = a
            ns += 1
            continue
        body = end
        while body < n and _in(codes[body], BLANKS):
            body += 1
        c_start[nc], c_body[nc], c_no[nc], c_score[nc] = a, body, no, s
        nc += 1
        for cut in range(a + 1, b):  # `D．42．` with the line break lost: option 4, question 2
            if codes[cut] != ord("0"):
                c_start[nc], c_body[nc], c_no[nc], c_score[nc] = cut, body, _digits_value(codes, values, cut, b), GLUED_SCORE
                nc += 1
    breaks = 0
    n_options = n_marks = 0
    i = 0
    while i < n:  # INLINE_ANSWER stops; OPTION `[A-D]\s*[.．、:：]` and SCORE_MARK counts; line breaks
        c = codes[i]
        breaks += c == ord("\n")
        if c == ord("满") or c == ord("每") or c == ord("（") or c == ord("("):
            n_marks += _score_mark(codes, flags, i)
        e = _inline_answer(codes, flags, i) if c == ord("【") or c == ord("答") or c == ord("解") or c == ord("参") else -1
        if e >= 0:
            stops[ns] = i
            ns += 1
        if 65 <= c <= 68:
            q = _skip(codes, flags, i + 1, n, SPACE)
            n_options += q < n and _in(codes[q], ROW_MARKS)
        i += 1
    if breaks < 3:  # only where line breaks were lost
        i = 0
        while i < n:
            g, g_end, e = _glued_option(codes, flags, i)
            if e < 0:
                i += 1
                continue
            no = _digits_value(codes, values, g, g_end)
            if codes[g] != ord("0") and no <= max_no:
                c_start[nc], c_body[nc], c_no[nc], c_score[nc] = g, e, no, GLUED_SCORE
                nc += 1
            i = e
        order = np.argsort(c_start[:nc], kind="mergesort")  # stable: ties keep the order they were found in
        c_start[:nc], c_body[:nc], c_no[:nc], c_score[:nc] = c_start[order], c_body[order], c_no[order], c_score[order]
    # ANSWER_ROW: three answer-key entries in a row (`1.A 2.C 3.D`); a start inside a longer number keeps 3 digits
    i = 0
    while i < n:
        if not flags[codes[i]] & DEC:
            i += 1
            continue
        b = _skip(codes, flags, i, n, DEC)
        p = max(i, b - 3)
        e = _answer_entry(codes, flags, p)
        entries, last = 0, b
        while e >= 0:
            entries += 1
            last, e = e, _answer_entry(codes, flags, e)
        if entries >= 3:
            stops[ns] = p
            ns += 1
            i = last
        else:
            i = b
    sections = _sections(codes, flags)  # a number inside a header (`一、选择题（共12小题）`) is no question
    keep = np.empty(nc, np.bool_)
    for j in range(nc):
        k = np.searchsorted(sections[:, 0], c_start[j], side="right") - 1
        keep[j] = k < 0 or c_start[j] >= sections[k, 1]
    keep = np.flatnonzero(keep)
    return c_start[keep], c_body[keep], c_no[keep], c_score[keep], np.sort(stops[:ns]), n_options, n_marks, sections


class Scan(NamedTuple):
    """What `scan` found in a text: candidates as parallel arrays, stops, option and score-mark counts,
    section headers."""

    start: np.ndarray  # where the number begins
    body: np.ndarray  # where the question text begins
    no: np.ndarray
    score: np.ndarray
    stops: np.ndarray  # answer-key entries and printed answers: each ends the question before it
    n_options: int
    n_score_marks: int
    sections: np.ndarray  # rows of `section_spans`


def scan(text: str, max_no: int) -> Scan:
    """Question-number candidates of `text` (numbers up to `max_no`), sorted by start, and what else
    one pass over it finds."""
    return Scan(*_scan(codes_of(text), *char_table(), max_no))


@njit(nogil=True, cache=True)
def best_chain(starts, nos, scores, restarts, max_skip, skip_penalty, start_penalty):
    """Indices of the highest-scoring chain of candidates (sorted by start) whose numbers rise by one
    (or skip up to `max_skip`); it may restart at 1 after a paper/section boundary in `restarts`
    (several papers in one document). For each number, the best chain ending there so far."""
    m = starts.size
    if m == 0:
        return np.empty(0, np.int64)
    top = nos.max() + 1
    by_no_score = np.empty(top, np.float64)
    by_no_end = np.full(top, -1, np.int64)  # -1: no chain ends at that number yet
    back = np.empty(m, np.int64)
    pb_score = np.empty(m, np.float64)  # best chain ending at or before each index
    pb_end = np.empty(m, np.int64)
    best, best_end = -np.inf, -1
    for i in range(m):
        no, own = nos[i], scores[i]
        score, prev = own - (0.0 if no == 1 else start_penalty), -1
        for skip in range(1, max_skip + 2):
            j = no - skip
            if 0 <= j < top and by_no_end[j] >= 0:
                s = by_no_score[j] + own - (skip - 1) * skip_penalty
                if s > score:
                    score, prev = s, by_no_end[j]
        if no == 1 and restarts.size:
            k = np.searchsorted(restarts, starts[i]) - 1
            if k >= 0:
                j = np.searchsorted(starts, restarts[k]) - 1
                if j >= 0 and pb_score[j] + own - 0.5 > score:
                    score, prev = pb_score[j] + own - 0.5, pb_end[j]
        back[i] = prev
        if by_no_end[no] < 0 or by_no_score[no] < score:
            by_no_score[no], by_no_end[no] = score, i
        if score > best:
            best, best_end = score, i
        pb_score[i], pb_end[i] = best, best_end
    chain = []
    i = best_end
    while i >= 0:
        chain.append(i)
        i = back[i]
    return np.array(chain[::-1], np.int64)


def section_spans(text: str) -> np.ndarray:
    """Rows (start, end, name start, name end) of the section headers of `text` (`一、选择题（每小题5分）`,
    `第Ⅱ卷 非选择题`, `（二）阅读理解:`): a number, a name ending in a kind of question, an optional note in
    brackets and a colon; only where a header starts the text, a line, or follows a sentence end."""
    return _sections(codes_of(text), char_table()[0])
