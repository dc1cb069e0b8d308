"""Exam-document detection: an exam keyword AND the structure of a paper.

A keyword alone is not enough (期末工作总结, 高考志愿填报指南, a meeting notice with a numbered
agenda all carry one); the structure score comes from the same layout the splitter uses, so a
document is kept only when it really splits into a run of numbered questions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import polars as pl

from corpus_dag.accounting import DETAIL, REASON, Split
from corpus_dag.exam.split import Layout, SplitCfg, layout, questions_column

KEYWORDS = ("试题", "试卷", "月考", "期中", "期末", "中考", "高考")


@dataclass(frozen=True)
class ExamCfg:
    """keywords: any one must appear in title or text; min_score: structure score to keep (0..1)."""

    keywords: tuple[str, ...] = KEYWORDS
    min_score: float = 0.5
    min_questions: int = 3
    split: SplitCfg = field(default_factory=SplitCfg)


NO_LAYOUT = Layout([], 0, 0, 0, False)


# What a question asks with: an answer blank, a question mark, the words of a task. Agenda items and
# the points of a work summary rarely carry any of these.
ASKING = re.compile(r"[（(][ \u3000]*[)）]|_{3,}|下列|求|计算|多少|哪|选出|正确的是|错误的是|？|\?")


def structure_score(lay: Layout) -> float:
    """0..1 from the evidence a paper leaves: numbered questions, options, section headers, scores,
    and items that ask something (a paper of word problems has no options or sections)."""
    n = len(lay.questions)
    if n == 0:
        return 0.0
    per_q = sum(len(q.text) for q in lay.questions) / n
    s = 0.35 * min(n / 8, 1.0)
    s += 0.25 * min(lay.n_options / (2 * n + 4), 1.0)
    s += 0.2 * min(lay.n_sections / 2, 1.0)
    s += 0.1 * min(lay.n_score_marks / 3, 1.0)
    s += 0.1 * min(per_q / 40, 1.0)  # questions are sentences, agenda items are short phrases
    if s < 1.0:  # full evidence already: no need to look at every question
        s += 0.1 * sum(1 for q in lay.questions if ASKING.search(q.text)) / n
    return round(min(s, 1.0), 3)


def _assess(title: str | None, text: str, cfg: ExamCfg) -> tuple[float, str, bool, Layout]:
    head = f"{title or ''}\n{text[:3000]}"
    found = [k for k in cfg.keywords if k in head]
    if not found:
        return 0.0, "not_exam: no exam keyword", False, NO_LAYOUT
    lay = layout(text, title, cfg.split)
    score = structure_score(lay)
    why = (f"keyword {found[0]}, {len(lay.questions)} numbered questions, {lay.n_options} options, "
           f"{lay.n_sections} sections{', answer key cut' if lay.cut_answer_key else ''}, score {score:.2f}")
    if len(lay.questions) < cfg.min_questions:
        return score, f"not_exam: keyword, too few numbered questions{DETAIL}{why} (needs >= {cfg.min_questions})", False, lay
    if score < cfg.min_score:
        return score, f"not_exam: keyword, weak paper structure{DETAIL}{why} (needs >= {cfg.min_score})", False, lay
    return score, f"exam: {why}", True, lay


def detect_exams(docs: pl.DataFrame, cfg: ExamCfg = ExamCfg()) -> Split:
    """raw_documents rows -> kept exam documents (+ exam_score, reason, and the `questions` the split
    found, which exam_questions reads instead of splitting again) and dropped rows (+ reason)."""
    results = [_assess(t, x or "", cfg) for t, x in docs.select("title", "text").iter_rows()]
    tagged = docs.with_columns(
        pl.Series("exam_score", [r[0] for r in results], dtype=pl.Float64),
        pl.Series(REASON, [r[1] for r in results], dtype=pl.String),
        pl.Series("_keep", [r[2] for r in results], dtype=pl.Boolean),
        questions_column([r[3] for r in results]),
    )
    return Split(
        kept=tagged.filter("_keep").drop("_keep"),
        dropped=tagged.filter(~pl.col("_keep")).drop("_keep", "questions"),
    )
