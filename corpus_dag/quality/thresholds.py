"""Per-length-bucket perplexity cut-offs, the quality split they drive, and a chart of the cut.

Perplexity depends on length (short texts have little context, so their tokens are harder to
predict), so one global cut would drop short documents wholesale. Each token-length bucket gets
its own low and high cut from quantiles of a reference sample: above the high cut is noise and
garbage, below the low cut is copied or templated text the model has effectively memorised.

A thresholds frame (`THRESHOLD_SCHEMA`) is small and plain, so a person can inspect it and pin it
(a CSV or Parquet with the same columns, see `read_pinned`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from corpus_dag.accounting import Split, split_by_reason
from corpus_dag.quality.perplexity import DEFAULT_BUCKET_EDGES, bucket_labels

THRESHOLD_SCHEMA = {
    "token_bucket": pl.String,
    "n_ref": pl.Int64,  # reference documents in the bucket
    "low": pl.Float64,
    "high": pl.Float64,
    "fit": pl.String,  # "bucket" or "pooled" (too few reference documents in the bucket)
}


@dataclass(frozen=True)
class CutConfig:
    """How the cut-offs are derived from the reference sample."""

    low_quantile: float = 0.05
    high_quantile: float = 0.95
    min_bucket_docs: int = 50  # fewer in a bucket: use the pooled quantiles of all buckets
    bucket_edges: tuple[int, ...] = DEFAULT_BUCKET_EDGES

    def __post_init__(self):
        if not 0.0 <= self.low_quantile < self.high_quantile <= 1.0:
            raise ValueError(f"need 0 <= low_quantile < high_quantile <= 1; got {self.low_quantile}, {self.high_quantile}")


def compute_thresholds(reference: pl.DataFrame, cfg: CutConfig) -> pl.DataFrame:
    """Cut-offs per bucket from a reference sample of `perplexity_scores` rows (`ppl`, `token_bucket`).

    Every bucket of `cfg.bucket_edges` gets a row, so every document finds its cut; a bucket with
    fewer than `min_bucket_docs` scored reference documents falls back to the pooled quantiles."""
    scored = reference.select("ppl", "token_bucket").drop_nulls("ppl")
    if scored.height == 0:
        raise ValueError("compute_thresholds: the reference sample has no scored documents")
    q = [pl.col("ppl").quantile(cfg.low_quantile, "linear").alias("low"), pl.col("ppl").quantile(cfg.high_quantile, "linear").alias("high")]
    pooled = scored.select(q).row(0, named=True)
    per_bucket = scored.group_by("token_bucket").agg(pl.len().cast(pl.Int64).alias("n_ref"), *q)
    buckets = pl.DataFrame({"token_bucket": bucket_labels(cfg.bucket_edges)})
    small = pl.col("n_ref") < cfg.min_bucket_docs
    return (
        buckets.join(per_bucket, on="token_bucket", how="left", maintain_order="left")
        .with_columns(pl.col("n_ref").fill_null(0))
        .with_columns(
            pl.when(small).then(pooled["low"]).otherwise(pl.col("low")).alias("low"),
            pl.when(small).then(pooled["high"]).otherwise(pl.col("high")).alias("high"),
            pl.when(small).then(pl.lit("pooled")).otherwise(pl.lit("bucket")).alias("fit"),
        )
        .select(list(THRESHOLD_SCHEMA))
        .cast(THRESHOLD_SCHEMA)
    )


def check_thresholds(df: pl.DataFrame, edges: tuple[int, ...] = DEFAULT_BUCKET_EDGES) -> pl.DataFrame:
    """A thresholds frame in the expected shape, or a ValueError that says what is wrong."""
    missing = {"token_bucket", "low", "high"} - set(df.columns)
    if missing:
        raise ValueError(f"thresholds need columns token_bucket, low, high; missing {sorted(missing)}")
    absent = set(bucket_labels(edges)) - set(df["token_bucket"].to_list())
    if absent:
        raise ValueError(f"thresholds lack buckets {sorted(absent)} (bucket edges {edges})")
    if df["token_bucket"].is_duplicated().any():
        raise ValueError("thresholds name a bucket twice")
    bad = df.filter(~(pl.col("low") <= pl.col("high")))
    if bad.height:
        raise ValueError(f"thresholds need low <= high; not so for {bad['token_bucket'].to_list()}")
    out = df.with_columns(
        *(pl.lit(v, THRESHOLD_SCHEMA[k]).alias(k) for k, v in (("n_ref", None), ("fit", "pinned")) if k not in df.columns)
    )
    return out.select(list(THRESHOLD_SCHEMA)).cast(THRESHOLD_SCHEMA)


def read_pinned(path: str | Path, edges: tuple[int, ...] = DEFAULT_BUCKET_EDGES) -> pl.DataFrame:
    """Pinned cut-offs from a CSV or Parquet file with columns token_bucket, low, high."""
    path = Path(path)
    df = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)
    return check_thresholds(df, edges)


def quality_split(docs: pl.DataFrame, scores: pl.DataFrame, thresholds: pl.DataFrame) -> Split:
    """Keep documents whose perplexity lies within their bucket's [low, high].

    `docs` is a batch of documents, `scores` their `perplexity_scores` rows (more rows are fine).
    Kept and dropped rows carry `ppl`, `n_tokens`, `token_bucket`; dropped ones also the bucket's
    `low` and `high` and a reason: ppl_above_bucket_high, ppl_below_bucket_low, ppl_unscored
    (too short to score) or ppl_missing (no score row for the document)."""
    joined = docs.join(
        scores.select("doc_id", "ppl", "n_tokens", "token_bucket").with_columns(pl.lit(True).alias("_scored")),
        on="doc_id",
        how="left",
        maintain_order="left",
    ).join(thresholds.select("token_bucket", "low", "high"), on="token_bucket", how="left", maintain_order="left")
    reason = (
        pl.when(pl.col("_scored").is_null())
        .then(pl.lit("ppl_missing"))
        .when(pl.col("ppl").is_null())
        .then(pl.lit("ppl_unscored"))
        .when(pl.col("ppl") > pl.col("high"))
        .then(pl.lit("ppl_above_bucket_high"))
        .when(pl.col("ppl") < pl.col("low"))
        .then(pl.lit("ppl_below_bucket_low"))
    )
    split = split_by_reason(joined, reason)
    return Split(kept=split.kept.drop("_scored", "low", "high"), dropped=split.dropped.drop("_scored"))


def histogram_markdown(scores: pl.DataFrame, thresholds: pl.DataFrame, bins: int = 12, width: int = 30) -> str:
    """A per-bucket text histogram of log10(ppl), bins outside the cut drawn as '░' and inside as '█'."""
    scored = scores.drop_nulls("ppl").filter(pl.col("ppl") > 0).with_columns(pl.col("ppl").log10().alias("lg"))
    parts = []
    for b in thresholds.iter_rows(named=True):
        vals = scored.filter(pl.col("token_bucket") == b["token_bucket"])["lg"]
        head = f"**{b['token_bucket']} tokens**: {vals.len()} scored, keep ppl in [{b['low']:.4g}, {b['high']:.4g}] ({b['fit']})"
        if vals.len() == 0:
            parts.append(head)
            continue
        lo, hi = vals.min(), vals.max()
        step = (hi - lo) / bins or 1.0
        counts = [0] * bins
        for v in vals.to_list():
            counts[min(int((v - lo) / step), bins - 1)] += 1
        peak = max(counts)
        rows = []
        for i, n in enumerate(counts):
            left, right = 10 ** (lo + i * step), 10 ** (lo + (i + 1) * step)
            mid = math.sqrt(left * right)
            cut = mid < b["low"] or mid > b["high"]
            bar = ("░" if cut else "█") * max(1 if n else 0, round(width * n / peak))
            rows.append(f"{left:>10.4g} – {right:<10.4g} {bar} {n}{'  (cut)' if cut and n else ''}")
        parts.append(head + "\n\n```\n" + "\n".join(rows) + "\n```")
    return "\n\n".join(parts)


def bucket_counts(split: Split) -> pl.DataFrame:
    """Documents and dropped documents per token bucket of a split (`token_bucket`, `n`, `n_dropped`):
    what `drop_shares` adds up over a partition's splits."""
    rows = pl.concat([split.kept.select("token_bucket").with_columns(pl.lit(False).alias("dropped")),
                      split.dropped.select("token_bucket").with_columns(pl.lit(True).alias("dropped"))])
    return rows.group_by("token_bucket").agg(pl.len().cast(pl.Int64).alias("n"), pl.col("dropped").sum().cast(pl.Int64).alias("n_dropped"))


def drop_shares(counts: pl.DataFrame) -> pl.DataFrame:
    """Per-bucket dropped share from `bucket_counts` rows (any number per bucket): for metadata and checks."""
    return (
        counts.group_by("token_bucket")
        .agg(pl.col("n").sum(), pl.col("n_dropped").sum())
        .with_columns((pl.col("n_dropped") / pl.col("n")).alias("dropped_share"))
        .sort("token_bucket")
    )
