"""`quality_classifiers` (training), `quality_scores`, `classified_documents` + `classifier_drops`."""

import time
from functools import partial

import dagster as dg
import polars as pl
from pydantic import Field

from assets.common.engine import CorpusEngine
from assets.common.metadata import frame_table
from assets.common.partitions import DATE_SOURCE
from assets.common.stage import Out, map_split, split_specs
from assets.common.storage import CorpusStorage
from corpus_dag.accounting import REASON
from corpus_dag.classify.apply import (
    SCORE_SCHEMA,
    TAGS,
    ScoreStep,
    apply_classifiers,
    score_bins,
    score_histogram,
    score_summary,
)
from corpus_dag import trained
from corpus_dag.classify.config import DEFAULT_CONFIG, ClassifierSpec, load_classifiers
from corpus_dag.classify.models import model_home
from corpus_dag.classify.train import TRAINING_PACKAGES, labels_for, train_classifier, training_code
from corpus_dag.storage import PartitionData

# The documents the classifiers read (re-pointed to `safety_documents` once that stage exists).
CLASSIFY_INPUT = "safety_documents"  # after the safety stage
COMMON = {"owners": ["team:corpus"], "group_name": "classify"}
load_classifiers(DEFAULT_CONFIG)  # a malformed shipped config fails at definitions load, naming model and key


class ClassifierFileConfig(dg.Config):
    config_file: str = Field(default=str(DEFAULT_CONFIG), description="The classifiers YAML (models, thresholds, actions).")

    def specs(self) -> list[ClassifierSpec]:
        return load_classifiers(self.config_file)


class TrainClassifiersConfig(ClassifierFileConfig):
    only: list[str] = Field(default=[], description="Train only these models (names); empty: every model with train.enabled.")
    seed: int = Field(default=0, description="Seed of the fastText and transformers training.")
    retrain: bool = Field(default=False, description="Train even a model whose stored copy was trained from the same "
                          "labels, settings and code (otherwise that copy and its figures are reused).")


@dg.asset(
    description="Trains every model of config/classifiers.yaml whose `train.enabled` is true (fastText, a small "
    "transformers encoder from scratch, or char n-gram logistic regression) from `{CORPUS_ROOT}/labels/{name}.jsonl`, "
    "else the shipped DEMO labels (samples/labels), and writes it to its `path` under CORPUS_ROOT; held-out "
    "precision/recall per model in metadata. A model whose stored copy was trained from the same labels, settings "
    "and code is reused, not trained again (`reused` per model; config `retrain` trains anyway).",
    kinds={"fasttext", "pytorch", "scikit-learn"},
    tags={"stage": "classify"},
    **COMMON,
)
def quality_classifiers(context: dg.AssetExecutionContext, config: TrainClassifiersConfig, storage: CorpusStorage) -> dg.MaterializeResult:
    """Re-materialize after adding labels under {CORPUS_ROOT}/labels/."""
    store = storage.store()
    specs = config.specs()
    unknown = sorted(set(config.only) - {s.name for s in specs})
    if unknown:
        raise dg.Failure(f"quality_classifiers: `only` names models not in {config.config_file}: {unknown}")
    metrics, flat = {}, {}
    for spec in specs:
        if not spec.train.enabled or (config.only and spec.name not in config.only):
            continue
        rows, origin = labels_for(store, spec)
        started = time.monotonic()
        home, rel = model_home(store, spec)
        digest = trained.fingerprint(rows, spec.model_dump() | {"seed": config.seed}, training_code(), TRAINING_PACKAGES)
        m, reused = trained.train_once(home, rel, digest, lambda: train_classifier(store, spec, rows, seed=config.seed, log=context.log.info),
                                       retrain=config.retrain)
        metrics[spec.name] = m | {"labels": origin, "path": home.url(rel), "reused": reused, "seconds": round(time.monotonic() - started, 1)}
        flat |= {f"{spec.name}_precision": m["precision"], f"{spec.name}_recall": m["recall"]}
        context.log.info(f"{spec.name} ({spec.kind}{', reused: trained from the same labels, settings and code' if reused else ''}): "
                         f"precision {m['precision']}, recall {m['recall']} on {m['n_test']} held-out rows")
    models = pl.DataFrame([{"model": k, **v} for k, v in metrics.items()])
    return dg.MaterializeResult(metadata={**flat, "models": frame_table(models, width=200)})


def histogram_table(bins: pl.DataFrame) -> dg.TableMetadataValue:
    """Per model, documents per score bin (`score_histogram` of `score_bins` rows) as a typed table: one
    row per model and bin."""
    rows = [{"model": model, "low": h["bin_edges"][i], "high": h["bin_edges"][i + 1], "documents": n}
            for model, h in score_histogram(bins).items() for i, n in enumerate(h["counts"])]
    frame = pl.DataFrame(rows, schema={"model": pl.String, "low": pl.Float64, "high": pl.Float64, "documents": pl.Int64})
    return frame_table(frame, max_rows=max(frame.height, 1))


class ScoreConfig(ClassifierFileConfig):
    batch_rows: int = Field(default=5_000, description="Documents per scoring batch.")


@dg.asset(
    partitions_def=DATE_SOURCE,
    ins={"docs": dg.AssetIn(CLASSIFY_INPUT)},
    deps=["quality_classifiers"],
    description=f"One row per {CLASSIFY_INPUT} document and configured model: `doc_id`, `model`, `label`, `score` "
    "(the model's probability of its label).",
    kinds={"fasttext", "polars", "parquet"},
    tags={"stage": "classify"},
    **COMMON,
)
def quality_scores(context: dg.AssetExecutionContext, config: ScoreConfig, storage: CorpusStorage, engine: CorpusEngine,
                   docs: PartitionData) -> dg.MaterializeResult:
    """Every model over every document; each worker loads the models once (an actor pool on Ray) and
    writes the scores of its batches."""
    store = storage.store()
    specs = config.specs()
    step = ScoreStep(store, specs)
    step.setup()  # every model file checked here, before any work (and reused by the local engine)
    started = time.monotonic()

    def extra(tally) -> dict:
        seconds = time.monotonic() - started
        bins = pl.concat([score_bins(pl.DataFrame(schema=SCORE_SCHEMA)), *(b for b, _ in tally.summaries)])
        return {
            "documents": tally.n_in,
            "models": [s.name for s in specs],
            "score_histogram": histogram_table(bins),
            "mb_per_s": round(sum(n for _, n in tally.summaries) / 1e6 / seconds, 2) if seconds else None,
        }

    [written] = map_split(context, store, engine, docs, step, Out("quality_scores", SCORE_SCHEMA), stage="classify",
                          batch_rows=config.batch_rows, columns=["doc_id", "text"], summarize=score_summary, extra_metadata=extra)
    return written


class ApplyConfig(ClassifierFileConfig):
    batch_rows: int = Field(default=20_000, description="Documents per batch.")


@dg.multi_asset(
    specs=split_specs(
        "classified_documents",
        "classifier_drops",
        kept_doc=f"{CLASSIFY_INPUT} rows no `drop` model scored over its threshold, plus `tags` (the `tag` models "
        "over their threshold).",
        dropped_doc="Rows a `drop` model scored over its threshold: reason `classifier NAME — score S >= threshold T` "
        "(or classifier_score_missing), plus `tags`.",
        deps=[CLASSIFY_INPUT, "quality_scores"],  # read through `ins`
        stage="classify",
        **COMMON,
    ),
    ins={"docs": dg.AssetIn(CLASSIFY_INPUT), "scores": dg.AssetIn("quality_scores")},
    partitions_def=DATE_SOURCE,
    can_subset=False,
)
def classified_documents(context: dg.AssetExecutionContext, config: ApplyConfig, storage: CorpusStorage, engine: CorpusEngine,
                         docs: PartitionData, scores: PartitionData):
    """Apply each model's threshold and action, on the engine (the scores of one partition, no text,
    travel with the step)."""
    specs = config.specs()
    schema = docs.schema | {TAGS: pl.List(pl.String)}
    step = partial(apply_classifiers, scores=scores.read(), specs=specs)

    def extra(_tally):
        rules = pl.DataFrame([{"model": s.name, "threshold": float(s.threshold), "action": s.action} for s in specs],
                             schema={"model": pl.String, "threshold": pl.Float64, "action": pl.String})
        return {"rules": frame_table(rules)}

    yield from map_split(context, storage.store(), engine, docs, step, Out("classified_documents", schema),
                         Out("classifier_drops", schema | {REASON: pl.String}), stage="classify", batch_rows=config.batch_rows,
                         extra_metadata=extra)
