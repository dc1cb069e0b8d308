"""Where partitions live: Parquet under one root (a local folder or s3://bucket/prefix), via fsspec.

Layout (Hive-style folders; `CorpusStore.dataset` reads a whole asset as one pyarrow dataset):
    {root}/raw/{source}/{YYYY-MM-DD}/*.jsonl[.gz|.zst] | *.parquet     raw input contract
    {root}/{asset}/{dim}={value}/.../part-{version}[-{slice}].parquet  a partition version's files
    {root}/{asset}/{dim}={value}/.../_manifest.json                    which version is current

A partition is named by its logical path `{asset}/{dims}/data.parquet` (`partition_path`); what it
holds is decided by the folder's `_manifest.json`: the current version and its files, in row order.
A version is one file written by the committing process, or one file per slice of the input written
by the workers that mapped it (`PartSink`: engine `ray` writes from the workers, so no row passes
through the Dagster step). Every file of a version is written whole before the commit (hidden
`.inflight-*` first on a local disk, one upload on S3) and is read only once a manifest names it;
the commit is ONE manifest write: the first output's manifest lists all outputs, the others' manifests only say
"follow the first". So the kept and dropped halves of a stage appear together or not at all, on
S3 (one PUT) as on a local disk (one rename). After the commit, older versions are deleted, so
a folder holds one version. Re-running replaces a partition: idempotent.
A folder written before manifests existed (a bare `data.parquet`) is still read as is.
"""
from __future__ import annotations

import copy
import datetime as dt
import functools
import io
import json
import operator
import os
import posixpath
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = str(REPO_ROOT / ".corpus")
# Raw file names the reader takes, compared in lower case: JSON lines, plain or compressed, and Parquet.
RAW_SUFFIXES = tuple(f"{b}{c}" for b in (".jsonl", ".ndjson", ".json") for c in ("", ".gz", ".zst", ".bz2", ".xz")) + (".parquet",)
DATA_FILE = "data.parquet"
MANIFEST = "_manifest.json"
ROW_GROUP_ROWS = 8_192  # fixed row groups: a file's bytes depend on its rows only, not on how they were batched
STALE_INFLIGHT_SECONDS = 3_600  # `.inflight-*` files of dead writers older than this are removed
LEASE = "_lease.json"  # in a scratch folder: {"written_at": unix time}, rewritten while a run holds the folder
COMPARE = {"==": operator.eq, ">=": operator.ge, "<": operator.lt}  # the operators of a row filter's conditions
Where = Sequence[tuple[str, str, object]]  # a row filter: (column, op, value) conditions a row meets all of


def new_version() -> str:
    """A partition version: sortable by the time its writer started, unique across writers."""
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"


class StorageError(RuntimeError):
    """A storage root that cannot be used, or a file that cannot be read."""


class ConcurrentCommitError(StorageError):
    """A newer run committed the partition while this one was writing; this run's files are removed."""


def corpus_root() -> str:
    """The `CORPUS_ROOT` setting: a local folder (default `.corpus/` in the repo) or s3://bucket/prefix."""
    return os.environ.get("CORPUS_ROOT") or DEFAULT_ROOT


def s3_options_from_env() -> dict:
    """s3fs options from the standard AWS variables. Keys come from the environment, never from config."""
    client_kwargs = {}
    if os.environ.get("AWS_ENDPOINT_URL"):
        client_kwargs["endpoint_url"] = os.environ["AWS_ENDPOINT_URL"]
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        client_kwargs["region_name"] = region
    return {"client_kwargs": client_kwargs} if client_kwargs else {}


def _strip_protocol(url: str) -> tuple[str, str]:
    if "://" in url:
        protocol, rest = url.split("://", 1)
        return protocol, rest.rstrip("/")
    return "file", str(Path(url).expanduser().resolve())


@dataclass(frozen=True)
class RawFile:
    path: str  # without protocol
    size: int
    fingerprint: str  # changes when the file's content changes (size + mtime, or ETag on S3)


class CorpusStore:
    """One storage root. Paths passed in and out are relative to the root unless said otherwise."""

    def __init__(self, root: str | None = None, storage_options: Mapping | None = None):
        self.root_url = root or corpus_root()
        self.protocol, self.base = _strip_protocol(self.root_url)
        if self.protocol not in ("file", "s3", "memory"):
            raise StorageError(f"CORPUS_ROOT {self.root_url!r}: unsupported scheme {self.protocol!r} (use a folder or s3://)")
        options = dict(storage_options or (s3_options_from_env() if self.protocol == "s3" else {}))
        self.fs = fsspec.filesystem(self.protocol, **options)
        if self.protocol == "file":
            self.fs.makedirs(self.base, exist_ok=True)

    pin: str | None = None  # see pinned()

    def pinned(self, version: str | None) -> CorpusStore:
        """This store, reading `version` of every partition that has it (the outputs of one commit
        share it) and the current version of the others."""
        other = copy.copy(self)
        other.pin = version
        return other

    def __repr__(self) -> str:  # never show storage options: they may hold secrets
        return f"CorpusStore({self.root_url!r})"

    def abs(self, rel: str) -> str:
        return posixpath.join(self.base, rel)

    def url(self, rel: str) -> str:
        return f"{self.protocol}://{self.abs(rel)}" if self.protocol != "file" else self.abs(rel)

    # ---- asset partitions -------------------------------------------------------------------
    @staticmethod
    def partition_path(asset: str, dims: Mapping[str, str] | None = None) -> str:
        """`{asset}/{dim}={value}/.../data.parquet`, dims in a fixed order (source before date)."""
        order = sorted((dims or {}).items(), key=lambda kv: (kv[0] != "source", kv[0] != "recipe", kv[0]))
        return posixpath.join(asset, *(f"{k}={v}" for k, v in order), DATA_FILE)

    def exists(self, rel: str, version: str | None = None) -> bool:
        """Whether a file, or a committed partition (its logical `.../data.parquet` path), is there."""
        files = self.files(rel, version)
        return bool(files) and self.fs.exists(self.abs(files[0]))

    def delete(self, rel: str) -> None:
        if self.fs.exists(self.abs(rel)):
            self.fs.rm(self.abs(rel))

    def files(self, rel: str, version: str | None = None) -> list[str]:
        """The files that hold a partition, in row order: its manifest's current version (or `version`,
        for a check that validates what its own run wrote); a bare file path or a pre-manifest partition
        as is. [] where that version is gone (a newer run replaced it)."""
        return [f for f, _rows in self._layout(rel, version)]

    def _layout(self, rel: str, version: str | None = None) -> list[tuple[str, int | None]]:
        """(file, rows) of each file of a partition version, rows from the manifest (None where only a
        file's footer can say: a pinned version the manifest no longer names)."""
        folder, name = posixpath.split(rel)
        if name != DATA_FILE:
            return [(rel, None)]
        entry = self._manifest_entry(folder)
        wanted = version if version is not None else self.pin
        if wanted is not None and not (entry and entry["version"] == wanted):
            found = sorted(self.fs.glob(self.abs(posixpath.join(folder, f"part-{wanted}*.parquet"))))
            if found or version is not None:  # a pin of another folder's commit falls through to the current version
                return [(posixpath.relpath(f, self.base), None) for f in found]
        if entry:
            names = entry.get("files") or [entry["file"]]  # "file": a manifest written before versions had parts
            rows = entry.get("file_rows") or [entry["rows"]]
            return [(posixpath.join(folder, n), r) for n, r in zip(names, rows)]
        return [(rel, None)] if self.fs.exists(self.abs(rel)) else []

    def version(self, rel: str) -> str | None:
        """The committed version of a partition (None before its first commit)."""
        entry = self._manifest_entry(posixpath.dirname(rel))
        return entry["version"] if entry else None

    def _read_manifest(self, folder: str) -> dict | None:
        path = self.abs(posixpath.join(folder, MANIFEST))
        try:
            with self.fs.open(path, "rb") as f:
                return json.loads(f.read())
        except FileNotFoundError:
            return None

    def _manifest_entry(self, folder: str) -> dict | None:
        """{'version', 'files', 'file_rows', 'rows'} of the partition in `folder`, following a sibling's manifest."""
        manifest = self._read_manifest(folder)
        if manifest and "follow" in manifest:
            manifest = self._read_manifest(manifest["follow"])
        return (manifest or {}).get("outputs", {}).get(folder)

    def partitions(self, asset: str) -> list[tuple[dict[str, str], str]]:
        """Every committed partition of `asset`: (dims, logical path), sorted by path."""
        found = self.fs.glob(self.abs(f"{asset}/**/{MANIFEST}")) + self.fs.glob(self.abs(f"{asset}/**/{DATA_FILE}"))
        rels = sorted({posixpath.join(posixpath.relpath(posixpath.dirname(p), self.base), DATA_FILE) for p in found})
        out = []
        for rel in rels:
            if self.exists(rel):
                dims = dict(seg.split("=", 1) for seg in rel.split("/") if "=" in seg)
                out.append((dims, rel))
        return out

    def dataset(self, asset: str):
        """Every committed partition of `asset` as one pyarrow dataset with Hive partitioning.

        It lists the manifests' current files, so a failed run's leftover file is never read. The
        folder fields get the types the files give their own `source` / `date` columns. A bare
        `partitioning="hive"` reads `date=2026-11-21` as a string and clashes with the files' date32.
        """
        import pyarrow.dataset as ds

        partitions = self.partitions(asset)
        if not partitions:
            raise StorageError(f"{self.url(asset)}: no committed partition")
        files = [self.abs(f) for _dims, rel in partitions for f in self.files(rel)]
        with self.fs.open(files[0], "rb") as f:
            in_files = pq.read_schema(f)
        fields = [in_files.field(n) if n in in_files.names else pa.field(n, pa.string()) for n in partitions[0][0]]
        return ds.dataset(files, filesystem=self.fs, format="parquet", partition_base_dir=self.abs(asset),
                          partitioning=ds.partitioning(pa.schema(fields), flavor="hive"))

    @contextmanager
    def commit(self, outputs: Mapping[str, pa.Schema], run_id: str = "") -> Iterator[dict[str, CommitOutput]]:
        """Write several partitions (logical paths -> schema) and publish them together, or not at all.

        Yields one CommitOutput per output: frames written to it stream into one file, and part files
        that workers wrote for this version (`part_sink`) are adopted by slice. On a clean exit every
        file is in place, then ONE manifest write makes all of them current; on an error nothing changes.
        """
        rels = list(outputs)
        folders = [posixpath.dirname(r) for r in rels]
        version = new_version()
        written: dict[str, CommitOutput] = {}
        stage_error: BaseException | None = None
        try:
            with ExitStack() as stack:
                for rel, folder in zip(rels, folders):
                    written[rel] = CommitOutput(self, folder, outputs[rel], version, stack)
                try:
                    yield written
                except BaseException as exc:
                    stage_error = exc
                    raise
                for out in written.values():
                    out.close()
            self._publish(folders, {o.folder: o.layout() for o in written.values()}, version, run_id)
        except BaseException as exc:
            landed = self._committed(folders[0], version)
            if landed:  # the manifest PUT went through but its reply was lost: the commit stands
                self._collect_garbage(folders, version)
                return
            if landed is False:
                self._discard(posixpath.join(o.folder, name) for o in written.values() for name, _rows in o.layout())
            if exc is stage_error or isinstance(exc, StorageError) or not isinstance(exc, Exception):
                raise
            raise StorageError(
                f"commit of {', '.join(self.url(f) for f in folders)} failed while writing version {version}: {exc}; "
                "nothing was published, the previous version of every output stands; re-run once storage is back"
            ) from exc
        self._collect_garbage(folders, version)

    def _committed(self, head: str, version: str) -> bool | None:
        """Whether the head manifest names `version`; None when storage cannot say (it is down)."""
        try:
            entry = self._manifest_entry(head)
        except Exception:
            return None
        return bool(entry) and entry["version"] == version

    def _discard(self, paths: Iterable[str]) -> None:
        """Best effort: remove a failed commit's files (what is left, the next commit's GC removes)."""
        for path in paths:
            try:
                if self.fs.exists(self.abs(path)):
                    self.fs.rm(self.abs(path))
            except Exception:
                pass

    def _publish(self, folders: list[str], layouts: dict[str, list[tuple[str, int]]], version: str, run_id: str) -> None:
        head = folders[0]
        current = self._manifest_entry(head)
        if current and current["version"] > version:
            raise ConcurrentCommitError(f"{self.url(head)}: a newer run committed version {current['version']} while this "
                                        f"run wrote {version}; this run's files were removed (the newer data stands)")
        for folder in folders[1:]:  # constant content: the secondaries always follow the head
            follow = {"follow": head}
            if self._read_manifest(folder) != follow:
                self._write_json(posixpath.join(folder, MANIFEST), follow)
        manifest = {
            "version": version,
            "run_id": run_id,
            "committed_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "outputs": {f: {"version": version, "files": [n for n, _ in layouts[f]], "file_rows": [r for _, r in layouts[f]],
                            "rows": sum(r for _, r in layouts[f])} for f in folders},
        }
        self._write_json(posixpath.join(head, MANIFEST), manifest)

    def _write_json(self, rel: str, doc: dict) -> None:
        with self.atomic_open(rel) as f:
            f.write(json.dumps(doc, indent=1, sort_keys=True).encode())

    def _collect_garbage(self, folders: list[str], version: str) -> None:
        """Remove older versions, a pre-manifest `data.parquet`, and dead writers' `.inflight-*` files."""
        now = time.time()
        for folder in folders:
            for path, info in self.fs.find(self.abs(folder), maxdepth=1, detail=True).items():
                name = posixpath.basename(path)
                if name.startswith("part-") and name.endswith(".parquet") and name[5:5 + len(version)] < version:
                    self.fs.rm(path)
                elif name == DATA_FILE:
                    self.fs.rm(path)
                elif name.startswith(".inflight-") and now - _mtime(info, now) > STALE_INFLIGHT_SECONDS:
                    self.fs.rm(path)

    @contextmanager
    def atomic_open(self, rel: str) -> Iterator:
        """A binary file handle whose content appears at `rel` only if the block exits cleanly.

        On S3 an object appears whole when its PUT or multipart upload completes, never in part: it is
        written in place, and an error aborts the upload (a temporary key and its rename would cost a
        HEAD, a COPY and a DELETE more per file). A folder gets a hidden `.inflight-*` file, renamed."""
        final = self.abs(rel)
        if self.protocol == "s3":
            f = self.fs.open(final, "wb")
            try:
                yield f
            except BaseException:
                f.discard()  # abort the multipart upload, if one started
                f.closed = True  # close() would upload what is buffered
                raise
            f.close()
            return
        folder, name = posixpath.split(final)
        tmp = posixpath.join(folder, f".inflight-{uuid.uuid4().hex}-{name}.partial")  # never matches *.parquet
        self.fs.makedirs(folder, exist_ok=True)
        try:
            with self.fs.open(tmp, "wb") as f:
                yield f
            self.fs.mv(tmp, final)
        except BaseException:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
            raise

    @contextmanager
    def parquet_writer(self, rel: str, schema: pa.Schema) -> Iterator[BatchWriter]:
        """Stream frames into one zstd Parquet file (fixed-size row groups), published atomically. Lists
        of numbers (MinHash signatures, vectors) hold near-random values: they are not dictionary-encoded,
        which would cost time and bytes (100k signatures: written 2.3x faster, 13% smaller)."""
        if posixpath.basename(rel) == DATA_FILE:
            raise ValueError(f"{rel} is a partition: write it through CorpusStore.commit, which versions and publishes it")
        dictionary = _dictionary_columns(schema)
        with self.atomic_open(rel) as f:
            writer = pq.ParquetWriter(f, schema, compression="zstd", use_dictionary=dictionary)
            batch_writer = BatchWriter(writer, schema)
            try:
                yield batch_writer
                batch_writer.flush()
            finally:
                writer.close()

    def write_frame(self, rel: str, df: pl.DataFrame) -> None:
        """One frame to one path; a partition's logical path is committed as a new version."""
        if posixpath.basename(rel) == DATA_FILE:
            with self.commit({rel: df.to_arrow().schema}) as writers:
                writers[rel].write(df)
            return
        with self.atomic_open(rel) as f:
            df.write_parquet(f, compression="zstd")

    def write_bytes(self, rel: str, data: bytes) -> None:
        with self.atomic_open(rel) as f:
            f.write(data)

    def read_bytes(self, rel: str) -> bytes:
        """A plain file's bytes (a model, a record); a partition is read with `read` or `iter_batches`."""
        if posixpath.basename(rel) == DATA_FILE:
            raise ValueError(f"{rel} is a partition (one or more Parquet files): read it with read() or iter_batches()")
        with self.fs.open(self.abs(rel), "rb") as f:
            return f.read()

    def num_rows(self, rel: str, version: str | None = None) -> int:
        total = 0
        for path, rows in self._existing(rel, version):
            if rows is None:
                with self._open(rel, path, None) as pf:
                    rows = pf.metadata.num_rows
            total += rows
        return total

    def iter_batches(self, rel: str, columns: list[str] | None = None, batch_rows: int = 50_000,
                     version: str | None = None) -> Iterator[pl.DataFrame]:
        """Stream a partition in batches of exactly `batch_rows` rows (the last one shorter) across its
        files, one file open at a time: memory independent of the partition's size, and the batches
        of the local engine are the slices of engine `ray` however the files are cut."""
        pending, held = [], 0
        for pf in self.open_files(rel, columns, version):
            for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
                pending.append(batch)
                held += batch.num_rows
                while held >= batch_rows:
                    table = pa.Table.from_batches(pending)
                    yield pl.from_arrow(table.slice(0, batch_rows))
                    rest = table.slice(batch_rows)
                    pending, held = rest.to_batches(), rest.num_rows
        if held:
            yield pl.from_arrow(pa.Table.from_batches(pending))

    def read(self, rel: str, columns: list[str] | None = None, version: str | None = None, where: Where = ()) -> pl.DataFrame:
        """The partition's `columns`; with `where`, only the rows that meet it (`read_where`)."""
        if where:
            paths = [self.abs(path) for path, _rows in self._existing(rel, version)]
            return read_where(self.fs, paths, where, columns, what=self.url(rel))
        tables = [pf.read(columns=columns) for pf in self.open_files(rel, columns, version)]
        return pl.from_arrow(pa.concat_tables(tables) if len(tables) > 1 else tables[0])

    def read_rows(self, rel: str, start: int, stop: int, columns: list[str] | None = None,
                  version: str | None = None) -> pl.DataFrame:
        """Rows [start, stop) in partition order, opening only the files and reading only the row groups
        that hold them: how a distributed task reads its slice."""
        layout = self._existing(rel, version)
        frames, offset = [], 0
        for path, rows in layout:
            if offset >= stop:
                break
            if rows is not None and offset + rows <= start:  # before the slice: not even its footer is read
                offset += rows
                continue
            with self._open(rel, path, columns) as pf:
                rows = pf.metadata.num_rows if rows is None else rows
                if offset + rows > start:
                    frames.append(read_row_range(pf, max(start - offset, 0), min(stop - offset, rows), columns))
            offset += rows
        if not frames:  # an empty slice: the partition's columns, no rows
            with self._open(rel, layout[0][0], columns) as pf:
                return read_row_range(pf, 0, 0, columns)
        return pl.concat(frames) if len(frames) > 1 else frames[0]

    def schema(self, rel: str, version: str | None = None) -> dict[str, pl.DataType]:
        with self._open(rel, self._existing(rel, version)[0][0], None) as pf:
            return dict(pl.from_arrow(pf.schema_arrow.empty_table()).schema)

    def open_files(self, rel: str, columns: list[str] | None = None, version: str | None = None) -> Iterator[pq.ParquetFile]:
        """Each file of the partition, open in turn (closed when the next one opens), for readers that need
        a file's footer or row groups."""
        for path, _rows in self._existing(rel, version):
            with self._open(rel, path, columns) as pf:
                yield pf

    def _existing(self, rel: str, version: str | None) -> list[tuple[str, int | None]]:
        layout = self._layout(rel, version)
        if not layout:
            what = f"version {version} of {self.url(rel)} (replaced by a newer run?)" if version else self.url(rel)
            raise StorageError(f"partition file not found: {what}")
        return layout

    @contextmanager
    def _open(self, rel: str, path: str, columns: list[str] | None) -> Iterator[pq.ParquetFile]:
        """One open file of partition `rel` that holds `columns`; a partition written before its asset
        gained a column gets a message that says so."""
        try:
            f = self.fs.open(self.abs(path), "rb")
        except FileNotFoundError:
            raise StorageError(f"partition file not found: {self.url(path)} of {self.url(rel)} (replaced by a newer run?)") from None
        with f:
            pf = pq.ParquetFile(f)
            missing = [c for c in columns or () if c not in pf.schema_arrow.names]
            if missing:
                raise StorageError(f"partition {self.url(rel)} has no column {missing} (it has {pf.schema_arrow.names}): it was "
                                   "written by an older version of its asset; re-materialize that partition")
            yield pf

    def remove_stale(self, folder: str, keep: Iterable[str] = (), max_age_s: float = 6 * 3_600,
                     now: float | None = None) -> list[str]:
        """Remove the subfolders of `folder` (scratch of crashed runs) whose lease is older than
        `max_age_s`, except those in `keep`; returns their paths. A live run rewrites its lease
        (`LEASE`) every few minutes, so only a dead run's folder ages; a folder without a lease
        is judged by its newest file. Paths are relative to the root."""
        now = time.time() if now is None else now
        base = self.abs(folder)
        self.fs.invalidate_cache(base)  # other runs wrote there since this filesystem last listed it
        if not self.fs.isdir(base):
            return []
        kept = {posixpath.normpath(k) for k in keep}
        removed = []
        for child in sorted(self.fs.ls(base, detail=False)):
            rel = posixpath.relpath(child, self.base)
            if rel in kept or not self.fs.isdir(child) or now - self._written_at(child, now) <= max_age_s:
                continue
            self.fs.rm(child, recursive=True)
            removed.append(rel)
        return removed

    def _written_at(self, folder: str, now: float) -> float:
        """When the run that owns a scratch folder last showed it was alive: its lease's time,
        else its newest file's (-inf when it holds no file: nothing to lose)."""
        try:
            return float(json.loads(self.fs.cat_file(posixpath.join(folder, LEASE)))["written_at"])
        except FileNotFoundError:
            files = self.fs.find(folder, detail=True).values()
            return max((_mtime(info, now) for info in files), default=float("-inf"))

    # ---- raw input --------------------------------------------------------------------------
    def raw_files(
        self, source: str | None = None, date: str | None = None, skipped: list[str] | None = None
    ) -> dict[tuple[str, str], list[RawFile]]:
        """Raw files grouped by (source, date), following `raw/{source}/{YYYY-MM-DD}/file`.

        Files the reader does not take (other suffixes, hidden names, anything in a subfolder) are
        appended to `skipped` (paths), so callers can name them rather than drop them silently."""
        prefix = posixpath.join(self.base, "raw", *(p for p in (source, date) if p))
        if not self.fs.exists(prefix):
            return {}
        found: dict[tuple[str, str], list[RawFile]] = {}
        for path, info in sorted(self.fs.find(prefix, detail=True).items()):
            rel = posixpath.relpath(path, posixpath.join(self.base, "raw")).split("/")
            name = rel[-1]
            if len(rel) != 3 or name.startswith((".", "_")) or not name.lower().endswith(RAW_SUFFIXES):
                if skipped is not None:
                    skipped.append(path)
                continue
            stamp = info.get("ETag") or info.get("mtime") or info.get("LastModified") or ""
            fp = f"{info.get('size', 0)}:{stamp}"
            found.setdefault((rel[0], rel[1]), []).append(RawFile(path, int(info.get("size") or 0), fp))
        return found


@dataclass
class BatchWriter:
    """Appends polars frames to an open Parquet writer, cast to the asset's schema, in row groups
    of exactly ROW_GROUP_ROWS rows (the last one shorter): the same rows give the same bytes however
    they arrive (one engine's batches or another's)."""

    writer: pq.ParquetWriter
    schema: pa.Schema
    rows: int = 0
    _pending: list = field(default_factory=list)
    _pending_rows: int = 0

    def write(self, df: pl.DataFrame) -> None:
        if df.height == 0:
            return
        self._pending.append(df.select(self.schema.names).to_arrow().cast(self.schema))
        self._pending_rows += df.height
        self.rows += df.height
        if self._pending_rows >= ROW_GROUP_ROWS:
            table = pa.concat_tables(self._pending)
            full = (table.num_rows // ROW_GROUP_ROWS) * ROW_GROUP_ROWS
            self.writer.write_table(table.slice(0, full), row_group_size=ROW_GROUP_ROWS)
            rest = table.slice(full)
            self._pending, self._pending_rows = ([rest] if rest.num_rows else []), rest.num_rows

    def flush(self) -> None:
        if self._pending_rows:
            self.writer.write_table(pa.concat_tables(self._pending), row_group_size=ROW_GROUP_ROWS)
        self._pending, self._pending_rows = [], 0


class CommitOutput:
    """One output of a commit. `write` streams frames into the file this process writes (opened on the
    first rows); `adopt` names a part file a worker wrote for this version (`PartSink`). Its files, in
    row order: that file, then the parts by slice; a version with no rows at all gets one empty file,
    so every committed partition has a schema to read."""

    def __init__(self, store: CorpusStore, folder: str, schema: pa.Schema, version: str, stack: ExitStack):
        self.store, self.folder, self.schema, self.version, self._stack = store, folder, schema, version, stack
        self._writer: BatchWriter | None = None
        self._parts: dict[int, int] = {}

    @property
    def rows(self) -> int:
        return (self._writer.rows if self._writer else 0) + sum(self._parts.values())

    def write(self, df: pl.DataFrame) -> None:
        if df.height == 0:
            return
        if self._writer is None:
            self._open()
        self._writer.write(df)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def adopt(self, key: int, rows: int) -> None:
        """The part file of slice `key` that a `PartSink` wrote, with its rows (0: it wrote none)."""
        if rows:
            self._parts[key] = rows

    def close(self) -> None:
        if self._writer is None and not self._parts:
            self._open()  # no rows: an empty file that carries the schema

    def layout(self) -> list[tuple[str, int]]:
        own = [(_part_name(self.version), self._writer.rows)] if self._writer else []
        return own + [(_part_name(self.version, key), rows) for key, rows in sorted(self._parts.items())]

    def _open(self) -> None:
        self._writer = self._stack.enter_context(
            self.store.parquet_writer(posixpath.join(self.folder, _part_name(self.version)), self.schema))


@dataclass(frozen=True)
class PartSink:
    """Where the process that mapped a slice writes that slice's rows of a commit's outputs: one part file
    per output, named by the commit's version and the slice's first row, so a retried task rewrites the
    same file. A part is read only once the commit's manifest names it; a crashed run's parts are never
    read and the next commit of the partition removes them. Picklable: engine `ray` ships it to workers."""

    store: CorpusStore
    outputs: Mapping[str, tuple[str, pa.Schema]]  # name -> (partition folder, schema)
    version: str

    def write(self, key: int, frames: Mapping[str, pl.DataFrame]) -> dict[str, int]:
        """Write each named frame's rows as part `key` of its output; the rows written, by name."""
        for name, df in frames.items():
            if df.height:
                folder, schema = self.outputs[name]
                with self.store.parquet_writer(posixpath.join(folder, _part_name(self.version, key)), schema) as writer:
                    writer.write(df)
        return {name: df.height for name, df in frames.items()}


def part_sink(outputs: Mapping[str, CommitOutput]) -> PartSink:
    """A sink that writes parts of these outputs of one commit (keyed as the caller keys them)."""
    first = next(iter(outputs.values()))
    return PartSink(first.store, {name: (o.folder, o.schema) for name, o in outputs.items()}, first.version)


def read_row_range(pf: pq.ParquetFile, start: int, stop: int, columns: list[str] | None = None) -> pl.DataFrame:
    """Rows [start, stop) of an open Parquet file in file order, reading only the row groups that hold them."""
    meta, groups, first, offset = pf.metadata, [], None, 0
    for g in range(meta.num_row_groups):
        n = meta.row_group(g).num_rows
        if offset < stop and offset + n > start:
            groups.append(g)
            first = offset if first is None else first
        offset += n
    if not groups:
        return pl.from_arrow(pf.schema_arrow.empty_table()).select(columns or pl.all())
    return pl.from_arrow(pf.read_row_groups(groups, columns=columns).slice(start - first, stop - start))


def read_where(fs, paths: list[str], where: Where, columns: list[str] | None = None, what: str = "") -> pl.DataFrame:
    """The rows of the Parquet files `paths` (`what`, in messages) that meet every (column, op, value) of
    `where` (op in COMPARE), filtered as they stream: row groups whose statistics rule them out are
    never read, and the whole files are never held at once."""
    dataset = ds.dataset(paths, filesystem=fs, format="parquet")
    missing = sorted({*(columns or ()), *(c for c, _op, _v in where)} - set(dataset.schema.names))
    if missing:
        raise StorageError(f"{what or paths[0]} has no column {missing} (it has {dataset.schema.names}): it was written by an "
                           "older version of its asset; re-materialize that partition")
    tests = [COMPARE[op](pc.field(c), pa.scalar(v, dataset.schema.field(c).type)) for c, op, v in where]
    return pl.from_arrow(dataset.to_table(columns=columns, filter=functools.reduce(operator.and_, tests) if tests else None))


def _is_vector(t: pa.DataType) -> bool:
    """A list of numbers (fixed-size or not)."""
    lists = (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list)
    return any(is_list(t) for is_list in lists) and (pa.types.is_integer(t.value_type) or pa.types.is_floating(t.value_type))


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """The Parquet leaf columns (`tags.list.element`) of every field but the lists of numbers."""
    empty = io.BytesIO()
    pq.write_table(schema.empty_table(), empty)
    leaves = pq.ParquetFile(empty).schema
    vectors = [f.name for f in schema if _is_vector(f.type)]
    paths = [leaves.column(i).path for i in range(len(leaves))]
    return [p for p in paths if not any(p == v or p.startswith(v + ".") for v in vectors)]


def _part_name(version: str, key: int | None = None) -> str:
    """A version's own file, or its part `key`: the first row of its slice, or another key that sorts in row
    order (a raw file part's batch, `ingest.PART_BATCHES`)."""
    return f"part-{version}.parquet" if key is None else f"part-{version}-{key:012d}.parquet"


def _mtime(info: dict, default: float) -> float:
    stamp = info.get("mtime") or info.get("LastModified") or info.get("created")
    if isinstance(stamp, dt.datetime):
        return stamp.timestamp()
    return float(stamp) if stamp else default


def arrow_schema(schema: Mapping[str, pl.DataType]) -> pa.Schema:
    """The Arrow schema polars would write for `schema` (so every batch lands with the same types)."""
    return pl.DataFrame(schema=dict(schema)).to_arrow().schema


@dataclass(frozen=True)
class PartitionData:
    """A handle on one stored partition: stream it in batches, or read the columns you need.
    `version` pins one committed version (a check validating what its own run wrote); None = current."""

    store: CorpusStore
    path: str
    version: str | None = None

    def exists(self) -> bool:
        return self.store.exists(self.path, self.version)

    def require(self, what: str) -> PartitionData:
        if not self.exists():
            raise StorageError(f"{what} is not materialized yet (no file at {self.store.url(self.path)}); materialize it first")
        return self

    def pinned(self) -> PartitionData:
        """This handle with the version committed now, so later reads see the same data."""
        return PartitionData(self.store, self.path, self.version or self.store.version(self.path))

    @property
    def url(self) -> str:
        return self.store.url(self.path)

    @property
    def files(self) -> list[str]:
        """The files that hold this version, in row order (paths relative to the store's root)."""
        return self.store.files(self.path, self.version)

    @property
    def num_rows(self) -> int:
        return self.store.num_rows(self.path, self.version)

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return self.store.schema(self.path, self.version)

    def iter_batches(self, columns: list[str] | None = None, batch_rows: int = 50_000) -> Iterator[pl.DataFrame]:
        return self.store.iter_batches(self.path, columns, batch_rows, self.version)

    def read(self, columns: list[str] | None = None, where: Where = ()) -> pl.DataFrame:
        return self.store.read(self.path, columns, self.version, where)

    def open_files(self, columns: list[str] | None = None) -> Iterator[pq.ParquetFile]:
        """Each file open in turn, for readers that need its footer or row groups."""
        return self.store.open_files(self.path, columns, self.version)

    def read_rows(self, start: int, stop: int, columns: list[str] | None = None) -> pl.DataFrame:
        """Rows [start, stop) in partition order, reading only the row groups that hold them: how a
        distributed task reads its slice."""
        return self.store.read_rows(self.path, start, stop, columns, self.version)


def seed_raw_library(store: CorpusStore, folder: str | Path) -> list[str]:
    """Copy a local library laid out as {source}/{YYYY-MM-DD}/files into {root}/raw/ (idempotent)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StorageError(f"sample library not found: {folder}")
    copied = []
    files = (p for p in folder.glob("*/*/*") if p.is_file() and not p.name.startswith((".", "_")))
    for path in sorted(p for p in files if p.name.endswith(RAW_SUFFIXES)):
        rel = posixpath.join("raw", *path.relative_to(folder).parts)
        target = store.abs(rel)
        if store.fs.exists(target) and store.fs.info(target).get("size") == path.stat().st_size:
            continue  # same file already there: do not touch it, so the sensor sees no change
        store.write_bytes(rel, path.read_bytes())
        copied.append(rel)
    return copied
