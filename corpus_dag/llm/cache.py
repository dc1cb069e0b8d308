"""A persistent response cache in storage, so a crashed or re-run partition never pays twice.

Each flush appends one small Parquet shard, published atomically (written beside its final name,
then moved), so a crash mid-partition keeps every response flushed before it and never leaves a
half-written shard. Lookups read only the `key` column of each shard and then the matching rows,
so memory follows the batch being looked up, not the size of the cache.
"""
from __future__ import annotations

import hashlib
import json
import posixpath
import time
import uuid
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus_dag.storage import CorpusStore

CACHE_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("model", pa.string()),
        ("prompt_version", pa.string()),
        ("prompt_hash", pa.string()),
        ("sampling", pa.string()),
        ("sample_idx", pa.int32()),
        ("text", pa.string()),
        ("tokens_in", pa.int32()),
        ("tokens_out", pa.int32()),
        ("latency_s", pa.float64()),
        ("created_at", pa.float64()),
    ]
)


def cache_key(model: str, prompt_version: str, prompt_hash: str, sampling: str, sample_idx: int) -> str:
    """Everything that decides a response: model, prompt version, exact prompt, sampling, sample index."""
    return hashlib.sha256(json.dumps([model, prompt_version, prompt_hash, sampling, sample_idx]).encode()).hexdigest()


class ResponseCache:
    """Append-only Parquet shards under `{prefix}/{namespace}/` of a corpus store (local folder or s3://)."""

    def __init__(self, store: CorpusStore, namespace: str, prefix: str = "llm_cache"):
        self.store = store
        self.folder = posixpath.join(prefix, namespace.strip("/"))

    def __repr__(self) -> str:
        return f"ResponseCache({self.store.url(self.folder)!r})"

    def shards(self) -> list[str]:
        """Published shards (in-flight files are dot-files and never match)."""
        return sorted(self.store.fs.glob(self.store.abs(posixpath.join(self.folder, "shard-*.parquet"))))

    def get_many(self, keys: Iterable[str]) -> dict[str, dict]:
        """Cached rows for the keys that have one (the newest shard wins if a key was written twice)."""
        wanted = pa.array(sorted(set(keys)), pa.string())
        found: dict[str, dict] = {}
        if len(wanted) == 0:
            return found
        for shard in self.shards():
            with self.store.fs.open(shard, "rb") as f:
                pf = pq.ParquetFile(f)
                hit = pc.is_in(pf.read(columns=["key"]).column("key"), value_set=wanted)
                if not pc.any(hit).as_py():
                    continue
                rows = pf.read().filter(hit).to_pylist()
            found.update((r["key"], r) for r in rows)
        return found

    def put_many(self, rows: list[dict]) -> None:
        """Append rows (dicts with the CACHE_SCHEMA fields) as one atomically published shard."""
        if not rows:
            return
        now = time.time()
        table = pa.Table.from_pylist([{**r, "created_at": r.get("created_at", now)} for r in rows], schema=CACHE_SCHEMA)
        name = f"shard-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}-{uuid.uuid4().hex[:12]}.parquet"
        with self.store.atomic_open(posixpath.join(self.folder, name)) as f:
            pq.write_table(table, f, compression="zstd")
