"""Checks on the rebuild stage: every question sampled, sane sample rows, verified rows accounted."""
import dagster as dg

from assets.common.checks import gx_check
from corpus_dag.rebuild.sandbox import ERROR, KILLED, OK, TIMEOUT
from corpus_dag.rebuild.stage import REBUILT_SCHEMA
from corpus_dag.storage import CorpusStore, PartitionData
from corpus_dag.validation import metric_outcome


def _sample_expectations() -> list:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=list(REBUILT_SCHEMA)),
        gxe.ExpectColumnValuesToBeUnique(column="item_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="question_id"),
        gxe.ExpectColumnValuesToBeBetween(column="sample_idx", min_value=0),
        # null: the response held no program to run
        gxe.ExpectColumnValuesToBeInSet(column="exec_status", value_set=[OK, ERROR, TIMEOUT, KILLED]),
    ]


def _rows(store: CorpusStore, asset: str, dims: dict[str, str]) -> PartitionData:
    return PartitionData(store, CorpusStore.partition_path(asset, dims))


def _every_question_sampled(context, store: CorpusStore, dims: dict[str, str]):
    """Each math question of the partition has at least one rebuilt sample (none lost on the way)."""
    questions = _rows(store, "math_questions", dims).read(["question_id"])["question_id"]
    rebuilt = _rows(store, "rebuilt_math_items", dims).read(["question_id"])["question_id"]
    missing = int((~questions.is_in(rebuilt.unique().implode())).sum()) if questions.len() else 0
    return [metric_outcome(f"math questions without a sample (of {questions.len()})", missing, 0, 0)]


def _verified_accounting(context, store: CorpusStore, dims: dict[str, str]):
    """rebuilt samples = verified + unverified (each unverified row carries its reason)."""
    rebuilt = _rows(store, "rebuilt_math_items", dims).num_rows
    verified = _rows(store, "verified_math_items", dims).num_rows
    unverified = _rows(store, "unverified_math_items", dims).num_rows
    return [metric_outcome(f"rebuilt {rebuilt} - verified {verified} - unverified {unverified}", rebuilt - verified - unverified, 0, 0)]


checks: list[dg.AssetChecksDefinition] = [
    gx_check(
        asset="rebuilt_math_items",
        name="sample_rows",
        description="Columns as documented, unique item_id, sample_idx >= 0, exec_status in ok/error/timeout/killed (or null: no program).",
        columns=list(REBUILT_SCHEMA),
        expectations=_sample_expectations,
    ),
    gx_check(
        asset="rebuilt_math_items",
        name="every_question_sampled",
        description="Every math_questions row of the partition has at least one rebuilt sample.",
        metrics=_every_question_sampled,
    ),
    gx_check(
        asset="verified_math_items",
        name="every_sample_accounted",
        description="rebuilt_math_items rows = verified_math_items + unverified_math_items.",
        metrics=_verified_accounting,
    ),
]
