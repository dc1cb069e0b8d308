"""The demo's runner: every wave runs through a named job; the funnel; the random-model note;
stage caveats said once."""
import dagster as dg
import pytest

from assets.common.partitions import DATE_SOURCE
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


# A small graph for the run plan: two unpartitioned assets (one slow to build), a daily asset that
# needs only the quick one, and a second daily asset that needs the first and the slow one.
@dg.asset
def slow_model() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 1})


@dg.asset
def quick_lexicon() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 2})


@dg.asset(partitions_def=DATE_SOURCE, deps=[quick_lexicon])
def parsed() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 3})


@dg.asset(partitions_def=DATE_SOURCE, deps=[parsed, slow_model])
def scored(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    record = context.instance.get_latest_materialization_event(dg.AssetKey("parsed"))
    assert record is not None  # its upstream ran first, in another process
    return dg.MaterializeResult(metadata={"dagster/row_count": 4})


PLAN_DEFS = dg.Definitions(
    assets=[slow_model, quick_lexicon, parsed, scored],
    jobs=[dg.define_asset_job("plan_global", selection=[slow_model, quick_lexicon]),
          dg.define_asset_job("plan_daily", selection=[parsed, scored], partitions_def=DATE_SOURCE)],
)


def test_runs_wait_only_for_the_runs_that_hold_their_parents():
    from assets.runner import plan_runs

    keys = DATE_SOURCE.get_partition_keys()[:2]
    units = plan_runs(PLAN_DEFS, keys)
    by_name = {(tuple(k.to_user_string() for k in u.keys), u.partition): u for u in units}
    slow, quick = by_name[(("slow_model",), None)], by_name[(("quick_lexicon",), None)]
    assert slow.job == quick.job == "plan_global" and not slow.after and not quick.after  # one run per unpartitioned asset
    for pk in keys:
        daily = by_name[(("parsed", "scored"), pk)]
        assert daily.job == "plan_daily" and daily.after == {quick.index, slow.index}
    # the whole plan's wave structure: a partition of the second wave never waits on another partition
    assert len(units) == 2 + len(keys)


def test_side_by_side_runs_give_the_serial_summary(dagster_instance):
    keys = DATE_SOURCE.get_partition_keys()[:3]
    serial = materialize_all(PLAN_DEFS, dagster_instance, keys, log=lambda _m: None)
    lines: list[str] = []
    parallel = materialize_all(PLAN_DEFS, dagster_instance, keys, log=lines.append, workers=2,
                               defs_ref="tests.test_runner_jobs:PLAN_DEFS")
    assert [(r.asset, r.partition, r.rows_out) for r in parallel.rows] == [(r.asset, r.partition, r.rows_out) for r in serial.rows]
    assert len(parallel.rows) == 2 + 2 * len(keys) and len(lines) == 2 + len(keys)
    runs = dagster_instance.get_run_records()
    assert {r.dagster_run.job_name for r in runs} == {"plan_global", "plan_daily"}
    assert len(runs) == 2 * (2 + len(keys))
