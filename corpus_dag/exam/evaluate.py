"""Scoring against truth: exam-document F1 and question recall/precision by char-5-gram Jaccard.

A true question counts as found when a kept fragment of the same document has character-5-gram
Jaccard >= 0.6 with it (whitespace ignored: wenku dumps lose line breaks).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_WS = re.compile(r"\s+")


def grams(text: str, n: int = 5) -> set[str]:
    t = _WS.sub("", text)
    return {t[i : i + n] for i in range(max(len(t) - n + 1, 1))}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


@dataclass(frozen=True)
class Scores:
    doc_precision: float
    doc_recall: float
    doc_f1: float
    q_recall: float
    q_precision: float
    subject_acc: float
    n_true: int
    n_found: int
    n_fragments: int


def score(truth: dict[str, dict], kept_docs: set[str], fragments: dict[str, list[tuple[str, str | None]]],
          threshold: float = 0.6) -> Scores:
    """truth: doc_id -> {is_exam, questions:[{text, subject}]}; fragments: doc_id -> [(text, subject)]."""
    pos = {d for d, t in truth.items() if t["is_exam"]}
    tp = len(pos & kept_docs)
    p = tp / len(kept_docs) if kept_docs else 0.0
    r = tp / len(pos) if pos else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    n_true = found = right = n_frag = good_frag = 0
    for doc_id, t in truth.items():
        frags = fragments.get(doc_id, [])
        fg = [grams(x) for x, _ in frags]
        n_frag += len(frags)
        matched = [False] * len(frags)
        for q in t["questions"]:
            n_true += 1
            qg = grams(q["text"])
            best, best_j = -1, threshold
            for i, g in enumerate(fg):
                j = jaccard(qg, g)
                if j >= best_j:
                    best, best_j = i, j
            if best >= 0:
                found += 1
                matched[best] = True
                right += frags[best][1] == q["subject"]
        good_frag += sum(matched)
    return Scores(round(p, 4), round(r, 4), round(f1, 4), round(found / max(n_true, 1), 4),
                  round(good_frag / max(n_frag, 1), 4), round(right / max(found, 1), 4), n_true, found, n_frag)


# The kinds of paper issue 13 reports recall for. Derived the same way for every generator (a
# generator's own `kinds` in its truth are added: two-column damage cannot be seen afterwards).
KINDS = ("keywordless", "material_group", "answer_key", "late_numbering", "two_column")
SEED_KEYWORDS = ("试题", "试卷", "月考", "期中", "期末", "中考", "高考")
_GROUP_HEADER = re.compile(r"(?:完成|回答)\s*第?\s*\d{1,3}\s*[～~\-—－至]\s*\d{1,3}\s*小?题|完成下面小?题|完成下列各?小题")
_ANSWER_KEY = re.compile(r"参考答案|答案与解析|答案及解析|答案速查|【答案】|答案[:：]")


def paper_kinds(record: dict, truth: dict) -> set[str]:
    """Which of KINDS an exam paper is (a non-exam document is none)."""
    if not truth["is_exam"]:
        return set()
    text = record.get("text") or ""
    kinds = set(truth.get("kinds", []))
    if not any(k in f"{record.get('title') or ''}\n{text[:3000]}" for k in SEED_KEYWORDS):
        kinds.add("keywordless")
    if any(q.get("context") for q in truth["questions"]) or _GROUP_HEADER.search(text):
        kinds.add("material_group")
    if _ANSWER_KEY.search(text):
        kinds.add("answer_key")
    numbers = [q["no"] for q in truth["questions"] if q.get("no") is not None]  # the alt truth has none
    if numbers and min(numbers) > 1:
        kinds.add("late_numbering")
    return kinds


@dataclass(frozen=True)
class ContextScores:
    """Of the found questions of material groups, the share whose fragment carries their material
    (char-5-gram Jaccard >= threshold); of the found ordinary questions, the share with no context."""

    group_found: int
    group_context_right: float
    plain_found: int
    plain_context_null: float


def context_scores(truth: dict[str, dict], fragments: dict[str, list[tuple[str, str | None]]],
                   threshold: float = 0.6) -> ContextScores:
    """truth questions carry `context` (None for ordinary ones); fragments: doc_id -> [(text, context)]."""
    g_found = g_right = p_found = p_null = 0
    for doc_id, t in truth.items():
        frags = fragments.get(doc_id, [])
        fg = [grams(x) for x, _ in frags]
        for q in t["questions"]:
            if "context" not in q:
                continue  # a generator without materials says nothing here
            qg = grams(q["text"])
            js = [jaccard(qg, g) for g in fg]
            best = max(range(len(js)), key=js.__getitem__) if js else -1
            if best < 0 or js[best] < threshold:
                continue
            found_ctx = frags[best][1]
            if q["context"]:
                g_found += 1
                g_right += found_ctx is not None and jaccard(grams(q["context"]), grams(found_ctx)) >= threshold
            else:
                p_found += 1
                p_null += found_ctx is None
    return ContextScores(g_found, round(g_right / max(g_found, 1), 4), p_found, round(p_null / max(p_found, 1), 4))
