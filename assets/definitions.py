"""The one `Definitions` of corpus_dag: every area's assets and checks, plus jobs, sensor, schedule."""
import dagster as dg

from assets import exam, ingest, rebuild
from assets.common.partitions import DATE_SOURCE
from assets.common.storage import CorpusIOManager, CorpusStorage
from assets.ingest.sensors import nightly_schedule, raw_files_sensor

AREAS = [ingest, exam, rebuild]


def _build() -> dg.Definitions:
    areas = dg.Definitions.merge(*(area.defs for area in AREAS))
    daily = [k for a in areas.assets or [] if isinstance(a, dg.AssetsDefinition) and a.partitions_def == DATE_SOURCE for k in a.keys]
    corpus_daily = dg.define_asset_job(
        "corpus_daily",
        selection=dg.AssetSelection.assets(*daily),
        partitions_def=DATE_SOURCE,
        description="Every date x source stage for one partition (what the sensor and the nightly schedule run).",
    )
    storage = CorpusStorage()
    return dg.Definitions.merge(
        areas,
        dg.Definitions(
            jobs=[corpus_daily],
            sensors=[raw_files_sensor(corpus_daily)],
            schedules=[nightly_schedule(corpus_daily)],
            resources={"storage": storage, "io_manager": CorpusIOManager(storage=storage)},
            # One process per run: stages stream their batches and use the cores inside the step.
            executor=dg.in_process_executor,
        ),
    )


defs = _build()
