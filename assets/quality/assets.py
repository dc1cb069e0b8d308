"""`filtered_documents` + `filter_drops`, `perplexity_scores`, `ppl_thresholds`, `quality_documents` + `quality_drops`."""

import os
import tempfile
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pyarrow.parquet as pq

from assets.common.metadata import markdown_table, stored
from assets.common.partitions import (
    DATE_SOURCE,
    SOURCES,
    partition_dims,
)
from assets.common.stage import Out, split_specs, stream_split
from assets.common.storage import CorpusStorage
from corpus_dag.accounting import REASON
from corpus_dag.quality.filters import FilterConfig, apply_filters, load_filter_config
from corpus_dag.quality.perplexity import (
    DEFAULT_BUCKET_EDGES,
    SCORE_SCHEMA,
    PplConfig,
    load_scorer,
    score_documents,
)
from corpus_dag.quality.thresholds import (
    CutConfig,
    compute_thresholds,
    drop_shares,
    histogram_markdown,
    quality_split,
    read_pinned,
)
from corpus_dag.storage import CorpusStore, PartitionData, arrow_schema

FILTER_INPUT = "deduplicated_documents"
COMMON = {"owners": ["team:corpus"], "group_name": "quality"}
THRESHOLDS_PATH = CorpusStore.partition_path("ppl_thresholds", {})


def _schema(data: PartitionData) -> dict:
    with data.store.fs.open(data.store.abs(data.path), "rb") as f:
        return dict(pl.from_arrow(pq.ParquetFile(f).schema_arrow.empty_table()).schema)


class FilterRunConfig(dg.Config):
    batch_rows: int = 20_000


@dg.multi_asset(
    specs=split_specs(
        "filtered_documents",
        "filter_drops",
        kept_doc=f"Rows of {FILTER_INPUT} that pass every heuristic rule of their source kind "
        "(config/filters.yaml), plus `lang` (detected ISO 639-1 language).",
        dropped_doc="Rows a heuristic rule dropped: `rule` (name@version), its `value`, and `reason`.",
        deps=[FILTER_INPUT],
        stage="filter",
        **COMMON,
    ),
    partitions_def=DATE_SOURCE,
    can_subset=False,
)
def heuristic_filter(context: dg.AssetExecutionContext, config: FilterRunConfig, storage: CorpusStorage):
    """Gopher/InternLM2-style rules (length, character classes, lines, language) per source kind."""
    dims = partition_dims(context)
    store = storage.store()
    source = SOURCES.get(dims["source"])
    cfg = load_filter_config(source.kind, source.settings.get("filters"))
    docs = PartitionData(store, CorpusStore.partition_path(FILTER_INPUT, dims)).require(f"asset {FILTER_INPUT} partition {context.partition_key}")
    schema = _schema(docs) | {"lang": pl.String}
    timing = [0.0, 0]

    def splits():
        for batch in docs.iter_batches(batch_rows=config.batch_rows):
            t = time.monotonic()
            split = apply_filters(batch, cfg)
            timing[0] += time.monotonic() - t
            timing[1] += int(batch["text"].str.len_bytes().sum())
            yield split

    def extra(_tally):
        return {
            "filter_config": dg.MetadataValue.json({"kind": source.kind, **_jsonable(cfg)}),
            "filter_mb_per_s": round(timing[1] / 1e6 / timing[0], 2) if timing[0] else None,
        }

    drops = schema | {"rule": pl.String, "value": pl.Float64, REASON: pl.String}
    yield from stream_split(context, store, splits(), Out("filtered_documents", schema), Out("filter_drops", drops), extra_metadata=extra)


def _jsonable(cfg: FilterConfig) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(cfg).items()}


class PerplexityConfig(dg.Config):
    model: str = ""  # a local model folder; empty: $CORPUS_PPL_MODEL
    backend: str = "vllm"  # or "transformers"
    batch_size: int = 64
    window_tokens: int = 512
    dtype: str = "float32"
    device: str = "cpu"
    bucket_edges: list[int] = list(DEFAULT_BUCKET_EDGES)
    batch_rows: int = 5_000


def ppl_config(config: PerplexityConfig) -> PplConfig:
    model = config.model or os.environ.get("CORPUS_PPL_MODEL", "")
    if not model or not Path(model).exists():
        raise dg.Failure(f"perplexity_scores needs a reference model folder: set config `model` or $CORPUS_PPL_MODEL (got {model!r})")
    return PplConfig(
        model=model,
        backend=config.backend,
        batch_size=config.batch_size,
        window_tokens=config.window_tokens,
        dtype=config.dtype,
        device=config.device,
        bucket_edges=tuple(config.bucket_edges),
    )


@dg.asset(
    partitions_def=DATE_SOURCE,
    deps=["filtered_documents"],
    description="One row per filtered document: `ppl` under the reference LM over its first `window_tokens` tokens, "
    "`n_tokens` (whole document), `n_scored`, `truncated`, and its `token_bucket`.",
    kinds={"vllm", "polars", "parquet"},
    tags={"stage": "perplexity"},
    pool="gpu",
    **COMMON,
)
def perplexity_scores(context: dg.AssetExecutionContext, config: PerplexityConfig, storage: CorpusStorage) -> dg.MaterializeResult:
    """Score each filtered document with the reference model (vLLM prompt logprobs or transformers)."""
    dims = partition_dims(context)
    store = storage.store()
    cfg = ppl_config(config)
    docs = PartitionData(store, CorpusStore.partition_path("filtered_documents", dims)).require(f"asset filtered_documents partition {context.partition_key}")
    if cfg.backend == "vllm" and cfg.device == "cpu":
        from corpus_dag.llm.cpu import apply_vllm_env

        apply_vllm_env(Path(tempfile.gettempdir()) / "corpus_dag_vllm")
    started = time.monotonic()
    scorer = load_scorer(cfg) if docs.num_rows else None
    loaded = time.monotonic()
    rel = CorpusStore.partition_path("perplexity_scores", dims)
    tokens = 0
    with store.parquet_writer(rel, arrow_schema(SCORE_SCHEMA)) as writer:
        for batch in docs.iter_batches(columns=["doc_id", "text"], batch_rows=config.batch_rows):
            scores = score_documents(batch, scorer, cfg)
            tokens += int(scores["n_scored"].sum())
            writer.write(scores)
            context.log.info(f"{context.partition_key}: {writer.rows:,} documents scored")
    seconds = time.monotonic() - loaded
    written = store.read(rel, ["ppl", "token_bucket", "truncated"])
    return dg.MaterializeResult(
        metadata={
            **stored(store, rel, writer.rows, SCORE_SCHEMA),
            "model": cfg.model,
            "backend": cfg.backend,
            "window_tokens": cfg.window_tokens,
            "model_load_seconds": round(loaded - started, 2),
            "tokens_scored": tokens,
            "tokens_per_second": round(tokens / seconds, 1) if seconds else None,
            "unscored_rows": int(written["ppl"].null_count()),
            "truncated_rows": int(written["truncated"].sum() or 0),
            "per_bucket": dg.MetadataValue.md(
                markdown_table(written.group_by("token_bucket").agg(pl.len().alias("rows"), pl.col("ppl").median().alias("median_ppl")).sort("token_bucket"), max_rows=50)
            ),
        }
    )


class ThresholdConfig(dg.Config):
    low_quantile: float = CutConfig.low_quantile
    high_quantile: float = CutConfig.high_quantile
    min_bucket_docs: int = CutConfig.min_bucket_docs
    bucket_edges: list[int] = list(DEFAULT_BUCKET_EDGES)
    reference_rows: int = 200_000  # about this many rows, sampled (seeded) evenly from every scored partition
    seed: int = 0
    pinned: str = ""  # a CSV/Parquet (token_bucket, low, high) to use instead of fitting


@dg.asset(
    ins={"scores": dg.AssetIn("perplexity_scores")},
    description="Perplexity cut-offs per token-length bucket: `low`/`high` from quantiles of a seeded reference sample "
    "of every scored partition (`fit` = bucket | pooled), or a pinned file.",
    kinds={"polars", "parquet"},
    tags={"stage": "perplexity"},
    **COMMON,
)
def ppl_thresholds(context: dg.AssetExecutionContext, config: ThresholdConfig, scores: dict) -> dg.Output:
    """Fit (or pin) the per-bucket cut; its chart shows where each bucket is cut."""
    edges = tuple(config.bucket_edges)
    total = sum(data.num_rows for data in scores.values())
    share = min(1.0, config.reference_rows / total) if total else 1.0  # the same share of every partition
    parts = [data.read(["ppl", "token_bucket"]).sample(fraction=share, seed=config.seed) for data in scores.values()]
    reference = pl.concat(parts) if parts else pl.DataFrame(schema={"ppl": pl.Float64, "token_bucket": pl.String})
    if config.pinned:
        thresholds = read_pinned(config.pinned, edges)
    else:
        cut = CutConfig(config.low_quantile, config.high_quantile, config.min_bucket_docs, edges)
        thresholds = compute_thresholds(reference, cut)
    return dg.Output(
        thresholds,
        metadata={
            "reference_rows": reference.height,
            "partitions": len(parts),
            "thresholds": dg.MetadataValue.md(markdown_table(thresholds, max_rows=50)),
            "histogram": dg.MetadataValue.md(histogram_markdown(reference, thresholds)),
        },
    )


class QualityConfig(dg.Config):
    batch_rows: int = 20_000


@dg.multi_asset(
    specs=split_specs(
        "quality_documents",
        "quality_drops",
        kept_doc="Filtered documents whose perplexity lies within their length bucket's [low, high], "
        "with `ppl`, `n_tokens`, `token_bucket`.",
        dropped_doc="Documents cut by perplexity: reason ppl_above_bucket_high (noise) / ppl_below_bucket_low "
        "(copied, templated) / ppl_unscored / ppl_missing, with `ppl` and the bucket's `low`, `high`.",
        deps=["filtered_documents", "perplexity_scores", "ppl_thresholds"],
        stage="perplexity",
        **COMMON,
    ),
    partitions_def=DATE_SOURCE,
    can_subset=False,
)
def quality_filter(context: dg.AssetExecutionContext, config: QualityConfig, storage: CorpusStorage):
    """Cut each document at its bucket's perplexity range (scores of one partition fit in memory: no text)."""
    dims = partition_dims(context)
    store = storage.store()
    docs = PartitionData(store, CorpusStore.partition_path("filtered_documents", dims)).require(f"asset filtered_documents partition {context.partition_key}")
    scores = PartitionData(store, CorpusStore.partition_path("perplexity_scores", dims)).require(f"asset perplexity_scores partition {context.partition_key}")
    thresholds = PartitionData(store, THRESHOLDS_PATH).require("asset ppl_thresholds").read()
    score_rows = scores.read(["doc_id", "ppl", "n_tokens", "token_bucket"])
    schema = _schema(docs) | {"ppl": pl.Float64, "n_tokens": pl.Int64, "token_bucket": pl.String}

    def splits():
        for batch in docs.iter_batches(batch_rows=config.batch_rows):
            yield quality_split(batch, score_rows, thresholds)

    def extra(_tally):  # runs after both partitions are written
        return {
            "dropped_share_by_bucket": dg.MetadataValue.md(markdown_table(bucket_drop_shares(store, dims), max_rows=50)),
            "thresholds": dg.MetadataValue.md(markdown_table(thresholds, max_rows=50)),
            "histogram": dg.MetadataValue.md(histogram_markdown(score_rows, thresholds)),
        }

    drops = schema | {"low": pl.Float64, "high": pl.Float64, REASON: pl.String}
    yield from stream_split(context, store, splits(), Out("quality_documents", schema), Out("quality_drops", drops), extra_metadata=extra)


def bucket_drop_shares(store: CorpusStore, dims: dict[str, str]) -> pl.DataFrame:
    """Dropped share per token bucket of one partition (quality_documents vs quality_drops)."""
    kept = store.read(CorpusStore.partition_path("quality_documents", dims), ["token_bucket"])
    dropped = store.read(CorpusStore.partition_path("quality_drops", dims), ["token_bucket"])
    return drop_shares(
        pl.concat([kept.with_columns(pl.lit(False).alias("dropped")), dropped.with_columns(pl.lit(True).alias("dropped"))])
    )

