"""Ingest through the real Dagster instance: partitions, checks, sensor cursor, nightly schedule."""
import datetime as dt
from pathlib import Path

import dagster as dg

from assets.common.storage import CorpusStorage
from assets.definitions import defs
from corpus_dag.storage import CorpusStore
from tests.helpers import BAD_RECORDS, write_jsonl

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
    assert mat.metadata["dropped_reasons"].value == {"empty_text": 2, "invalid_json: Expecting value at column 1": 1, "wrong_type: text is int": 1}


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
    assert "2026-11-21|wenku" in keys and keys[0] == "2026-11-01|wenku"
