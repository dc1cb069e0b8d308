"""Attach great_expectations suites to partitioned assets as Dagster asset checks.

`gx_check` builds one check: it streams the columns a suite needs from the checked partition, runs
the GX expectations on a bounded seeded sample (GX goes through pandas, which would hold the whole
partition), judges the per-value expectations (unique, not null, lengths, regex, set, range) exactly
over every row in streamed polars batches, adds whole-partition metrics computed in polars, and
reports every outcome (expectation, observed value, unexpected count) as check metadata. Blocking checks fail with
ERROR severity so downstream steps of the same run do not consume bad data.
"""

import re
import zlib
from collections.abc import Callable
from dataclasses import replace

import dagster as dg

from assets.common.metadata import outcomes_table
from assets.common.partitions import DATE_SOURCE, dims_for
from assets.common.storage import CorpusStorage
from corpus_dag.storage import CorpusStore, PartitionData
from corpus_dag.validation import (
    ExpectationOutcome,
    SeededSample,
    SuiteOutcome,
    run_suite,
    whole_partition_outcomes,
)

SAMPLE_ROWS = 5_000  # rows GX sees (via pandas); every row is judged exactly in polars anyway, so a small sample is enough
BATCH_ROWS = 2_000  # rows per streamed batch (sample and whole-partition passes): small, so is the transient memory
MetricsFn = Callable[[dg.AssetCheckExecutionContext, CorpusStore, dict[str, str]], list[ExpectationOutcome]]


def gx_check(
    *,
    asset: str,
    name: str,
    description: str,
    columns: list[str] | None = None,
    expectations: Callable[[], list] | None = None,
    metrics: MetricsFn | None = None,
    blocking: bool = True,
    partitions_def: dg.PartitionsDefinition | None = DATE_SOURCE,
) -> dg.AssetChecksDefinition:
    """A check on `asset`: GX `expectations()` over `columns`, plus polars `metrics` judged in code."""

    @dg.asset_check(
        asset=asset,
        name=name,
        description=description,
        blocking=blocking,
        partitions_def=partitions_def,
    )
    def _check(context: dg.AssetCheckExecutionContext, storage: CorpusStorage) -> dg.AssetCheckResult:
        key = context.partition_key if partitions_def is not None else None
        store = storage.store().pinned(_version_of_run(context, asset, key))
        dims = dims_for(partitions_def, key)
        data = PartitionData(store, CorpusStore.partition_path(asset, dims)).require(f"asset {asset} partition {key}")
        outcome = SuiteOutcome()
        if expectations is not None:
            outcome.outcomes.extend(_suite_outcomes(data, columns, expectations(), name, seed=zlib.crc32(f"{name}|{key}".encode())))
        if metrics is not None:
            outcome.outcomes.extend(metrics(context, store, dims))
        return dg.AssetCheckResult(
            passed=outcome.success,
            severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
            metadata={
                "outcomes": outcomes_table(outcome),
                "failed": [o.expectation for o in outcome.outcomes if not o.success],
                "failed_count": sum(not o.success for o in outcome.outcomes),
                **_numbers(outcome),
            },
        )

    return _check


def _numbers(outcome: SuiteOutcome) -> dict[str, float]:
    """Each outcome's numeric observation (unexpected rows, a rate, a difference) as a number, so the
    check's page plots it across partitions and runs. The key is the expectation without its numbers
    (counts, the bounds, the GX sample's size and seed differ by partition): one series per outcome."""
    numbers = {}
    for o in outcome.outcomes:
        value = o.unexpected_count if o.unexpected_count is not None else o.observed
        if isinstance(value, int | float) and not isinstance(value, bool):
            words = re.sub(r" within \[.*?\]$", "", o.expectation)
            words = re.sub(r"\d[\d,.]*|\bseed\b|\bsample of\b|\brows\b", " ", f"{words} {o.column or ''}".lower())
            key = re.sub(r"[^a-z0-9]+", "_", words).strip("_")[:60]
            while key in numbers:  # two outcomes that differ only by their numbers: keep both
                key += "_"
            numbers[key] = round(float(value), 6)
    return numbers


def _version_of_run(context: dg.AssetCheckExecutionContext, asset: str, key: str | None) -> str | None:
    """The partition version this run materialized (a concurrent run may have committed a newer one
    since): the check validates what its own run wrote. None when this run wrote none."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key] if key else None), limit=5
    ).records
    for record in records:
        if record.run_id == context.run.run_id:
            version = record.asset_materialization.metadata.get("version")
            return version.value if version is not None else None
    return None


def _suite_outcomes(data: PartitionData, columns: list[str] | None, suite: list, name: str, seed: int) -> list[ExpectationOutcome]:
    """The GX suite over a seeded sample of at most SAMPLE_ROWS rows, then the per-value expectations
    judged exactly over every row. One read of the partition serves both: its first streamed pass
    feeds the exact rules and the sample (a second read of the text columns cost ~40 MB of RSS)."""
    sample = SeededSample(data.num_rows, SAMPLE_ROWS, seed)
    fed = False

    def batches(cols: list[str]):
        nonlocal fed
        wanted = None if columns is None else sorted({*columns, *cols})
        for batch in data.iter_batches(wanted, BATCH_ROWS):
            if not fed:
                sample.add(batch if columns is None else batch.select(columns))
            yield batch.select(cols)
        fed = True

    exact = whole_partition_outcomes(suite, batches)
    if not fed:  # a suite without per-value expectations: the pass is for the sample alone
        for _ in batches([]):
            pass
    frame = sample.frame()
    if not frame.height:
        return exact
    label = f"(GX, sample of {frame.height:,} rows, seed {seed})"
    return [replace(o, expectation=f"{o.expectation} {label}") for o in run_suite(frame, suite, name=name).outcomes] + exact
