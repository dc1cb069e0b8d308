"""The one `Definitions` of corpus_dag: every area's assets and checks, plus jobs, sensor, schedule."""
import dagster as dg

from assets import curate, dedup, exam, ingest, posttrain, quality, rebuild
from assets.common.partitions import DATE_SOURCE
from assets.common.storage import CorpusIOManager, CorpusStorage
from assets.ingest.sensors import nightly_schedule, raw_files_sensor

AREAS = [ingest, exam, rebuild, posttrain, dedup, quality, curate]
# Stages that aggregate over many partitions (all dates of a source, or a reference sample).
GLOBAL_STAGES = ["dedup_clusters", "math_dedup_clusters", "ppl_thresholds"]


def _build() -> dg.Definitions:
    storage = CorpusStorage()
    areas = dg.Definitions.merge(
        *(area.defs for area in AREAS),
        dg.Definitions(resources={"storage": storage, "io_manager": CorpusIOManager(storage=storage)}),
    )
    downstream_of_global = dg.AssetSelection.assets(*GLOBAL_STAGES).downstream()
    # Partition-local work runs per date x source partition (sensor, schedule, backfills). The
    # global stages and everything after them follow on their own once their inputs change.
    areas = areas.map_resolved_asset_specs(
        func=lambda spec: spec.replace_attributes(automation_condition=dg.AutomationCondition.eager()),
        selection=downstream_of_global,
    )
    partition_local = [
        k
        for a in areas.assets or []
        if isinstance(a, dg.AssetsDefinition) and a.partitions_def == DATE_SOURCE
        for k in a.keys
    ]
    corpus_daily = dg.define_asset_job(
        "corpus_daily",
        selection=dg.AssetSelection.assets(*partition_local) - downstream_of_global,
        partitions_def=DATE_SOURCE,
        description="The partition-local stages of one date x source partition (what the sensor and the "
        "nightly schedule run): ingest, exam extraction, math rebuild, MinHash signatures.",
    )
    return dg.Definitions.merge(
        areas,
        dg.Definitions(
            jobs=[corpus_daily],
            sensors=[raw_files_sensor(corpus_daily)],
            schedules=[nightly_schedule(corpus_daily)],
            # One process per run: stages stream their batches and use the cores inside the step.
            executor=dg.in_process_executor,
        ),
    )


defs = _build()
