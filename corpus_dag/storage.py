"""Where partitions live: Parquet under one root (a local folder or s3://bucket/prefix), via fsspec.

Layout (Hive-style, so Spark/DuckDB/polars can read a whole asset as one dataset):
    {root}/raw/{source}/{YYYY-MM-DD}/*.jsonl[.gz|.zst] | *.parquet     raw input contract
    {root}/{asset}/{dim}={value}/.../data.parquet                       one file per partition

Every write goes to a hidden `.inflight-*` file beside the target and is moved into place only
after the writer closed cleanly, so a crashed run never leaves a partial file at the final path
(pyarrow datasets and this module ignore dot-files). On S3 the move is a server-side copy, which
publishes the object atomically. Re-writing a partition replaces it: runs are idempotent.
"""
from __future__ import annotations

import os
import posixpath
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = str(REPO_ROOT / ".corpus")
# Raw file names the reader takes, compared in lower case: JSON lines, plain or compressed, and Parquet.
RAW_SUFFIXES = tuple(f"{b}{c}" for b in (".jsonl", ".ndjson", ".json") for c in ("", ".gz", ".zst", ".bz2", ".xz")) + (".parquet",)
DATA_FILE = "data.parquet"


class StorageError(RuntimeError):
    """A storage root that cannot be used, or a file that cannot be read."""


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

    def exists(self, rel: str) -> bool:
        return self.fs.exists(self.abs(rel))

    def delete(self, rel: str) -> None:
        if self.fs.exists(self.abs(rel)):
            self.fs.rm(self.abs(rel))

    @contextmanager
    def atomic_open(self, rel: str) -> Iterator:
        """A binary file handle whose content appears at `rel` only if the block exits cleanly."""
        final = self.abs(rel)
        folder, name = posixpath.split(final)
        tmp = posixpath.join(folder, f".inflight-{uuid.uuid4().hex}-{name}")
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
        """Stream frames into one zstd Parquet file, published atomically when the block ends."""
        with self.atomic_open(rel) as f:
            writer = pq.ParquetWriter(f, schema, compression="zstd")
            try:
                yield BatchWriter(writer, schema)
            finally:
                writer.close()

    def write_frame(self, rel: str, df: pl.DataFrame) -> None:
        with self.atomic_open(rel) as f:
            df.write_parquet(f, compression="zstd")

    def write_bytes(self, rel: str, data: bytes) -> None:
        with self.atomic_open(rel) as f:
            f.write(data)

    def read_bytes(self, rel: str) -> bytes:
        with self.fs.open(self.abs(rel), "rb") as f:
            return f.read()

    def num_rows(self, rel: str) -> int:
        with self._parquet(rel, None) as pf:
            return pf.metadata.num_rows

    def iter_batches(self, rel: str, columns: list[str] | None = None, batch_rows: int = 50_000) -> Iterator[pl.DataFrame]:
        """Stream a partition in bounded batches (memory independent of the partition's size)."""
        with self._parquet(rel, columns) as pf:
            for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
                yield pl.from_arrow(batch)

    def read(self, rel: str, columns: list[str] | None = None) -> pl.DataFrame:
        with self._parquet(rel, columns) as pf:
            return pl.from_arrow(pf.read(columns=columns))

    @contextmanager
    def _parquet(self, rel: str, columns: list[str] | None) -> Iterator[pq.ParquetFile]:
        """An open partition file that holds `columns`; a partition written before its asset gained a
        column gets a message that says so."""
        if not self.exists(rel):
            raise StorageError(f"partition file not found: {self.url(rel)}")
        with self.fs.open(self.abs(rel), "rb") as f:
            pf = pq.ParquetFile(f)
            missing = [c for c in columns or () if c not in pf.schema_arrow.names]
            if missing:
                raise StorageError(f"partition {self.url(rel)} has no column {missing} (it has {pf.schema_arrow.names}): it was "
                                   "written by an older version of its asset; re-materialize that partition")
            yield pf

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
    """Appends polars frames to an open Parquet writer, cast to the asset's schema."""

    writer: pq.ParquetWriter
    schema: pa.Schema
    rows: int = 0

    def write(self, df: pl.DataFrame) -> None:
        if df.height == 0:
            return
        table = df.select(self.schema.names).to_arrow().cast(self.schema)
        self.writer.write_table(table)
        self.rows += df.height

    def write_all(self, frames: Iterable[pl.DataFrame]) -> None:
        for df in frames:
            self.write(df)


def arrow_schema(schema: Mapping[str, pl.DataType]) -> pa.Schema:
    """The Arrow schema polars would write for `schema` (so every batch lands with the same types)."""
    return pl.DataFrame(schema=dict(schema)).to_arrow().schema


@dataclass(frozen=True)
class PartitionData:
    """A handle on one stored partition: stream it in batches, or read the columns you need."""

    store: CorpusStore
    path: str

    def exists(self) -> bool:
        return self.store.exists(self.path)

    def require(self, what: str) -> PartitionData:
        if not self.exists():
            raise StorageError(f"{what} is not materialized yet (no file at {self.store.url(self.path)}); materialize it first")
        return self

    @property
    def url(self) -> str:
        return self.store.url(self.path)

    @property
    def num_rows(self) -> int:
        return self.store.num_rows(self.path)

    def iter_batches(self, columns: list[str] | None = None, batch_rows: int = 50_000) -> Iterator[pl.DataFrame]:
        return self.store.iter_batches(self.path, columns, batch_rows)

    def read(self, columns: list[str] | None = None) -> pl.DataFrame:
        return self.store.read(self.path, columns)


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
