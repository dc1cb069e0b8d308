"""Where a stage's batches run: in this process (`local`) or on a Ray cluster (`ray`), same output.

A stage is a batch step (a picklable callable `pl.DataFrame -> result`, usually a `Split`) mapped
over the batches of one stored partition. Both engines return the results in input order, and the
stage writes them through the one atomic writer (`CorpusStore.commit`), whose fixed row groups make
the file's bytes depend on the rows only: so engine `ray` and engine `local` write identical files
for every row-wise step. On Ray the partition's Parquet is read by Ray Data on the workers
(`read_parquet` from the local folder or s3://), `map_batches` runs the step (tasks, or an actor
pool for steps with a `setup`, such as loading a model once per actor), and the results stream
back to the driver (the Dagster step) in order. A worker killed mid-stage is retried by Ray.
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl
import pyarrow as pa

from corpus_dag.storage import CorpusStore, PartitionData

ENGINES = ("local", "ray")
READ_CPUS = 0.25


@dataclass(frozen=True)
class StageResources:
    """What one stage asks of the cluster. Ignored by the local engine except `batch_rows`."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    concurrency: int | None = None  # parallel tasks / actors; None = as many as the cluster fits
    batch_rows: int | None = None  # rows per batch; None = the stage's own default

    def __post_init__(self):
        if self.num_cpus < 0 or self.num_gpus < 0:
            raise ValueError("num_cpus and num_gpus must be >= 0")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.batch_rows is not None and self.batch_rows < 1:
            raise ValueError(f"batch_rows must be >= 1, got {self.batch_rows}")


class BatchStep:
    """A batch function with per-worker state: `setup` runs once per worker (load a model there)
    before the first `__call__`. On Ray such a step runs in an actor pool."""

    def setup(self) -> None:
        pass

    def __call__(self, batch: pl.DataFrame) -> Any:
        raise NotImplementedError


Step = Callable[[pl.DataFrame], Any]


class Engine(Protocol):
    kind: str

    def map_batches(self, data: PartitionData, step: Step, *, columns: list[str] | None = None,
                    batch_rows: int = 10_000, resources: StageResources = StageResources()) -> Iterator[Any]:
        """step(batch) for every batch of `data`, in input order."""
        ...


def _prepared(step: Step) -> Step:
    if isinstance(step, BatchStep):
        step.setup()
    return step


class LocalEngine:
    """Batches run one after another in this process (the default: one machine, no cluster)."""

    kind = "local"

    def map_batches(self, data, step, *, columns=None, batch_rows=10_000, resources=StageResources()):
        run = _prepared(step)
        for batch in data.iter_batches(columns, resources.batch_rows or batch_rows):
            yield run(batch)


def _encode(result: Any) -> pa.Table:
    return pa.table({"result": pa.array([pickle.dumps(result, protocol=5)], type=pa.large_binary())})


def _apply_step(table: pa.Table, step: Step) -> pa.Table:
    return _encode(step(pl.from_arrow(table)))


class _StepActor:
    """One actor of a pool: sets the step up once, then serves batches."""

    def __init__(self, step: Step):
        self.step = _prepared(step)

    def __call__(self, table: pa.Table) -> pa.Table:
        return _apply_step(table, self.step)


@dataclass
class RayEngine:
    """Batches run on a Ray cluster through Ray Data. `address`: '' starts a local Ray instance for
    this process (loopback only), 'auto' or 'ray://host:port' / 'host:port' attaches to a cluster."""

    address: str = ""
    object_store_memory: int | None = None
    num_cpus: int | None = None  # of a local instance
    runtime_env: dict = field(default_factory=dict)
    kind: str = "ray"
    _started: bool = False

    def connect(self) -> None:
        import ray

        if ray.is_initialized():
            return
        env = dict(self.runtime_env.get("env_vars") or {})
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"):
            if os.environ.get(var):  # the workers read s3:// roots with the driver's credentials
                env.setdefault(var, os.environ[var])
        runtime_env = {**self.runtime_env, "env_vars": env} if env else dict(self.runtime_env)
        if self.address:
            ray.init(address=self.address, runtime_env=runtime_env or None, log_to_driver=False)
        else:
            # A single-node instance on 127.0.0.1 (Ray binds to the machine's address otherwise).
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            ray.init(num_cpus=self.num_cpus, object_store_memory=self.object_store_memory, include_dashboard=False,
                     runtime_env=runtime_env or None, log_to_driver=False)
            self._started = True
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # results come back in input order
        ctx.enable_progress_bars = False

    def shutdown(self) -> None:
        import ray

        if self._started and ray.is_initialized():
            ray.shutdown()
        self._started = False

    def map_batches(self, data, step, *, columns=None, batch_rows=10_000, resources=StageResources()):
        import pyarrow.fs as pafs
        import ray

        self.connect()
        if data.num_rows == 0:
            return
        store: CorpusStore = data.store
        filesystem = pafs.PyFileSystem(pafs.FSSpecHandler(store.fs))
        path = store.abs(store.resolve(data.path, data.version))
        # columns as stored (no Hive columns from the path); reads are I/O: a quarter CPU each, so they
        # still fit beside an actor pool that holds most of a small node's CPUs
        ds = ray.data.read_parquet(path, filesystem=filesystem, columns=columns, partitioning=None, num_cpus=READ_CPUS)
        common = {"batch_format": "pyarrow", "batch_size": resources.batch_rows or batch_rows,
                  "num_cpus": resources.num_cpus, "num_gpus": resources.num_gpus or None}
        if isinstance(step, BatchStep):
            ds = ds.map_batches(_StepActor, fn_constructor_args=(step,), concurrency=resources.concurrency or 1, **common)
        else:
            ds = ds.map_batches(_apply_step, fn_args=(step,), concurrency=resources.concurrency, **common)
        for table in ds.iter_batches(batch_format="pyarrow", batch_size=None, prefetch_batches=2):
            for blob in table.column("result").to_pylist():
                yield pickle.loads(blob)


def make_engine(kind: str, **ray_options) -> Engine:
    if kind == "local":
        return LocalEngine()
    if kind == "ray":
        return RayEngine(**ray_options)
    raise ValueError(f"engine kind must be one of {ENGINES}, got {kind!r}")
