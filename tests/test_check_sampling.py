"""Checks stay bounded in memory: GX sees a seeded sample, per-value expectations are judged exactly
over every row in streamed polars batches."""
import datetime as dt

import dagster as dg
import great_expectations.expectations as gxe
import polars as pl
import pytest

import assets.common.checks as common_checks
from corpus_dag.ingest import RAW_DOCUMENTS_SCHEMA
from corpus_dag.storage import CorpusStore
from corpus_dag.validation import seeded_sample, whole_partition_outcomes
from tests.helpers import table_rows
from tests.test_ingest_dagster import recheck


def batches_of(df: pl.DataFrame, size: int):
    return lambda cols=None: (df.select(cols or df.columns).slice(i, size) for i in range(0, df.height, size))


def test_seeded_sample_is_bounded_reproducible_and_drawn_from_every_batch():
    df = pl.DataFrame({"i": range(1000)})
    a = seeded_sample(batches_of(df, 64)(), 1000, 100, seed=7)
    assert a.height == 100 and a["i"].is_unique().all() and a["i"].is_sorted()
    assert a.equals(seeded_sample(batches_of(df, 64)(), 1000, 100, seed=7))
    assert not a.equals(seeded_sample(batches_of(df, 64)(), 1000, 100, seed=8))
    assert a["i"].min() < 100 and a["i"].max() > 900  # not just the first batches
    assert seeded_sample(batches_of(df, 64)(), 1000, 5000, seed=7).equals(df)


def raw_frame(n: int) -> pl.DataFrame:
    ids = [f"d{i}" for i in range(n)]
    ids[-1] = "d0"  # one duplicate, far from the first
    texts = [f"text {i}" for i in range(n)]
    texts[n // 2] = ""
    hashes = ["sha1:" + "a" * 40] * n
    hashes[n // 3] = "md5:abc"
    return pl.DataFrame({"doc_id": ids, "text": texts, "hash": hashes, "score": [0.5] * (n - 1) + [1.5]})


def test_whole_partition_twins_count_every_row():
    df = raw_frame(5000)
    suite = [
        gxe.ExpectColumnValuesToBeUnique(column="doc_id"),
        gxe.ExpectColumnValueLengthsToBeBetween(column="text", min_value=1),
        gxe.ExpectColumnValuesToMatchRegex(column="hash", regex=r"^sha1:[0-9a-f]{40}$"),
        gxe.ExpectColumnValuesToBeBetween(column="score", min_value=0.0, max_value=1.0),
        gxe.ExpectColumnValuesToBeInSet(column="hash", value_set=["sha1:" + "a" * 40], mostly=0.99),
        gxe.ExpectColumnValuesToNotBeNull(column="text"),
    ]
    got = {(o.expectation.split(" ")[0], o.column): (o.success, o.unexpected_count) for o in whole_partition_outcomes(suite, batches_of(df, 700))}
    assert got == {
        ("ExpectColumnValuesToBeUnique", "doc_id"): (False, 2),
        ("ExpectColumnValueLengthsToBeBetween", "text"): (False, 1),
        ("ExpectColumnValuesToMatchRegex", "hash"): (False, 1),
        ("ExpectColumnValuesToBeBetween", "score"): (False, 1),
        ("ExpectColumnValuesToBeInSet", "hash"): (True, 1),  # within `mostly`
        ("ExpectColumnValuesToNotBeNull", "text"): (True, 0),
    }


def test_schema_check_finds_a_duplicate_the_gx_sample_misses(corpus_root, dagster_instance, monkeypatch):
    monkeypatch.setattr(common_checks, "SAMPLE_ROWS", 50)
    n = 3000
    df = raw_frame(n).drop("score").with_columns(
        source=pl.lit("wenku"), date=pl.lit(dt.date(2026, 11, 20)), title=None, url=None, n_chars=pl.col("text").str.len_chars(), meta=None
    )
    df = df.with_columns(text=pl.lit("body"), hash=pl.lit("sha1:" + "b" * 40))  # only the duplicate id is wrong
    store = CorpusStore(corpus_root)
    store.write_frame(CorpusStore.partition_path("raw_documents", {"source": "wenku", "date": "2026-11-20"}),
                      df.select(list(RAW_DOCUMENTS_SCHEMA)).cast(RAW_DOCUMENTS_SCHEMA))
    result = recheck(dagster_instance, "2026-11-20|wenku")
    check = next(e for e in result.get_asset_check_evaluations() if e.asset_check_key.name == "schema_text_and_ids")
    expectations = [r["expectation"] for r in table_rows(check.metadata["outcomes"])]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert any("sample of 50 rows" in e for e in expectations)
    failed = check.metadata["failed"].value
    assert any("ExpectColumnValuesToBeUnique (whole partition, 3,000 values)" in f for f in failed)
    assert not any(f.startswith("expect_column_values_to_be_unique (GX") for f in failed)  # the sample alone missed it


def test_one_read_serves_the_gx_sample_and_the_exact_rules(tmp_path, monkeypatch):
    """The partition is streamed once for both (a second read of its text costs RSS); a suite without
    per-value expectations still gets its GX sample."""
    from corpus_dag.storage import PartitionData

    monkeypatch.setattr(common_checks, "SAMPLE_ROWS", 40)
    store = CorpusStore(str(tmp_path))
    rel = CorpusStore.partition_path("a", {"source": "s"})
    store.write_frame(rel, raw_frame(500))
    data = PartitionData(store, rel)
    reads = []
    stream = common_checks._stream
    monkeypatch.setattr(common_checks, "_stream", lambda data, cols: reads.append(cols) or stream(data, cols))
    columns = ["doc_id", "text", "hash", "score"]

    got = common_checks._suite_outcomes(data, columns, [gxe.ExpectColumnValuesToBeUnique(column="doc_id"),
                                                        gxe.ExpectTableColumnsToMatchOrderedList(column_list=columns)], "t", seed=1)
    assert len(reads) == 2  # one pass for sample + rules; the second only re-checks the hash collisions of the duplicate
    assert any(o.expectation.startswith("expect_table_columns_to_match_ordered_list (GX, sample of 40 rows") and o.success for o in got)
    assert any(o.expectation.startswith("ExpectColumnValuesToBeUnique (whole partition, 500 values)") and not o.success for o in got)

    reads.clear()
    got = common_checks._suite_outcomes(data, columns, [gxe.ExpectTableColumnsToMatchOrderedList(column_list=columns)], "t", seed=1)
    assert len(reads) == 1 and [o.success for o in got] == [True] and "sample of 40 rows" in got[0].expectation


def test_gx_sample_is_bounded_in_bytes_as_well_as_rows(tmp_path, monkeypatch):
    """GX's memory grows with the sample's bytes: long rows get fewer sampled rows, short rows all of SAMPLE_ROWS."""
    from corpus_dag.storage import PartitionData

    monkeypatch.setattr(common_checks, "SAMPLE_ROWS", 300)
    monkeypatch.setattr(common_checks, "SAMPLE_BYTES", 200_000)
    store = CorpusStore(str(tmp_path))
    long_rows = raw_frame(1000).with_columns(text=pl.format("{} {}", pl.col("text"), pl.lit("语料" * 2000)))  # ~12 KB a row
    for name, frame in (("long", long_rows), ("short", raw_frame(1000))):
        store.write_frame(CorpusStore.partition_path(name, {"source": "s"}), frame)
    long_data, short_data = (PartitionData(store, CorpusStore.partition_path(n, {"source": "s"})) for n in ("long", "short"))

    assert 10 <= common_checks._sample_rows(long_data, ["doc_id", "text"]) <= 20
    assert common_checks._sample_rows(long_data, ["doc_id", "hash"]) == 300  # only the sampled columns count
    assert common_checks._sample_rows(short_data, None) == 300
    got = common_checks._suite_outcomes(long_data, ["doc_id", "text"], [gxe.ExpectColumnValuesToNotBeNull(column="text")], "t", seed=1)
    label = next(o.expectation for o in got if "(GX, sample of" in o.expectation)
    assert 10 <= int(label.split("sample of ")[1].split(" rows")[0]) <= 20


def test_streamed_pass_restores_arrow_memory_pool():
    import pyarrow as pa

    before = pa.default_memory_pool().backend_name
    try:
        with common_checks._returned_to_the_os():
            assert pa.default_memory_pool().backend_name == "system"
            raise ValueError("a failing pass")
    except ValueError:
        pass
    assert pa.default_memory_pool().backend_name == before


def test_gx_is_imported_without_altair_until_altair_is_used():
    """A fresh process: the check's GX import and a validation leave altair unloaded; a real use loads it."""
    import subprocess
    import sys
    from pathlib import Path

    code = """
import sys, polars as pl
from assets.common.checks import _import_gx
_import_gx()
import great_expectations.expectations as gxe
from corpus_dag.validation import run_suite
assert run_suite(pl.DataFrame({"a": [1, 2]}), [gxe.ExpectColumnValuesToNotBeNull(column="a")]).success
assert "altair.vegalite" not in sys.modules
import altair
assert altair.Chart(pl.DataFrame({"a": [1]}).to_pandas()).mark_bar() is not None and "altair.vegalite" in sys.modules
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-2000:]


def test_a_check_reads_its_own_runs_version_or_says_it_was_replaced(tmp_path):
    """What a check validates: the version its run wrote, even after a newer commit of an input; once a
    newer run replaced that version itself, an error naming both versions (not the newer run's data)."""
    from assets.common.checks import pinned_to_own_version
    from corpus_dag.storage import CorpusStore, StorageError

    store = CorpusStore(str(tmp_path))
    dims = {"source": "s"}
    own, other = (CorpusStore.partition_path(a, dims) for a in ("kept", "upstream"))
    store.write_frame(other, pl.DataFrame({"n": [1]}))
    store.write_frame(own, pl.DataFrame({"n": [1, 2]}))
    mine = store.version(own)
    store.write_frame(other, pl.DataFrame({"n": [1, 2, 3]}))  # an input re-committed later
    pinned = pinned_to_own_version(store, "kept", dims, mine)
    assert (pinned.num_rows(own), pinned.num_rows(other)) == (2, 3)
    assert pinned_to_own_version(store, "kept", dims, None).num_rows(own) == 2  # no version of this run: the current one
    store.write_frame(own, pl.DataFrame({"n": [7]}))
    with pytest.raises(StorageError, match=f"version {mine}, which this run wrote, was replaced by version {store.version(own)}"):
        pinned_to_own_version(store, "kept", dims, mine)


def test_a_suite_frees_its_pandas_frame_and_leaves_the_heap_unfrozen():
    """run_suite freezes the objects that existed before it so that its collection scans only GX's
    objects: afterwards the frame GX held is gone and nothing stays frozen, also when GX fails."""
    import gc

    import pandas as pd

    from corpus_dag.validation import run_suite

    df = pl.DataFrame({"a": [str(i) for i in range(2_000)]})
    outcome = run_suite(df, [gxe.ExpectColumnValuesToBeUnique(column="a")])
    assert outcome.success and gc.get_freeze_count() == 0
    assert not [o for o in gc.get_objects() if isinstance(o, pd.DataFrame) and "a" in o.columns and len(o) == 2_000]
    with pytest.raises(Exception):
        run_suite(df, ["not an expectation"])
    assert gc.get_freeze_count() == 0
