"""Exam-document detection: a paper is a paper by its structure; an exam word is one feature.

A keyword alone is not enough (期末工作总结, 高考志愿填报指南, a meeting notice with a numbered
agenda all carry one), and papers titled 周练, 课时作业 or 学情调研 carry none of the seed's seven. The
score therefore weighs what the splitter found (a numbering chain, options, section headers, score
marks, items that ask something, material-group headers) and adds the exam word as one more piece
of evidence, so a document is kept only when it really splits into a run of questions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from corpus_dag.accounting import DETAIL, REASON, Split
from corpus_dag.exam.split import ASKING, Layout, SplitCfg, layout, questions_column

# The lexicon of exam words (config: DetectConfig.keywords). The seed's seven, plus what the titles of
# quizzes, drills and mock papers say instead (issue 13).
KEYWORDS = ("试题", "试卷", "月考", "期中", "期末", "中考", "高考", "测验", "练习", "检测", "测试", "联考", "模拟",
            "学情调研", "课时作业", "周练", "单元卷", "小测", "限时训练", "质量监测", "测评", "暑假作业", "寒假作业",
            "作业", "考试", "真题", "竞赛", "诊断", "调研", "训练", "达标", "过关", "同步")


@dataclass(frozen=True)
class ExamCfg:
    """keywords: the exam-word lexicon (one feature of the score); min_score: score to keep (0..1)."""

    keywords: tuple[str, ...] = KEYWORDS
    min_score: float = 0.5
    min_questions: int = 3
    split: SplitCfg = field(default_factory=SplitCfg)


ASK_CHARS = 150  # a question asks near its start; the last item of a list runs on to the document's end
HEAD_CHARS = 120  # an exam word counts in the title or the text's first lines, not in a note's body
# Weights of the evidence (sum 1): how a paper differs from a numbered list.
WEIGHTS = {"questions": 0.12, "options": 0.2, "sections": 0.1, "score_marks": 0.12, "asking": 0.28,
           "length": 0.06, "keyword": 0.12}


def evidence(lay: Layout, keyword: bool) -> dict[str, float]:
    """Each feature of WEIGHTS in 0..1. A material-group header counts as a section (it frames questions)."""
    n = len(lay.questions)
    per_q = sum(len(q.text) for q in lay.questions) / max(n, 1)
    return {
        "questions": min(n / 8, 1.0),
        "options": min(lay.n_options / (2 * n + 4), 1.0),
        "sections": min((lay.n_sections + lay.n_groups) / 2, 1.0),
        "score_marks": min(lay.n_score_marks / 3, 1.0),
        "asking": sum(1 for q in lay.questions if ASKING.search(q.text, 0, ASK_CHARS)) / max(n, 1),
        "length": min(per_q / 40, 1.0),  # questions are sentences, agenda items are short phrases
        "keyword": float(keyword),
    }


def structure_score(lay: Layout, keyword: bool = True) -> float:
    """0..1: the weighted evidence of a paper (0 without any numbered question)."""
    if not lay.questions:
        return 0.0
    ev = evidence(lay, keyword)
    return round(sum(WEIGHTS[k] * v for k, v in ev.items()), 3)


def _assess(title: str | None, text: str, cfg: ExamCfg) -> tuple[float, str, bool, Layout]:
    head = f"{title or ''}\n{text[:HEAD_CHARS]}"
    found = next((k for k in cfg.keywords if k in head), None)
    lay = layout(text, title, cfg.split)
    score = structure_score(lay, found is not None)
    why = (f"{'keyword ' + found if found else 'no exam keyword'}, {len(lay.questions)} numbered questions, "
           f"{lay.n_options} options, {lay.n_sections} sections, {lay.n_groups} material groups"
           f"{', answer key cut' if lay.cut_answer_key else ''}, score {score:.2f}")
    if len(lay.questions) < cfg.min_questions:
        return score, f"not_exam: too few numbered questions{DETAIL}{why} (needs >= {cfg.min_questions})", False, lay
    if score < cfg.min_score:
        return score, f"not_exam: weak paper structure{DETAIL}{why} (needs >= {cfg.min_score})", False, lay
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
