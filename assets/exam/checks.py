"""Checks on the exam stages: questions per exam document in range, invalid share bounded, subjects recorded."""

import dagster as dg

from assets.common.checks import gx_check
from corpus_dag.storage import CorpusStore
from corpus_dag.validation import metric_outcome

# An exam paper splits into a handful to a few dozen questions. A median outside this range means
# the splitter no longer fits the library (a new numbering style, lost marks): look before using it.
QUESTIONS_PER_DOC = (3, 60)
# Share of fragments the validity classifier rejects. A few percent is normal (headers, broken
# pieces); more means the splitter emits junk or the classifier drifted.
MAX_INVALID_SHARE = 0.15


def _questions_per_doc(context, store: CorpusStore, dims: dict[str, str]):
    docs = store.read(CorpusStore.partition_path("exam_documents", dims), ["doc_id"])
    q = store.read(CorpusStore.partition_path("exam_questions", dims), ["doc_id"])
    counts = docs.join(q.group_by("doc_id").len(), on="doc_id", how="left").fill_null(0)["len"]
    if counts.len() == 0:
        return [metric_outcome("exam documents (none: nothing to judge)", 0, 0, None)]
    low, high = QUESTIONS_PER_DOC
    return [
        metric_outcome(f"median questions per exam document (of {counts.len()})", float(counts.median()), low, high),
        metric_outcome("exam documents with no question", int((counts == 0).sum()), 0, max(1, counts.len() // 20)),
    ]


def _invalid_share(context, store: CorpusStore, dims: dict[str, str]):
    q = store.read(CorpusStore.partition_path("exam_questions", dims), ["is_valid", "subject"])
    share = float(1 - q["is_valid"].mean()) if q.height else 0.0
    outcomes = [metric_outcome(f"invalid fragment share (of {q.height})", round(share, 4), 0.0, MAX_INVALID_SHARE)]
    for subject, n in q.group_by("subject").len().sort("len", descending=True).iter_rows():
        outcomes.append(metric_outcome(f"subject {subject}: questions", n, 0, None))  # the distribution, recorded
    return outcomes


def _question_columns() -> list:
    import great_expectations.expectations as gxe

    subjects = ["语文", "数学", "英语", "物理", "化学", "生物", "政治", "地理", "其他"]
    return [
        gxe.ExpectColumnValuesToBeUnique(column="question_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="text"),
        gxe.ExpectColumnValuesToBeInSet(column="subject", value_set=subjects),
        gxe.ExpectColumnValuesToBeBetween(column="valid_score", min_value=0.0, max_value=1.0),
        gxe.ExpectColumnValuesToBeBetween(column="question_no", min_value=1),
    ]


checks: list[dg.AssetChecksDefinition] = [
    gx_check(
        asset="exam_questions",
        name="questions_per_exam_document",
        description=f"Median questions per exam document within {QUESTIONS_PER_DOC}; at most 5% of exam documents without any.",
        metrics=_questions_per_doc,
    ),
    gx_check(
        asset="exam_questions",
        name="invalid_share_and_subjects",
        description=f"Share of fragments the validity classifier rejects <= {MAX_INVALID_SHARE}; subject distribution recorded.",
        metrics=_invalid_share,
        blocking=False,
    ),
    gx_check(
        asset="exam_questions",
        name="question_columns",
        description="Unique question ids, non-empty text, known subjects, scores in [0, 1], positive question numbers.",
        columns=["question_id", "text", "subject", "valid_score", "question_no"],
        expectations=_question_columns,
    ),
]
