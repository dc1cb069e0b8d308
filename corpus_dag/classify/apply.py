"""Score documents with every configured model, then apply each model's threshold and action.

`quality_scores` is long (one row per document and model), so adding a model adds rows, not a
schema change. The split reads a batch's scores back: a `drop` model over its threshold drops the
document (the first such model in config order names the reason, with its score and threshold);
`tag` models over their threshold add their name to the document's `tags`.
"""
from __future__ import annotations

import polars as pl

from corpus_dag.accounting import DETAIL, Split, split_by_reason
from corpus_dag.classify.config import ClassifierSpec
from corpus_dag.engine import BatchStep

SCORE_SCHEMA = {"doc_id": pl.String, "model": pl.String, "label": pl.String, "score": pl.Float64}
TAGS = "tags"
MISSING = "classifier_score_missing"
HIST_BINS = 10


def score_documents(docs: pl.DataFrame, models: list[tuple[ClassifierSpec, object]]) -> pl.DataFrame:
    """`quality_scores` rows of a batch (`doc_id`, `text`): every document under every model."""
    texts = docs["text"].fill_null("").to_list()
    frames = [
        pl.DataFrame({"doc_id": docs["doc_id"], "model": spec.name, "label": spec.label, "score": model.scores(texts)}).cast(SCORE_SCHEMA)
        for spec, model in models
    ]
    return pl.concat(frames) if frames else pl.DataFrame(schema=SCORE_SCHEMA)


class ScoreStep(BatchStep):
    """`score_documents` with every model loaded once per worker (an actor on Ray): a batch's Split
    keeps a score row per document and model, and its facts are the text bytes scored (the MB/s)."""

    def __init__(self, store, specs: list[ClassifierSpec]):
        self.store, self.specs, self.models = store, specs, None

    def __getstate__(self):  # ship the configs, never loaded models
        return {"store": self.store, "specs": self.specs, "models": None}

    def setup(self) -> None:
        from corpus_dag.classify.models import load_model

        if self.models is None:  # the driver may have loaded them already, to check the files early
            self.models = [(spec, load_model(self.store, spec)) for spec in self.specs]

    def __call__(self, batch: pl.DataFrame) -> Split:
        return Split(score_documents(batch, self.models), kept_in=batch.height, facts=int(batch["text"].str.len_bytes().sum() or 0))


def score_summary(split: Split) -> tuple[pl.DataFrame, int]:
    """What `quality_scores` reports of a batch: its `score_bins` and the text bytes scored."""
    return score_bins(split.kept), split.facts


def _col(spec: ClassifierSpec) -> str:
    return f"_score_{spec.name}"


def apply_classifiers(docs: pl.DataFrame, scores: pl.DataFrame, specs: list[ClassifierSpec]) -> Split:
    """Kept documents + `tags`; dropped ones also carry `reason`. A document missing a model's score
    is dropped as classifier_score_missing (never passed through unscored)."""
    wide = (
        scores.filter(pl.col("doc_id").is_in(docs["doc_id"].implode()))
        .pivot(on="model", index="doc_id", values="score")
    )
    cols = {s.name: _col(s) for s in specs}
    wide = wide.select("doc_id", *(pl.col(s.name).alias(cols[s.name]) if s.name in wide.columns
                                   else pl.lit(None, pl.Float64).alias(cols[s.name]) for s in specs))
    joined = docs.join(wide, on="doc_id", how="left", maintain_order="left")
    reason = pl.when(pl.any_horizontal(pl.col(c).is_null() for c in cols.values()) if cols else pl.lit(False)).then(
        pl.format("{}{}no score from {}", pl.lit(MISSING), pl.lit(DETAIL),
                  pl.concat_str([pl.when(pl.col(cols[s.name]).is_null()).then(pl.lit(s.name)) for s in specs], separator=",", ignore_nulls=True))
    )
    for s in (s for s in specs if s.action == "drop"):
        reason = reason.when(pl.col(cols[s.name]) >= s.threshold).then(
            pl.format("classifier {}{}score {} >= threshold {}", pl.lit(s.name), pl.lit(DETAIL),
                      pl.col(cols[s.name]).round(4), pl.lit(s.threshold))
        )
    tags = pl.concat_list(
        [pl.when(pl.col(cols[s.name]) >= s.threshold).then(pl.lit([s.name])).otherwise(pl.lit([], pl.List(pl.String)))
         for s in specs if s.action == "tag"] or [pl.lit([], pl.List(pl.String))]
    )
    split = split_by_reason(joined.with_columns(tags.alias(TAGS)), reason)
    return Split(split.kept.drop(*cols.values()), split.dropped.drop(*cols.values()))


def score_bins(scores: pl.DataFrame, bins: int = HIST_BINS) -> pl.DataFrame:
    """Per model and score bin (`bins` equal bins over [0, 1], the last one closed): the documents and
    their score sum. Batches' bins, concatenated, are their partition's (`score_histogram` sums them)."""
    bin_ = (pl.col("score") * bins).floor().clip(0, bins - 1).cast(pl.Int64).alias("bin")
    return scores.group_by("model", bin_, maintain_order=True).agg(pl.len().alias("documents"), pl.col("score").sum().alias("score_sum"))


def score_histogram(score_bins: pl.DataFrame, bins: int = HIST_BINS) -> dict[str, dict]:
    """Per model, in order of appearance: document counts per bin, the bin edges and the mean score,
    from `score_bins` rows (one batch's, or many batches' concatenated)."""
    out = {}
    for (model,), group in score_bins.group_by("model", maintain_order=True):
        hist = [0] * bins
        for i, n in group.group_by("bin").agg(pl.col("documents").sum()).iter_rows():
            hist[i] = int(n)
        out[model] = {"bin_edges": [round(i / bins, 2) for i in range(bins + 1)], "counts": hist,
                      "mean": round(float(group["score_sum"].sum() / group["documents"].sum()), 4)}
    return out
