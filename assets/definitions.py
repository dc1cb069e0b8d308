"""The one `Definitions` of corpus_dag: every area's assets and checks, plus jobs, sensor, schedule."""
import warnings

import dagster as dg

from assets import (
    classify,
    curate,
    dedup,
    exam,
    ingest,
    posttrain,
    quality,
    rebuild,
    safety,
)
from assets.common.engine import CorpusEngine
from assets.common.partitions import DATE_SOURCE, dims_for
from assets.common.pools import pool_slots_sensor
from assets.common.storage import CorpusIOManager, CorpusStorage
from assets.curate.assets import check_recipe_assets
from assets.ingest.sensors import nightly_schedule, raw_files_sensor
from corpus_dag.llm.logs import route_third_party_logs

# vLLM/torch loading chatter goes to the run's event log at DEBUG, not the terminal (`make demo`, `make ui`).
route_third_party_logs(dg.get_dagster_logger("third_party"))
# corpus_daily runs one partition per run on purpose (sensor, schedule, make demo); rebuilt_math_items'
# multi-run backfill policy is for its own backfills. Dagster says so at every load, to no one's benefit.
warnings.filterwarnings("ignore", message="Asset job corpus_daily materializes assets with varying BackfillPolicies")
AREAS = [ingest, exam, rebuild, posttrain, dedup, quality, safety, classify, curate]
# Stages that aggregate over many partitions (all dates of a source, or a reference sample).
GLOBAL_STAGES = ["dedup_clusters", "math_dedup_clusters", "ppl_thresholds", "coherence_thresholds"]


def corpus_resources(root: str | None = None, engine: CorpusEngine | None = None) -> dict:
    """The resources every stage uses: storage (CORPUS_ROOT), its IO manager, and the engine."""
    storage = CorpusStorage(root=root)
    return {"storage": storage, "io_manager": CorpusIOManager(storage=storage), "engine": engine or CorpusEngine()}


def _global_jobs(areas: dg.Definitions, partition_local: set[dg.AssetKey]) -> list:
    """The stages outside `corpus_daily`, one named job per partitioning (a run has one partitions
    definition): `corpus_global` (unpartitioned), `corpus_global_by_source`, `..._by_date_source`, ...
    so that runs launched for them (`make demo`, the UI) are attributed to a job."""
    graph = areas.resolve_asset_graph()
    by_pdef: list[tuple] = []  # (partitions definition, asset keys); definitions are not hashable
    for key in sorted(graph.materializable_asset_keys - partition_local, key=lambda k: k.to_user_string()):
        pdef = graph.get(key).partitions_def
        group = next((g for p, g in by_pdef if p == pdef), None)
        if group is None:
            by_pdef.append((pdef, group := []))
        group.append(key)
    jobs = []
    for pdef, keys in by_pdef:
        dims = "_".join(dims_for(pdef, pdef.get_first_partition_key())) if pdef else ""
        jobs.append(
            dg.define_asset_job(
                f"corpus_global_by_{dims}" if dims else "corpus_global",
                selection=dg.AssetSelection.assets(*keys),
                partitions_def=pdef,
                description="Stages that aggregate over many partitions, or follow one that does"
                + (f" (partitioned by {dims.replace('_', ' x ')})." if dims else " (unpartitioned)."),
            )
        )
    return jobs


def _build() -> dg.Definitions:
    areas = dg.Definitions.merge(*(area.defs for area in AREAS), dg.Definitions(resources=corpus_resources()))
    downstream_of_global = dg.AssetSelection.assets(*GLOBAL_STAGES).downstream()
    # Partition-local work runs per date x source partition (sensor, schedule, backfills). The
    # global stages and everything after them follow on their own once their inputs change.
    areas = areas.map_resolved_asset_specs(
        func=lambda spec: spec.replace_attributes(automation_condition=dg.AutomationCondition.eager()),
        selection=downstream_of_global,
    )
    check_recipe_assets([k.to_user_string() for k in areas.resolve_asset_graph().materializable_asset_keys])
    partition_local = [
        k
        for a in areas.assets or []
        if isinstance(a, dg.AssetsDefinition) and a.partitions_def == DATE_SOURCE
        for k in a.keys
    ]
    daily_selection = dg.AssetSelection.assets(*partition_local) - downstream_of_global
    corpus_daily = dg.define_asset_job(
        "corpus_daily",
        selection=daily_selection,
        partitions_def=DATE_SOURCE,
        description="The partition-local stages of one date x source partition (what the sensor and the "
        "nightly schedule run): ingest, exam extraction, math rebuild, MinHash signatures.",
    )
    return dg.Definitions.merge(
        areas,
        dg.Definitions(
            jobs=[corpus_daily, *_global_jobs(areas, daily_selection.resolve(areas.resolve_asset_graph()))],
            sensors=[raw_files_sensor(corpus_daily), pool_slots_sensor],
            schedules=[nightly_schedule(corpus_daily)],
            # One process per run: stages stream their batches and use the cores inside the step.
            executor=dg.in_process_executor,
        ),
    )


defs = _build()
