"""Attach great_expectations suites to partitioned assets as Dagster asset checks.

`gx_check` builds one check: it reads the columns a suite needs from the checked partition, runs
the GX expectations, adds whole-partition metrics computed in polars, and reports every outcome
(expectation, observed value, unexpected count) as check metadata. Blocking checks fail with
ERROR severity so downstream steps of the same run do not consume bad data.
"""

from collections.abc import Callable

import dagster as dg

from assets.common.partitions import DATE_SOURCE, dims_for
from assets.common.storage import CorpusStorage
from corpus_dag.storage import CorpusStore, PartitionData
from corpus_dag.validation import ExpectationOutcome, SuiteOutcome, run_suite

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
        store = storage.store()
        key = context.partition_key if partitions_def is not None else None
        dims = dims_for(partitions_def, key)
        data = PartitionData(store, CorpusStore.partition_path(asset, dims)).require(f"asset {asset} partition {key}")
        outcome = SuiteOutcome()
        if expectations is not None:
            frame = data.read(columns)
            if frame.height:
                outcome.outcomes.extend(run_suite(frame, expectations(), name=name).outcomes)
        if metrics is not None:
            outcome.outcomes.extend(metrics(context, store, dims))
        return dg.AssetCheckResult(
            passed=outcome.success,
            severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
            metadata={
                "outcomes": dg.MetadataValue.md(outcome.markdown()),
                "failed": [o.expectation for o in outcome.outcomes if not o.success],
            },
        )

    return _check
