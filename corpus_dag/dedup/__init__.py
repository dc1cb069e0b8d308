"""Exact and MinHash near-duplicate removal across partitions (datasketch-compatible signatures).

signatures(batch, cfg) -> one signature row per document (computed once per partition)
find_clusters(signature files, cfg, workdir, texts=None) -> duplicate clusters, out of core (see
  `clusters`); cfg.verify == "exact" checks candidates on shingle sets read through `texts` (see `exact`)
apply(batch, clusters) -> Split: duplicates dropped with reason and a duplicate_of trail
"""
from .apply import RowView, SignStep, apply, cluster_sizes, exact_jaccard, sample_pairs_markdown
from .clusters import PairCounts, find_clusters, find_clusters_with_counts
from .config import DedupCfg, band_params, cfg_for
from .minhash import signatures, signatures_stream
from .shingles import shingle_hash, shingles

__all__ = [
    "RowView",
    "SignStep",
    "DedupCfg",
    "PairCounts",
    "apply",
    "band_params",
    "cfg_for",
    "cluster_sizes",
    "exact_jaccard",
    "find_clusters",
    "find_clusters_with_counts",
    "sample_pairs_markdown",
    "shingle_hash",
    "shingles",
    "signatures",
    "signatures_stream",
]
