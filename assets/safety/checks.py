"""Checks on the safety stage: every input row is kept or dropped with a reason."""

import dagster as dg

from assets.common.checks import gx_check
from assets.safety.assets import SAFETY_INPUT
from corpus_dag.storage import CorpusStore, PartitionData
from corpus_dag.validation import metric_outcome


def _rows(store: CorpusStore, asset: str, dims: dict) -> int:
    return PartitionData(store, CorpusStore.partition_path(asset, dims)).require(f"asset {asset} {dims}").num_rows


def _accounting(context, store: CorpusStore, dims: dict[str, str]):
    """Input rows = kept + dropped, and every dropped row names its rule and reason."""
    rows_in, kept, dropped = (_rows(store, a, dims) for a in (SAFETY_INPUT, "safety_documents", "safety_drops"))
    drops = store.read(CorpusStore.partition_path("safety_drops", dims), ["rule", "reason"])
    unexplained = drops.filter(drops["rule"].is_null() | drops["reason"].is_null()).height
    return [
        metric_outcome(f"{SAFETY_INPUT} {rows_in} - kept {kept} - dropped {dropped}", rows_in - kept - dropped, 0, 0),
        metric_outcome("drops without rule or reason", unexplained, 0, 0),
    ]


checks: list[dg.AssetChecksDefinition] = [
    gx_check(
        asset="safety_documents",
        name="every_row_accounted",
        description=f"Rows of {SAFETY_INPUT} = safety_documents + safety_drops; every drop names rule@version and a reason.",
        metrics=_accounting,
    ),
]
