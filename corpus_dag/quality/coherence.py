"""Long-document coherence: does each segment of a long document depend on the one before it?

A document over `min_tokens` tokens is cut into consecutive segments S1, S2, ... of
`segment_tokens` tokens. For each neighbouring pair the reference LM scores S2 twice, after S1 and
on its own; the gain

    gain = (log P(S2 | S1) - log P(S2)) / (len(S2) - 1)      [nats per token]

is what the context bought. Real prose, papers and books gain clearly; parsing failures, stitched
social-media fragments and broken layouts gain about nothing, because their segments do not follow
from each other. S2's first token is left out on both sides (alone it has no context to be scored
in), which keeps the two sums over the same tokens. A document's `coherence` is the median gain of
its pairs (one broken boundary does not condemn a book); at most `max_pairs` pairs, evenly spread,
are scored, so a 128K-token document costs what a 4K one does times a constant.

Both backends of corpus_dag.quality.perplexity (vLLM prompt logprobs, transformers) serve as the
scorer: anything with `tokenizer` and `token_logprobs(list of token id lists)`.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

import polars as pl

from corpus_dag.accounting import DETAIL, Split, split_by_reason
from corpus_dag.engine import BatchStep

COHERENCE_SCHEMA = {
    "doc_id": pl.String,
    "n_tokens": pl.Int64,
    "n_pairs": pl.Int64,  # segment pairs scored (0: the document is not long, not scored)
    "segment_gains": pl.List(pl.Float64),  # per pair, in document order
    "coherence": pl.Float64,  # median gain, nats per token; null when not scored
}
THRESHOLD_SCHEMA = {"kind": pl.String, "n_ref": pl.Int64, "low": pl.Float64, "fit": pl.String}
BELOW = "coherence_below_kind_low"


@dataclass(frozen=True)
class CoherenceCfg:
    min_tokens: int = 4096  # documents longer than this are scored
    segment_tokens: int = 512
    max_pairs: int = 8
    batch_size: int = 16  # token sequences per scorer call

    def __post_init__(self):
        if self.segment_tokens < 2 or self.max_pairs < 1 or self.min_tokens <= self.segment_tokens:
            raise ValueError("coherence needs segment_tokens >= 2, max_pairs >= 1 and min_tokens > segment_tokens "
                             f"(a long document has a second segment of 2 tokens at least); got {self}")

    @property
    def window_tokens(self) -> int:
        """The longest sequence scored: S1 + S2 (the scorer's context length)."""
        return 2 * self.segment_tokens


def segment_pairs(ids: list[int], cfg: CoherenceCfg) -> list[tuple[list[int], list[int]]]:
    """Neighbouring (S1, S2) segments of a long document, at most `max_pairs`, evenly spread; a last
    segment shorter than 2 tokens is left out (nothing to score)."""
    if len(ids) <= cfg.min_tokens:
        return []
    n = cfg.segment_tokens
    segments = [ids[i : i + n] for i in range(0, len(ids), n)]
    if len(segments[-1]) < 2:
        segments.pop()
    starts = range(len(segments) - 1)
    if len(starts) > cfg.max_pairs:
        step = (len(starts) - 1) / (cfg.max_pairs - 1) if cfg.max_pairs > 1 else 0
        starts = sorted({round(k * step) for k in range(cfg.max_pairs)})
    return [(segments[i], segments[i + 1]) for i in starts]


def pair_gains(pairs: list[tuple[list[int], list[int]]], scorer, batch_size: int) -> list[float]:
    """The gain of each pair (see the module docstring), from one scorer pass over all sequences."""
    seqs = [s1 + s2 for s1, s2 in pairs] + [s2 for _, s2 in pairs]
    logprobs: list[list[float]] = [[] for _ in seqs]
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # similar lengths together: less padding
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        for i, lps in zip(batch, scorer.token_logprobs([seqs[i] for i in batch])):
            logprobs[i] = lps
    gains = []
    for k, (s1, s2) in enumerate(pairs):
        # token_logprobs row j scores token j+1; S2[1:] sits at positions len(S1)+1.. of S1+S2
        with_context = sum(logprobs[k][len(s1) :])
        alone = sum(logprobs[len(pairs) + k])
        gains.append((with_context - alone) / (len(s2) - 1))
    return gains


def score_coherence(df: pl.DataFrame, scorer, cfg: CoherenceCfg) -> pl.DataFrame:
    """`coherence_scores` rows for a batch of documents (`doc_id`, `text`)."""
    texts = df["text"].fill_null("").to_list()
    ids = scorer.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"] if texts else []
    pairs = [segment_pairs(row, cfg) for row in ids]
    flat = [p for doc in pairs for p in doc]
    gains = iter(pair_gains(flat, scorer, cfg.batch_size) if flat else [])
    per_doc = [[next(gains) for _ in doc] for doc in pairs]
    return pl.DataFrame(
        {
            "doc_id": df["doc_id"],
            "n_tokens": [len(row) for row in ids],
            "n_pairs": [len(doc) for doc in pairs],
            "segment_gains": per_doc,
            "coherence": [statistics.median(g) if g else None for g in per_doc],
        },
        schema=COHERENCE_SCHEMA,
    )


def unscored(df: pl.DataFrame) -> pl.DataFrame:
    """`coherence_scores` rows of documents that cannot be long (the model is not loaded for them)."""
    return pl.DataFrame({"doc_id": df["doc_id"], "n_tokens": None, "n_pairs": 0, "segment_gains": None, "coherence": None},
                        schema=COHERENCE_SCHEMA)


class CoherenceStep(BatchStep):
    """`score_coherence` with the reference LM loaded once per worker (an actor on Ray); with
    `scorer_cfg` None (no document of the partition can be long) nothing is loaded. A batch's Split
    keeps one row per document and drops none."""

    def __init__(self, cfg: CoherenceCfg, scorer_cfg=None):
        self.cfg, self.scorer_cfg, self.scorer = cfg, scorer_cfg, None

    def __getstate__(self):  # ship the configs, never a loaded model
        return {"cfg": self.cfg, "scorer_cfg": self.scorer_cfg, "scorer": None}

    def setup(self) -> None:
        if self.scorer_cfg is not None:
            from corpus_dag.quality.perplexity import load_scorer

            self.scorer = load_scorer(self.scorer_cfg)

    def __call__(self, batch: pl.DataFrame) -> Split:
        return Split(unscored(batch) if self.scorer is None else score_coherence(batch, self.scorer, self.cfg))


def coherence_summary(split: Split) -> pl.DataFrame:
    """What `coherence_scores` reports of a batch: pairs and coherence of its long documents (for the median)."""
    return split.kept.filter(pl.col("n_pairs") > 0).select("n_pairs", "coherence")


def fit_coherence_thresholds(reference: pl.DataFrame, kinds: list[str], low_quantile: float = 0.05, min_docs: int = 30) -> pl.DataFrame:
    """Per source kind, the `low` cut: the `low_quantile` of the reference sample's coherence
    (rows `kind`, `coherence`). A kind with fewer than `min_docs` scored documents uses the pooled
    quantile (`fit` pooled); with no scored document at all, `low` is null and nothing is dropped
    (`fit` none)."""
    if not 0.0 <= low_quantile < 1.0:
        raise ValueError(f"low_quantile must be in [0, 1); got {low_quantile}")
    scored = reference.select("kind", "coherence").drop_nulls("coherence")
    pooled = scored["coherence"].quantile(low_quantile, "linear") if scored.height else None
    per_kind = scored.group_by("kind").agg(pl.len().cast(pl.Int64).alias("n_ref"), pl.col("coherence").quantile(low_quantile, "linear").alias("q"))
    rows = []
    for kind in kinds:
        hit = per_kind.filter(pl.col("kind") == kind)
        n = int(hit["n_ref"][0]) if hit.height else 0
        if n >= min_docs:
            rows.append((kind, n, float(hit["q"][0]), "kind"))
        else:
            rows.append((kind, n, pooled, "pooled" if pooled is not None else "none"))
    return pl.DataFrame(rows, schema=THRESHOLD_SCHEMA, orient="row")


def coherence_split(docs: pl.DataFrame, scores: pl.DataFrame, low: float | None, kind: str) -> Split:
    """Drop scored documents whose coherence is below their kind's `low`; the reason carries the
    per-segment evidence. Documents not long enough to score, or with no cut for the kind, are kept."""
    joined = docs.join(scores.select("doc_id", "n_pairs", "segment_gains", "coherence"), on="doc_id", how="left",
                       maintain_order="left")
    if low is None:
        return Split(joined, joined.head(0).with_columns(pl.lit(None, pl.String).alias("reason")))
    gains = pl.col("segment_gains").list.eval(pl.element().round(4).cast(pl.String)).list.join(", ")
    reason = pl.when(pl.col("coherence") < low).then(
        pl.format("{}{}median gain {} < {} ({}); per segment pair: [{}]", pl.lit(BELOW), pl.lit(DETAIL),
                  pl.col("coherence").round(4), pl.lit(round(low, 4)), pl.lit(kind), gains)
    )
    return split_by_reason(joined, reason)
