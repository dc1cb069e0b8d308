"""Ingest through the real Dagster instance: partitions, checks, sensor cursor, nightly schedule."""
import bz2
import datetime as dt
import gzip
import json
import lzma
from pathlib import Path

import dagster as dg
import polars as pl
import zstandard

from assets.common.partitions import DATE_SOURCE, SOURCES
from assets.common.storage import CorpusStorage
from assets.definitions import defs
from corpus_dag.ingest import (
    RAW_DOCUMENTS_SCHEMA,
    REJECTED_DOCUMENTS_SCHEMA,
    IngestCfg,
    PartitionReader,
)
from corpus_dag.storage import CorpusStore, arrow_schema
from tests.helpers import BAD_RECORDS, table_rows, write_jsonl

PK = "2026-11-20|wenku"
DIMS = {"date": "2026-11-20", "source": "wenku"}


def seed(root: str, n_good: int = 40, bad: list | None = None, date: str = "2026-11-20", name: str = "a.jsonl"):
    records = [{"id": f"w{i}", "text": f"2026年期末试卷 第{i}题", "title": "试卷", "src": "t"} for i in range(n_good)]
    return write_jsonl(Path(CorpusStore(root).abs(f"raw/wenku/{date}/{name}")), records + (bad or []))


def run_ingest(instance, pk=PK, raise_on_error=True):
    return dg.materialize(
        [*defs.assets, *defs.asset_checks],
        instance=instance,
        resources=defs.resources,
        selection=["raw_documents", "rejected_documents"],
        partition_key=pk,
        raise_on_error=raise_on_error,
    )


def checks_by_name(result):
    return {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}


def test_ingest_partition_writes_both_assets_and_passes_checks(corpus_root, dagster_instance):
    seed(corpus_root, n_good=40, bad=BAD_RECORDS[:4])
    result = run_ingest(dagster_instance)
    assert result.success
    store = CorpusStore(corpus_root)
    raw = store.read(CorpusStore.partition_path("raw_documents", {"date": "2026-11-20", "source": "wenku"}))
    rej = store.read(CorpusStore.partition_path("rejected_documents", {"date": "2026-11-20", "source": "wenku"}))
    assert raw.height == 40 and rej.height == 4
    assert raw["date"].unique().to_list() == [dt.date(2026, 11, 20)] and raw["source"].unique().to_list() == ["wenku"]
    checks = checks_by_name(result)
    assert checks["schema_text_and_ids"].passed and checks["every_record_accounted"].passed
    mat = dagster_instance.get_latest_materialization_event(dg.AssetKey("raw_documents")).asset_materialization
    assert mat.partition == PK
    assert mat.metadata["rows_in"].value == 44 and mat.metadata["rows_kept"].value == 40
    reasons = {r.data["reason"]: r.data["rows"] for r in mat.metadata["dropped_by_reason"].records}
    assert reasons == {"empty_text": 2, "invalid_json: Expecting value at column 1": 1, "wrong_type: text is int": 1}


def test_kept_rows_are_written_by_part_and_a_repeated_id_rewrites_its_part(corpus_root, dagster_instance):
    """Each batch of each file part is a kept part, written where it was read. An id repeated across files and one
    repeated within a file read in parts are moved to the rejected rows, their parts rewritten without them: the
    partition is an in-process read's (PartitionReader), and every part the manifest names is read."""
    long = " 文档" * 30
    seed(corpus_root, n_good=12, name="a.jsonl")
    b = [{"id": "w3", "text": "the id of a.jsonl's 4th"}] + [{"id": f"b{i}", "text": f"{i}{long}"} for i in range(20)]
    write_jsonl(Path(CorpusStore(corpus_root).abs("raw/wenku/2026-11-20/b.jsonl")), b + [{"id": "b7", "text": "b7 again"}])
    config = {"split_bytes": 1_500, "batch_rows": 4}
    result = dg.materialize([*defs.assets, *defs.asset_checks], instance=dagster_instance, resources=defs.resources,
                            selection=["raw_documents", "rejected_documents"], partition_key=PK,
                            run_config={"ops": {"ingest": {"config": config}}})
    assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
    store = CorpusStore(corpus_root)
    kept = store.read(CorpusStore.partition_path("raw_documents", DIMS))
    rejected = store.read(CorpusStore.partition_path("rejected_documents", DIMS))
    cfg = IngestCfg(batch_rows=4, split_bytes=1_500, **SOURCES.get("wenku").ingest.model_dump())
    reader = PartitionReader(store.fs, "wenku", dt.date(2026, 11, 20), cfg)
    splits = [s for name in ("a.jsonl", "b.jsonl") for s in reader.read(store.abs(f"raw/wenku/2026-11-20/{name}"))]
    assert kept.equals(pl.concat([s.kept for s in splits])) and rejected.equals(pl.concat([s.dropped for s in splits]))
    assert kept["doc_id"].to_list() == [f"w{i}" for i in range(12)] + [f"b{i}" for i in range(20)]  # the repeats left their parts
    assert rejected.select("file", "line", "reason").rows() == [("b.jsonl", 1, "duplicate_doc_id: w3"),
                                                                 ("b.jsonl", 22, "duplicate_doc_id: b7")]
    mat = {e.materialization.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert mat["raw_documents"]["files"].value == len(store.files(CorpusStore.partition_path("raw_documents", DIMS))) > 5
    assert mat["raw_documents"]["rows_kept"].value == kept.height == 12 + 20


def test_rejected_rate_check_blocks_a_broken_dump(corpus_root, dagster_instance):
    seed(corpus_root, n_good=2, bad=BAD_RECORDS)
    result = run_ingest(dagster_instance, raise_on_error=False)
    assert not result.success
    check = checks_by_name(result)["every_record_accounted"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    # The data is still there for inspection; the check tells downstream not to consume it.
    assert CorpusStore(corpus_root).exists(CorpusStore.partition_path("rejected_documents", DIMS))


def test_rematerializing_is_idempotent(corpus_root, dagster_instance):
    seed(corpus_root)
    run_ingest(dagster_instance)
    store = CorpusStore(corpus_root)
    rel = CorpusStore.partition_path("raw_documents", DIMS)
    first = store.read(rel)
    run_ingest(dagster_instance)
    assert store.read(rel).equals(first)


def sensor_tick(instance, cursor=None):
    sensor = defs.get_sensor_def("raw_files_sensor")
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"storage": CorpusStorage()})
    result = sensor(ctx)
    return (result if isinstance(result, list) else []), ctx.cursor


def test_sensor_requests_new_and_changed_partitions_once(corpus_root, dagster_instance):
    seed(corpus_root, date="2026-11-20")
    seed(corpus_root, date="2026-11-21")
    requests, cursor = sensor_tick(dagster_instance)
    assert sorted(r.partition_key for r in requests) == ["2026-11-20|wenku", "2026-11-21|wenku"]
    again, cursor = sensor_tick(dagster_instance, cursor)
    assert again == []  # same files: nothing launches twice
    seed(corpus_root, n_good=41, date="2026-11-21")  # the file changed
    changed, cursor = sensor_tick(dagster_instance, cursor)
    assert [r.partition_key for r in changed] == ["2026-11-21|wenku"]
    assert changed[0].run_key != requests[1].run_key


def test_nightly_schedule_targets_previous_day_for_every_source(dagster_instance):
    schedule = defs.get_schedule_def("nightly_previous_day")
    ctx = dg.build_schedule_context(instance=dagster_instance, scheduled_execution_time=dt.datetime(2026, 11, 21, 1, 0))
    keys = sorted(r.partition_key for r in schedule(ctx))
    assert keys == ["2026-11-20|patents", "2026-11-20|web", "2026-11-20|wenku"]


def test_partitions_and_job_shape():
    job = defs.resolve_job_def("corpus_daily")
    keys = job.partitions_def.get_partition_keys(current_time=dt.datetime(2026, 11, 22))
    assert "2026-11-21|wenku" in keys and keys[0] == f"{SOURCES.start_date.isoformat()}|wenku"


def recheck(instance, pk=PK):
    """Run only raw_documents' checks for one partition, on what is stored now."""
    job = dg.define_asset_job("recheck_raw", selection=dg.AssetSelection.checks_for_assets("raw_documents"), partitions_def=DATE_SOURCE)
    job_def = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, resources=defs.resources, jobs=[job]).resolve_job_def("recheck_raw")
    return job_def.execute_in_process(instance=instance, tags={"dagster/partition": pk}, raise_on_error=False)


def test_accounting_check_counts_with_a_decoder_that_sees_a_cut_zst(corpus_root, dagster_instance):
    path = Path(CorpusStore(corpus_root).abs("raw/wenku/2026-11-20/dump.jsonl.zst"))
    path.parent.mkdir(parents=True)
    lines = b"".join(json.dumps({"id": f"z{i}", "text": f"2026年期末试卷 第{i}题 " * 20}).encode() + b"\n" for i in range(3000))
    blob = zstandard.ZstdCompressor().compress(lines)
    path.write_bytes(blob)
    assert checks_by_name(run_ingest(dagster_instance))["every_record_accounted"].passed
    # The file is cut after the ingest (a partial re-upload): the lenient zstd reader would still
    # read a prefix of it and agree with itself; the independent count must not.
    path.write_bytes(blob[: len(blob) // 2])
    check = checks_by_name(recheck(dagster_instance))["every_record_accounted"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert any("dump.jsonl.zst" in r["expectation"] + r["observed"] for r in table_rows(check.metadata["outcomes"]))


def test_damaged_file_fails_the_run_and_names_the_file(corpus_root, dagster_instance):
    seed(corpus_root)
    path = Path(CorpusStore(corpus_root).abs("raw/wenku/2026-11-20/b.jsonl.gz"))
    blob = gzip.compress(b"".join(b'{"text": "doc %d"}\n' % i for i in range(5000)))
    path.write_bytes(blob[: len(blob) // 2])
    result = run_ingest(dagster_instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key == "ingest"
    assert "damaged raw file" in str(failure.step_failure_data.error) and "b.jsonl.gz" in str(failure.step_failure_data.error)


def test_other_suffixes_are_read_and_skipped_files_are_named(corpus_root, dagster_instance):
    seed(corpus_root, n_good=10, name="a.ndjson")
    folder = Path(CorpusStore(corpus_root).abs("raw/wenku/2026-11-20"))
    (folder / "b.JSONL.XZ").write_bytes(lzma.compress(b"".join(b'{"id": "x%d", "text": "xz %d"}\n' % (i, i) for i in range(5))))
    (folder / "README.txt").write_text("exported by the crawler\n")
    (folder / "extra").mkdir()
    (folder / "extra" / "c.jsonl").write_text('{"text": "in a subfolder"}\n')
    result = run_ingest(dagster_instance)
    checks = checks_by_name(result)
    assert checks["every_record_accounted"].passed and checks["schema_text_and_ids"].passed
    mat = dagster_instance.get_latest_materialization_event(dg.AssetKey("raw_documents")).asset_materialization
    assert mat.metadata["rows_kept"].value == 15
    assert sorted(r["file"] for r in table_rows(mat.metadata["raw_files"])) == ["a.ndjson", "b.JSONL.XZ"]
    assert mat.metadata["skipped_files"].value == ["README.txt", "extra/c.jsonl"]
    logged = [e.message for e in dagster_instance.all_logs(result.run_id) if "skipped" in (e.message or "")]
    assert any("README.txt" in m for m in logged) and any("extra/c.jsonl" in m for m in logged)


def test_accounting_check_accepts_a_quarantined_file(corpus_root, dagster_instance):
    """What the reader writes with on_damaged_file="quarantine" reconciles: the damaged file is one
    rejected row, and the independent counter finds the same file damaged."""
    good = seed(corpus_root, n_good=30)
    cut = good.parent / "cut.jsonl.bz2"
    blob = bz2.compress(b"".join(b'{"text": "bz2 doc %d"}\n' % i for i in range(4000)))
    cut.write_bytes(blob[: len(blob) // 2])
    store = CorpusStore(corpus_root)
    dims = {"source": "wenku", "date": "2026-11-20"}
    reader = PartitionReader(store.fs, "wenku", dt.date(2026, 11, 20), IngestCfg(on_damaged_file="quarantine"))
    paths = [CorpusStore.partition_path(a, dims) for a in ("raw_documents", "rejected_documents")]
    with store.commit(dict(zip(paths, (arrow_schema(RAW_DOCUMENTS_SCHEMA), arrow_schema(REJECTED_DOCUMENTS_SCHEMA))))) as writers:
        kept, rejected = (writers[p] for p in paths)
        for f in store.raw_files("wenku", "2026-11-20")[("wenku", "2026-11-20")]:
            for split in reader.read(f.path):
                kept.write(split.kept)
                rejected.write(split.dropped)
    assert (kept.rows, rejected.rows) == (30, 1)
    check = checks_by_name(recheck(dagster_instance))["every_record_accounted"]
    assert check.passed, check.metadata["outcomes"].value
