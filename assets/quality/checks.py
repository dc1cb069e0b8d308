"""Checks on the quality stages: drops explained, kept perplexity inside its bucket, dropped share per bucket bounded."""

import dagster as dg
import polars as pl

from assets.common.checks import gx_check
from corpus_dag.accounting import Split
from corpus_dag.quality.thresholds import bucket_counts, drop_shares
from corpus_dag.storage import CorpusStore, PartitionData
from corpus_dag.validation import metric_outcome

# Dropped share of any one length bucket (perplexity stage). With the default 5%/95% quantile cut
# about 10% is expected; a bucket losing over half its documents means the thresholds no longer
# fit this data (a new source, a changed model): look before training on it.
MAX_BUCKET_DROP_SHARE = 0.5
THRESHOLDS_PATH = CorpusStore.partition_path("ppl_thresholds", {})


def bucket_drop_shares(store: CorpusStore, dims: dict[str, str]) -> pl.DataFrame:
    """Dropped share per token bucket of one partition (quality_documents vs quality_drops)."""
    kept = store.read(CorpusStore.partition_path("quality_documents", dims), ["token_bucket"])
    dropped = store.read(CorpusStore.partition_path("quality_drops", dims), ["token_bucket"])
    return drop_shares(bucket_counts(Split(kept, dropped)))


def _drops_explained() -> list:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToNotBeNull(column="rule"),
        gxe.ExpectColumnValuesToNotBeNull(column="reason"),
        gxe.ExpectColumnValuesToMatchRegex(column="rule", regex=r"^[a-z_]+@\d+$"),
    ]


def _kept_within_bucket(context, store: CorpusStore, dims: dict[str, str]):
    """Every kept document's ppl lies in [low, high] of its bucket (checked on the whole partition in polars)."""
    kept = store.read(CorpusStore.partition_path("quality_documents", dims), ["ppl", "token_bucket"])
    thresholds = PartitionData(store, THRESHOLDS_PATH).read(["token_bucket", "low", "high"])
    joined = kept.join(thresholds, on="token_bucket", how="left")
    outside = joined.filter(~pl.col("ppl").is_between(pl.col("low"), pl.col("high")).fill_null(False)).height
    return [metric_outcome(f"kept rows outside their bucket's [low, high] (of {kept.height})", outside, 0, 0)]


def _bucket_drop_shares(context, store: CorpusStore, dims: dict[str, str]):
    shares = bucket_drop_shares(store, dims)
    return [
        metric_outcome(f"dropped share of bucket {b} ({n_dropped}/{n})", share, 0.0, MAX_BUCKET_DROP_SHARE)
        for b, n, n_dropped, share in shares.iter_rows()
    ]


def _quality_expectations() -> list:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToNotBeNull(column="ppl"),
        gxe.ExpectColumnValuesToBeBetween(column="ppl", min_value=1.0, strict_min=False),
        gxe.ExpectColumnValuesToNotBeNull(column="token_bucket"),
    ]


checks: list[dg.AssetChecksDefinition] = [
    gx_check(
        asset="filter_drops",
        name="every_drop_explained",
        description="Every dropped row names its rule (name@version) and a reason.",
        columns=["rule", "reason"],
        expectations=_drops_explained,
    ),
    gx_check(
        asset="quality_documents",
        name="ppl_within_bucket_range",
        description="Kept documents have a perplexity, and it lies within their length bucket's [low, high] (ppl_thresholds).",
        columns=["ppl", "token_bucket"],
        expectations=_quality_expectations,
        metrics=_kept_within_bucket,
    ),
    gx_check(
        asset="quality_drops",
        name="bucket_drop_share_bounded",
        description=f"In every length bucket, the perplexity stage drops at most {MAX_BUCKET_DROP_SHARE:.0%} of the documents.",
        metrics=_bucket_drop_shares,
        blocking=False,
    ),
]
