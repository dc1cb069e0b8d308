"""Partitions: `date` (daily from the configured start) x `source` (from config/sources.yaml)."""

import dagster as dg

from corpus_dag.sources import load_sources

SOURCES = load_sources()

DATES = (
    dg.DailyPartitionsDefinition(start_date=SOURCES.start_date.isoformat(), end_date=SOURCES.end_date.isoformat())
    if SOURCES.end_date
    else dg.DailyPartitionsDefinition(start_date=SOURCES.start_date.isoformat(), end_offset=1)
)
_DIM_NAMES: dict[str, str] = {}


def named_static(dim: str, keys: list[str]) -> dg.StaticPartitionsDefinition:
    """A one-dimension static partitioning whose storage folders read `{dim}={key}`."""
    pdef = dg.StaticPartitionsDefinition(keys)
    _DIM_NAMES[pdef.get_serializable_unique_identifier()] = dim
    return pdef


SOURCE = named_static("source", SOURCES.names)
# Keys look like `2026-11-21|wenku` (dimensions are ordered by name: date, source).
DATE_SOURCE = dg.MultiPartitionsDefinition({"date": DATES, "source": SOURCE})
# dedup_clusters etc. read every date of one source.
ALL_DATES_OF_SOURCE = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="source")


def dims_for(partitions_def: dg.PartitionsDefinition | None, key: str | None) -> dict[str, str]:
    """Storage folders for a partition key: {'date': ..., 'source': ...} or {'source': ...}."""
    if partitions_def is None or key is None:
        return {}
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        return dict(partitions_def.get_partition_key_from_str(key).keys_by_dimension)
    return {_DIM_NAMES.get(partitions_def.get_serializable_unique_identifier(), "partition"): key}


def partition_dims(context) -> dict[str, str]:
    """Storage folders of the run's [date x source] partition: {'date': ..., 'source': ...}."""
    return dims_for(DATE_SOURCE, context.partition_key)


def source_and_date(context) -> tuple[str, str]:
    keys = partition_dims(context)
    return keys["source"], keys["date"]
