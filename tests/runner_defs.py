"""Small definitions that worker processes import by name (`tests.runner_defs:defs`) in the runner's
tests: two independent roots, a per-partition stage that holds the model pool and says which process
ran it, and a stage that fails when told to."""
import os

import dagster as dg

from assets.common.engine import MODEL_POOL
from assets.common.partitions import DATE_SOURCE


@dg.asset
def slow_root() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"pid": os.getpid()})


@dg.asset
def fast_root() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"pid": os.getpid()})


@dg.asset(partitions_def=DATE_SOURCE, deps=[fast_root], pool=MODEL_POOL)
def model_stage(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    if os.environ.get("RUNNER_TEST_FAIL") == context.partition_key:
        raise ValueError(f"planted failure in {context.partition_key}")
    return dg.MaterializeResult(metadata={"pid": os.getpid(), "dagster/row_count": 1})


@dg.asset(partitions_def=DATE_SOURCE, deps=[model_stage, slow_root])
def after_both() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"pid": os.getpid(), "dagster/row_count": 2})


defs = dg.Definitions(
    assets=[slow_root, fast_root, model_stage, after_both],
    jobs=[dg.define_asset_job("roots", selection=[slow_root, fast_root]),
          dg.define_asset_job("daily", selection=[model_stage, after_both], partitions_def=DATE_SOURCE)],
)
