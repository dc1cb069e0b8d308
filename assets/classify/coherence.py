"""`coherence_scores`, `coherence_thresholds`, `coherence_documents` + `coherence_drops`: long documents
whose segments do not depend on their context (corpus_dag.quality.coherence)."""

import os
from functools import partial
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from assets.common.engine import MODEL_POOL, CorpusEngine
from assets.common.metadata import frame_table
from assets.common.partitions import DATE_SOURCE, SOURCES, dims_for, partition_dims
from assets.common.stage import Out, map_split, split_specs
from assets.common.storage import CorpusStorage
from corpus_dag.accounting import REASON, Split
from corpus_dag.quality.coherence import (
    COHERENCE_SCHEMA,
    CoherenceCfg,
    CoherenceStep,
    coherence_split,
    coherence_summary,
    fit_coherence_thresholds,
)
from corpus_dag.quality.perplexity import BACKENDS, PplConfig
from corpus_dag.sources import KINDS
from corpus_dag.storage import PartitionData

# The documents scored for coherence (the lead re-points it when the stages are chained).
COHERENCE_INPUT = "classified_documents"  # after the classifiers
COMMON = {"owners": ["team:corpus"], "group_name": "classify"}


class CoherenceConfig(dg.Config):
    model: str = Field(default="", description="Reference causal LM folder; empty: $CORPUS_PPL_MODEL.")
    backend: str = Field(default="auto", description=f"One of {BACKENDS}; auto: vllm with a GPU, else transformers (faster on CPU, same scores).")
    min_tokens: int = Field(default=CoherenceCfg.min_tokens, description="Documents longer than this (tokens) are scored.")
    segment_tokens: int = Field(default=CoherenceCfg.segment_tokens, description="Tokens per segment.")
    max_pairs: int = Field(default=CoherenceCfg.max_pairs, description="Segment pairs scored per document at most (evenly spread).")
    batch_size: int = Field(default=CoherenceCfg.batch_size, description="Token sequences per model call.")
    dtype: str = Field(default="float32", description="Model dtype.")
    device: str = Field(default="cpu", description="transformers device; vLLM picks its own platform.")
    batch_rows: int = Field(default=500, description="Documents per batch.")


def _scorer_config(config: CoherenceConfig, cfg: CoherenceCfg) -> PplConfig:
    model = config.model or os.environ.get("CORPUS_PPL_MODEL", "")
    if not model or not Path(model).exists():
        raise dg.Failure(f"coherence_scores needs a reference model folder: set config `model` or $CORPUS_PPL_MODEL (got {model!r})")
    return PplConfig(model=model, backend=config.backend, batch_size=cfg.batch_size, window_tokens=cfg.window_tokens,
                     dtype=config.dtype, device=config.device)


def _may_be_long(docs: PartitionData, min_tokens: int) -> bool:
    """A token covers at least one UTF-8 byte: a partition with no text over `min_tokens` bytes has
    no long document, and the model is not loaded for it."""
    return any((batch["text"].str.len_bytes().max() or 0) > min_tokens for batch in docs.iter_batches(columns=["text"]))


@dg.asset(
    partitions_def=DATE_SOURCE,
    ins={"docs": dg.AssetIn(COHERENCE_INPUT)},
    description=f"One row per {COHERENCE_INPUT} document: for documents over `min_tokens` tokens, the gain "
    "log P(S2|S1) - log P(S2) (nats/token) of each scored pair of consecutive segments (`segment_gains`) and their "
    "median (`coherence`); shorter documents have n_pairs 0 and a null coherence (and a null n_tokens when no document "
    "of the partition can be long, so the model was not loaded).",
    kinds={"vllm", "polars", "parquet"},
    tags={"stage": "coherence"},
    pool=MODEL_POOL,
    **COMMON,
)
def coherence_scores(context: dg.AssetExecutionContext, config: CoherenceConfig, storage: CorpusStorage,
                     engine: CorpusEngine, docs: PartitionData) -> dg.MaterializeResult:
    """The LM is loaded once per worker (an actor pool on Ray), and not at all for a partition
    without a document that can be long."""
    cfg = CoherenceCfg(config.min_tokens, config.segment_tokens, config.max_pairs, config.batch_size)
    step = CoherenceStep(cfg, _scorer_config(config, cfg) if _may_be_long(docs, cfg.min_tokens) else None)

    def extra(tally) -> dict:
        scored = pl.concat([coherence_summary(Split(pl.DataFrame(schema=COHERENCE_SCHEMA))), *tally.summaries])
        return {
            "long_documents": scored.height,
            "pairs_scored": int(scored["n_pairs"].sum() or 0),
            "median_coherence": float(scored["coherence"].median()) if scored.height else None,
            "model_loaded": step.scorer_cfg is not None,
        }

    [written] = map_split(context, storage.store(), engine, docs, step, Out("coherence_scores", COHERENCE_SCHEMA), stage="coherence",
                          batch_rows=config.batch_rows, columns=["doc_id", "text"], summarize=coherence_summary, extra_metadata=extra)
    return written


class CoherenceThresholdConfig(dg.Config):
    low_quantile: float = Field(default=0.05, description="Per kind, documents below this quantile of the reference are dropped.")
    min_docs: int = Field(default=30, description="Fewer scored reference documents of a kind: use the pooled quantile.")
    reference_rows: int = Field(default=200_000, description="About this many scored rows, sampled (seeded) evenly from every partition.")
    seed: int = Field(default=0, description="Sampling seed.")
    pinned: str = Field(default="", description="A Parquet file of cuts (kind, low, ...) to use instead of fitting, "
                        "e.g. a previous run's coherence_thresholds: a re-run or a subset of sources gets the same cut.")


@dg.asset(
    ins={"scores": dg.AssetIn("coherence_scores")},
    description="The coherence cut per source kind: `low` = a quantile of a seeded reference sample of every "
    "partition's long documents (`fit` kind | pooled | none: no long document seen, nothing dropped).",
    kinds={"polars", "parquet"},
    tags={"stage": "coherence"},
    **COMMON,
)
def coherence_thresholds(context: dg.AssetExecutionContext, config: CoherenceThresholdConfig, scores: dict) -> dg.Output:
    parts = []
    for key, data in scores.items():
        kind = SOURCES.get(dims_for(DATE_SOURCE, key)["source"]).kind
        parts.append(data.read(["coherence"]).drop_nulls().with_columns(pl.lit(kind).alias("kind")))
    reference = pl.concat(parts) if parts else pl.DataFrame(schema={"coherence": pl.Float64, "kind": pl.String})
    if reference.height > config.reference_rows:
        reference = reference.sample(n=config.reference_rows, seed=config.seed)
    if config.pinned:
        thresholds = pl.read_parquet(config.pinned)
        if not {"kind", "low"} <= set(thresholds.columns):
            raise dg.Failure(f"coherence_thresholds pinned file {config.pinned}: needs columns kind and low, has {thresholds.columns}")
    else:
        thresholds = fit_coherence_thresholds(reference, list(KINDS), config.low_quantile, config.min_docs)
    return dg.Output(thresholds, metadata={"reference_rows": reference.height, "partitions": len(parts), "pinned": config.pinned,
                                           "thresholds": frame_table(thresholds)})


class CoherenceSplitConfig(dg.Config):
    batch_rows: int = Field(default=20_000, description="Documents per batch.")


@dg.multi_asset(
    specs=split_specs(
        "coherence_documents",
        "coherence_drops",
        kept_doc=f"{COHERENCE_INPUT} rows that are not long, or whose coherence reaches their kind's cut; + "
        "`n_pairs`, `segment_gains`, `coherence`.",
        dropped_doc="Long documents whose segments do not depend on their context: reason "
        "`coherence_below_kind_low — median gain G < low (kind); per segment pair: [...]`.",
        deps=[COHERENCE_INPUT, "coherence_scores", "coherence_thresholds"],  # read through `ins`
        stage="coherence",
        **COMMON,
    ),
    ins={"docs": dg.AssetIn(COHERENCE_INPUT), "scores": dg.AssetIn("coherence_scores"), "thresholds": dg.AssetIn("coherence_thresholds")},
    partitions_def=DATE_SOURCE,
    can_subset=False,
)
def coherence_documents(context: dg.AssetExecutionContext, config: CoherenceSplitConfig, storage: CorpusStorage,
                        engine: CorpusEngine, docs: PartitionData, scores: PartitionData, thresholds: PartitionData):
    kind = SOURCES.get(partition_dims(context)["source"]).kind
    cut = thresholds.read().filter(pl.col("kind") == kind)
    low = cut["low"][0] if cut.height else None
    score_rows = scores.read(["doc_id", "n_pairs", "segment_gains", "coherence"])
    schema = docs.schema | {k: COHERENCE_SCHEMA[k] for k in ("n_pairs", "segment_gains", "coherence")}

    step = partial(coherence_split, scores=score_rows, low=low, kind=kind)
    yield from map_split(context, storage.store(), engine, docs, step, Out("coherence_documents", schema),
                         Out("coherence_drops", schema | {REASON: pl.String}), stage="coherence", batch_rows=config.batch_rows,
                         extra_metadata=lambda _t: {"kind": kind, "low": low})
