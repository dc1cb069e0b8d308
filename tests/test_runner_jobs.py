"""The demo's runner: every wave runs through a named job; the funnel; the random-model note;
stage caveats said once."""
import os

import dagster as dg
import pytest

from assets.common.partitions import DATE_SOURCE
from assets.common.pools import assign_free_slots, pool_slots_sensor
from assets.definitions import defs
from assets.rebuild.resources import LLMEngine
from assets.runner import RunSummary, StageRow, _job_for, funnel, materialize_all, plan_waves
from corpus_dag.llm.tiny_model import RANDOM_MODEL_NOTE


def test_every_wave_runs_in_a_named_job_of_its_partitioning():
    for pdef, wave in plan_waves(defs):
        job = _job_for(defs, wave)
        assert not job.name.startswith("__"), wave
        assert job.partitions_def == pdef, job.name
    named = set().union(*(j.asset_layer.executable_asset_keys for j in defs.resolve_all_job_defs() if not j.name.startswith("__")))
    assert named == set(defs.resolve_asset_graph().materializable_asset_keys)
    assert _job_for(defs, [k for _, w in plan_waves(defs)[1:2] for k in w]).name == "corpus_daily"


def test_funnel_counts_overall_and_per_source():
    rows = [
        StageRow("raw_documents", "2026-11-20|wenku", None, 10),
        StageRow("raw_documents", "2026-11-21|wenku", None, 5),
        StageRow("raw_documents", "2026-11-20|web", None, 7),
        StageRow("exam_documents", "2026-11-20|wenku", None, 4),
        StageRow("exam_documents", "2026-11-20|web", None, 0),
        StageRow("dedup_clusters", "wenku", None, 3),  # not a funnel stage
        StageRow("training_mixture", "demo", None, 9),
    ]
    got = {r.label: (r.total, r.by_source) for r in funnel(RunSummary(rows=rows))}
    assert got == {
        "documents ingested": (22, {"web": 7, "wenku": 15}),
        "exam papers": (4, {"web": 0, "wenku": 4}),
        "training rows": (9, {}),
    }


@pytest.mark.slow
def test_the_tiny_random_model_says_why_its_items_are_empty(tiny_model_path, tmp_path, monkeypatch):
    monkeypatch.setenv("CORPUS_REBUILD_MODEL", str(tiny_model_path))
    assert LLMEngine().random_model_note() == RANDOM_MODEL_NOTE
    assert "CORPUS_REBUILD_MODEL" in RANDOM_MODEL_NOTE and "kind: openai" in RANDOM_MODEL_NOTE
    (tmp_path / "config.json").write_text("{}")  # any other model folder: no note
    assert LLMEngine(model=str(tmp_path)).random_model_note() is None
    assert LLMEngine(kind="openai", model="m", base_url="http://127.0.0.1:1/v1").random_model_note() is None


def test_a_caveat_repeated_on_every_partition_is_collected_once(dagster_instance):
    """`make demo` prints each stage caveat (a demo model, the demo lists) once, from metadata,
    however many partitions repeat it; a stage without one adds nothing."""
    @dg.asset(partitions_def=DATE_SOURCE)
    def lists_stage() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"lists_warning": "demo lists", "dagster/row_count": 1})

    @dg.asset(partitions_def=DATE_SOURCE, deps=[lists_stage])
    def plain_stage() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"dagster/row_count": 1})

    small = dg.Definitions(assets=[lists_stage, plain_stage],
                           jobs=[dg.define_asset_job("small", partitions_def=DATE_SOURCE)])
    keys = DATE_SOURCE.get_partition_keys()[:2]
    summary = materialize_all(small, dagster_instance, keys, log=lambda _m: None)
    assert len(summary.rows) == 4
    assert summary.caveats == {"lists_stage": "demo lists"}


# ---- worker processes ---------------------------------------------------------------------------
def _pids(instance, asset: str) -> dict[str | None, int]:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
    return {r.partition_key: r.asset_materialization.metadata["pid"].value for r in records}


def test_worker_processes_give_the_sequential_result_and_keep_a_sources_model_runs_together(dagster_instance):
    """Independent roots run side by side (the second wave waits only for the root it reads); a
    source's `gpu` runs stay in one process; the summary is the sequential one, in plan order."""
    from tests.runner_defs import defs as small

    keys = ["2026-11-20|web", "2026-11-21|web", "2026-11-20|wenku", "2026-11-21|wenku"]
    said = []
    parallel = materialize_all(small, dagster_instance, keys, log=said.append, workers=2, defs_ref="tests.runner_defs:defs",
                               weight={"2026-11-20|wenku": 10, "2026-11-21|wenku": 10})
    roots = _pids(dagster_instance, "slow_root") | {"fast": _pids(dagster_instance, "fast_root")[None]}
    assert os.getpid() not in {*roots.values(), *_pids(dagster_instance, "model_stage").values()}  # all in workers
    model = _pids(dagster_instance, "model_stage")
    assert model["2026-11-20|wenku"] == model["2026-11-21|wenku"] and model["2026-11-20|web"] == model["2026-11-21|web"]
    assert said[:3] == ["-> roots: fast_root [unpartitioned]", "-> roots: slow_root [unpartitioned]",
                        "-> daily: model_stage, after_both [2026-11-20|wenku]"]  # the heavier partitions first
    sequential = materialize_all(small, dagster_instance, keys, log=lambda _m: None)
    strip = lambda s: [(r.asset, r.partition, r.rows_out) for r in s.rows]
    assert sorted(strip(parallel)) == sorted(strip(sequential)) and len(strip(parallel)) == 2 + 2 * len(keys)
    assert [r.asset for r in parallel.rows][:2] == ["fast_root", "slow_root"]


def test_a_free_slot_reaches_a_step_queued_while_another_run_freed_it(dagster_instance):
    """Dagster's race: a claim counts the free slots (none), another run frees its slot, then the claim
    queues its step unassigned. The runner's parent gives the free slot to the queued step while it
    waits, and never more steps than the pool has slots."""
    storage = dagster_instance.event_log_storage
    storage.set_concurrency_slots("gpu", 1)
    for run in ("run-a", "run-b"):  # queued unassigned beside a free slot: what the race leaves
        storage.add_pending_step("gpu", run, "model_stage", should_assign=False)

    def assigned() -> list[str]:
        return [run for run in ("run-a", "run-b") if storage.check_concurrency_claim("gpu", run, "model_stage").is_assigned]

    assert assigned() == []
    assert assign_free_slots(dagster_instance) == [("gpu", "run-a", "model_stage")]  # the first queued
    assert assigned() == ["run-a"]
    assert assign_free_slots(dagster_instance) == []  # the one slot is taken: nothing more
    assert assigned() == ["run-a"]
    storage.free_concurrency_slot_for_step("run-a", "model_stage")  # its run ends: Dagster hands it on
    assert assigned() == ["run-b"]


def test_the_daemon_gives_a_free_slot_to_a_step_queued_beside_it(dagster_instance):
    """Runs launched from the UI, a schedule or a sensor meet the same race: pool_slots_sensor (on by
    default, every 30 s) assigns the slot, says to which step, and requests no run."""
    storage = dagster_instance.event_log_storage
    storage.set_concurrency_slots("gpu", 1)
    assert pool_slots_sensor in defs.sensors
    assert pool_slots_sensor.default_status == dg.DefaultSensorStatus.RUNNING and pool_slots_sensor.minimum_interval_seconds == 30
    idle = pool_slots_sensor.evaluate_tick(dg.build_sensor_context(instance=dagster_instance))
    assert idle.skip_message == "no pool has a free slot beside a queued step" and not idle.run_requests
    storage.add_pending_step("gpu", "0123456789abcdef", "rebuilt_math_items", should_assign=False)
    tick = pool_slots_sensor.evaluate_tick(dg.build_sensor_context(instance=dagster_instance))
    assert not tick.run_requests
    assert tick.skip_message == "gave 1 free pool slot(s) to queued steps: rebuilt_math_items of run 01234567 (gpu)"
    assert storage.check_concurrency_claim("gpu", "0123456789abcdef", "rebuilt_math_items").is_assigned


def test_a_failed_run_in_a_worker_stops_the_plan_and_names_its_error(dagster_instance, monkeypatch):
    from tests.runner_defs import defs as small

    monkeypatch.setenv("RUNNER_TEST_FAIL", "2026-11-21|web")
    with pytest.raises(RuntimeError, match=r"of daily \[2026-11-21\|web\] failed: .*planted failure in 2026-11-21\|web"):
        materialize_all(small, dagster_instance, ["2026-11-20|web", "2026-11-21|web"], log=lambda _m: None,
                        workers=2, defs_ref="tests.runner_defs:defs")
    assert "2026-11-21|web" not in _pids(dagster_instance, "after_both")


def test_workers_need_a_persistent_instance():
    from tests.runner_defs import defs as small

    with dg.DagsterInstance.ephemeral() as instance, pytest.raises(ValueError, match="persistent Dagster instance"):
        materialize_all(small, instance, [], workers=2, defs_ref="tests.runner_defs:defs")
