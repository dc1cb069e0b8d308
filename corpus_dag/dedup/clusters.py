"""Duplicate clusters from stored signatures, out of core: band shards -> verified pairs -> components.

Memory is bounded by one input batch, one band shard and the candidate pairs, not by the corpus.
Under the scratch folder:

    signatures.u32          every signature, row = gid (a dense id in input order), num_perm
                            uint32 each; memory-mapped when pairs are verified
    docs/part-*.parquet     gid, doc_id, date, source, exact_key
    shards/NNNN/*.parquet   one row per (document, band): band, key, date, doc_id, gid, where
                            band -1 is the exact key (sha1 of the exact text) and shard = key % n_shards
    shingles.u32            sorted unique shingle hashes of every document in a candidate pair
                            (verify == "exact" only; see `exact`)

1. scatter   (map, one task per signature file or batch): append signatures and doc rows, cut the
             signature into bands (bands x rows chosen for the threshold), write band rows by shard.
2. shard     (one task per shard, all independent): sort the shard by (band, key, date, doc_id),
             pair each bucket member with its next `window` members. A pair sharing several bands
             turns up in several shards, so the (small) candidate lists are then merged.
3. verify    keep exact-key pairs and pairs whose Jaccard reaches the threshold: estimated (equal
             signature values / num_perm) when cfg.verify == "estimate"; exact (shingle sets) when
             "exact", after one read of the texts of the documents in candidate pairs (`texts`).
4. cluster   (one small task): connected components over all edges (scipy.sparse.csgraph),
             representative = earliest date, then smallest doc_id; cluster_id = rank of the
             representative in that order. Neither depends on input order, so re-runs and backfills agree.

On a cluster, step 1 maps over signature partitions, step 2 fans out over n_shards tasks reading
a shared workdir (object store or network disk), steps 3-4 collect their pairs. Only the ids of
documents in candidate pairs reach step 3.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .config import DedupCfg
from .exact import ShingleSets, write_shingle_sets
from .minhash import ID_COLUMNS, band_keys

EXACT_BAND = -1
CLUSTER_SCHEMA = {
    "doc_id": pl.String,
    "date": pl.Date,
    "source": pl.String,
    "cluster_id": pl.Int64,
    "representative": pl.String,
    "duplicate_of": pl.String,
    "kind": pl.String,
    "est_jaccard": pl.Float64,
    "exact_jaccard": pl.Float64,
}
PAIR_SCHEMA = {"a": pl.Int64, "b": pl.Int64, "exact": pl.Boolean}

SignatureInput = str | Path | pl.DataFrame
# Called once with the (doc_id, date, source) rows of the documents that need their text; yields
# frames with doc_id, text and, where it has them, date and source (rows matched on those columns;
# extra rows are ignored, so a caller may stream whole partitions).
TextSource = Callable[[pl.DataFrame], Iterable[pl.DataFrame]]


@dataclass(frozen=True)
class PairCounts:
    """Candidate pairs (distinct, exact-key pairs included) and what verification made of them.
    est_only / exact_only (verify == "exact"): rejected pairs the estimate alone would have
    accepted / accepted pairs it would have rejected; 0 when verify == "estimate"."""

    candidates: int
    accepted: int
    est_only: int
    exact_only: int

    @property
    def rejected(self) -> int:
        return self.candidates - self.accepted


def find_clusters(
    inputs: Iterable[SignatureInput], cfg: DedupCfg, workdir: str | Path, texts: TextSource | None = None
) -> pl.DataFrame:
    """All documents that belong to a duplicate cluster, one row each (singletons are left out):
    doc_id, date, source, cluster_id, representative, duplicate_of (null on the representative),
    kind ("exact": same exact key as the representative, "near": otherwise; null on the
    representative), est_jaccard (estimated Jaccard with the representative) and exact_jaccard
    (Jaccard of the shingle sets; null unless cfg.verify == "exact", which needs `texts`).
    Scratch files go to a fresh folder under `workdir`, removed at the end."""
    return find_clusters_with_counts(inputs, cfg, workdir, texts)[0]


def find_clusters_with_counts(
    inputs: Iterable[SignatureInput], cfg: DedupCfg, workdir: str | Path, texts: TextSource | None = None
) -> tuple[pl.DataFrame, PairCounts]:
    """find_clusters, and how many candidate pairs verification accepted and rejected."""
    if cfg.verify == "exact" and texts is None:
        raise ValueError('verify="exact" compares shingle sets, so find_clusters needs `texts`; none given')
    Path(workdir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="dedup-", dir=workdir))
    try:
        n_docs = scatter(_batches(inputs, cfg.batch_rows), cfg, work)
        cand = pl.concat([shard_candidates(work, s, cfg) for s in range(cfg.n_shards)])
        cand = cand.group_by("a", "b").agg(pl.col("exact").any())
        sets = candidate_shingle_sets(work, cand, texts, cfg, n_docs) if cfg.verify == "exact" else None
        edges, counts = verify_pairs(cand, _signature_map(work, cfg, n_docs), cfg, sets)
        return clusters_from_edges(work, edges, cfg, n_docs, sets), counts
    finally:
        shutil.rmtree(work)


def _batches(inputs: Iterable[SignatureInput], batch_rows: int) -> Iterator[pl.DataFrame]:
    for item in inputs:
        if isinstance(item, pl.DataFrame):
            for start in range(0, item.height, batch_rows):
                yield item.slice(start, batch_rows)
        else:
            for rb in pq.ParquetFile(item).iter_batches(batch_size=batch_rows):
                yield pl.from_arrow(rb)


def scatter(batches: Iterable[pl.DataFrame], cfg: DedupCfg, work: Path) -> int:
    """Step 1: write signatures, doc rows and band rows of every batch; returns the doc count."""
    bands, rows = cfg.bands
    (work / "docs").mkdir(parents=True)
    gid = 0
    with open(work / "signatures.u32", "wb") as sig_file:
        for i, batch in enumerate(batches):
            if "doc_id" not in batch.columns or "signature" not in batch.columns:
                raise ValueError(f"signature batches need doc_id and signature columns; got {batch.columns}")
            sig = batch["signature"].to_numpy()
            if sig.ndim != 2 or sig.shape[1] != cfg.num_perm or sig.dtype != np.uint32:
                raise ValueError(f"signature must be Array[UInt32, {cfg.num_perm}]; got {batch.schema['signature']}")
            sig_file.write(np.ascontiguousarray(sig).tobytes())
            docs = batch.select(
                pl.int_range(gid, gid + batch.height, dtype=pl.Int64).alias("gid"),
                "doc_id",
                (pl.col("date") if "date" in batch.columns else pl.lit(None)).cast(pl.Date).alias("date"),
                (pl.col("source") if "source" in batch.columns else pl.lit(None)).cast(pl.String).alias("source"),
                "exact_key",
            )
            gid += batch.height
            docs.write_parquet(work / "docs" / f"part-{i:06d}.parquet")
            _write_band_rows(docs, sig, batch["n_shingles"].to_numpy() > 0, bands, rows, cfg.n_shards, work, i)
    return gid


def _write_band_rows(docs, sig, has_shingles, bands, rows, n_shards, work: Path, part: int) -> None:
    """Band rows of one batch, one file per shard: the exact-key row of every document and one
    row per band of every document that has shingles."""
    near = docs.filter(pl.Series(has_shingles))
    each = np.repeat(np.arange(near.height), bands)
    band_rows = pl.concat(
        [
            docs.select(
                pl.lit(EXACT_BAND, pl.Int16).alias("band"),
                pl.col("exact_key").str.slice(5, 16).str.to_integer(base=16, dtype=pl.UInt64).alias("key"),
                "date",
                "doc_id",
                "gid",
            ),
            pl.DataFrame(
                {
                    "band": np.tile(np.arange(bands, dtype=np.int16), near.height),
                    "key": band_keys(sig[has_shingles], bands, rows).ravel(),
                }
            ).with_columns(near.select("date", "doc_id", "gid")[each]),
        ]
    ).with_columns((pl.col("key") % n_shards).cast(pl.Int32).alias("shard"))
    for (shard,), rows_of_shard in band_rows.partition_by("shard", as_dict=True).items():
        out = work / "shards" / f"{shard:04d}"
        out.mkdir(parents=True, exist_ok=True)
        rows_of_shard.drop("shard").write_parquet(out / f"part-{part:06d}.parquet")


def _signature_map(work: Path, cfg: DedupCfg, n_docs: int) -> np.ndarray:
    if n_docs == 0:  # an empty file cannot be memory-mapped
        return np.empty((0, cfg.num_perm), dtype=np.uint32)
    return np.memmap(work / "signatures.u32", dtype=np.uint32, mode="r", shape=(n_docs, cfg.num_perm))


def est_jaccard(sig: np.ndarray, a: np.ndarray, b: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """Share of equal signature values of rows a[i] and b[i] (the MinHash Jaccard estimate)."""
    out = np.empty(len(a), dtype=np.float64)
    for s in range(0, len(a), chunk):
        out[s : s + chunk] = (sig[a[s : s + chunk]] == sig[b[s : s + chunk]]).mean(axis=1)
    return out


def shard_candidates(work: Path, shard: int, cfg: DedupCfg) -> pl.DataFrame:
    """Step 2 for one shard: its distinct candidate pairs a < b (gids) and whether they share the
    exact key (PAIR_SCHEMA)."""
    files = sorted((work / "shards" / f"{shard:04d}").glob("*.parquet"))
    if not files:
        return pl.DataFrame(schema=PAIR_SCHEMA)
    rows = pl.scan_parquet(files).sort("band", "key", "date", "doc_id", nulls_last=False).collect()
    band, key, gid = (rows[c].to_numpy() for c in ("band", "key", "gid"))
    pairs = [np.empty((0, 3), dtype=np.int64)]
    for lag in range(1, min(cfg.window, len(gid) - 1) + 1):
        same = (band[lag:] == band[:-lag]) & (key[lag:] == key[:-lag])
        exact = band[lag:][same] == EXACT_BAND
        pairs.append(np.stack([gid[:-lag][same], gid[lag:][same], exact], axis=1))
    pairs = np.concatenate(pairs)
    lo, hi = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    cand = pl.DataFrame({"a": lo, "b": hi, "exact": pairs[:, 2].astype(bool)}, schema=PAIR_SCHEMA)
    return cand.group_by("a", "b").agg(pl.col("exact").any())


def verify_pairs(cand: pl.DataFrame, sig: np.ndarray, cfg: DedupCfg, sets: ShingleSets | None = None) -> tuple[pl.DataFrame, PairCounts]:
    """Step 3: exact-key pairs, and the other candidates whose Jaccard reaches the threshold,
    estimated from `sig` or, when `sets` are given, exact."""
    near = cand.filter(~pl.col("exact"))
    a, b = near["a"].to_numpy(), near["b"].to_numpy()
    est_ok = est_jaccard(sig, a, b) >= cfg.threshold
    ok = est_ok if sets is None else sets.jaccard(a, b) >= cfg.threshold
    edges = pl.concat([cand.filter("exact"), near.filter(pl.Series(ok))]).select("a", "b")
    counts = PairCounts(cand.height, edges.height, int((est_ok & ~ok).sum()), int((ok & ~est_ok).sum()))
    return edges, counts


def candidate_shingle_sets(work: Path, cand: pl.DataFrame, texts: TextSource, cfg: DedupCfg, n_docs: int) -> ShingleSets:
    """Shingle sets of every document in a candidate pair (exact-key pairs too, so each cluster
    member's exact Jaccard with its representative can be reported), from one pass over `texts`."""
    if cand.is_empty():
        return write_shingle_sets([], cfg, work / "shingles.u32", n_docs)
    gids = pl.concat([cand["a"], cand["b"]]).unique().to_frame("gid")
    wanted = pl.scan_parquet(sorted((work / "docs").glob("*.parquet"))).join(gids.lazy(), on="gid").collect()
    sets = write_shingle_sets(_matched_texts(wanted, texts), cfg, work / "shingles.u32", n_docs)
    missing = sets.missing(wanted["gid"].to_numpy())
    if len(missing):
        ids = wanted.filter(pl.col("gid").is_in(pl.Series(missing).implode()))["doc_id"].head(5).to_list()
        raise ValueError(f'verify="exact": no text for {len(missing)} candidate documents, e.g. {ids}')
    return sets


def _matched_texts(wanted: pl.DataFrame, texts: TextSource) -> Iterator[tuple[np.ndarray, pl.Series]]:
    """(gids, texts) of the rows `texts` yields for the wanted documents."""
    for frame in texts(wanted.select(ID_COLUMNS)):
        on = [c for c in ID_COLUMNS if c in frame.columns]
        keys = frame.select(*(pl.col(c).cast(CLUSTER_SCHEMA[c]) for c in on), "text")
        matched = keys.join(wanted.select("gid", *on), on=on, nulls_equal=True)
        if matched.height:
            yield matched["gid"].to_numpy(), matched["text"]


def clusters_from_edges(work: Path, edges: pl.DataFrame, cfg: DedupCfg, n_docs: int, sets: ShingleSets | None = None) -> pl.DataFrame:
    """Step 4: connected components of the verified pairs, with deterministic representatives;
    exact_jaccard with the representative from `sets` when given."""
    if edges.is_empty():
        return pl.DataFrame(schema=CLUSTER_SCHEMA)
    a, b = edges["a"].to_numpy(), edges["b"].to_numpy()
    nodes, local = np.unique(np.concatenate([a, b]), return_inverse=True)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (local[: len(a)], local[len(a) :])), shape=(len(nodes),) * 2)
    _, labels = connected_components(graph, directed=False)
    members = (
        pl.scan_parquet(sorted((work / "docs").glob("*.parquet")))
        .filter(pl.col("gid").is_in(pl.Series(nodes)))
        .collect()
        .join(pl.DataFrame({"gid": nodes, "label": labels}), on="gid")
        .sort("label", "date", "doc_id", nulls_last=False)
    )
    first = pl.col("doc_id").first().over("label")
    members = members.with_columns(
        first.alias("representative"),
        pl.col("gid").first().over("label").alias("rep_gid"),
        pl.col("exact_key").first().over("label").alias("rep_key"),
    )
    gids, rep_gids = members["gid"].to_numpy(), members["rep_gid"].to_numpy()
    est = est_jaccard(_signature_map(work, cfg, n_docs), gids, rep_gids)
    exact = pl.Series("exact_jaccard", sets.jaccard(gids, rep_gids)) if sets else pl.lit(None, pl.Float64).alias("exact_jaccard")
    is_rep = pl.col("doc_id") == pl.col("representative")
    ranks = members.filter(is_rep).sort("date", "doc_id", nulls_last=False)
    ranks = ranks.select("label", pl.int_range(pl.len()).alias("cluster_id"))
    kind = pl.when(pl.col("exact_key") == pl.col("rep_key")).then(pl.lit("exact")).otherwise(pl.lit("near"))
    return (
        members.with_columns(pl.Series("est_jaccard", est), exact)
        .join(ranks, on="label")
        .select(
            "doc_id",
            "date",
            "source",
            pl.col("cluster_id").cast(pl.Int64),
            "representative",
            pl.when(~is_rep).then(pl.col("representative")).alias("duplicate_of"),
            pl.when(~is_rep).then(kind).alias("kind"),
            "est_jaccard",
            "exact_jaccard",
        )
        .sort("cluster_id", "date", "doc_id", nulls_last=False)
    )
