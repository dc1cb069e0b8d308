"""Duplicate clusters from stored signatures, out of core: band shards -> verified pairs -> components.

Memory is bounded by one input batch, one band shard and one range of candidate pairs, not by the
corpus. Every step is a list of independent tasks mapped by an engine (`corpus_dag.engine`: in
this process, or one Ray task each), and they talk only through files under a scratch folder
(`Scratch`: a local temp folder, or a prefix of CORPUS_ROOT that every Ray worker reads):

    scatter.json                     the parts' gid ranges and the shards' row counts; written when
                                     every part is scattered
    sigs/part-PPPPP.u32              signatures of part (input slice) P, row = gid - its first gid, num_perm uint32
    docs/part-PPPPP-BBBBBB.parquet   gid, doc_id, date, source, exact_key
    shards/NNNN/*.parquet            one row per (document, band): band, key, date, doc_id, gid, where
                                     band -1 is the exact key (sha1 of the exact text), shard = key % n_shards
    cand/NNNN-KKK/range-VVVV.parquet candidate pairs of piece K of shard N whose smaller gid lies in range V
    cand/NNNN-KKK.done               that piece's completion marker (a re-run skips it): JSON, the
                                     [band, members] of each of its hot buckets
    hot/NNNN-KKK-IIII.i64            gids of hot bucket I of piece K of shard N, in pair order
    cand/NNNN-KKK-hotIIII-JJJJJ/...  candidate pairs of slice J of that hot bucket, and its marker
    shingles/wanted/date=D/*.parquet the candidate documents' doc rows by date, one file per part (verify == "exact")
    shingles/part-KKKKK.u32          shingle sets of the candidates that text part K found
    shingles/index.npz               which part holds each candidate's set, where (see `exact`)
    edges/range-VVVV.parquet         verified pairs of range V
    cc/at-VVVV.npy, labels-VVVV.npy  min-label propagation (large edge counts only): where the nodes of
                                     edge file V stand among all nodes, and their labels this round
    members/date=D/part-PPPPP.parquet  the cluster members' doc rows by date, one file per part, sorted by doc_id
    clusters/sorted/unit-UUUUU.parquet the members of order unit U (a date, or a doc_id range of one), in output order
    clusters/members.i64             per output row, in order: the representative's gid, the cluster id
    clusters/wanted/date=D.npy       (gid, chunk K) of each representative dated D that chunk K names
    clusters/reps/KKKKK/*.parquet    the doc rows of the representatives chunk K names, a file per date
    clusters/chunk-KKKKK.parquet     the output rows, chunk after chunk in output order

1. scatter  (one task per slice of cfg.batch_rows rows of an input, a signature partition or file):
            signatures, doc rows, and band rows by shard (bands x rows chosen for the threshold).
            gids are dense, in input order.
2. shard    (one task per shard; a shard over cfg.max_shard_rows band rows split into key ranges,
            read with the range as a filter that the Parquet reader applies as rows stream):
            sort by (band, key, date, doc_id, gid), pair each bucket member with its next
            `window` members; write the pairs split into n_shards gid ranges (by their smaller
            gid), then the marker. A hot bucket (over cfg.hot_bucket_rows members) is not paired
            there: its gids are written in that order, then paired by slice tasks of
            hot_bucket_rows members, each reading its slice and the `window` members after it,
            so the pairs are exactly those one task would make.
3. verify   (one task per gid range): merge that range's pairs from every shard (a pair sharing
            several bands turns up in several shards), keep exact-key pairs and pairs whose Jaccard
            reaches the threshold: estimated (equal signature values / num_perm) or, with
            verify == "exact", of the shingle sets, computed once beforehand from the texts of the
            documents in candidate pairs: one task per part of `texts` (a slice of an input
            partition), each to a file of its own; a verify task reads only the sets its pairs name.
4. components: one task (scipy.sparse.csgraph) up to cfg.max_edges_in_one_task edges, else rounds
            of min-label propagation, one task per edge file a round (the labels, one int per node
            in an edge, stay with the caller). Same components either way.
5. assemble: representative = earliest date, then smallest doc_id; cluster_id = rank of the
            representative in that order. Neither depends on input order or on labels, so
            re-runs, backfills and both engines agree byte for byte. Rows are sorted by (date,
            doc_id), so one date's rows are a few row groups: a date's dedup reads only those.
            The caller holds integers only (a few per member, no string): the members' doc rows
            are staged by date (one task per part that holds some); one task per date (per doc_id
            range of a date with over cfg.max_sort_rows members) orders its members by (doc_id,
            gid), which gives every member's place in the output, and writes them in that order;
            the representatives and cluster ids follow from arrays; one task per date sends each
            chunk the rows of the representatives of that date it names; a task per chunk of
            MEMBER_PAIRS_PER_TASK output rows reads its rows and writes them with each member's
            Jaccard with its representative.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import posixpath
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from corpus_dag.engine import LOCAL_THREADS, Engine, LocalEngine, StageResources, even_slices
from corpus_dag.storage import COMPARE, LEASE, ROW_GROUP_ROWS, PartitionData, Where, read_row_range, read_where

from .config import DedupCfg
from .exact import SetIndex, ShingleSets, mapped_fetch, ranged_fetch, write_shingle_sets
from .minhash import ID_COLUMNS, band_keys

EXACT_BAND = -1
MEMBER_PAIRS_PER_TASK = 16_384  # output rows (cluster members) one row task writes, each with its Jaccard with its representative
LEASE_EVERY_S = 600  # how often a held scratch's lease is rewritten (stale after hours: see remove_stale)
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
DOC_SCHEMA = {"gid": pl.Int64, "doc_id": pl.String, "date": pl.Date, "source": pl.String, "exact_key": pl.String}
PAIR_SCHEMA = {"a": pl.Int64, "b": pl.Int64, "exact": pl.Boolean}
EDGE_SCHEMA = {"a": pl.Int64, "b": pl.Int64}

SignatureInput = str | Path | pl.DataFrame | PartitionData
# One read task of `verify: exact` (picklable for Ray): called with the (doc_id, date, source) rows of
# the documents that need their text; yields frames with doc_id, text and, where it has them, date
# and source, from its own part of the documents (rows matched on those columns; extra rows are
# ignored, so a part may stream a whole slice of a partition). A part with a `date` attribute (a
# slice of one date partition, `PartitionTexts`) is handed only the wanted rows of that date, read
# with the date as a filter, so no task reads the whole list of candidates.
TextPart = Callable[[pl.DataFrame], Iterable[pl.DataFrame]]
TextSource = Sequence[TextPart]
WANTED = "shingles/wanted"  # the scratch folder of the doc rows of the documents whose shingle sets are computed
MEMBERS = "members"  # the scratch folder of the cluster members' doc rows, by date
ASSEMBLY = "clusters/members.i64"  # per output row (in order): the representative's gid, the cluster id
ASSEMBLY_COLUMNS = 2
NULL_DAY = np.iinfo(np.int32).min  # the day of a document without a date: first, as nulls sort
SAMPLE_PAIRS = 5  # duplicates nearest the threshold that the metadata shows
SAMPLE_EVERY = 1_024  # staged rows per doc_id sample, where a date with many members is cut (`_order_units`)
SAMPLE_SCHEMA = {"day": pl.Int32, "doc_id": pl.String}
SET_INDEX = "shingles/index.npz"  # which part file holds each of their sets, where (`exact.SetIndex`)


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


@dataclass(frozen=True)
class ClusterRun:
    """What one run did, for the materialization's metadata: shard tasks run and skipped (their
    marker was there from an earlier try with the same scratch), hot buckets and their slice
    tasks, verified edges, and how the components were found ("single": one task;
    "propagation": `cc_rounds` rounds)."""

    pairs: PairCounts
    shards: int
    shard_tasks_run: int
    shard_tasks_skipped: int
    edges: int
    cc_mode: str
    cc_rounds: int
    hot_buckets: int = 0
    hot_bucket_tasks: int = 0


@dataclass(frozen=True)
class Scratch:
    """A clusters run's working folder on an fsspec filesystem: a local temp folder (memory-mapped
    reads), or a prefix of CORPUS_ROOT (s3://: byte-range reads) that every Ray worker can reach."""

    fs: Any
    root: str

    @classmethod
    def local(cls, folder: str | Path) -> Scratch:
        return cls(LocalFileSystem(), str(folder))

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def path(self, rel: str) -> str:
        return posixpath.join(self.root, rel)

    def exists(self, rel: str) -> bool:
        return self.fs.exists(self.path(rel))

    def open(self, rel: str, mode: str = "rb"):
        if "w" in mode and self.is_local:
            self.fs.makedirs(posixpath.dirname(self.path(rel)), exist_ok=True)
        return self.fs.open(self.path(rel), mode)

    def write_bytes(self, rel: str, data: bytes) -> None:
        with self.open(rel, "wb") as f:
            f.write(data)

    def read_bytes(self, rel: str) -> bytes:
        return self.fs.cat_file(self.path(rel))

    def write_parquet(self, rel: str, df: pl.DataFrame, row_group_size: int | None = None) -> None:
        with self.open(rel, "wb") as f:
            df.write_parquet(f, row_group_size=row_group_size)

    def read_rows(self, rel: str, start: int, stop: int) -> pl.DataFrame:
        """Rows [start, stop) of a Parquet file, reading only the row groups that hold them."""
        with self.open(rel) as f:
            return read_row_range(pq.ParquetFile(f), start, stop)

    def glob(self, pattern: str) -> list[str]:
        return sorted(self.fs.glob(self.path(pattern)))

    def read(self, paths: list[str], where: Where = ()) -> pl.DataFrame:
        """The Parquet files `paths` as one frame, only the rows that meet `where` (memory-mapped
        here; on s3:// filtered as they stream, `storage.read_where`)."""
        if self.is_local:
            rows = pl.scan_parquet(paths)
            return rows.filter(*(COMPARE[op](pl.col(c), v) for c, op, v in where)).collect() if where else rows.collect()
        return read_where(self.fs, paths, where)

    def write_lease(self) -> None:
        """The lease, replaced whole (a PUT on s3://; a rename here), so a reader never sees half of one."""
        lease = json.dumps({"written_at": time.time()}).encode()
        if not self.is_local:
            return self.write_bytes(LEASE, lease)
        self.write_bytes(f"{LEASE}.partial", lease)
        self.fs.mv(self.path(f"{LEASE}.partial"), self.path(LEASE))

    @contextmanager
    def held(self, every_s: float = LEASE_EVERY_S) -> Iterator[Scratch]:
        """This scratch held by a run: its lease written now and every `every_s` until the block
        ends, so `CorpusStore.remove_stale` (run by the next run) never takes a live run's folder."""
        self.write_lease()
        stop = threading.Event()

        def renew():
            while not stop.wait(every_s):
                self.write_lease()

        renewer = threading.Thread(target=renew, name=f"lease {self.root}", daemon=True)
        renewer.start()
        try:
            yield self
        finally:
            stop.set()
            renewer.join()

    def scan(self, paths: list[str], schema: dict) -> pl.LazyFrame:
        """The Parquet files `paths` (full paths, as `glob` gives) as one frame."""
        if not paths:
            return pl.LazyFrame(schema=schema)
        if self.is_local:
            return pl.scan_parquet(paths)
        return pl.concat([pl.read_parquet(io.BytesIO(self.fs.cat_file(p))) for p in paths]).lazy()

    def remove(self) -> None:
        if self.fs.exists(self.root):
            self.fs.rm(self.root, recursive=True)


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
    """find_clusters in this process, and how many candidate pairs verification accepted and rejected."""
    Path(workdir).mkdir(parents=True, exist_ok=True)
    scratch = Scratch.local(tempfile.mkdtemp(prefix="dedup-", dir=workdir))
    try:
        clusters, run = cluster_pipeline(inputs, cfg, scratch, LocalEngine(), texts)
        return clusters.frame(), run.pairs
    finally:
        scratch.remove()


def cluster_pipeline(
    inputs: Iterable[SignatureInput],
    cfg: DedupCfg,
    scratch: Scratch,
    engine: Engine,
    texts: TextSource | None = None,
    resources: StageResources | None = None,
    sink=None,
) -> tuple[Clusters, ClusterRun]:
    """find_clusters with its steps mapped by `engine`, through `scratch`, which it leaves in place:
    a re-run on the same scratch (same inputs, same cfg) skips the scatter and every finished shard.
    The tasks write the clusters' rows to `sink` (a commit's `storage.PartSink`, output CLUSTER_ROWS), or with
    none to files in the scratch. The caller removes the scratch once the clusters are stored."""
    if cfg.verify == "exact" and texts is None:
        raise ValueError('verify="exact" compares shingle sets, so find_clusters needs `texts`; none given')
    tasks = Tasks(engine, resources or StageResources(), scratch)
    scratch.fs.invalidate_cache()
    inputs = list(inputs)
    sizes = [_num_rows(item) for item in inputs]
    cfg = replace(cfg, n_shards=cfg.shards_for(sum(sizes)))
    slices = [(item, rows) for item, n in zip(inputs, sizes) for rows in even_slices(n, cfg.batch_rows)]
    run = replace(Pipeline(scratch, cfg, *_scattered(slices, cfg, scratch, tasks)), sink=sink)
    if run.n_docs == 0:
        return Clusters.none(scratch), ClusterRun(PairCounts(0, 0, 0, 0), cfg.n_shards, 0, 0, 0, "single", 0)
    todo = [piece for piece in run.pieces if not scratch.exists(_marker(piece))]
    for _ in tasks(_shard_task, [(run, piece) for piece in todo]):
        pass
    run = replace(run, slices=run.hot_slices())
    for _ in tasks(_slice_task, [(run, sl) for sl in run.slices if not scratch.exists(_marker(_slice_unit(*sl)))]):
        pass
    if cfg.verify == "exact":
        gids = np.unique(np.concatenate([np.empty(0, np.int64), *tasks(_candidate_gids_task, [(run, v) for v in run.ranges])]))
        run.save_shingle_sets(gids, texts, tasks)
    counts = list(tasks(_verify_task, [(run, v) for v in run.ranges]))
    pairs = PairCounts(*(int(x) for x in np.sum([astuple(c) for c in counts], axis=0)))
    if pairs.accepted <= cfg.max_edges_in_one_task:
        [(nodes, labels)] = list(tasks(_components_task, [run]))
        mode, rounds = "single", 1
    else:
        nodes, labels, rounds = run.propagate(tasks)
        mode = "propagation"
    clusters = run.assemble(nodes, labels, tasks)
    hot = len({bucket for bucket, _ in run.slices})
    return clusters, ClusterRun(pairs, cfg.n_shards, len(todo), len(run.pieces) - len(todo), pairs.accepted, mode, rounds,
                                hot, len(run.slices))


@dataclass(frozen=True)
class Tasks:
    """One step's tasks on the engine, results in input order. Once they are all done the
    scratch's cached listings are dropped: other processes wrote there (s3fs would otherwise
    answer from a listing taken before they did)."""

    engine: Engine
    resources: StageResources
    scratch: Scratch

    def __call__(self, fn: Callable[[Any], Any], items: list) -> Iterator[Any]:
        yield from self.engine.map_tasks(fn, items, resources=self.resources)
        self.scratch.fs.invalidate_cache()

    @property
    def threads(self) -> int:
        """Threads one task gives GIL-free kernels: the step's cores locally, the task's CPUs on Ray."""
        return LOCAL_THREADS if self.engine.kind == "local" else max(1, int(self.resources.num_cpus))


# ---- 1. scatter --------------------------------------------------------------------------------
def _scattered(slices: list[tuple[SignatureInput, tuple[int, int]]], cfg: DedupCfg, scratch: Scratch,
               tasks: Tasks) -> tuple[list, list[int]]:
    """(first gid, rows) of every part and the band rows of every shard: scatters the inputs, one
    task per slice of cfg.batch_rows rows (a part: one batch, so a huge partition is many tasks),
    unless an earlier try on this scratch finished it."""
    if not scratch.exists("scatter.json"):
        sizes = [stop - start for _, (start, stop) in slices]
        starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])[:-1].tolist()
        items = [(item, rows, p, gid, cfg, scratch) for p, ((item, rows), gid) in enumerate(zip(slices, starts))]
        shard_rows = np.zeros(cfg.n_shards, dtype=np.int64)
        for p, (rows, per_shard) in enumerate(tasks(_scatter_task, items)):
            if rows != sizes[p]:
                raise ValueError(f"signature input slice {p} changed while it was read: {sizes[p]} rows listed, {rows} read")
            shard_rows += per_shard
        done = {"parts": list(zip(starts, sizes)), "shard_rows": shard_rows.tolist()}
        scratch.write_bytes("scatter.json", json.dumps(done).encode())
    done = json.loads(scratch.read_bytes("scatter.json"))
    return [tuple(p) for p in done["parts"]], done["shard_rows"]


def _num_rows(item: SignatureInput) -> int:
    if isinstance(item, pl.DataFrame):
        return item.height
    if isinstance(item, PartitionData):
        return item.num_rows
    return pq.ParquetFile(item).metadata.num_rows


def _read_rows(item: SignatureInput, start: int, stop: int) -> pl.DataFrame:
    """Rows [start, stop) of a signature input, reading only what holds them."""
    if isinstance(item, pl.DataFrame):
        return item.slice(start, stop - start)
    if isinstance(item, PartitionData):
        return item.read_rows(start, stop)
    return pl.scan_parquet(item).slice(start, stop - start).collect()


def _scatter_task(args) -> tuple[int, np.ndarray]:
    item, (start, stop), part, gid, cfg, scratch = args
    return scatter([_read_rows(item, start, stop)], cfg, scratch, part, gid)


def scatter(batches: Iterable[pl.DataFrame], cfg: DedupCfg, scratch: Scratch, part: int = 0, first_gid: int = 0) -> tuple[int, np.ndarray]:
    """Step 1 for one part: write its signatures, doc rows and band rows; returns its doc count
    and its band rows per shard."""
    bands, rows = cfg.bands
    gid, shard_rows = first_gid, np.zeros(cfg.n_shards, dtype=np.int64)
    with scratch.open(_sig_file(part), "wb") as sig_file:
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
            name = f"part-{part:05d}-{i:06d}.parquet"
            scratch.write_parquet(f"docs/{name}", docs)
            shard_rows += _write_band_rows(docs, sig, batch["n_shingles"].to_numpy() > 0, bands, rows, cfg.n_shards, scratch, name)
    return gid - first_gid, shard_rows


def _write_band_rows(docs, sig, has_shingles, bands, rows, n_shards, scratch: Scratch, name: str) -> np.ndarray:
    """Band rows of one batch, one file per shard: the exact-key row of every document and one
    row per band of every document that has shingles. Returns the rows written per shard."""
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
    per_shard = np.zeros(n_shards, dtype=np.int64)
    for (shard,), rows_of_shard in band_rows.partition_by("shard", as_dict=True).items():
        scratch.write_parquet(f"shards/{shard:04d}/{name}", rows_of_shard.drop("shard"))
        per_shard[shard] = rows_of_shard.height
    return per_shard


def _sig_file(part: int) -> str:
    return f"sigs/part-{part:05d}.u32"


def _piece_dir(piece: tuple[int, int, int]) -> str:
    """The candidate folder of a shard piece (shard, k, pieces) or of a hot bucket's slice (`_slice_unit`)."""
    shard, k, rest = piece
    return f"cand/{shard:04d}-{k:03d}" if isinstance(rest, int) else f"cand/{shard:04d}-{k:03d}-{rest}"


def _marker(piece: tuple) -> str:
    return f"{_piece_dir(piece)}.done"


@dataclass(frozen=True)
class HotBucket:
    """Bucket `index` (in pair order) of those over cfg.hot_bucket_rows members in piece k of a
    shard: its band and member count; the members' gids are in `file`."""

    shard: int
    k: int
    index: int
    band: int
    rows: int

    @property
    def file(self) -> str:
        return f"hot/{self.shard:04d}-{self.k:03d}-{self.index:04d}.i64"


def _slice_unit(bucket: HotBucket, j: int) -> tuple[int, int, str]:
    return bucket.shard, bucket.k, f"hot{bucket.index:04d}-{j:05d}"


# ---- signature rows by gid ---------------------------------------------------------------------
@dataclass
class Signatures:
    """Signature rows by gid from the parts' files: memory-mapped on a local scratch, else read as
    byte ranges (one per run of consecutive gids), so a task fetches only the rows it needs."""

    scratch: Scratch
    parts: list[tuple[int, int]]
    num_perm: int

    def __post_init__(self):
        self.starts = np.array([s for s, _ in self.parts], dtype=np.int64)
        self._maps: dict[int, np.ndarray] = {}

    def rows(self, gids: np.ndarray) -> np.ndarray:
        gids = np.asarray(gids, dtype=np.int64)
        part = np.searchsorted(self.starts, gids, side="right") - 1
        if self.scratch.is_local:
            out = np.empty((len(gids), self.num_perm), dtype=np.uint32)
            for p in np.unique(part):
                at = part == p
                out[at] = self._map(int(p))[gids[at] - self.starts[p]]
            return out
        uniq, inverse = np.unique(gids, return_inverse=True)
        if not len(uniq):
            return np.empty((0, self.num_perm), dtype=np.uint32)
        upart = np.searchsorted(self.starts, uniq, side="right") - 1
        new_run = np.ones(len(uniq), dtype=bool)
        new_run[1:] = (np.diff(uniq) != 1) | (np.diff(upart) != 0)
        first = np.flatnonzero(new_run)
        length = np.diff(np.append(first, len(uniq)))
        row_bytes = 4 * self.num_perm
        offset = (uniq[first] - self.starts[upart[first]]) * row_bytes
        blobs = self.scratch.fs.cat_ranges([self.scratch.path(_sig_file(int(p))) for p in upart[first]],
                                           offset.tolist(), (offset + length * row_bytes).tolist(), on_error="raise")
        return np.frombuffer(b"".join(blobs), dtype=np.uint32).reshape(-1, self.num_perm)[inverse]

    def _map(self, part: int) -> np.ndarray:
        if part not in self._maps:
            n = self.parts[part][1]
            self._maps[part] = np.memmap(self.scratch.path(_sig_file(part)), dtype=np.uint32, mode="r", shape=(n, self.num_perm))
        return self._maps[part]


def est_jaccard(sig: Signatures, a: np.ndarray, b: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """Share of equal signature values of rows a[i] and b[i] (the MinHash Jaccard estimate)."""
    out = np.empty(len(a), dtype=np.float64)
    for s in range(0, len(a), chunk):
        out[s : s + chunk] = (sig.rows(a[s : s + chunk]) == sig.rows(b[s : s + chunk])).mean(axis=1)
    return out


# ---- 2-5. shards, verification, components, clusters ---------------------------------------------
@dataclass(frozen=True)
class Pipeline:
    """The state every task of one run shares (small and picklable: the data is in `scratch`)."""

    scratch: Scratch
    cfg: DedupCfg
    parts: list[tuple[int, int]]
    shard_rows: list[int]
    slices: list[tuple[HotBucket, int]] = ()  # (hot bucket, slice j): known once the shard tasks ran
    sink: Any = None  # where the tasks write the clusters' rows: a commit's `storage.PartSink` (output CLUSTER_ROWS); None: the scratch

    @property
    def pieces(self) -> list[tuple[int, int, int]]:
        """(shard, k, pieces) of every shard task: a shard over cfg.max_shard_rows band rows is
        split into `pieces` ranges of the key (a hash), so a bucket (one band and key) stays whole."""
        split = [max(1, -(-rows // self.cfg.max_shard_rows)) for rows in self.shard_rows]
        return [(s, k, n) for s, n in enumerate(split) for k in range(n)]

    def hot_slices(self) -> list[tuple[HotBucket, int]]:
        """(hot bucket, slice j) of every slice task, from the finished pieces' markers."""
        out = []
        for piece in self.pieces:
            for i, (band, rows) in enumerate(json.loads(self.scratch.read_bytes(_marker(piece)))):
                bucket = HotBucket(piece[0], piece[1], i, band, rows)
                out += [(bucket, j) for j in range(-(-rows // self.cfg.hot_bucket_rows))]
        return out

    @property
    def n_docs(self) -> int:
        return int(sum(n for _, n in self.parts))

    @property
    def ranges(self) -> range:
        """The gid ranges that candidate pairs are verified in (by their smaller gid)."""
        return range(self.cfg.n_shards)

    def range_of(self, gids: pl.Expr) -> pl.Expr:
        return (gids * len(self.ranges) // self.n_docs).cast(pl.Int32)

    def signatures(self) -> Signatures:
        return Signatures(self.scratch, self.parts, self.cfg.num_perm)

    def stage_doc_rows(self, gids: np.ndarray, folder: str, tasks: Tasks) -> tuple[np.ndarray, pl.DataFrame]:
        """The doc rows (DOC_SCHEMA) of the sorted `gids` to `folder`/date=D/part-PPPPP.parquet, sorted
        by (doc_id, gid) in small row groups (a doc_id range reads few): one task per part that
        holds some, reading that part's doc files only, so this process never holds a string of
        them. Returns each gid's day (`_day`) and every SAMPLE_EVERY-th staged doc_id (day, doc_id)."""
        cuts = np.searchsorted(gids, [first for first, _ in self.parts] + [self.n_docs])
        items = [(self, p, gids[cuts[p] : cuts[p + 1]], folder) for p in range(len(self.parts)) if cuts[p + 1] > cuts[p]]
        days, samples = zip(*tasks(_stage_rows_task, items)) if items else ((), ())
        return np.concatenate([np.empty(0, np.int32), *days]), pl.concat([pl.DataFrame(schema=SAMPLE_SCHEMA), *samples])

    def staged_rows(self, folder: str, days: Iterable[int] | None, gids: np.ndarray | None = None,
                    doc_ids: tuple[str | None, str | None] = (None, None)) -> pl.DataFrame:
        """The rows `stage_doc_rows` wrote to `folder` for `days` (None: every day), only those of
        `gids` when given, and only those whose doc_id lies in [doc_ids[0], doc_ids[1]) (None: open;
        a null doc_id sorts first)."""
        dirs = ["*"] if days is None else [_day_dir(day) for day in sorted(set(days))]
        files = [f for d in dirs for f in self.scratch.glob(f"{folder}/{d}/*.parquet")]
        rows, (lo, hi) = self.scratch.scan(files, DOC_SCHEMA), doc_ids
        if gids is not None:
            rows = rows.filter(pl.col("gid").is_in(pl.Series(gids).implode()))
        if lo is not None:
            rows = rows.filter(pl.col("doc_id") >= lo)
        if hi is not None:
            rows = rows.filter(pl.col("doc_id").is_null() | (pl.col("doc_id") < hi))
        return rows.collect().cast(DOC_SCHEMA)

    def candidates(self, v: int) -> pl.DataFrame:
        """The distinct candidate pairs of range v, from every shard."""
        units = [*self.pieces, *(_slice_unit(*sl) for sl in self.slices)]
        files = [self.scratch.path(f"{_piece_dir(unit)}/range-{v:04d}.parquet") for unit in units]
        return self.scratch.scan(files, PAIR_SCHEMA).collect().group_by("a", "b").agg(pl.col("exact").any())

    def edges(self, v: int) -> pl.DataFrame:
        return self.scratch.scan([self.scratch.path(f"edges/range-{v:04d}.parquet")], EDGE_SCHEMA).collect()

    def save_shingle_sets(self, gids: np.ndarray, texts: TextSource, tasks: Tasks) -> None:
        """Shingle sets of the documents `gids`: one task per text part computes those its part holds
        into a part file of its own; their index (which part, where) is stored for the verify tasks."""
        days, _ = self.stage_doc_rows(gids, WANTED, tasks)
        found = list(tasks(_shingle_task, [(self, k, part, tasks.threads) for k, part in enumerate(texts)]))
        index = SetIndex.of(found)
        missing = np.setdiff1d(gids, index.gids)
        if len(missing):
            ids = self.staged_rows(WANTED, days[np.isin(gids, missing[:5])], missing[:5])["doc_id"].to_list()
            raise ValueError(f'verify="exact": no text for {len(missing)} candidate documents, e.g. {ids}')
        self.scratch.write_bytes(SET_INDEX, index.to_bytes())

    def shingle_sets(self) -> ShingleSets:
        """The stored sets: the index, and reads from the part files (memory-mapped here, byte ranges on s3://)."""
        index = SetIndex.from_bytes(self.scratch.read_bytes(SET_INDEX))
        paths = [self.scratch.path(_sets_file(k)) for k in range(int(index.part.max(initial=-1)) + 1)]
        return ShingleSets(index, mapped_fetch(paths) if self.scratch.is_local else ranged_fetch(self.scratch.fs, paths))

    def propagate(self, tasks: Tasks) -> tuple[np.ndarray, np.ndarray, int]:
        """Components by min-label propagation, one task per edge file a round: every edge offers
        the smaller label of its two ends to both; labels then jump to their label's label. Stops
        when no edge changes a label: each component then carries the position of its first node.
        A task reads only the labels of its own file's nodes (`cc/labels-VVVV.npy`), not all of them."""
        ends = list(tasks(_edge_nodes_task, [(self, v) for v in self.ranges]))
        nodes = np.unique(np.concatenate([np.empty(0, np.int64), *ends]))
        for v, file_nodes in zip(self.ranges, ends):  # where each file's nodes stand among all of them
            self.scratch.write_bytes(f"cc/at-{v:04d}.npy", _npy(np.searchsorted(nodes, file_nodes)))
        del ends
        labels, rounds = np.arange(len(nodes)), 0
        while True:
            rounds += 1
            for v in self.ranges:
                self.scratch.write_bytes(f"cc/labels-{v:04d}.npy", _npy(labels[_load_npy(self.scratch, f"cc/at-{v:04d}.npy")]))
            offered = labels.copy()
            for at, label in tasks(_propagate_task, [(self, v) for v in self.ranges]):
                np.minimum.at(offered, at, label)
            while not np.array_equal(jumped := offered[offered], offered):
                offered = jumped
            if np.array_equal(offered, labels):
                return nodes, labels, rounds
            labels = offered

    def assemble(self, nodes: np.ndarray, labels: np.ndarray, tasks: Tasks) -> Clusters:
        """Step 5, with only integers per document in this process. The members' doc rows are staged
        by date (one task per part that holds some); one task per date, or per doc_id range of a
        date with over cfg.max_sort_rows members, orders its members by (doc_id, gid), which with
        the dates gives every member's place in the output, and writes them in that order.
        Representatives (a component's first member in that order) and cluster ids (their rank)
        follow here from arrays; one task per date that holds representatives sends each chunk the
        rows of those it names. Then one task per chunk of
        MEMBER_PAIRS_PER_TASK output rows writes them, with each member's Jaccard with its
        representative. Every staged row is read a fixed number of times, however the dates,
        chunks and clusters fall."""
        if not len(nodes):
            return Clusters.none(self.scratch)
        n = len(nodes)
        bounds = [(i, min(i + MEMBER_PAIRS_PER_TASK, n)) for i in range(0, n, MEMBER_PAIRS_PER_TASK)]  # output chunks
        days, samples = self.stage_doc_rows(nodes, MEMBERS, tasks)
        units = _order_units(days, samples, self.cfg.max_sort_rows)
        ordered = list(tasks(_order_task, [(self, u, *unit) for u, unit in enumerate(units)]))
        at = np.searchsorted(nodes, np.concatenate([np.empty(0, np.int64), *ordered]))  # the node of each output row
        unit_starts = np.cumsum([0] + [len(g) for g in ordered])
        del ordered
        rep_of, cluster_of, members_per_cluster = _representatives(labels, at)
        wanted = []  # (representative, chunk) for each chunk's distinct representatives
        with self.scratch.open(ASSEMBLY, "wb") as f:  # what the row tasks read, instead of task arguments held here
            for k, (start, stop) in enumerate(bounds):
                rep = rep_of[at[start:stop]]
                f.write(np.stack([nodes[rep], cluster_of[at[start:stop]]], axis=1).tobytes())
                named = np.unique(rep)
                wanted.append(np.stack([named, np.full(len(named), k)], axis=1))
        del rep_of, cluster_of, at
        self.send_representatives(np.concatenate(wanted), nodes, days, tasks)
        chunks = [(self, k, start, stop, _unit_slices(unit_starts, start, stop)) for k, (start, stop) in enumerate(bounds)]
        written = list(tasks(_member_rows_task, chunks))
        by_kind: dict[str, int] = {}
        for _, kinds, _ in written:
            for kind, count in kinds.items():
                by_kind[kind] = by_kind.get(kind, 0) + count
        sample = pl.concat([s for _, _, s in written])
        near = sample.filter(pl.col("duplicate_of").is_not_null()).sort("est_jaccard", "doc_id").head(SAMPLE_PAIRS)
        their_reps = sample.filter(pl.col("duplicate_of").is_null() & pl.col("doc_id").is_in(near["duplicate_of"].implode()))
        return Clusters(self.scratch, [_out_file(k) for k in range(len(bounds))] if self.sink is None else [],
                        [(start, rows) for (start, _), (rows, _, _) in zip(bounds, written)], n, len(members_per_cluster),
                        by_kind, _sizes(members_per_cluster), pl.concat([near, their_reps.unique(maintain_order=True)]))

    def send_representatives(self, wanted: np.ndarray, nodes: np.ndarray, days: np.ndarray, tasks: Tasks) -> None:
        """The doc rows of the representatives each chunk names, `wanted` (node, chunk) pairs: one
        task per date that holds some reads that date's staged rows once and writes each chunk its own."""
        wanted = wanted[np.argsort(days[wanted[:, 0]], kind="stable")]
        day_of = days[wanted[:, 0]]
        cuts = np.flatnonzero(np.diff(day_of)) + 1
        rep_days = [int(day_of[i]) for i in np.concatenate([[0], cuts])]
        for day, of_day in zip(rep_days, np.split(wanted, cuts)):
            self.scratch.write_bytes(_wanted_file(day), _npy(np.stack([nodes[of_day[:, 0]], of_day[:, 1]], axis=1)))
        for _ in tasks(_rep_rows_task, [(self, day) for day in rep_days]):
            pass


def _representatives(labels: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For nodes with component `labels`, `at` being the node of each output row: each node's
    representative (the node of its component's first output row), its cluster id (the rank of
    that row among the representatives' rows), and the member count of each cluster (by component)."""
    n = len(labels)
    order = np.empty(n, dtype=np.int64)
    order[at] = np.arange(n)
    by_comp = np.lexsort((order, labels))  # members of a component together, representative first
    first = np.ones(n, dtype=bool)
    first[1:] = labels[by_comp[1:]] != labels[by_comp[:-1]]
    reps = by_comp[first]
    rank = np.empty(len(reps), dtype=np.int64)
    rank[np.argsort(order[reps])] = np.arange(len(reps))
    del order
    comp = np.cumsum(first) - 1
    del first
    rep_of, cluster_of = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    rep_of[by_comp], cluster_of[by_comp] = reps[comp], rank[comp]
    return rep_of, cluster_of, np.bincount(comp)


@dataclass(frozen=True)
class Clusters:
    """A run's clusters (CLUSTER_SCHEMA rows) in output order (date, doc_id), as `parts` (first output
    row, rows) that its tasks wrote: to the run's sink (a commit adopts them, `adopt_into`), or with
    no sink to `files` in the scratch (`frames` reads them); and what the metadata shows: rows,
    clusters, duplicates by kind, cluster sizes (size, n_clusters), and `sample`: the SAMPLE_PAIRS
    duplicates nearest the threshold with their representatives' rows."""

    scratch: Scratch
    files: list[str]
    parts: list[tuple[int, int]]
    rows: int
    clusters: int
    by_kind: dict[str, int]
    sizes: pl.DataFrame
    sample: pl.DataFrame

    @classmethod
    def none(cls, scratch: Scratch) -> Clusters:
        return cls(scratch, [], [], 0, 0, {}, _sizes(np.empty(0, np.int64)), pl.DataFrame(schema=CLUSTER_SCHEMA))

    def adopt_into(self, output) -> None:
        """Name the parts the run's sink wrote in the commit's output (a `storage.CommitOutput`)."""
        for start, rows in self.parts:
            output.adopt(start, rows)

    def frames(self) -> Iterator[pl.DataFrame]:
        for f in self.files:
            yield self.scratch.scan([self.scratch.path(f)], CLUSTER_SCHEMA).collect()

    def frame(self) -> pl.DataFrame:
        return pl.concat([pl.DataFrame(schema=CLUSTER_SCHEMA), *self.frames()])


def _sizes(members_per_cluster: np.ndarray) -> pl.DataFrame:
    """How many clusters have 2, 3, ... members."""
    sizes = pl.DataFrame({"size": members_per_cluster}, schema={"size": pl.UInt32})
    return sizes.group_by("size").len("n_clusters").sort("size")


def _npy(a: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, a)
    return out.getvalue()


def shard_candidates(scratch: Scratch, shard: int, cfg: DedupCfg, k: int = 0, pieces: int = 1) -> tuple[pl.DataFrame, list]:
    """Step 2 for one shard (or its k-th of `pieces` key ranges): its distinct candidate pairs
    a < b (gids) and whether they share the exact key (PAIR_SCHEMA), leaving out the buckets over
    cfg.hot_bucket_rows members, returned as (band, gids in pair order) for the slice tasks."""
    files = scratch.glob(f"shards/{shard:04d}/*.parquet")
    where = [("key", ">=", k * 2**64 // pieces)] + ([("key", "<", (k + 1) * 2**64 // pieces)] if k < pieces - 1 else [])
    rows = scratch.read(files, where if pieces > 1 else ()) if files else pl.DataFrame()
    if rows.is_empty():
        return pl.DataFrame(schema=PAIR_SCHEMA), []
    rows = rows.sort("band", "key", "date", "doc_id", "gid", nulls_last=False)
    band, key, gid = (rows[c].to_numpy() for c in ("band", "key", "gid"))
    starts = np.flatnonzero(np.concatenate([[True], (band[1:] != band[:-1]) | (key[1:] != key[:-1])]))
    sizes = np.diff(np.append(starts, len(gid)))
    hot = sizes > cfg.hot_bucket_rows
    in_hot = np.repeat(hot, sizes)
    pairs = [np.empty((0, 3), dtype=np.int64)]
    for lag in range(1, min(cfg.window, len(gid) - 1) + 1):
        same = (band[lag:] == band[:-lag]) & (key[lag:] == key[:-lag]) & ~in_hot[lag:]
        exact = band[lag:][same] == EXACT_BAND
        pairs.append(np.stack([gid[:-lag][same], gid[lag:][same], exact], axis=1))
    cand = _pair_frame(np.concatenate(pairs)).group_by("a", "b").agg(pl.col("exact").any())
    return cand, [(int(band[s]), gid[s : s + n]) for s, n in zip(starts[hot], sizes[hot])]


def _pair_frame(pairs: np.ndarray) -> pl.DataFrame:
    """(gid, gid, exact) rows as PAIR_SCHEMA pairs, smaller gid first."""
    lo, hi = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    return pl.DataFrame({"a": lo, "b": hi, "exact": pairs[:, 2].astype(bool)}, schema=PAIR_SCHEMA)


def _write_pairs(run: Pipeline, unit: tuple, cand: pl.DataFrame) -> None:
    """A shard piece's or a slice's pairs, one file per gid range (by the smaller gid)."""
    by_range = cand.with_columns(run.range_of(pl.col("a")).alias("range")).partition_by("range", as_dict=True, include_key=False)
    for v in run.ranges:
        run.scratch.write_parquet(f"{_piece_dir(unit)}/range-{v:04d}.parquet", by_range.get((v,), pl.DataFrame(schema=PAIR_SCHEMA)))


def _shard_task(args) -> None:
    """Step 2 as a task: a shard piece's pairs, its hot buckets' gids, then its marker (which
    lists the hot buckets)."""
    run, piece = args
    cand, hot = shard_candidates(run.scratch, piece[0], run.cfg, piece[1], piece[2])
    _write_pairs(run, piece, cand)
    for i, (band, gids) in enumerate(hot):
        run.scratch.write_bytes(HotBucket(piece[0], piece[1], i, band, len(gids)).file, gids.astype(np.int64).tobytes())
    run.scratch.write_bytes(_marker(piece), json.dumps([[band, len(gids)] for band, gids in hot]).encode())


def _slice_task(args) -> None:
    """Step 2 for slice j of a hot bucket: members [j*S, (j+1)*S) (S = cfg.hot_bucket_rows), each
    paired with its next `window` members, the `window` after the slice read too; then its marker."""
    run, (bucket, j) = args
    size, window = run.cfg.hot_bucket_rows, run.cfg.window
    lo, hi = j * size, min((j + 1) * size, bucket.rows)
    end = min(hi + window, bucket.rows)
    gid = np.frombuffer(run.scratch.fs.cat_file(run.scratch.path(bucket.file), start=8 * lo, end=8 * end), dtype=np.int64)
    pairs = [np.empty((0, 3), dtype=np.int64)]
    for lag in range(1, min(window, len(gid) - 1) + 1):
        n = min(hi - lo, len(gid) - lag)
        pairs.append(np.stack([gid[:n], gid[lag : lag + n], np.full(n, bucket.band == EXACT_BAND)], axis=1))
    unit = _slice_unit(bucket, j)
    _write_pairs(run, unit, _pair_frame(np.concatenate(pairs)))
    run.scratch.write_bytes(_marker(unit), b"")


def _candidate_gids_task(args) -> np.ndarray:
    run, v = args
    cand = run.candidates(v)
    return np.unique(np.concatenate([cand["a"].to_numpy(), cand["b"].to_numpy()]))


def _verify_task(args) -> PairCounts:
    """Step 3 as a task: range v's verified pairs to edges/range-v.parquet."""
    run, v = args
    edges, counts = verify_pairs(run.candidates(v), run.signatures(), run.cfg, run.shingle_sets() if run.cfg.verify == "exact" else None)
    run.scratch.write_parquet(f"edges/range-{v:04d}.parquet", edges)
    return counts


def verify_pairs(cand: pl.DataFrame, sig: Signatures, cfg: DedupCfg, sets: ShingleSets | None = None) -> tuple[pl.DataFrame, PairCounts]:
    """Step 3: exact-key pairs, and the other candidates whose Jaccard reaches the threshold,
    estimated from `sig` or, when `sets` are given, exact."""
    near = cand.filter(~pl.col("exact"))
    a, b = near["a"].to_numpy(), near["b"].to_numpy()
    est_ok = est_jaccard(sig, a, b) >= cfg.threshold
    ok = est_ok if sets is None else sets.jaccard(a, b) >= cfg.threshold
    edges = pl.concat([cand.filter("exact"), near.filter(pl.Series(ok))]).select("a", "b")
    counts = PairCounts(cand.height, edges.height, int((est_ok & ~ok).sum()), int((ok & ~est_ok).sum()))
    return edges, counts


def _stage_rows_task(args) -> tuple[np.ndarray, pl.DataFrame]:
    """The doc rows of part p whose gid is in `gids` to `folder`, by date, sorted by (doc_id, gid);
    each gid's day, and every SAMPLE_EVERY-th doc_id of each date's rows."""
    run, p, gids, folder = args
    files = run.scratch.glob(f"docs/part-{p:05d}-*.parquet")
    rows = run.scratch.scan(files, DOC_SCHEMA).filter(pl.col("gid").is_in(pl.Series(gids).implode())).collect().cast(DOC_SCHEMA)
    if rows.height != len(gids):
        raise ValueError(f"dedup scratch part {p}: {len(gids)} documents asked for, {rows.height} found in {run.scratch.root}")
    days, samples = _day(rows["date"]), []
    for (day,), of_day in rows.with_columns(day=days).partition_by("day", as_dict=True, include_key=False).items():
        of_day = of_day.sort("doc_id", "gid", nulls_last=False)
        run.scratch.write_parquet(f"{folder}/{_day_dir(day)}/part-{p:05d}.parquet", of_day, ROW_GROUP_ROWS)
        samples.append(of_day.select(pl.lit(day, pl.Int32).alias("day"), "doc_id").gather_every(SAMPLE_EVERY))
    return days.to_numpy(), pl.concat([pl.DataFrame(schema=SAMPLE_SCHEMA), *samples])


def _day(dates: pl.Series) -> pl.Series:
    """Dates as days since 1970 (Int32), NULL_DAY for none: sorted like the dates, nulls first."""
    return dates.cast(pl.Int32).fill_null(NULL_DAY).alias("day")


def _day_dir(day: int) -> str:
    return "date=null" if day == NULL_DAY else f"date={dt.date(1970, 1, 1) + dt.timedelta(days=int(day))}"


def _order_units(days: np.ndarray, samples: pl.DataFrame, max_rows: int) -> list[tuple[int, str | None, str | None]]:
    """(day, lo, hi) of each order task, in output order: a day with up to `max_rows` members is one
    unit, a larger one is cut at doc_ids of its samples into ranges [lo, hi) of about that many."""
    units = []
    for day, count in zip(*np.unique(days, return_counts=True)):
        cuts = []
        if count > max_rows:
            ids = samples.filter(pl.col("day") == day)["doc_id"].drop_nulls().sort()
            pieces = -(-int(count) // max_rows)
            cuts = list(dict.fromkeys(ids[len(ids) * j // pieces] for j in range(1, pieces)))
        bounds = [None, *cuts, None]
        units += [(int(day), lo, hi) for lo, hi in zip(bounds, bounds[1:])]
    return units


def _order_task(args) -> np.ndarray:
    """Unit u's members (day, doc_ids in [lo, hi)) sorted by (doc_id, gid), their place in the
    output: their rows to `_unit_file(u)`, their gids back in that order."""
    run, u, day, lo, hi = args
    rows = run.staged_rows(MEMBERS, [day], doc_ids=(lo, hi)).sort("doc_id", "gid", nulls_last=False)
    run.scratch.write_parquet(_unit_file(u), rows, ROW_GROUP_ROWS)
    return rows["gid"].to_numpy()


def _unit_file(u: int) -> str:
    return f"clusters/sorted/unit-{u:05d}.parquet"


def _unit_slices(unit_starts: np.ndarray, start: int, stop: int) -> list[tuple[int, int, int]]:
    """(unit, first row, end row) within the unit files of output rows [start, stop)."""
    first, last = np.searchsorted(unit_starts, start, side="right") - 1, np.searchsorted(unit_starts, stop, side="left")
    return [(u, max(start, int(unit_starts[u])) - int(unit_starts[u]), min(stop, int(unit_starts[u + 1])) - int(unit_starts[u]))
            for u in range(first, last) if unit_starts[u + 1] > unit_starts[u]]


def _rep_rows_task(args) -> None:
    """One day's representatives, sent to the chunks that name them: its `_wanted_file` lists
    (gid, chunk) pairs; the day's staged rows are read once."""
    run, day = args
    wanted = _load_npy(run.scratch, _wanted_file(day))
    rows = run.staged_rows(MEMBERS, [day], np.unique(wanted[:, 0]))
    sent = pl.DataFrame({"gid": wanted[:, 0], "chunk": wanted[:, 1]}).join(rows, on="gid", how="left", maintain_order="left")
    for (k,), of_chunk in sent.partition_by("chunk", as_dict=True, include_key=False).items():
        run.scratch.write_parquet(_reps_file(int(k), day), of_chunk)


def _wanted_file(day: int) -> str:
    return f"clusters/wanted/{_day_dir(day)}.npy"


def _reps_file(k: int, day: int) -> str:
    return f"clusters/reps/{k:05d}/{_day_dir(day)}.parquet"


CLUSTER_ROWS = "clusters"  # the output a run's sink writes the clusters' rows to


def _out_file(k: int) -> str:
    return f"clusters/chunk-{k:05d}.parquet"


def _member_rows_task(args) -> tuple[int, dict[str, int], pl.DataFrame]:
    """Output chunk k: the CLUSTER_SCHEMA rows of output rows [start, stop) (the members, their
    representatives and cluster ids, from ASSEMBLY), with each member's Jaccard with its
    representative: estimated, and of the shingle sets with verify == "exact". Returns its row
    count, its duplicates by kind, and its SAMPLE_PAIRS duplicates nearest the threshold with their
    representatives' rows."""
    run, k, start, stop, slices = args
    at = run.scratch.fs.cat_file(run.scratch.path(ASSEMBLY), start=8 * ASSEMBLY_COLUMNS * start, end=8 * ASSEMBLY_COLUMNS * stop)
    rep_gids, cluster_ids = np.frombuffer(at, dtype=np.int64).reshape(-1, ASSEMBLY_COLUMNS).T
    rows = pl.concat([pl.DataFrame(schema=DOC_SCHEMA), *(run.scratch.read_rows(_unit_file(u), lo, hi) for u, lo, hi in slices)])
    if rows.height != stop - start:
        raise ValueError(f"dedup scratch chunk {k}: {stop - start} rows expected, {rows.height} found in {run.scratch.root}")
    reps = run.scratch.scan(run.scratch.glob(f"clusters/reps/{k:05d}/*.parquet"), DOC_SCHEMA).collect()
    rep = reps.select(rep_gid="gid", representative="doc_id", rep_key="exact_key", rep_date="date", rep_source="source")
    members = rows.with_columns(pl.Series("rep_gid", rep_gids), pl.Series("cluster_id", cluster_ids))
    members = members.join(rep, on="rep_gid", how="left", maintain_order="left")
    gids = rows["gid"].to_numpy()
    exact = run.shingle_sets().jaccard(gids, rep_gids) if run.cfg.verify == "exact" else None
    is_dup = pl.col("gid") != pl.col("rep_gid")
    kind = pl.when(pl.col("exact_key") == pl.col("rep_key")).then(pl.lit("exact")).otherwise(pl.lit("near"))
    out = members.with_columns(
        pl.Series("est_jaccard", est_jaccard(run.signatures(), gids, rep_gids)),
        pl.Series("exact_jaccard", exact, pl.Float64) if exact is not None else pl.lit(None, pl.Float64).alias("exact_jaccard"),
        pl.when(is_dup).then(pl.col("representative")).alias("duplicate_of"),
        pl.when(is_dup).then(kind).alias("kind"),
    )
    if run.sink is None:
        run.scratch.write_parquet(_out_file(k), out.select(CLUSTER_SCHEMA.keys()))
    else:  # a part of the commit, named by its first output row
        run.sink.write(start, {CLUSTER_ROWS: out.select(CLUSTER_SCHEMA.keys())})
    near = out.filter(is_dup).sort("est_jaccard", "doc_id").head(SAMPLE_PAIRS)
    their_reps = near.select(doc_id="representative", date="rep_date", source="rep_source").unique(maintain_order=True)
    sample = pl.concat([near.select(CLUSTER_SCHEMA.keys()), their_reps], how="diagonal_relaxed").cast(CLUSTER_SCHEMA)
    return out.height, dict(out.filter(is_dup).group_by("kind").len().iter_rows()), sample.select(CLUSTER_SCHEMA.keys())


def _components_task(run: Pipeline) -> tuple[np.ndarray, np.ndarray]:
    """Step 4 in one task: (nodes, component label of each) over every edge file."""
    edges = pl.concat([run.edges(v) for v in run.ranges])
    a, b = edges["a"].to_numpy(), edges["b"].to_numpy()
    nodes, local = np.unique(np.concatenate([a, b]), return_inverse=True)
    if not len(nodes):
        return nodes, np.empty(0, dtype=np.int32)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (local[: len(a)], local[len(a) :])), shape=(len(nodes),) * 2)
    return nodes, connected_components(graph, directed=False)[1]


def _edge_nodes_task(args) -> np.ndarray:
    run, v = args
    return _file_nodes(run.edges(v))


def _file_nodes(edges: pl.DataFrame) -> np.ndarray:
    """The sorted distinct nodes of one edge file: what `cc/at-VVVV.npy` and `cc/labels-VVVV.npy` index."""
    return np.unique(np.concatenate([edges["a"].to_numpy(), edges["b"].to_numpy()]))


def _propagate_task(args) -> tuple[np.ndarray, np.ndarray]:
    """One edge file's offers in a propagation round: (node position, smallest label offered) of
    each node whose label the offers lower, so a result is at most one entry per node. It reads
    its file's edges, and the positions and labels of that file's nodes only."""
    run, v = args
    edges = run.edges(v)
    nodes = _file_nodes(edges)
    where, labels = (_load_npy(run.scratch, f"cc/{n}-{v:04d}.npy") for n in ("at", "labels"))
    pa, pb = np.searchsorted(nodes, edges["a"].to_numpy()), np.searchsorted(nodes, edges["b"].to_numpy())
    low = np.minimum(labels[pa], labels[pb])
    at, offer = np.concatenate([pa, pb]), np.concatenate([low, low])
    lower = offer < labels[at]
    at, offer = at[lower], offer[lower]
    order = np.lexsort((offer, at))
    first = np.ones(len(order), dtype=bool)
    first[1:] = np.diff(at[order]) != 0
    return where[at[order][first]], offer[order][first]


def _load_npy(scratch: Scratch, rel: str) -> np.ndarray:
    return np.load(io.BytesIO(scratch.read_bytes(rel)))


def _sets_file(k: int) -> str:
    return f"shingles/part-{k:05d}.u32"


def _shingle_task(args) -> tuple[np.ndarray, np.ndarray]:
    """The shingle sets of the wanted documents that text part k holds, to their own scratch file:
    (gids, set sizes) in the order written."""
    run, k, part, threads = args
    date = getattr(part, "date", None)
    wanted = run.staged_rows(WANTED, _day(pl.Series([dt.date.fromisoformat(date)])).to_list() if date else None)
    with run.scratch.open(_sets_file(k), "wb") as out:
        return write_shingle_sets(_matched_texts(wanted, part), run.cfg, out, threads)


def _matched_texts(wanted: pl.DataFrame, part: TextPart) -> Iterator[tuple[np.ndarray, pl.Series]]:
    """(gids, texts) of the rows a text part yields for the wanted documents."""
    for frame in part(wanted.select(ID_COLUMNS)):
        on = [c for c in ID_COLUMNS if c in frame.columns]
        keys = frame.select(*(pl.col(c).cast(CLUSTER_SCHEMA[c]) for c in on), "text")
        matched = keys.join(wanted.select("gid", *on), on=on, nulls_equal=True)
        if matched.height:
            yield matched["gid"].to_numpy(), matched["text"]


def scratch_prefix(name: str, source: str, inputs: list[PartitionData], cfg: DedupCfg) -> str:
    """Store-relative scratch of one clusters partition: `_scratch/dedup/{name}/source={source}/{key}`,
    key = a hash of the inputs' committed versions and the config, so a re-run of the same
    inputs finds what an earlier try finished, and changed inputs never reuse it."""
    versions = [(d.path, d.version or d.store.version(d.path)) for d in inputs]
    key = hashlib.sha1(json.dumps([versions, repr(cfg)]).encode()).hexdigest()[:16]
    return f"_scratch/dedup/{name}/source={source}/{key}"
