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
from corpus_dag.classify.apply import score_bins
from corpus_dag.storage import CorpusStore, PartitionData
from corpus_dag.validation import SuiteOutcome, metric_outcome


def _data(store: CorpusStore, asset: str, dims: dict, key: str) -> PartitionData:
    return PartitionData(store, CorpusStore.partition_path(asset, dims)).require(f"asset {asset} partition {key}")


def _accounting(store: CorpusStore, dims: dict, key: str, source: str, kept_asset: str, drops_asset: str):
    """(outcomes, rows in, kept, dropped): input rows = kept + dropped, and every drop names its reason."""
    rows_in = _data(store, source, dims, key).num_rows
    kept = _data(store, kept_asset, dims, key).num_rows
    drops = _data(store, drops_asset, dims, key).read(["reason"])
    outcomes = [
        metric_outcome(f"{source} {rows_in} - kept {kept} - dropped {drops.height}", rows_in - kept - drops.height, 0, 0),
        metric_outcome("drops without a reason", drops.filter(pl.col("reason").fill_null("") == "").height, 0, 0),
    ]
    return outcomes, rows_in, kept, drops.height


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
    outcomes, rows_in, kept, dropped = _accounting(store, dims, context.partition_key, CLASSIFY_INPUT, "classified_documents",
                                                   "classifier_drops")
    scores = _data(store, "quality_scores", dims, context.partition_key).read(["model", "score"])
    outcome = SuiteOutcome(outcomes)
    return dg.AssetCheckResult(
        passed=outcome.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "outcomes": outcomes_table(outcome),
            "failed": [o.expectation for o in outcome.outcomes if not o.success],  # as gx_check reports them
            "score_histogram": histogram_table(score_bins(scores)),
            "rows_in": rows_in,
            "rows_kept": kept,
            "rows_dropped": dropped,
        },
    )


def _coherence_accounting(context, store: CorpusStore, dims: dict[str, str]):
    """Every dropped long document names its reason (the evidence)."""
    return _accounting(store, dims, context.partition_key, COHERENCE_INPUT, "coherence_documents", "coherence_drops")[0]


coherence_accounted = gx_check(
    asset="coherence_documents",
    name="every_row_accounted",
    description=f"{COHERENCE_INPUT} rows = coherence_documents + coherence_drops; every drop names its reason.",
    metrics=_coherence_accounting,
)

checks = [every_row_accounted, coherence_accounted]
