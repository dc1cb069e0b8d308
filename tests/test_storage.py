"""Atomic, idempotent partition writes; the raw listing follows the input contract."""
import os
import subprocess
import sys
import textwrap

import polars as pl
import pytest

from corpus_dag.storage import CorpusStore, StorageError, arrow_schema, seed_raw_library

SCHEMA = {"doc_id": pl.String, "n": pl.Int64}


def frame(n: int) -> pl.DataFrame:
    return pl.DataFrame({"doc_id": [f"d{i}" for i in range(n)], "n": list(range(n))}, schema=SCHEMA)


def test_partition_layout_is_hive_style():
    assert CorpusStore.partition_path("raw_documents", {"date": "2026-11-21", "source": "wenku"}) == (
        "raw_documents/source=wenku/date=2026-11-21/data.parquet"
    )
    assert CorpusStore.partition_path("question_classifier") == "question_classifier/data.parquet"


def test_failed_write_leaves_nothing_visible(tmp_path):
    store = CorpusStore(str(tmp_path))
    rel = CorpusStore.partition_path("a", {"source": "s"})
    with pytest.raises(RuntimeError, match="boom"):
        with store.parquet_writer(rel, arrow_schema(SCHEMA)) as w:
            w.write(frame(10))
            raise RuntimeError("boom")
    assert not store.exists(rel)
    assert os.listdir(tmp_path / "a" / "source=s") == []


def test_killed_process_leaves_no_partial_partition(tmp_path):
    """A writer killed mid-partition (no cleanup at all) never publishes the final file."""
    rel = CorpusStore.partition_path("a", {"source": "s"})
    script = textwrap.dedent(f"""
        import os, polars as pl
        from corpus_dag.storage import CorpusStore, arrow_schema
        store = CorpusStore({str(tmp_path)!r})
        with store.parquet_writer({rel!r}, arrow_schema({{"doc_id": pl.String, "n": pl.Int64}})) as w:
            w.write(pl.DataFrame({{"doc_id": ["x"] * 1000, "n": list(range(1000))}}))
            os._exit(9)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd())
    assert proc.returncode == 9
    store = CorpusStore(str(tmp_path))
    assert not store.exists(rel)
    leftovers = os.listdir(tmp_path / "a" / "source=s")
    assert all(name.startswith(".inflight-") for name in leftovers)  # hidden, ignored by readers
    store.write_frame(rel, frame(3))  # the next run publishes normally
    assert store.read(rel).height == 3


def test_rewrite_is_idempotent(tmp_path):
    store = CorpusStore(str(tmp_path))
    rel = CorpusStore.partition_path("a", {"source": "s"})
    store.write_frame(rel, frame(5))
    first = store.read_bytes(rel)
    store.write_frame(rel, frame(5))
    assert store.read_bytes(rel) == first
    assert [b.height for b in store.iter_batches(rel, batch_rows=2)] == [2, 2, 1]


def test_partition_from_an_older_asset_version_names_the_missing_column(tmp_path):
    store = CorpusStore(str(tmp_path))
    rel = CorpusStore.partition_path("a", {"source": "s"})
    store.write_frame(rel, frame(3))
    assert store.read(rel, ["n"])["n"].to_list() == [0, 1, 2]
    for read in (lambda: store.read(rel, ["doc_id", "questions"]), lambda: next(store.iter_batches(rel, ["questions"]))):
        with pytest.raises(StorageError, match=r"no column \['questions'\].*re-materialize that partition"):
            read()


def test_raw_listing_and_seed(tmp_path):
    lib = tmp_path / "lib"
    for name in ("wenku/2026-11-20/a.jsonl", "wenku/2026-11-20/.hidden.jsonl", "web/2026-11-21/b.jsonl.gz", "web/2026-11-21/notes.txt"):
        (lib / name).parent.mkdir(parents=True, exist_ok=True)
        (lib / name).write_bytes(b'{"text": "x"}\n')
    store = CorpusStore(str(tmp_path / "root"))
    copied = seed_raw_library(store, lib)
    assert copied == ["raw/web/2026-11-21/b.jsonl.gz", "raw/wenku/2026-11-20/a.jsonl"]
    assert seed_raw_library(store, lib) == []  # idempotent: nothing rewritten
    found = store.raw_files()
    assert sorted(found) == [("web", "2026-11-21"), ("wenku", "2026-11-20")]
    assert [f.path.rsplit("/", 1)[-1] for f in found[("wenku", "2026-11-20")]] == ["a.jsonl"]
    with pytest.raises(StorageError, match="not materialized|not found"):
        store.read("nope/data.parquet")


def test_unsupported_scheme_is_a_clear_error():
    with pytest.raises(StorageError, match="unsupported scheme"):
        CorpusStore("gs://bucket/x")
