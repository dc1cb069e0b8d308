"""Raw files -> `raw_documents` rows and `rejected_documents` rows, streamed in bounded batches.

Input contract: `{root}/raw/{source}/{YYYY-MM-DD}/` holds `.jsonl`, `.jsonl.gz`, `.jsonl.zst` or
`.parquet` files. A record needs `text`; `id`, `title`, `url` are optional; every other field is
kept in `meta` as a JSON string. A bad record never fails the run: it becomes a rejected row with a
reason, the file and the line. A missing or unreadable file is an error that names the file.
"""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import posixpath
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from corpus_dag.accounting import Split

RAW_DOCUMENTS_SCHEMA = {
    "doc_id": pl.String,
    "source": pl.String,
    "date": pl.Date,
    "title": pl.String,
    "text": pl.String,
    "url": pl.String,
    "hash": pl.String,
    "n_chars": pl.Int64,
    "meta": pl.String,
}
REJECTED_DOCUMENTS_SCHEMA = {
    "source": pl.String,
    "date": pl.Date,
    "file": pl.String,
    "line": pl.Int64,
    "reason": pl.String,
    "snippet": pl.String,
}
KNOWN_FIELDS = ("text", "id", "title", "url")
UNREADABLE = (OSError, EOFError, zlib.error, zstandard.ZstdError, pa.ArrowException)


class RawFileError(RuntimeError):
    """A raw file that cannot be opened or decoded at all (names the file)."""


@dataclass(frozen=True)
class IngestCfg:
    """batch_rows/batch_chars bound memory; max_chars rejects oversized records."""

    max_chars: int = 2_000_000
    batch_rows: int = 10_000
    batch_chars: int = 8_000_000
    snippet_chars: int = 200


def _open_text_lines(fs, path: str) -> Iterator[bytes]:
    raw = fs.open(path, "rb")
    if path.endswith(".gz"):
        stream = gzip.GzipFile(fileobj=raw)
    elif path.endswith(".zst"):
        stream = zstandard.ZstdDecompressor().stream_reader(raw)
    else:
        stream = raw
    try:
        yield from io.BufferedReader(stream, buffer_size=1 << 20)
    finally:
        stream.close()
        raw.close()


class _Batch:
    """Accumulates kept and rejected rows until a bound is reached."""

    def __init__(self, source: str, date: dt.date, cfg: IngestCfg):
        self.source, self.date, self.cfg = source, date, cfg
        self.kept: dict[str, list] = {k: [] for k in RAW_DOCUMENTS_SCHEMA}
        self.rejected: dict[str, list] = {k: [] for k in REJECTED_DOCUMENTS_SCHEMA}
        self.chars = 0

    def keep(self, doc_id, title, text, url, meta, digest: str) -> None:
        h = "sha1:" + digest
        row = (doc_id or h, self.source, self.date, title, text, url, h, len(text), meta)
        for k, v in zip(RAW_DOCUMENTS_SCHEMA, row, strict=True):
            self.kept[k].append(v)
        self.chars += len(text)

    def reject(self, file: str, line: int, reason: str, snippet: str) -> None:
        row = (self.source, self.date, file, line, reason, snippet[: self.cfg.snippet_chars])
        for k, v in zip(REJECTED_DOCUMENTS_SCHEMA, row, strict=True):
            self.rejected[k].append(v)

    @property
    def full(self) -> bool:
        n = len(self.kept["doc_id"]) + len(self.rejected["file"])
        return n >= self.cfg.batch_rows or self.chars >= self.cfg.batch_chars

    def flush(self) -> Split:
        split = Split(
            kept=pl.DataFrame(self.kept, schema=RAW_DOCUMENTS_SCHEMA),
            dropped=pl.DataFrame(self.rejected, schema=REJECTED_DOCUMENTS_SCHEMA),
        )
        self.__init__(self.source, self.date, self.cfg)
        return split


def _check_record(rec, cfg: IngestCfg) -> str | None:
    """The reason a parsed record cannot be ingested, or None."""
    if not isinstance(rec, dict):
        return f"not_an_object: {type(rec).__name__}"
    if "text" not in rec or rec["text"] is None:
        return "missing_text"
    if not isinstance(rec["text"], str):
        return f"wrong_type: text is {type(rec['text']).__name__}"
    if not rec["text"].strip():
        return "empty_text"
    if len(rec["text"]) > cfg.max_chars:
        return f"over_size_limit: {len(rec['text'])} chars > {cfg.max_chars}"
    for field in ("title", "url"):
        if rec.get(field) is not None and not isinstance(rec[field], str):
            return f"wrong_type: {field} is {type(rec[field]).__name__}"
        if isinstance(rec.get(field), str) and not rec[field].isascii():
            try:
                rec[field].encode("utf-8")
            except UnicodeEncodeError:
                return f"invalid_characters: lone surrogate in {field}"
    if rec.get("id") is not None and (isinstance(rec["id"], bool) or not isinstance(rec["id"], (str, int))):
        return f"wrong_type: id is {type(rec['id']).__name__}"
    if isinstance(rec.get("id"), str) and not rec["id"].strip():
        return "wrong_type: id is an empty string"
    return None


def _meta(rec: dict) -> str | None:
    extra = {k: v for k, v in rec.items() if k not in KNOWN_FIELDS}
    if not extra:
        return None
    meta = json.dumps(extra, ensure_ascii=False, sort_keys=True, default=str)
    try:
        meta.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: keep them escaped rather than lose the field
        meta = json.dumps(extra, ensure_ascii=True, sort_keys=True, default=str)
    return meta


def _records_jsonl(fs, path: str) -> Iterator[tuple[int, object, str | None, str]]:
    """(line number, parsed record or None, rejection reason, snippet) per non-blank line."""
    for n, line in enumerate(_open_text_lines(fs, path), start=1):
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        try:
            s = line.decode("utf-8")
        except UnicodeDecodeError as e:
            yield n, None, f"non_utf8: byte {e.start}", line.decode("utf-8", "replace")
            continue
        try:
            yield n, json.loads(s), None, s
        except json.JSONDecodeError as e:
            yield n, None, f"invalid_json: {e.msg} at column {e.colno}", s
        except RecursionError:
            yield n, None, "invalid_json: nested too deeply", s


def _records_parquet(fs, path: str, batch_rows: int) -> Iterator[tuple[int, object, str | None, str]]:
    with fs.open(path, "rb") as f:
        pf = pq.ParquetFile(f)
        n = 0
        for batch in pf.iter_batches(batch_size=batch_rows):
            for rec in batch.to_pylist():
                n += 1
                yield n, rec, None, ""


class PartitionReader:
    """Reads the raw files of one (source, date) partition; rejects ids repeated across its files.

    Memory: one batch of documents plus 8 bytes per id seen (a blake2b digest), never the partition.
    """

    def __init__(self, fs, source: str, date: dt.date, cfg: IngestCfg = IngestCfg()):
        self.fs, self.source, self.date, self.cfg = fs, source, date, cfg
        self.seen_ids: set[bytes] = set()

    def read(self, path: str) -> Iterator[Split]:
        """Stream one raw file as Splits: kept = raw_documents rows, dropped = rejected_documents rows."""
        cfg, name = self.cfg, posixpath.basename(path)
        batch = _Batch(self.source, self.date, cfg)
        try:
            records = (
                _records_parquet(self.fs, path, cfg.batch_rows) if path.endswith(".parquet") else _records_jsonl(self.fs, path)
            )
            for line, rec, reason, snippet in records:
                reason = reason or _check_record(rec, cfg)
                if reason is None:
                    reason = self._keep(batch, rec)
                if reason:
                    snippet = snippet or json.dumps(rec, ensure_ascii=False, default=str)
                    batch.reject(name, line, reason, snippet)
                if batch.full:
                    yield batch.flush()
        except FileNotFoundError as e:
            raise RawFileError(f"raw file not found: {path}") from e
        except UNREADABLE as e:  # permissions, corrupt Parquet, broken compression stream, ...
            raise RawFileError(f"cannot read raw file {path}: {type(e).__name__}: {e}") from e
        yield batch.flush()

    def _keep(self, batch: _Batch, rec: dict) -> str | None:
        """Add the record to the batch, or say why it cannot be kept."""
        text = rec["text"]
        try:
            digest = hashlib.sha1(text.encode("utf-8")).hexdigest()
        except UnicodeEncodeError:
            return "invalid_characters: lone surrogate in text"
        doc_id = str(rec["id"]).strip() if rec.get("id") is not None else "sha1:" + digest
        key = hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        if key in self.seen_ids:
            return f"duplicate_doc_id: {doc_id[:100]}"
        self.seen_ids.add(key)
        batch.keep(doc_id, rec.get("title"), text, rec.get("url"), _meta(rec), digest)
        return None


def count_records(fs, path: str) -> int:
    """Records in a raw file counted independently of parsing (non-blank lines, or Parquet rows)."""
    if path.endswith(".parquet"):
        with fs.open(path, "rb") as f:
            return pq.ParquetFile(f).metadata.num_rows
    return sum(1 for line in _open_text_lines(fs, path) if line.strip())
