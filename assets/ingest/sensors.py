"""Run partitions when their raw files appear or change; materialize yesterday every night."""

import datetime as dt
import hashlib
import json

import dagster as dg

from assets.common.partitions import DATE_SOURCE, SOURCES
from assets.common.storage import CorpusStorage


def raw_files_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(
        name="raw_files_sensor",
        job=job,
        minimum_interval_seconds=60,
        description="Watches {CORPUS_ROOT}/raw/ and requests a run per partition whose files are new or changed.",
    )
    def _sensor(context: dg.SensorEvaluationContext, storage: CorpusStorage):
        # Cursor: {partition_key: fingerprint of its files}. Same files twice -> no second run.
        cursor = json.loads(context.cursor) if context.cursor else {}
        valid = set(DATE_SOURCE.get_partition_keys(dynamic_partitions_store=context.instance))
        seen, requests = {}, []
        for (source, date), files in sorted(storage.store().raw_files().items()):
            key = f"{date}|{source}"
            if source not in SOURCES.names:
                context.log.warning(f"raw/{source}/ is not declared in config/sources.yaml; ignored")
                continue
            if key not in valid:
                context.log.warning(f"raw/{source}/{date}/ is outside the date partitions (start {SOURCES.start_date}); ignored")
                continue
            fp = hashlib.sha1(json.dumps([(f.path, f.fingerprint) for f in files]).encode()).hexdigest()[:16]
            seen[key] = fp
            if cursor.get(key) != fp:
                requests.append(dg.RunRequest(run_key=f"{key}:{fp}", partition_key=key, tags={"trigger": "raw_files"}))
        context.update_cursor(json.dumps(cursor | seen, sort_keys=True))
        return requests or dg.SkipReason("no new or changed raw files")

    return _sensor


def nightly_schedule(job) -> dg.ScheduleDefinition:
    @dg.schedule(name="nightly_previous_day", job=job, cron_schedule="0 1 * * *", execution_timezone="UTC")
    def _schedule(context: dg.ScheduleEvaluationContext):
        """Every source's partition for the previous day."""
        day = (context.scheduled_execution_time.date() - dt.timedelta(days=1)).isoformat()
        return [dg.RunRequest(run_key=f"{day}|{s}", partition_key=f"{day}|{s}") for s in SOURCES.names]

    return _schedule
