"""Exact and MinHash near-duplicate removal across partitions (datasketch-compatible signatures).

signatures(batch, cfg) -> one signature row per document (computed once per partition)
find_clusters(signature files, cfg, workdir, texts=None) -> duplicate clusters, out of core (see
  `clusters`); cfg.verify == "exact" checks candidates on shingle sets of texts read by `texts`, a list
  of read tasks (`PartitionTexts`: slices of stored partitions; see `exact`)
cluster_pipeline(inputs, cfg, scratch, engine, texts) -> the same, its steps as engine tasks over a
  scratch folder that a re-run resumes (Ray: a prefix of CORPUS_ROOT, `scratch_prefix`)
apply(batch, clusters) -> Split: duplicates dropped with reason and a duplicate_of trail
broken_trails(clusters partition) -> rows whose trail does not name their cluster's kept row
"""
from .apply import PartitionTexts, RowView, SignStep, apply, broken_trails, exact_jaccard, sample_pairs_markdown
from .clusters import CLUSTER_ROWS, CLUSTER_SCHEMA, Clusters, ClusterRun, PairCounts, Scratch, cluster_pipeline, find_clusters, find_clusters_with_counts, scratch_prefix
from .config import DedupCfg, band_params, cfg_for
from .minhash import signatures, signatures_stream
from .shingles import shingle_hash, shingles

__all__ = [
    "CLUSTER_ROWS",
    "PartitionTexts",
    "RowView",
    "SignStep",
    "DedupCfg",
    "CLUSTER_SCHEMA",
    "ClusterRun",
    "Clusters",
    "PairCounts",
    "Scratch",
    "apply",
    "band_params",
    "broken_trails",
    "cfg_for",
    "cluster_pipeline",
    "exact_jaccard",
    "find_clusters",
    "find_clusters_with_counts",
    "sample_pairs_markdown",
    "scratch_prefix",
    "shingle_hash",
    "shingles",
    "signatures",
    "signatures_stream",
]
