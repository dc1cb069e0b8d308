"""Small helpers shared by tests (not fixtures)."""
import json
from pathlib import Path


def write_jsonl(path: Path, records: list) -> Path:
    """Write records (dicts, or raw str/bytes lines for broken input) as a JSONL file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for r in records:
            if isinstance(r, bytes):
                f.write(r + b"\n")
            elif isinstance(r, str):
                f.write(r.encode() + b"\n")
            else:
                f.write(json.dumps(r, ensure_ascii=False).encode() + b"\n")
    return path


BAD_RECORDS = [
    "not json at all",
    {"text": ""},
    {"text": "   \n "},
    {"text": 42},
    {"title": "no text"},
    {"text": None},
    [1, 2, 3],
    {"text": "ok", "title": 7},
    {"text": "ok", "id": {"nested": True}},
    b"\xff\xfe{\"text\": \"latin-1 junk\"}",
    '{"text": "lone \\ud800 surrogate"}',
]
EXPECTED_REASONS = {
    "invalid_json",
    "empty_text",
    "wrong_type: text is int",
    "missing_text",
    "not_an_object: list",
    "wrong_type: title is int",
    "wrong_type: id is dict",
    "non_utf8",
    "invalid_characters",
}


def stop_process_group(proc, timeout: float = 30) -> None:
    """Stop a server started with `start_new_session=True`: SIGTERM its group, SIGKILL if it lingers."""
    import os
    import signal
    import subprocess

    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def with_stand_ins(assets: list) -> list:
    """`assets` plus an external spec for every upstream asset none of them produces, so a test can
    materialize one area with its inputs written by hand (as a finished upstream stage would)."""
    import dagster as dg

    from assets.common.partitions import DATE_SOURCE

    defs = [a for a in assets if isinstance(a, dg.AssetsDefinition)]
    produced = {k for a in defs for k in a.keys}
    needed = {dep.asset_key for a in defs for spec in a.specs for dep in spec.deps} - produced
    return [*assets, *(dg.AssetSpec(k, partitions_def=DATE_SOURCE) for k in sorted(needed, key=str))]


def table_rows(value) -> list[dict]:
    """The records of a typed table metadata value (TableMetadataValue), as dicts."""
    return [r.data for r in value.records]


def moto_server_process(port: int):
    """moto's S3 server (the server ThreadedMotoServer runs) in a process of its own on 127.0.0.1:`port`,
    ready to answer: where the client is a busy Python process (a Ray driver, a Dagster run), a server
    thread inside it would compete with it for the GIL on every request. Stop it with stop_process_group."""
    import subprocess
    import sys
    import time
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                if proc.poll() is None:
                    stop_process_group(proc)
                raise RuntimeError(f"moto_server on port {port} did not start (exit {proc.poll()})")
            time.sleep(0.1)


def partition_bytes(store, rel: str, version: str | None = None) -> list[bytes]:
    """The bytes of each file of a stored partition, in row order (what byte-identity tests compare)."""
    return [store.fs.cat_file(store.abs(f)) for f in store.files(rel, version)]
