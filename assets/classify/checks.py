"""Blocking check of the classifier stage: every input row kept or dropped with a reason; the
per-model score histograms (numbers) in its metadata."""

import dagster as dg
import polars as pl

from assets.classify.assets import CLASSIFY_INPUT, histogram_table
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
    store = storage.store()
    dims = dims_for(DATE_SOURCE, context.partition_key)
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


checks = [every_row_accounted]
