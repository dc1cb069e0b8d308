"""Blocking checks of the classifier and coherence stages: every input row kept or dropped with a
reason; the classifier check also puts the per-model score histograms (numbers) in its metadata."""

import dagster as dg
import polars as pl

from assets.classify.assets import CLASSIFY_INPUT, histogram_table
from assets.classify.coherence import COHERENCE_INPUT
from assets.common.checks import gx_check, pinned_to_own_version, version_of_run
from assets.common.metadata import outcomes_table
from assets.common.partitions import DATE_SOURCE, dims_for
from assets.common.storage import CorpusStorage
from corpus_dag.storage import CorpusStore, PartitionData
from corpus_dag.validation import SuiteOutcome, metric_outcome


def _data(store: CorpusStore, asset: str, dims: dict, key: str) -> PartitionData:
    return PartitionData(store, CorpusStore.partition_path(asset, dims)).require(f"asset {asset} partition {key}")


@dg.asset_check(
    asset="classified_documents",
    name="every_row_accounted",
    description=f"{CLASSIFY_INPUT} rows = classified_documents + classifier_drops, every drop with a reason; "
    "metadata: per-model score histograms.",
    blocking=True,
    partitions_def=DATE_SOURCE,
)
def every_row_accounted(context: dg.AssetCheckExecutionContext, storage: CorpusStorage) -> dg.AssetCheckResult:
    dims = dims_for(DATE_SOURCE, context.partition_key)
    version = version_of_run(context, "classified_documents", context.partition_key)
    store = pinned_to_own_version(storage.store(), "classified_documents", dims, version)
    rows_in = _data(store, CLASSIFY_INPUT, dims, context.partition_key).num_rows
    kept = _data(store, "classified_documents", dims, context.partition_key).num_rows
    drops = _data(store, "classifier_drops", dims, context.partition_key).read(["reason"])
    scores = _data(store, "quality_scores", dims, context.partition_key).read(["model", "score"])
    outcome = SuiteOutcome([
        metric_outcome(f"{CLASSIFY_INPUT} {rows_in} - kept {kept} - dropped {drops.height}", rows_in - kept - drops.height, 0, 0),
        metric_outcome("drops without a reason", drops.filter(pl.col("reason").fill_null("") == "").height, 0, 0),
    ])
    return dg.AssetCheckResult(
        passed=outcome.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "outcomes": outcomes_table(outcome),
            "failed": [o.expectation for o in outcome.outcomes if not o.success],  # as gx_check reports them
            "score_histogram": histogram_table(scores),
            "rows_in": rows_in,
            "rows_kept": kept,
            "rows_dropped": drops.height,
        },
    )


def _coherence_accounting(context, store: CorpusStore, dims: dict[str, str]):
    """Input rows = kept + dropped, and every dropped long document names its reason (the evidence)."""
    key = context.partition_key
    rows_in = _data(store, COHERENCE_INPUT, dims, key).num_rows
    kept = _data(store, "coherence_documents", dims, key).num_rows
    drops = _data(store, "coherence_drops", dims, key).read(["reason"])
    return [
        metric_outcome(f"{COHERENCE_INPUT} {rows_in} - kept {kept} - dropped {drops.height}", rows_in - kept - drops.height, 0, 0),
        metric_outcome("drops without a reason", drops.filter(pl.col("reason").fill_null("") == "").height, 0, 0),
    ]


coherence_accounted = gx_check(
    asset="coherence_documents",
    name="every_row_accounted",
    description=f"{COHERENCE_INPUT} rows = coherence_documents + coherence_drops; every drop names its reason.",
    metrics=_coherence_accounting,
)

checks = [every_row_accounted, coherence_accounted]
