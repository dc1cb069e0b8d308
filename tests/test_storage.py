"""Atomic, idempotent partition writes; the raw listing follows the input contract."""
import os
import subprocess
import sys
import textwrap

import polars as pl
import pyarrow.parquet as pq
import pytest

from corpus_dag.storage import CorpusStore, StorageError, arrow_schema, part_sink, seed_raw_library
from tests.helpers import partition_bytes

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
        with store.commit({rel: arrow_schema(SCHEMA)}) as w:
            w[rel].write(frame(10))
            raise RuntimeError("boom")
    assert not store.exists(rel)
    assert os.listdir(tmp_path / "a" / "source=s") == []


def test_a_partition_path_is_written_only_through_commit(tmp_path):
    store = CorpusStore(str(tmp_path))
    with pytest.raises(ValueError, match="CorpusStore.commit"):
        with store.parquet_writer(CorpusStore.partition_path("a", {"source": "s"}), arrow_schema(SCHEMA)):
            pass


def _pair(store, kept_rows: int, dropped_rows: int, fail: bool = False):
    kept, dropped = (CorpusStore.partition_path(a, {"source": "s"}) for a in ("kept", "dropped"))
    with store.commit({kept: arrow_schema(SCHEMA), dropped: arrow_schema(SCHEMA)}) as w:
        w[kept].write(frame(kept_rows))
        w[dropped].write(frame(dropped_rows))
        if fail:
            raise OSError("storage went away between the two outputs")
    return kept, dropped


def test_outputs_of_a_stage_are_published_together_or_not_at_all(tmp_path):
    store = CorpusStore(str(tmp_path))
    kept, dropped = _pair(store, 7, 3)
    with pytest.raises(OSError):
        _pair(store, 100, 5, fail=True)
    assert (store.num_rows(kept), store.num_rows(dropped)) == (7, 3)  # the old pair, still paired
    _pair(store, 100, 5)
    assert (store.num_rows(kept), store.num_rows(dropped)) == (100, 5)
    assert store.version(kept) == store.version(dropped)
    # older versions are gone, so the folders read as a Hive dataset hold exactly one version
    import pyarrow.dataset as ds

    assert ds.dataset(str(tmp_path / "kept"), partitioning="hive").count_rows() == 100
    assert sorted(n for n in os.listdir(tmp_path / "dropped" / "source=s") if n.endswith(".parquet")) == [
        f"part-{store.version(kept)}.parquet"]


def test_a_run_killed_after_writing_one_output_publishes_nothing(tmp_path):
    """kill -9 after the first output's file is complete but before the commit: readers see the old pair."""
    store = CorpusStore(str(tmp_path))
    _pair(store, 7, 3)
    script = textwrap.dedent(f"""
        import os, polars as pl
        from corpus_dag.storage import CorpusStore, arrow_schema
        store = CorpusStore({str(tmp_path)!r})
        schema = arrow_schema({{"doc_id": pl.String, "n": pl.Int64}})
        kept, dropped = (CorpusStore.partition_path(a, {{"source": "s"}}) for a in ("kept", "dropped"))
        store._publish = lambda *a, **k: os._exit(9)
        with store.commit({{kept: schema, dropped: schema}}) as w:
            w[kept].write(pl.DataFrame({{"doc_id": ["x"] * 50, "n": list(range(50))}}))
            w[dropped].write(pl.DataFrame({{"doc_id": ["y"] * 2, "n": [1, 2]}}))
    """)
    assert subprocess.run([sys.executable, "-c", script], cwd=os.getcwd()).returncode == 9
    assert (store.num_rows(CorpusStore.partition_path("kept", {"source": "s"})),
            store.num_rows(CorpusStore.partition_path("dropped", {"source": "s"}))) == (7, 3)
    _pair(store, 9, 1)  # the next run commits and removes the dead run's files
    assert (store.num_rows(CorpusStore.partition_path("kept", {"source": "s"})), store.num_rows(CorpusStore.partition_path("dropped", {"source": "s"}))) == (9, 1)
    assert len([n for n in os.listdir(tmp_path / "kept" / "source=s") if n.endswith(".parquet")]) == 1


def test_parts_written_elsewhere_appear_with_the_commit_and_read_in_row_order(tmp_path):
    """Workers write parts of a version (any order, keyed by their slice's first row) beside the file the
    committing process writes; readers see none of it before the commit, then every row in order,
    across files: whole, in exact batches, and by row range, reading the rows from the manifest."""
    store = CorpusStore(str(tmp_path))
    rel = CorpusStore.partition_path("kept", {"source": "s"})
    rows = frame(40)
    store.write_frame(rel, frame(3))
    with store.commit({rel: arrow_schema(SCHEMA)}) as w:
        w[rel].write(rows.slice(0, 10))
        sink = part_sink({"kept": w[rel]})
        for key in (30, 10, 20):  # the workers finish out of order
            assert sink.write(key, {"kept": rows.slice(key, 10)}) == {"kept": 10}
        assert sink.write(40, {"kept": rows.head(0)}) == {"kept": 0}  # no rows: no file
        for key in (10, 20, 30, 40):
            w[rel].adopt(key, 10 if key < 40 else 0)
        assert store.read(rel).equals(frame(3))  # written, not yet published
    files = store.files(rel)
    assert [f.rsplit("/", 1)[1] for f in files] == [f"part-{store.version(rel)}{k}.parquet" for k in
                                                    ("", "-000000000010", "-000000000020", "-000000000030")]
    assert store.read(rel).equals(rows) and store.num_rows(rel) == 40
    assert [b.height for b in store.iter_batches(rel, batch_rows=15)] == [15, 15, 10]
    assert pl.concat(store.iter_batches(rel, ["n"], batch_rows=15)).equals(rows.select("n"))
    assert store.read_rows(rel, 7, 33).equals(rows.slice(7, 26)) and store.read_rows(rel, 12, 12).height == 0
    store.fs.rm(store.abs(files[0]))  # the rows of a slice come from the files that hold it, not the others
    assert store.read_rows(rel, 15, 35).equals(rows.slice(15, 20))


def test_a_failed_commit_removes_its_parts_and_the_next_commit_the_parts_of_a_dead_one(tmp_path):
    store = CorpusStore(str(tmp_path))
    rel = CorpusStore.partition_path("kept", {"source": "s"})
    folder = tmp_path / "kept" / "source=s"
    with pytest.raises(OSError):
        with store.commit({rel: arrow_schema(SCHEMA)}) as w:
            part_sink({"kept": w[rel]}).write(0, {"kept": frame(5)})
            w[rel].adopt(0, 5)
            raise OSError("the stage failed after a worker wrote its part")
    assert not store.exists(rel) and not [n for n in os.listdir(folder) if n.endswith(".parquet")]
    with store.commit({rel: arrow_schema(SCHEMA)}) as w:  # a driver that died: its workers' parts were never adopted
        part_sink({"kept": w[rel]}).write(0, {"kept": frame(5)})
        w[rel].write(frame(2))
    assert store.read(rel).equals(frame(2))  # the orphan part is never read...
    store.write_frame(rel, frame(4))
    assert os.listdir(folder).count(f"part-{store.version(rel)}.parquet") == 1
    assert len([n for n in os.listdir(folder) if n.endswith(".parquet")]) == 1  # ...and the next commit removes it


def test_a_pinned_version_reads_what_its_run_wrote(tmp_path):
    store = CorpusStore(str(tmp_path))
    rel = CorpusStore.partition_path("a", {"source": "s"})
    store.write_frame(rel, frame(4))
    first = store.version(rel)
    assert store.num_rows(rel, version=first) == 4
    store.write_frame(rel, frame(6))
    assert store.num_rows(rel) == 6
    with pytest.raises(StorageError, match="replaced by a newer run"):
        store.num_rows(rel, version=first)


def test_an_older_run_cannot_overwrite_a_newer_commit(tmp_path):
    from corpus_dag import storage as storage_mod

    store = CorpusStore(str(tmp_path))
    rel = CorpusStore.partition_path("a", {"source": "s"})
    with pytest.raises(storage_mod.ConcurrentCommitError, match="newer run"):
        with store.commit({rel: arrow_schema(SCHEMA)}) as w:  # started first ...
            w[rel].write(frame(2))
            store.write_frame(rel, frame(5))  # ... a second run starts later and commits first
    assert store.read(rel).height == 5


def test_same_rows_give_the_same_bytes_however_they_are_batched(tmp_path):
    store = CorpusStore(str(tmp_path))
    rows = frame(20_000)
    files = []
    for sizes in ((20_000,), (1, 8_191, 3, 11_805), (5_000,) * 4):
        rel = CorpusStore.partition_path(f"b{len(files)}", {"source": "s"})
        with store.commit({rel: arrow_schema(SCHEMA)}) as w:
            start = 0
            for n in sizes:
                w[rel].write(rows.slice(start, n))
                start += n
        files.append(partition_bytes(store, rel))
    assert files[0] == files[1] == files[2]


def test_lists_of_numbers_are_not_dictionary_encoded_strings_are(tmp_path):
    import io

    import numpy as np
    import pyarrow.parquet as pq

    store = CorpusStore(str(tmp_path))
    rng = np.random.default_rng(0)
    df = pl.DataFrame({"doc_id": [f"d{i % 7}" for i in range(1_000)], "tags": [["a", "b"]] * 1_000,
                       "signature": rng.integers(0, 2**32, (1_000, 128), dtype=np.uint32)})
    rel = CorpusStore.partition_path("sigs", {"source": "s"})
    store.write_frame(rel, df)
    [data] = partition_bytes(store, rel)
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    encodings = {meta.row_group(0).column(i).path_in_schema.split(".")[0]: meta.row_group(0).column(i).encodings
                 for i in range(meta.num_columns)}
    assert not any("DICTIONARY" in e for e in encodings["signature"])
    assert any("DICTIONARY" in e for e in encodings["doc_id"]) and any("DICTIONARY" in e for e in encodings["tags"])


def test_killed_process_leaves_no_partial_partition(tmp_path):
    """A writer killed mid-partition (no cleanup at all) never publishes the final file."""
    rel = CorpusStore.partition_path("a", {"source": "s"})
    script = textwrap.dedent(f"""
        import os, polars as pl
        from corpus_dag.storage import CorpusStore, arrow_schema
        store = CorpusStore({str(tmp_path)!r})
        with store.commit({{{rel!r}: arrow_schema({{"doc_id": pl.String, "n": pl.Int64}})}}) as w:
            w[{rel!r}].write(pl.DataFrame({{"doc_id": ["x"] * 1000, "n": list(range(1000))}}))
            w[{rel!r}].flush()
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
    first = partition_bytes(store, rel)
    store.write_frame(rel, frame(5))
    assert partition_bytes(store, rel) == first
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


def test_an_asset_reads_as_one_hive_dataset_of_its_current_files(tmp_path):
    """Files carry their own `source` (large_string) and `date` (date32) columns, which a bare
    `partitioning="hive"` read clashes with; `CorpusStore.dataset` types the folder fields like the
    files and reads only the manifests' current files, not a failed run's leftover."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.dataset as ds

    store = CorpusStore(str(tmp_path))
    for source, day, n in (("web", "2026-11-21", 3), ("web", "2026-11-22", 4), ("wenku", "2026-11-21", 5)):
        rel = CorpusStore.partition_path("docs", {"source": source, "date": day})
        df = pl.DataFrame({"doc_id": [f"{source}{day}{i}" for i in range(n)], "source": [source] * n,
                           "date": [dt.date.fromisoformat(day)] * n})
        with store.commit({rel: arrow_schema(df.schema)}) as w:
            w[rel].write(df)
    leftover = tmp_path / "docs" / "source=web" / "date=2026-11-21" / "part-00000000T000000000000-dead.parquet"
    leftover.write_bytes(partition_bytes(store, CorpusStore.partition_path("docs", {"source": "web", "date": "2026-11-21"}))[0])
    with pytest.raises(pa.ArrowTypeError, match="source"):
        ds.dataset(str(tmp_path / "docs"), partitioning="hive").to_table()
    dataset = store.dataset("docs")
    assert dataset.count_rows() == 12
    assert dataset.schema.field("date").type == pa.date32()
    assert dataset.count_rows(filter=(ds.field("source") == "web") & (ds.field("date") == dt.date(2026, 11, 22))) == 4
    with pytest.raises(StorageError, match="no committed partition"):
        store.dataset("nothing_here")


@pytest.fixture(params=["local", "s3"])
def any_root(request, tmp_path):
    """A local folder, then a bucket prefix on the moto S3 server."""
    return str(tmp_path / "root") if request.param == "local" else request.getfixturevalue("s3_root")


def test_remove_stale_takes_only_dead_runs_scratch(any_root):
    """Scratch folders whose lease is older than max_age_s are removed; a fresh lease, a folder in
    `keep`, and a folder without lease whose files are fresh stay."""
    import json
    import time

    from corpus_dag.dedup import Scratch

    store = CorpusStore(any_root)
    folder = "_scratch/dedup/dedup_clusters/source=wenku"
    now = time.time()
    for name, written_at in (("dead", now - 7 * 3600), ("alive", now - 60), ("mine", now - 9 * 3600)):
        store.write_bytes(f"{folder}/{name}/shards/0000/a.parquet", b"x")
        store.write_bytes(f"{folder}/{name}/_lease.json", json.dumps({"written_at": written_at}).encode())
    store.write_bytes(f"{folder}/no-lease/scatter.json", b"{}")
    Scratch(store.fs, store.abs(f"{folder}/held")).write_lease()

    removed = store.remove_stale(folder, keep=[f"{folder}/mine"], max_age_s=6 * 3600, now=now)
    assert removed == [f"{folder}/dead"]
    left = sorted(p.rsplit("/", 1)[1] for p in store.fs.ls(store.abs(folder), detail=False))
    assert left == ["alive", "held", "mine", "no-lease"]
    later = now + 7 * 3600  # nobody renewed a lease for 7 hours: all but `keep` are stale
    assert sorted(store.remove_stale(folder, keep=[f"{folder}/mine"], max_age_s=6 * 3600, now=later)) == [
        f"{folder}/{n}" for n in ("alive", "held", "no-lease")]
    assert store.remove_stale("_scratch/nothing-here", max_age_s=1) == []


def test_a_held_scratch_renews_its_lease(tmp_path):
    """While a run holds its scratch the lease is rewritten (so its age never passes the limit);
    after the block it is left alone."""
    import json
    import time

    from corpus_dag.dedup import Scratch

    scratch = Scratch.local(tmp_path / "s")
    written = lambda: json.loads(scratch.read_bytes("_lease.json"))["written_at"]  # noqa: E731
    with scratch.held(every_s=0.02):
        first = written()
        deadline = time.monotonic() + 30
        while written() == first and time.monotonic() < deadline:
            time.sleep(0.01)
        assert written() > first
    last = written()
    time.sleep(0.1)
    assert written() == last


def test_a_filtered_read_reads_only_the_row_groups_that_may_hold_its_rows(any_root):
    """`read(where=...)` returns the rows that meet every condition, and never reads a row group
    whose statistics rule it out: the other row groups' pages are overwritten with zeros, and
    the filtered read still succeeds where a whole read fails."""
    import datetime as dt

    store = CorpusStore(any_root)
    rel = CorpusStore.partition_path("c", {"source": "s"})
    days = [dt.date(2026, 11, d) for d in (20, 21, 22)]
    rows = pl.DataFrame({"date": [d for d in days for _ in range(10_000)], "n": range(30_000)})
    store.write_frame(rel, rows)
    day = [("date", "==", days[1])]
    assert store.read(rel, where=day).equals(rows.filter(pl.col("date") == days[1]))
    assert store.read(rel, ["n"], where=[*day, ("n", ">=", 15_000)])["n"].to_list() == list(range(15_000, 20_000))

    [path] = [store.abs(f) for f in store.files(rel)]
    meta = pq.ParquetFile(store.fs.open(path, "rb")).metadata
    data = bytearray(store.fs.cat_file(path))
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        stats = group.column(0).statistics
        if stats.max < days[1] or stats.min > days[1]:
            for c in range(group.num_columns):
                chunk = group.column(c)
                start = min(o for o in (chunk.dictionary_page_offset, chunk.data_page_offset) if o is not None)
                data[start : start + chunk.total_compressed_size] = bytes(chunk.total_compressed_size)
    store.fs.pipe_file(path, bytes(data))
    assert store.read(rel, where=day).equals(rows.filter(pl.col("date") == days[1]))
    with pytest.raises(Exception):
        store.read(rel)
