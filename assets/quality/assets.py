"""`filtered_documents` + `filter_drops`, `perplexity_scores`, `ppl_thresholds`, `quality_documents` + `quality_drops`."""

import os
import time
from functools import partial
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from assets.common.engine import MODEL_POOL, CorpusEngine
from assets.common.metadata import frame_table
from assets.common.partitions import (
    DATE_SOURCE,
    SOURCES,
    partition_dims,
)
from assets.common.stage import Out, map_split, split_specs
from assets.common.storage import CorpusStorage
from corpus_dag.accounting import REASON, Split, text_bytes
from corpus_dag.llm.cpu import resolve_backend
from corpus_dag.quality.filters import FilterConfig, apply_filters
from corpus_dag.quality.perplexity import (
    DEFAULT_BUCKET_EDGES,
    SCORE_SCHEMA,
    PerplexityStep,
    PplConfig,
    score_summary,
)
from corpus_dag.quality.thresholds import (
    CutConfig,
    bucket_counts,
    compute_thresholds,
    drop_shares,
    histogram_markdown,
    quality_split,
    read_pinned,
)
from corpus_dag.storage import PartitionData

FILTER_INPUT = "deduplicated_documents"
PPL_INPUT = "coherence_documents"  # filtered -> safety -> classifiers -> coherence -> perplexity
COMMON = {"owners": ["team:corpus"], "group_name": "quality"}


class FilterRunConfig(dg.Config):
    batch_rows: int = Field(default=20_000, ge=1, description="Documents per batch (a Ray task's unit of work).")


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
    ins={"docs": dg.AssetIn(FILTER_INPUT)},
    partitions_def=DATE_SOURCE,
    can_subset=False,
)
def heuristic_filter(context: dg.AssetExecutionContext, config: FilterRunConfig, storage: CorpusStorage,
                     engine: CorpusEngine, docs: PartitionData):
    """Gopher/InternLM2-style rules (length, character classes, lines, language) per source kind."""
    source = SOURCES.get(partition_dims(context)["source"])
    cfg = source.filters
    schema = docs.schema | {"lang": pl.String}
    started = time.monotonic()

    def extra(tally):
        seconds, screened = time.monotonic() - started, sum(tally.summaries)
        return {
            "filter_config": dg.MetadataValue.json({"kind": source.kind, **_jsonable(cfg)}),
            "filter_mb_per_s": round(screened / 1e6 / seconds, 2) if seconds and screened else None,
        }

    drops = schema | {"rule": pl.String, "value": pl.Float64, REASON: pl.String}
    yield from map_split(context, storage.store(), engine, docs, partial(apply_filters, cfg=cfg),
                         Out("filtered_documents", schema), Out("filter_drops", drops), stage="filter",
                         batch_rows=config.batch_rows, summarize=text_bytes, extra_metadata=extra)


def _jsonable(cfg: FilterConfig) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(cfg).items()}


class PerplexityConfig(dg.Config):
    model: str = Field(default="", description="Reference causal LM folder; empty: $CORPUS_PPL_MODEL.")
    backend: str = Field(default="auto", description="auto (vllm with a GPU, else transformers: same scores, faster on CPU) | vllm | transformers.")
    batch_size: int = Field(default=64, description="Token sequences per model call.")
    window_tokens: int = Field(default=512, description="Tokens scored per document (its first window).")
    dtype: str = Field(default="float32", description="Model dtype.")
    device: str = Field(default="cpu", description="transformers device; vLLM picks its own platform.")
    bucket_edges: list[int] = Field(default=list(DEFAULT_BUCKET_EDGES), description="Token-length bucket edges (each bucket gets its own cut).")
    batch_rows: int = Field(default=5_000, description="Documents per batch.")


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
    ins={"docs": dg.AssetIn(PPL_INPUT)},
    description="One row per document of coherence_documents: `ppl` under the reference LM over its first `window_tokens` tokens, "
    "`n_tokens` (whole document), `n_scored`, `truncated`, and its `token_bucket`.",
    kinds={"vllm", "polars", "parquet"},
    tags={"stage": "perplexity"},
    pool=MODEL_POOL,
    **COMMON,
)
def perplexity_scores(context: dg.AssetExecutionContext, config: PerplexityConfig, storage: CorpusStorage,
                      engine: CorpusEngine, docs: PartitionData) -> dg.MaterializeResult:
    """Score each filtered document with the reference model (vLLM prompt logprobs or transformers);
    on Ray the model is loaded once per actor, and each actor writes the scores of its batches."""
    cfg = ppl_config(config)
    started = time.monotonic()

    def extra(tally) -> dict:
        seconds = time.monotonic() - started
        written = pl.concat([score_summary(Split(pl.DataFrame(schema=SCORE_SCHEMA))), *tally.summaries])
        per_bucket = written.group_by("token_bucket").agg(pl.len().alias("rows"), pl.col("ppl").median().alias("median_ppl"))
        tokens = int(written["n_scored"].sum())
        return {
            "model": cfg.model,
            "backend": resolve_backend(cfg.backend),
            "window_tokens": cfg.window_tokens,
            "tokens_scored": tokens,
            "tokens_per_second": round(tokens / seconds, 1) if seconds else None,
            "unscored_rows": int(written["ppl"].null_count()),
            "truncated_rows": int(written["truncated"].sum() or 0),
            "per_bucket": frame_table(per_bucket.sort("token_bucket")),
        }

    [written] = map_split(context, storage.store(), engine, docs, PerplexityStep(cfg), Out("perplexity_scores", SCORE_SCHEMA),
                          stage="perplexity", batch_rows=config.batch_rows, columns=["doc_id", "text"], summarize=score_summary,
                          extra_metadata=extra, progress=lambda t: f"{t.n_out:,} documents scored")
    return written


class ThresholdConfig(dg.Config):
    low_quantile: float = Field(default=CutConfig.low_quantile, description="Per bucket, perplexity below this quantile is dropped (boilerplate, repetition).")
    high_quantile: float = Field(default=CutConfig.high_quantile, description="Per bucket, perplexity above this quantile is dropped (noise, garbled text).")
    min_bucket_docs: int = Field(default=CutConfig.min_bucket_docs, description="Fewer reference documents in a bucket: it uses the pooled quantiles.")
    bucket_edges: list[int] = Field(default=list(DEFAULT_BUCKET_EDGES), description="Token-length bucket edges (as perplexity_scores).")
    reference_rows: int = Field(default=200_000, description="About this many scored rows, sampled (seeded) evenly from every partition.")
    seed: int = Field(default=0, description="Sampling seed.")
    pinned: str = Field(default="", description="A CSV/Parquet of cuts (token_bucket, low, high) to use instead of fitting, "
                        "e.g. a previous run's ppl_thresholds.")


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
            "thresholds": frame_table(thresholds),
            "histogram": dg.MetadataValue.md(histogram_markdown(reference, thresholds)),
        },
    )


class QualityConfig(dg.Config):
    batch_rows: int = Field(default=20_000, description="Documents per batch.")


@dg.multi_asset(
    specs=split_specs(
        "quality_documents",
        "quality_drops",
        kept_doc="Filtered documents whose perplexity lies within their length bucket's [low, high], "
        "with `ppl`, `n_tokens`, `token_bucket`.",
        dropped_doc="Documents cut by perplexity: reason ppl_above_bucket_high (noise) / ppl_below_bucket_low "
        "(copied, templated) / ppl_unscored / ppl_missing, with `ppl` and the bucket's `low`, `high`.",
        deps=[PPL_INPUT, "perplexity_scores", "ppl_thresholds"],
        stage="perplexity",
        **COMMON,
    ),
    ins={"docs": dg.AssetIn(PPL_INPUT), "scores": dg.AssetIn("perplexity_scores"),
         "thresholds": dg.AssetIn("ppl_thresholds")},
    partitions_def=DATE_SOURCE,
    can_subset=False,
)
def quality_filter(context: dg.AssetExecutionContext, config: QualityConfig, storage: CorpusStorage,
                   engine: CorpusEngine, docs: PartitionData, scores: PartitionData, thresholds: PartitionData):
    """Cut each document at its bucket's perplexity range, on the engine (the scores of one partition,
    no text, travel with the step)."""
    score_rows = scores.read(["doc_id", "ppl", "n_tokens", "token_bucket"])
    cuts = thresholds.read()
    schema = docs.schema | {"ppl": pl.Float64, "n_tokens": pl.Int64, "token_bucket": pl.String}

    def extra(tally):
        shares = drop_shares(pl.concat(tally.summaries)) if tally.summaries else pl.DataFrame()
        return {
            "dropped_share_by_bucket": frame_table(shares),
            "thresholds": frame_table(cuts),
            "histogram": dg.MetadataValue.md(histogram_markdown(score_rows, cuts)),
        }

    drops = schema | {"low": pl.Float64, "high": pl.Float64, REASON: pl.String}
    yield from map_split(context, storage.store(), engine, docs, partial(quality_split, scores=score_rows, thresholds=cuts),
                         Out("quality_documents", schema), Out("quality_drops", drops), stage="perplexity",
                         batch_rows=config.batch_rows, summarize=bucket_counts, extra_metadata=extra)
