"""Dedup settings: one frozen config per source kind, and the LSH bands x rows it implies.

Every threshold is served by the SAME 128-permutation signature of a document: only the split of
those permutations into bands x rows changes, so a new threshold never re-hashes the corpus.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from scipy.integrate import quad

SHINGLES = ("char", "word")
VERIFY = ("estimate", "exact")


@dataclass(frozen=True)
class DedupCfg:
    """How documents are shingled, signed and compared.

    shingle/n: character n-grams (Chinese, mixed text) or word n-grams (English prose, code).
    threshold: Jaccard similarity from which two documents count as near duplicates.
    fp_weight/fn_weight: how bands x rows trade missed pairs against extra candidates; candidates
      are verified afterwards, so a miss costs more than a candidate (fn > fp).
    verify: how a band candidate is confirmed. "estimate": estimated Jaccard from the signatures
      (share of equal values) >= threshold, no text needed. "exact": Jaccard of the two shingle
      sets >= threshold, every candidate checked (no estimate prefilter, so none is lost to
      estimation noise); costs a second read of the texts of documents in candidate pairs.
    window: within one band bucket (sorted by date, doc_id) each member is paired with the next
      `window` members, so a bucket of m documents yields O(m * window) pairs, never O(m^2).
    n_shards: band-key shards; each one is an independent unit of work (see `clusters`), and so
      is each of the n_shards gid ranges that candidate pairs are verified in.
    min_shard_rows: band rows (bands + 1 per document) a shard holds at least: a smaller input uses
      fewer shards, down to one, so a small source is not n_shards tasks of almost nothing each
      (on Ray over S3 that overhead dominated: 40 s for 115 documents). Same clusters either way.
    batch_rows: rows of a signature input that one scatter task reads at most (one batch); an input's
      slices are even (100k rows: two tasks of 50k), so no scatter task is a short tail.
    max_shard_rows: a shard with more band rows than this is split by key hash into pieces of about
      this many (one task each), so a shard task's memory stays bounded as the corpus grows.
    hot_bucket_rows: a band bucket with more members than this (50k boilerplate pages sharing a
      band value) is paired in slice tasks of this many members each, every slice also reading
      the next `window` members, so the pairs and the clusters are exactly those of one task.
    max_edges_in_one_task: connected components run as one task (scipy) up to this many verified
      pairs; above it as rounds of min-label propagation over the edge files (same clustering).
    max_sort_rows: clustered documents of one date that one task orders by doc_id to place them
      in the output; a date with more is cut into doc_id ranges of about this many (same output).
    """

    shingle: str = "char"
    n: int = 5
    num_perm: int = 128
    seed: int = 1
    threshold: float = 0.8
    fp_weight: float = 0.3
    fn_weight: float = 0.7
    window: int = 8
    n_shards: int = 16
    min_shard_rows: int = 250_000
    batch_rows: int = 65_536
    verify: str = "estimate"
    max_shard_rows: int = 50_000_000
    hot_bucket_rows: int = 20_000
    max_edges_in_one_task: int = 100_000_000
    max_sort_rows: int = 4_000_000

    def __post_init__(self):
        if self.shingle not in SHINGLES:
            raise ValueError(f"shingle must be one of {SHINGLES}, got {self.shingle!r}")
        if min(self.n, self.window, self.n_shards, self.min_shard_rows, self.max_shard_rows, self.hot_bucket_rows,
               self.max_sort_rows) < 1 or self.num_perm < 2 or self.max_edges_in_one_task < 0:
            raise ValueError("n, window, n_shards, min_shard_rows, max_shard_rows, hot_bucket_rows and max_sort_rows must "
                             "be >= 1, num_perm >= 2 and max_edges_in_one_task >= 0")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must lie in (0, 1), got {self.threshold}")
        if self.verify not in VERIFY:
            raise ValueError(f"verify must be one of {VERIFY}, got {self.verify!r}")

    def shards_for(self, n_docs: int) -> int:
        """The shards (and gid ranges) used for `n_docs` documents: n_shards, fewer for a small input."""
        band_rows = n_docs * (self.bands[0] + 1)
        return max(1, min(self.n_shards, -(-band_rows // self.min_shard_rows)))

    @property
    def bands(self) -> tuple[int, int]:
        """(bands, rows) for this threshold, from the same num_perm permutations."""
        return band_params(self.threshold, self.num_perm, self.fp_weight, self.fn_weight)


def cfg_for(kind: str, lang: str = "mixed", **overrides) -> DedupCfg:
    """The dedup config of a source: its kind's defaults (config/kinds.yaml), English switched to
    word 5-grams, then the source's own overrides (unknown keys raise TypeError, so typos do not pass)."""
    from corpus_dag.sources import KINDS, dedup_cfg

    if kind not in KINDS:
        raise ValueError(f"no dedup defaults for kind {kind!r}; known: {sorted(KINDS)}")
    return dedup_cfg(kind, lang, overrides)


def _false_positive(threshold: float, b: int, r: int) -> float:
    return quad(lambda s: 1 - (1 - s**r) ** b, 0.0, threshold)[0]


def _false_negative(threshold: float, b: int, r: int) -> float:
    return quad(lambda s: (1 - s**r) ** b, threshold, 1.0)[0]


@lru_cache(maxsize=64)
def band_params(threshold: float, num_perm: int, fp_weight: float, fn_weight: float) -> tuple[int, int]:
    """Bands x rows minimising the weighted area of false positives below and false negatives
    above the threshold (the criterion of datasketch's MinHashLSH; same weights, same answer)."""
    best, best_err = (0, 0), float("inf")
    for b in range(2, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            err = fp_weight * _false_positive(threshold, b, r) + fn_weight * _false_negative(threshold, b, r)
            if err < best_err:
                best, best_err = (b, r), err
    return best
