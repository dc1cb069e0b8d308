"""Raw files -> `raw_documents` rows and `rejected_documents` rows, streamed in bounded batches.

Input contract: `{root}/raw/{source}/{YYYY-MM-DD}/` holds JSON-lines files (`.jsonl`, `.ndjson`,
`.json`; plain or compressed `.gz`, `.zst`, `.bz2`, `.xz`; suffixes in any case) or `.parquet` files.
A record needs `text`, or `html` from which the main text is extracted; `id`, `title`, `url` are
optional; every other field is kept in `meta` as a JSON string. A bad record never fails the run:
it becomes a rejected row with a reason, the file and the line. A missing or unreadable file is an
error that names the file; so is a damaged one (a truncated or corrupt compressed stream, a broken
Parquet file), unless `on_damaged_file="quarantine"`: then the whole file is one rejected row.
"""
from __future__ import annotations

import bz2
import datetime as dt
import gzip
import hashlib
import io
import json
import lzma
import posixpath
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from corpus_dag.accounting import PREVIEW_ROWS, Split, WrittenSplit, reason_counts
from corpus_dag.engine import Engine, StageResources
from corpus_dag.storage import CommitOutput, part_sink
from corpus_dag.web_text import extract_page, text_fixer

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
# A file's kept rows carry where they came from until the partition's id check (`RepeatedIds`) has seen them.
KEPT_SCHEMA = {**RAW_DOCUMENTS_SCHEMA, "line": pl.Int64, "snippet": pl.String}
KNOWN_FIELDS = ("text", "html", "id", "title", "url")
CODECS = ("gz", "zst", "bz2", "xz")
BOM = b"\xef\xbb\xbf"
BLANK = "blank line"  # not a rejection: what `_records_jsonl` yields for a line without a record
ON_DAMAGED = ("error", "quarantine")
# What a decoder raises on bytes it cannot decode (storage errors are turned into RawFileError first).
DAMAGE = (OSError, EOFError, zlib.error, zstandard.ZstdError, lzma.LZMAError, pa.ArrowException)
CHUNK = 1 << 20


class RawFileError(RuntimeError):
    """A raw file that cannot be opened or read at all (names the file)."""


class DamagedFileError(RawFileError):
    """A raw file whose content is truncated or corrupt (names the file and what is wrong)."""


@dataclass(frozen=True)
class IngestCfg:
    """batch_rows/batch_chars bound memory; max_chars rejects oversized records.

    on_damaged_file: "error" fails the run on a truncated/corrupt file; "quarantine" sets the whole
    file aside as one rejected row (it is then decoded twice: once to verify, once to read).
    t2s converts traditional to simplified Chinese (OpenCC); fix_mojibake repairs mis-decoded text
    (ftfy); both apply to text and title, before the hash is taken.
    """

    max_chars: int = 2_000_000
    batch_rows: int = 10_000
    batch_chars: int = 8_000_000
    snippet_chars: int = 200
    on_damaged_file: str = "error"
    t2s: bool = False
    fix_mojibake: bool = False
    split_bytes: int = 256 << 20

    def __post_init__(self):
        if self.on_damaged_file not in ON_DAMAGED:
            raise ValueError(f"on_damaged_file must be one of {ON_DAMAGED}, got {self.on_damaged_file!r}")
        if self.split_bytes < 1:
            raise ValueError(f"split_bytes must be >= 1, got {self.split_bytes}")


@dataclass(frozen=True)
class FilePart:
    """The records of a raw file whose line starts in bytes [start, end) (end None: to the end of the
    file). An uncompressed JSON-lines file over `split_bytes` is read as several parts, one engine
    task each; any other file is one part (a compressed stream or Parquet file is read from its start)."""

    path: str
    start: int = 0
    end: int | None = None

    def __str__(self) -> str:
        return self.path if (self.start, self.end) == (0, None) else f"{self.path} bytes {self.start:,}-{self.end or 'end'}"


def file_parts(path: str, size: int, split_bytes: int) -> list[FilePart]:
    """How one raw file of `size` bytes is read: parts of `split_bytes` where it can be split."""
    kind, codec = raw_format(path)
    if kind == "parquet" or codec is not None or size <= split_bytes:
        return [FilePart(path)]
    starts = range(0, size, split_bytes)
    return [FilePart(path, start, start + split_bytes if start + split_bytes < size else None) for start in starts]


def raw_format(path: str) -> tuple[str, str | None]:
    """("jsonl" | "parquet", codec or None) from a raw file's name, case-insensitively."""
    name = posixpath.basename(path).lower()
    codec = next((c for c in CODECS if name.endswith("." + c)), None)
    return ("parquet" if name.endswith(".parquet") else "jsonl"), codec


class _Source(io.RawIOBase):
    """The file's bytes as stored. A storage error here is re-raised as RawFileError, so that what a
    decoder raises afterwards is known to be about the content (damage), not about the storage."""

    def __init__(self, f, path: str):
        self.f, self.path = f, path

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        try:
            data = self.f.read(len(b))
        except OSError as e:
            raise RawFileError(f"cannot read raw file {self.path}: {type(e).__name__}: {e}") from e
        b[: len(data)] = data
        return len(data)


class _ZstdFrames(io.RawIOBase):
    """Consecutive zstd frames, decoded; input that ends inside a frame raises EOFError.

    zstandard's stream_reader returns the prefix of a truncated frame without a word, which is how
    a half-copied file once lost half its records; the decompressor's end-of-frame flag does not lie.
    """

    def __init__(self, raw):
        self.raw, self.zd, self.dec = raw, zstandard.ZstdDecompressor(), None
        self.out, self.pos = b"", 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while self.pos >= len(self.out):
            chunk = self.raw.read(CHUNK)
            if not chunk:
                if self.dec is not None and not self.dec.eof:
                    raise EOFError("zstd stream ends inside a frame (truncated)")
                return 0
            self.out, self.pos = self._decode(chunk), 0
        n = min(len(b), len(self.out) - self.pos)
        b[:n] = self.out[self.pos : self.pos + n]
        self.pos += n
        return n

    def _decode(self, data: bytes) -> bytes:
        parts = []
        while data:
            if self.dec is None or self.dec.eof:
                self.dec = self.zd.decompressobj()
            parts.append(self.dec.decompress(data))
            data = self.dec.unused_data if self.dec.eof else b""
        return b"".join(parts)


def _decoder(codec: str | None, raw):
    if codec == "gz":
        return gzip.GzipFile(fileobj=raw)
    if codec == "bz2":
        return bz2.BZ2File(raw)
    if codec == "xz":
        return lzma.LZMAFile(raw)
    if codec == "zst":
        return _ZstdFrames(raw)
    return raw


def _open_text_lines(fs, part: FilePart) -> Iterator[bytes]:
    """The lines of a file part, decompressed; damage raises DamagedFileError naming the file. A part
    that starts inside the file (uncompressed only) begins with the first line starting at or after
    `start`: the line under way there belongs to the part before."""
    path, codec = part.path, raw_format(part.path)[1]
    if part.start and codec is not None:
        raise ValueError(f"{path}: a compressed file is read from its start, not from byte {part.start}")
    raw = fs.open(path, "rb")
    if part.start:
        raw.seek(part.start - 1)
    stream = _decoder(codec, io.BufferedReader(_Source(raw, path), buffer_size=CHUNK))
    try:
        lines = io.BufferedReader(stream, buffer_size=CHUNK)
        at = part.start - 1 + len(lines.readline()) if part.start else 0
        for line in lines:
            if part.end is not None and at >= part.end:
                return
            at += len(line)
            yield line
    except RawFileError:
        raise
    except FileNotFoundError as e:
        raise RawFileError(f"raw file not found: {path}") from e
    except DAMAGE as e:
        raise DamagedFileError(f"damaged raw file {path}: {type(e).__name__}: {e}") from e
    finally:
        stream.close()
        raw.close()


class _Batch:
    """Accumulates kept and rejected rows until a bound is reached."""

    def __init__(self, source: str, date: dt.date, cfg: IngestCfg):
        self.source, self.date, self.cfg = source, date, cfg
        self.kept: dict[str, list] = {k: [] for k in KEPT_SCHEMA}
        self.rejected: dict[str, list] = {k: [] for k in REJECTED_DOCUMENTS_SCHEMA}
        self.chars = 0

    def keep(self, doc_id, title, text, url, meta, digest: str, line: int, snippet: str) -> None:
        h = "sha1:" + digest
        row = (doc_id or h, self.source, self.date, title, text, url, h, len(text), meta, line, snippet)
        for k, v in zip(KEPT_SCHEMA, row, strict=True):
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
            kept=pl.DataFrame(self.kept, schema=KEPT_SCHEMA),
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


def _records_jsonl(fs, part: FilePart) -> Iterator[tuple[int, object, str | None, str]]:
    """(line number in the part, parsed record or None, rejection reason, snippet) per line (reason
    BLANK for a blank one: it holds no record, but counts to number the next part's lines)."""
    for n, line in enumerate(_open_text_lines(fs, part), start=1):
        line = line.rstrip(b"\r\n")
        if n == 1 and not part.start and line.startswith(BOM):  # Windows exports start with a byte-order mark
            line = line[len(BOM) :]
        if not line.strip():
            yield n, None, BLANK, ""
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
    try:
        with fs.open(path, "rb") as f:
            pf = pq.ParquetFile(f)
            n = 0
            for batch in pf.iter_batches(batch_size=batch_rows):
                for rec in batch.to_pylist():
                    n += 1
                    yield n, rec, None, ""
    except (FileNotFoundError, PermissionError):
        raise
    except DAMAGE as e:
        raise DamagedFileError(f"damaged raw file {path}: {type(e).__name__}: {e}") from e


def verify_file(fs, path: str) -> None:
    """Decode the whole file without keeping anything; raises DamagedFileError if it is damaged."""
    kind, codec = raw_format(path)
    if kind == "parquet":
        for _ in _records_parquet(fs, path, 10_000):
            pass
    elif codec is not None:
        for _ in _open_text_lines(fs, FilePart(path)):
            pass


def read_raw_file(part: FilePart, *, fs, source: str, date: dt.date, cfg: IngestCfg = IngestCfg()) -> Iterator[tuple[Split, int]]:
    """Stream one raw file part as (Split, lines of the part read so far): kept = raw_documents rows plus
    each record's `line` and a bounded `snippet` (KEPT_SCHEMA), dropped = rejected_documents rows. Lines
    count from the part's first line and ids are not compared here: parts are read independently (one
    engine task each) and `InFileOrder` numbers their lines and checks the partition's ids in file order."""
    path = part.path
    name, fix = posixpath.basename(path), text_fixer(cfg.t2s, cfg.fix_mojibake)
    batch, line = _Batch(source, date, cfg), 0
    if cfg.on_damaged_file == "quarantine":
        try:
            verify_file(fs, path)
        except DamagedFileError as e:
            cause = e.__cause__ or e
            batch.reject(name, None, f"damaged_file: {type(cause).__name__}: {cause}", "")
            yield batch.flush(), 0
            return
    try:
        records = _records_parquet(fs, path, cfg.batch_rows) if raw_format(path)[0] == "parquet" else _records_jsonl(fs, part)
        for line, rec, reason, snippet in records:
            if reason == BLANK:
                continue
            reason = reason or _prepare(rec, fix) or _check_record(rec, cfg)
            if reason is None:
                reason = _keep(batch, rec, line, cfg.snippet_chars)
            if reason:
                snippet = snippet or json.dumps(rec, ensure_ascii=False, default=str)
                batch.reject(name, line, reason, snippet)
            if batch.full:
                yield batch.flush(), line
    except FileNotFoundError as e:
        raise RawFileError(f"raw file not found: {path}") from e
    except PermissionError as e:
        raise RawFileError(f"cannot read raw file {path}: {type(e).__name__}: {e}") from e
    yield batch.flush(), line


def _prepare(rec, fix) -> str | None:
    """Text from `html` when a record has no text; repairs the source asks for. Or a reason."""
    if not isinstance(rec, dict):
        return None
    if rec.get("text") is None and rec.get("html") is not None:
        if not isinstance(rec["html"], str):
            return f"wrong_type: html is {type(rec['html']).__name__}"
        url = rec.get("url") if isinstance(rec.get("url"), str) else None
        page = extract_page(rec["html"], url)
        if page.reason:
            return page.reason
        rec["text"] = page.text
        if rec.get("title") is None:
            rec["title"] = page.title
    if fix is not None:
        for field in ("text", "title"):
            if isinstance(rec.get(field), str):
                rec[field] = fix(rec[field])
    return None


def _keep(batch: _Batch, rec: dict, line: int, snippet_chars: int) -> str | None:
    """Add the record to the batch, or say why it cannot be kept."""
    text = rec["text"]
    try:
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()
    except UnicodeEncodeError:
        return "invalid_characters: lone surrogate in text"
    doc_id = str(rec["id"]).strip() if rec.get("id") is not None else "sha1:" + digest
    batch.keep(doc_id, rec.get("title"), text, rec.get("url"), _meta(rec), digest, line, _snippet(rec, snippet_chars))
    return None


def _snippet(rec: dict, n: int) -> str:
    """The first `n` characters of the record's JSON, without serialising all of it: every string and list
    is cut to `n` first, which cannot change the first `n` characters of the output."""

    def clip(v):
        if isinstance(v, str):
            return v[:n]
        if isinstance(v, dict):
            return {k: clip(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clip(x) for x in v[:n]]
        return v

    return json.dumps(clip(rec), ensure_ascii=False, default=str)[:n]


# ---- a partition's file parts: kept rows written where they are read, ids checked in file order ----
PART_BATCHES = 10**6  # batch b of the partition's file part p is kept part p * PART_BATCHES + b
KEPT = "kept"  # the output a reading process writes its kept rows to


@dataclass(frozen=True)
class ReadBatch:
    """One batch of a raw file part as it comes back from the process that read it and wrote its kept
    rows (`read_part`): their count and id digests, its rejected rows (few and bounded; lines counted
    from the part's first), the part's lines read so far and a preview of the kept rows."""

    key: int
    kept: int
    ids: np.ndarray  # uint64: an 8-byte blake2b digest of each kept row's doc_id, in row order
    dropped: pl.DataFrame
    lines: int
    head: pl.DataFrame


@dataclass(frozen=True)
class PartBatch:
    """A batch of the partition in file order, settled: its kept part (`key`, with `kept` rows) and its
    rejected rows, with lines counted from the file's first and repeated ids moved in."""

    key: int
    kept: int
    dropped: pl.DataFrame
    head: pl.DataFrame


def id_digests(doc_ids: pl.Series) -> np.ndarray:
    digests = b"".join(hashlib.blake2b(d.encode("utf-8", "surrogatepass"), digest_size=8).digest() for d in doc_ids)
    return np.frombuffer(digests, dtype=np.uint64)


def read_part(sink, read: Callable[[FilePart], Iterator[tuple[Split, int]]], item: tuple[int, FilePart]) -> Iterator[ReadBatch]:
    """Read file part `item` = (its place among the partition's parts, the part) with `read` (`read_raw_file`
    bound to the partition) and write each batch's kept rows as part `place * PART_BATCHES + batch` of
    output KEPT of `sink` (a commit's `storage.PartSink`, or a `MemorySink`); yield what the step needs."""
    place, part = item
    for b, (split, lines) in enumerate(read(part)):
        if b >= PART_BATCHES:  # its key would be the next part's: raise batch_rows or lower split_bytes
            raise ValueError(f"{part}: over {PART_BATCHES:,} batches in one file part")
        key = place * PART_BATCHES + b
        kept = split.kept.select(list(RAW_DOCUMENTS_SCHEMA))
        sink.write(key, {KEPT: kept})
        yield ReadBatch(key, kept.height, id_digests(split.kept["doc_id"]), split.dropped, lines, kept.head(PREVIEW_ROWS))


def drop_repeats(sink, read: Callable[[FilePart], Iterator[tuple[Split, int]]],
                 job: tuple[tuple[int, FilePart], dict[int, list[int]]]) -> dict[int, pl.DataFrame]:
    """job = (part item as `read_part`'s, repeats: batch -> positions of its kept rows whose doc_id an earlier
    row of the partition had). Read the part again and rewrite those batches' kept parts without them;
    return, by batch, the rows moved to the rejected ones (`duplicate_doc_id`, with line and snippet)."""
    (place, part), repeats = job
    moved: dict[int, pl.DataFrame] = {}
    for b, (split, _) in enumerate(read(part)):
        if b in repeats:
            is_repeat = pl.Series([False] * split.kept.height).scatter(repeats[b], True)
            sink.write(place * PART_BATCHES + b, {KEPT: split.kept.filter(~is_repeat).select(list(RAW_DOCUMENTS_SCHEMA))})
            moved[b] = split.kept.filter(is_repeat).select(
                pl.col("source"), pl.col("date"), pl.lit(posixpath.basename(part.path)).alias("file"), pl.col("line"),
                (pl.lit("duplicate_doc_id: ") + pl.col("doc_id").str.slice(0, 100)).alias("reason"), pl.col("snippet"),
            )
            if len(moved) == len(repeats):
                break
    return moved


class InFileOrder:
    """The step's side of reading a partition's file parts (`read_part`, one engine task each), in file
    order: each part's rejected lines are shifted by the lines of its file's earlier parts, and a kept row
    whose `doc_id` an earlier row of the partition had is moved to the rejected rows as
    `duplicate_doc_id`: `fix` (`drop_repeats`, run where the engine runs it) reads that part again and
    rewrites the batches concerned.

    Memory: 8 bytes per id seen, never the partition; a part's batches from its first repeat on wait for
    the fix (their rejected rows and previews only)."""

    def __init__(self, fix: Callable[[tuple[tuple[int, FilePart], dict[int, list[int]]]], dict[int, pl.DataFrame]]):
        self.fix = fix
        self.seen: set[int] = set()
        self.lines: dict[str, int] = {}

    def __call__(self, item: tuple[int, FilePart], batches: Iterator[ReadBatch]) -> Iterator[PartBatch]:
        path = item[1].path
        base, held, repeats = self.lines.get(path, 0), [], {}
        for b, batch in enumerate(batches):
            self.lines[path] = base + batch.lines
            if found := self._repeated(batch.ids):
                repeats[b] = found
            if repeats:
                held.append((b, batch))
            else:
                yield _settled(batch, base)
        moved = self.fix((item, repeats)) if repeats else {}
        for b, batch in held:
            yield _settled(batch, base, moved.get(b), len(repeats.get(b, ())))

    def _repeated(self, ids: np.ndarray) -> list[int]:
        """Positions of ids seen before (in this partition, this batch included); the rest are seen now."""
        repeated = []
        for i, key in enumerate(ids.tolist()):
            if key in self.seen:
                repeated.append(i)
            self.seen.add(key)
        return repeated


def _settled(batch: ReadBatch, base: int, moved: pl.DataFrame | None = None, n_moved: int = 0) -> PartBatch:
    dropped = batch.dropped if moved is None else pl.concat([batch.dropped, moved]).sort("line", nulls_last=False, maintain_order=True)
    return PartBatch(batch.key, batch.kept - n_moved, dropped.with_columns(pl.col("line") + base), batch.head)


def write_partition(engine: Engine, read: Callable[[FilePart], Iterator[tuple[Split, int]]], parts: list[FilePart],
                    outputs: dict[str, CommitOutput], kept: str, rejected: str, resources: StageResources = StageResources(),
                    on_part: Callable[[FilePart], None] = lambda _part: None) -> Iterator[WrittenSplit]:
    """The `raw_documents` stage on `engine`: one streaming task per file part (`read_part`) writes its kept rows
    as parts of `outputs[kept]`; here, in file order, the rejected rows are written to `outputs[rejected]` and
    repeated ids settled (`InFileOrder`, its re-reads as engine tasks). Yields each batch's accounting;
    `on_part(part)` as a part's batches start coming in."""
    sink = part_sink({KEPT: outputs[kept]})

    def fix(job):
        [moved] = engine.map_tasks(partial(drop_repeats, sink, read), [job], resources=resources)
        return moved

    in_file_order, items = InFileOrder(fix), list(enumerate(parts))
    for item, stream in zip(items, engine.map_streams(partial(read_part, sink, read), items, resources=resources), strict=True):
        on_part(item[1])
        for batch in in_file_order(item, stream):
            outputs[rejected].write(batch.dropped)
            written = WrittenSplit(batch.key, batch.kept + batch.dropped.height, batch.kept, batch.kept, reason_counts(batch.dropped),
                                   {kept: batch.kept}, {kept: batch.head, rejected: batch.dropped.head(PREVIEW_ROWS)})
            written.adopt_into(outputs)
            yield written


class MemorySink:
    """Where the in-process reader's `read_part` writes: the frames, by output and key, until taken."""

    def __init__(self):
        self.frames: dict[tuple[str, int], pl.DataFrame] = {}

    def write(self, key: int, frames: dict[str, pl.DataFrame]) -> dict[str, int]:
        self.frames |= {(name, key): df for name, df in frames.items()}
        return {name: df.height for name, df in frames.items()}


class PartitionReader:
    """Reads the raw files of one (source, date) partition in order, in this process, as the
    `raw_documents` stage does on its engine: file parts, line numbers and repeated ids alike."""

    def __init__(self, fs, source: str, date: dt.date, cfg: IngestCfg = IngestCfg()):
        self.fs, self.source, self.date, self.cfg = fs, source, date, cfg
        self.sink, self.parts = MemorySink(), 0
        self.order = InFileOrder(partial(drop_repeats, self.sink, self._read))

    def _read(self, part: FilePart) -> Iterator[tuple[Split, int]]:
        return read_raw_file(part, fs=self.fs, source=self.source, date=self.date, cfg=self.cfg)

    def read(self, path: str) -> Iterator[Split]:
        """Stream one raw file as Splits: kept = raw_documents rows, dropped = rejected_documents rows."""
        try:
            size = self.fs.size(path)
        except FileNotFoundError as e:
            raise RawFileError(f"raw file not found: {path}") from e
        for part in file_parts(path, size, self.cfg.split_bytes):
            item, self.parts = (self.parts, part), self.parts + 1
            for batch in self.order(item, read_part(self.sink, self._read, item)):
                yield Split(kept=self.sink.frames.pop((KEPT, batch.key)), dropped=batch.dropped)


# ---- the independent count (the accounting check's side) ---------------------------------------
ARROW_CODECS = {"gz": "gzip", "zst": "zstd", "bz2": "bz2"}


def _xz_chunks(f) -> Iterator[bytes]:
    """xz streams decoded with the decompressor's end-of-stream flag checked (Arrow has no xz)."""
    dec = None
    while chunk := f.read(CHUNK):
        while chunk:
            if dec is None or dec.eof:
                dec = lzma.LZMADecompressor()
            yield dec.decompress(chunk)
            chunk = dec.unused_data if dec.eof else b""
    if dec is not None and not dec.eof:
        raise EOFError("xz stream ends before its end-of-stream marker (truncated)")


def _verified_chunks(f, codec: str | None) -> Iterator[bytes]:
    """Decoded bytes through a different decompressor than the reader's: Arrow's C++ codecs, which
    fail on a stream that ends early or carries corrupt data."""
    if codec is None:
        yield from iter(lambda: f.read(CHUNK), b"")
    elif codec == "xz":
        yield from _xz_chunks(f)
    else:
        stream = pa.CompressedInputStream(pa.PythonFile(f, mode="r"), ARROW_CODECS[codec])
        yield from iter(lambda: stream.read(CHUNK), b"")


def count_records(fs, path: str) -> int:
    """Records in a raw file counted independently of parsing: non-blank lines (a leading BOM
    ignored), or Parquet rows from the footer. A damaged file raises DamagedFileError."""
    kind, codec = raw_format(path)
    try:
        with fs.open(path, "rb") as f:
            if kind == "parquet":
                return pq.ParquetFile(f).metadata.num_rows
            n, tail, first = 0, b"", True
            for chunk in _verified_chunks(f, codec):
                lines = (tail + chunk).split(b"\n")
                tail = lines.pop()
                if first and lines:
                    lines[0], first = lines[0].removeprefix(BOM), False
                n += sum(1 for line in lines if line.strip())
            return n + bool((tail.removeprefix(BOM) if first else tail).strip())
    except (FileNotFoundError, PermissionError) as e:
        raise RawFileError(f"cannot count records of raw file {path}: {type(e).__name__}: {e}") from e
    except DAMAGE as e:
        raise DamagedFileError(f"damaged raw file {path}: {type(e).__name__}: {e}") from e
