"""exam_documents -> exam_questions (split, subject, validity) -> math_questions."""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from corpus_dag.accounting import Split, split_by_reason
from corpus_dag.engine import BatchStep
from corpus_dag.exam.features import char_ngrams
from corpus_dag.exam.split import SplitCfg, split_questions
from corpus_dag.exam.subject import assign_subjects, paper_title
from corpus_dag.exam.validity import ExamModels, ValidityModel

EXAM_QUESTION_SCHEMA = {
    "question_id": pl.String,
    "doc_id": pl.String,
    "question_no": pl.Int64,
    "section": pl.String,
    "text": pl.String,
    "context": pl.String,  # the material a group of questions shares; null for an ordinary question
    "subject": pl.String,
    "is_valid": pl.Boolean,
    "valid_score": pl.Float64,
}


def extract_questions(exam_docs: pl.DataFrame, models: ExamModels, cfg: SplitCfg = SplitCfg()) -> pl.DataFrame:
    """One row per split fragment, with its subject and validity (EXAM_QUESTION_SCHEMA). A fragment
    takes the subject of the paper title above it (documents may hold several papers). Documents
    from detect_exams carry their split (`questions`); `cfg` only serves documents without it."""
    q = split_questions(exam_docs, cfg)
    if q.is_empty():
        return pl.DataFrame(schema=EXAM_QUESTION_SCHEMA)
    heads = {d: paper_title(t, x) for d, t, x in exam_docs.select("doc_id", "title", "text").iter_rows()}
    titles = [p or heads.get(d) for d, p in q.select("doc_id", "paper").iter_rows()]
    texts = q["text"].to_list()
    x = char_ngrams(texts, models.subject.ngram)
    shared = isinstance(models.validity, ValidityModel) and models.validity.ngram == models.subject.ngram
    scores = models.validity.scores(texts, x if shared else None)  # an n-gram validity model reads the same features
    return q.with_columns(
        pl.Series("subject", assign_subjects(titles, texts, models.subject, x), dtype=pl.String),
        pl.Series("is_valid", scores >= models.validity.threshold, dtype=pl.Boolean),
        pl.Series("valid_score", scores.round(4), dtype=pl.Float64),
    ).select(list(EXAM_QUESTION_SCHEMA))


def select_math(questions: pl.DataFrame) -> Split:
    """Valid questions with subject 数学, ready for the rebuild stage; the rest dropped with a reason."""
    return split_by_reason(
        questions,
        pl.when(~pl.col("is_valid"))
        .then(pl.lit("invalid_fragment"))
        .when(pl.col("subject") != "数学")
        .then(pl.lit("subject: ") + pl.col("subject"))
        .otherwise(None),
    )


def select_math_split(questions: pl.DataFrame, drop_columns: list[str]) -> Split:
    """`select_math` with the dropped rows cut to `drop_columns` (the drops asset keeps ids and reason)."""
    s = select_math(questions)
    return Split(s.kept, s.dropped.select(drop_columns))


class QuestionStep(BatchStep):
    """`extract_questions` with the stored classifiers loaded once per worker (not per batch)."""

    def __init__(self, model_blob: bytes):
        self.model_blob = model_blob
        self.models: ExamModels | None = None

    def __getstate__(self):
        return {"model_blob": self.model_blob, "models": None}

    def setup(self) -> None:
        self.models = ExamModels.from_bytes(self.model_blob)

    @property
    def metrics(self) -> dict:
        return (self.models or ExamModels.from_bytes(self.model_blob)).metrics

    def __call__(self, batch: pl.DataFrame) -> Split:
        """The batch's questions; every exam document counts as taken (it gives its questions, maybe none)."""
        return Split(kept=extract_questions(batch, self.models), kept_in=batch.height)


@dataclass(frozen=True)
class QuestionStats:
    """What a batch's questions report beyond their count: questions and valid ones per subject, and the
    number of questions of each document that has any (a document never spans two batches)."""

    subjects: pl.DataFrame  # subject, questions, valid
    per_document: pl.Series


def question_stats(split: Split) -> QuestionStats:
    q = split.kept
    subjects = q.group_by("subject").agg(pl.len().cast(pl.Int64).alias("questions"), pl.col("is_valid").sum().cast(pl.Int64).alias("valid"))
    return QuestionStats(subjects, q.group_by("doc_id").len()["len"])
