"""Where a stage's batches run: in this process (`local`) or on a Ray cluster (`ray`), same output.

A stage is a batch step (a picklable callable `pl.DataFrame -> result`, usually a `Split`) mapped
over the batches of one stored partition. Given a sink (`map_batches(..., sink=)`), the process
that ran a batch also writes its rows, as one part file of each output (`storage.PartSink`), and
only its accounting comes back; the stage then commits the parts with one manifest write. Both
engines cut the same batches and write them with the same writer, so engine `ray` and engine
`local` write identical files. On Ray a plain step runs as a Ray Data pipeline
(`corpus_dag.ray_data`: one fused read-map-write task per slice of the partition's rows, read from
the local folder or s3://), a step with a `setup` (a model to load) in a pool of step-host actors
that keep it loaded for the next partition and stage. Results come back in input order, a bounded
number in flight, polars frames as Arrow buffers. A worker killed mid-stage is retried by Ray (a
retried slice rewrites the same part). Two more shapes: `map_tasks` (independent pieces of one
stage: dedup shards) and `map_streams` (one generator per item: a raw file's batches, streamed
back file by file), as plain tasks.
"""
from __future__ import annotations

import hashlib
import os
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import polars as pl

from corpus_dag.storage import PartitionData

ENGINES = ("local", "ray")


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
    before the first `__call__`, `teardown` when the worker lets the step go (stop a helper process).
    On Ray such a step runs in an actor pool."""

    def setup(self) -> None:
        pass

    def teardown(self) -> None:
        pass

    def __call__(self, batch: pl.DataFrame) -> Any:
        raise NotImplementedError


Step = Callable[[pl.DataFrame], Any]
Sink = Callable[[int, Any], Any]


class Engine(Protocol):
    kind: str

    def map_batches(self, data: PartitionData, step: Step, *, columns: list[str] | None = None,
                    batch_rows: int = 10_000, resources: StageResources = StageResources(),
                    whole: str | None = None, sink: Sink | None = None) -> Iterator[Any]:
        """step(batch) for every batch of `data`, in input order. `whole`: a column whose equal values
        are stored next to each other (a question's samples); no batch cuts such a run. `sink`: called
        as sink(first row of the batch, step's result) where the step ran (a Ray worker writes its
        rows to storage there); what it returns comes back instead of the result."""
        ...

    def map_tasks(self, fn: Callable[[Any], Any], items: Iterable[Any], *,
                  resources: StageResources = StageResources()) -> Iterator[Any]:
        """fn(item) for every item, in input order: independent pieces of one stage (dedup shards)."""
        ...

    def map_streams(self, fn: Callable[[Any], Iterator[Any]], items: Iterable[Any], *,
                    resources: StageResources = StageResources()) -> Iterator[Iterator[Any]]:
        """For every item in input order, the stream of what the generator fn(item) yields (a raw file's
        batches). Consume each stream before the next."""
        ...


LOCAL_THREADS = 2  # batches in flight in one process for GIL-free kernels (signing, shingle sets): one per core


def in_order(fn: Callable[[Any], Any], items: Iterable[Any], threads: int) -> Iterator[Any]:
    """fn of each item, in input order, with at most `threads` items in flight (so memory stays
    bounded); worth it where fn spends its time in GIL-free kernels. One thread: in this thread (a
    step may need the main thread: signals, a model's runtime)."""
    if threads <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(threads) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _prepared(step: Step) -> Step:
    if isinstance(step, BatchStep):
        step.setup()
    return step


class LocalEngine:
    """Batches run one after another in this process (the default: one machine, no cluster); a step
    whose work releases the GIL (`gil_free = True`: numba kernels, Arrow, sha1) has LOCAL_THREADS
    batches in flight, one per core."""

    kind = "local"

    def map_batches(self, data, step, *, columns=None, batch_rows=10_000, resources=StageResources(), whole=None, sink=None):
        run = _prepared(step)
        try:
            if whole is None:
                threads = LOCAL_THREADS if getattr(step, "gil_free", False) else 1
                yield from in_order(lambda item: _sunk(sink, item[0], run(item[1])),
                                    _with_starts(data.iter_batches(columns, resources.batch_rows or batch_rows)), threads)
                return
            data = data.pinned()
            for rows in partition_slices(data, resources.batch_rows or batch_rows, whole):
                yield _run_slice(data, rows, columns, run, sink)
        finally:
            if isinstance(run, BatchStep):
                run.teardown()

    def map_tasks(self, fn, items, *, resources=StageResources()):
        return map(fn, items)

    def map_streams(self, fn, items, *, resources=StageResources()):
        return map(fn, items)


def _with_starts(batches: Iterable[pl.DataFrame]) -> Iterator[tuple[int, pl.DataFrame]]:
    start = 0
    for batch in batches:
        yield start, batch
        start += batch.height


def row_slices(num_rows: int, batch_rows: int) -> list[tuple[int, int]]:
    """The [start, stop) rows each distributed task reads: the local engine's batches."""
    return [(start, min(start + batch_rows, num_rows)) for start in range(0, num_rows, batch_rows)]


def even_slices(num_rows: int, max_rows: int) -> list[tuple[int, int]]:
    """As few [start, stop) slices of at most `max_rows` rows as cover `num_rows`, of sizes differing by
    at most one: for tasks whose output does not depend on where the cuts fall, so that no task is a
    short tail (100k rows: two tasks of 50k, not 65,536 + 34,464, which leaves the second worker idle
    for nearly half the phase)."""
    k = -(-num_rows // max_rows)
    return [(num_rows * i // k, num_rows * (i + 1) // k) for i in range(k)]


def group_slices(keys: pl.Series, batch_rows: int) -> list[tuple[int, int]]:
    """Slices of at least `batch_rows` rows (the last may be shorter) that end only where the key changes,
    so a run of equal keys (a question's samples) stays in one slice; a longer run is one slice of its own."""
    n = keys.len()
    if n == 0:
        return []
    changes = (keys != keys.shift(1)).fill_null(True)  # True where a run starts (row 0 included)
    starts = changes.arg_true().to_numpy()
    slices, start = [], 0
    while start < n:
        nxt = starts.searchsorted(start + batch_rows, side="left")  # the first run start at or after the target
        stop = int(starts[nxt]) if nxt < len(starts) else n
        slices.append((start, stop))
        start = stop
    return slices


def partition_slices(data: PartitionData, batch_rows: int, whole: str | None = None) -> list[tuple[int, int]]:
    """The [start, stop) rows of each batch: fixed-size ones, or aligned to runs of `whole` (read once, that
    column only)."""
    if whole is None:
        return row_slices(data.num_rows, batch_rows)
    return group_slices(data.read([whole])[whole], batch_rows)


def _run_slice(data: PartitionData, rows: tuple[int, int], columns: list[str] | None, step: Step,
               sink: Sink | None = None) -> Any:
    return _sunk(sink, rows[0], step(data.read_rows(*rows, columns)))


def _sunk(sink: Sink | None, start: int, result: Any) -> Any:
    return result if sink is None else sink(start, result)


def _frame_payload(df: pl.DataFrame) -> tuple[Any, int]:
    return df.to_arrow(), df.height  # large_string, not string_view: Ray's own Arrow reducer has no string_view


def _frame_from_payload(payload: tuple[Any, int]) -> pl.DataFrame:
    table, height = payload
    return pl.from_arrow(table) if table.num_columns else pl.DataFrame(height=height)


def _arrow_frames() -> None:
    """Ray pickles a polars DataFrame in band: every byte copied on the way in and again on the way out
    (16k documents' text, 32 MB: 0.16-0.21 s a task's round trip). As an Arrow table its buffers go to
    the object store and come back without a copy (0.02-0.03 s), with the same schema; the dedup's
    apply step, whose results carry the kept texts, went from 0.94 s to 0.37 s on 2 Ray CPUs. Per
    process: the driver registers it when it connects, each worker in the task wrappers below."""
    from ray.util import register_serializer

    register_serializer(pl.DataFrame, serializer=_frame_payload, deserializer=_frame_from_payload)


def _ray_call(fn: Callable[[Any], Any], item: Any) -> Any:
    _arrow_frames()
    return fn(item)


def _ray_stream(fn: Callable[[Any], Iterator[Any]], item: Any) -> Iterator[Any]:
    _arrow_frames()
    yield from fn(item)


def _name(fn: Any) -> str:
    """What the Ray dashboard calls a task: the step's or function's own name, not the wrapper's."""
    fn = fn.func if isinstance(fn, partial) else fn
    return getattr(fn, "__name__", type(fn).__name__)


class _StepHost:
    """An actor that runs set-up steps (a loaded model each). It keeps the last `keep` it set up, so the
    next partition or stage it serves does not import and load again: on a busy 2-core machine an
    actor's start and model load took 15-20 s against 1-2 s for its batches (the Ray test's run).
    A step arrives pickled, by key, and is unpickled and set up only on the first call that needs it
    (also after Ray restarted the actor in a fresh process)."""

    def __init__(self, keep: int):
        _arrow_frames()
        self.keep = max(1, keep)
        self.steps: OrderedDict[str, Step] = OrderedDict()

    def run(self, key: str, blob: list, data: PartitionData, rows: tuple[int, int], columns: list[str] | None,
            sink: Sink | None) -> Any:
        step = self.steps.pop(key, None)
        if step is None:
            import ray
            from ray import cloudpickle

            step = _prepared(cloudpickle.loads(ray.get(blob[0])))  # `blob`: [ref], so Ray does not fetch it every call
            while len(self.steps) >= self.keep:
                _, old = self.steps.popitem(last=False)
                if isinstance(old, BatchStep):
                    old.teardown()
        self.steps[key] = step
        return _run_slice(data, rows, columns, step, sink)


class _IdleHosts:
    """This driver's idle step hosts, by (num_cpus, num_gpus), least recently used first. They hold their
    resources while idle, so they are let go whenever new work would not fit beside them on some node,
    and all of them when Ray is disconnected (the actors die with their driver anyway)."""

    def __init__(self):
        self.job: str | None = None
        self.hosts: OrderedDict[tuple[float, float], list] = OrderedDict()

    def _same_job(self) -> None:
        import ray

        job = ray.get_runtime_context().get_job_id()
        if job != self.job:
            self.hosts.clear()  # handles of an earlier connection
            self.job = job

    def take(self, shape: tuple[float, float], n: int) -> list:
        self._same_job()
        hosts = self.hosts.pop(shape, [])
        if len(hosts) > n:
            self.hosts[shape] = hosts[n:]
        return hosts[:n]

    def give_back(self, shape: tuple[float, float], hosts: list) -> None:
        self.hosts[shape] = self.hosts.pop(shape, []) + hosts

    def make_room(self, shape: tuple[float, float], n: int) -> None:
        """Let idle hosts go, least recently used first, until `n` workers of `shape` fit on the nodes'
        free resources. A snapshot that lags only overstates use: at worst a host is let go early."""
        import ray
        from ray._private.state import available_resources_per_node

        self._same_job()
        while self.hosts:
            free = available_resources_per_node().values()
            cpus, gpus = shape
            fits = sum(min(node.get("CPU", 0.0) // cpus if cpus else n, node.get("GPU", 0.0) // gpus if gpus else n)
                       for node in free)
            if fits >= n:
                return
            _, hosts = self.hosts.popitem(last=False)
            for host in hosts:
                ray.kill(host)
            time.sleep(0.2)  # the raylet reports the freed resources

    def release(self) -> None:
        import ray

        for hosts in self.hosts.values():
            for host in hosts:
                ray.kill(host)
        self.hosts.clear()


IDLE_HOSTS = _IdleHosts()


@contextmanager
def _loopback_only() -> Iterator[None]:
    """A local instance that binds 127.0.0.1, not the machine's address. Ray does so in its single-node
    mode (`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`), which it reads once, at import: so the flag is set
    for this `ray.init` only, leaving the environment alone (a `ray start --address` this process
    runs later must still be able to join a cluster)."""
    from ray._private import ray_constants

    before = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before


def _on_loopback(address: str) -> bool:
    host = address.removeprefix("ray://").rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost")


def _session_root() -> str | None:
    """Where a local instance keeps its session: Ray's own choice ($RAY_TMPDIR, else $TMPDIR/ray), or
    /tmp/ray-<uid> when $TMPDIR is so deep that Ray's socket paths would pass the 107-byte AF_UNIX
    limit (a TMPDIR inside a test's folder)."""
    if os.environ.get("RAY_TMPDIR") or len(os.path.join(os.environ.get("TMPDIR", "/tmp"), "ray")) <= 40:
        return None  # what Ray picks itself (ray._common.utils.get_default_ray_temp_dir, on Linux)
    return f"/tmp/ray-{os.getuid()}"


def _in_order(submit: Callable[[Any], Any], items: Iterable[Any], window: int, get: bool = True) -> Iterator[Any]:
    """Results of submit(item) (an object ref each, or with `get` False whatever submit returns: a
    streaming generator) in input order, at most `window` in flight: the driver holds a bounded number
    of results however large the partition."""
    import ray

    fetch = ray.get if get else (lambda x: x)
    pending: deque = deque()
    for item in items:
        pending.append(submit(item))
        if len(pending) >= window:
            yield fetch(pending.popleft())
    while pending:
        yield fetch(pending.popleft())


@dataclass
class RayEngine:
    """Batches run on a Ray cluster: a Ray Data pipeline (plain steps) or an actor pool (steps with a
    `setup`). `address`: '' starts a local Ray instance for this process (loopback only), 'auto' or
    'ray://host:port' / 'host:port' attaches to a cluster.

    Each task reads its own slice of rows (only the row groups that hold them) from CORPUS_ROOT
    (local folder or s3://), so input never passes through the driver; results come back in
    input order. Steps with a `setup` run on step hosts rather than Ray Data's actor pools, which
    live for one pipeline: a corpus run maps each model over many partitions, and a host keeps the
    model it loaded (15-20 s an actor on this machine) for the next one."""

    address: str = ""
    object_store_memory: int | None = None
    num_cpus: int | None = None  # of a local instance
    runtime_env: dict = field(default_factory=dict)
    max_retries: int = 3  # per task (and per actor restart) when a worker dies
    steps_per_actor: int = 2  # set-up steps (loaded models) an idle actor keeps for later stages; 0 = none kept
    stream_backlog: int = 4  # results a streaming task (one raw file) may hold that the driver has not read
    kind: str = "ray"
    _started: bool = False

    def connect(self) -> None:
        """Attach to `address`, or start a fresh local instance; a no-op where this process is already
        connected (the demo starts one instance for all its runs and each run's engine reuses it)."""
        import ray

        if ray.is_initialized():
            _arrow_frames()  # connected by someone else (a dagster-ray resource)
            return
        env = dict(self.runtime_env.get("env_vars") or {})
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"):
            if os.environ.get(var):  # the workers read s3:// roots with the driver's credentials
                env.setdefault(var, os.environ[var])
        runtime_env = {**self.runtime_env, "env_vars": env} if env else dict(self.runtime_env)
        if self.address:
            # a cluster bound to loopback is joined as a loopback driver too (else ray.init waits forever
            # for a raylet on the machine's address)
            with _loopback_only() if _on_loopback(self.address) else nullcontext():
                ray.init(address=self.address, runtime_env=runtime_env or None, log_to_driver=False)
        else:
            # `local`: always a new instance, never a cluster another process left in /tmp/ray.
            with _loopback_only():
                ray.init(address="local", num_cpus=self.num_cpus, object_store_memory=self.object_store_memory,
                         include_dashboard=False, runtime_env=runtime_env or None, log_to_driver=False,
                         _temp_dir=_session_root())
            self._started = True
        _arrow_frames()

    def shutdown(self) -> None:
        import ray

        if self._started and ray.is_initialized():
            IDLE_HOSTS.release()
            ray.shutdown()
        self._started = False

    def _window(self, resources: StageResources) -> int:
        import ray

        if resources.concurrency:
            return resources.concurrency
        cpus = ray.cluster_resources().get("CPU", 1.0)
        return max(2, int(2 * cpus / max(resources.num_cpus, 0.25)))  # two per slot: the next slice is queued

    def map_batches(self, data, step, *, columns=None, batch_rows=10_000, resources=StageResources(), whole=None, sink=None):
        self.connect()
        if data.num_rows == 0:
            return
        data = data.pinned()
        slices = partition_slices(data, resources.batch_rows or batch_rows, whole)
        opts = {"num_cpus": resources.num_cpus, "num_gpus": resources.num_gpus}
        if isinstance(step, BatchStep):
            yield from self._on_hosts(data, step, columns, slices, resources, sink)
            return
        from corpus_dag.ray_data import map_slices

        IDLE_HOSTS.make_room((resources.num_cpus, resources.num_gpus), 1)
        yield from map_slices(data, step, slices, columns, sink, name=_name(step), **opts, concurrency=resources.concurrency,
                              max_retries=self.max_retries)

    def map_tasks(self, fn, items, *, resources=StageResources()):
        import ray

        self.connect()
        IDLE_HOSTS.make_room((resources.num_cpus, resources.num_gpus), 1)
        task = ray.remote(_ray_call).options(num_cpus=resources.num_cpus, num_gpus=resources.num_gpus,
                                              max_retries=self.max_retries, name=_name(fn))
        fn_ref = ray.put(fn)
        yield from _in_order(lambda item: task.remote(fn_ref, item), items, self._window(resources))

    def map_streams(self, fn, items, *, resources=StageResources()):
        """One streaming task per item (a Ray generator task), a window of items in flight, each holding at
        most `stream_backlog` results the driver has not read yet: memory stays bounded however large a file."""
        import ray

        self.connect()
        IDLE_HOSTS.make_room((resources.num_cpus, resources.num_gpus), 1)
        task = ray.remote(_ray_stream).options(num_cpus=resources.num_cpus, num_gpus=resources.num_gpus, max_retries=self.max_retries,
                                               name=_name(fn), _generator_backpressure_num_objects=self.stream_backlog)
        fn_ref = ray.put(fn)  # any callable (a partial too), shipped once
        for stream in _in_order(lambda item: task.remote(fn_ref, item), items, self._window(resources), get=False):
            yield (ray.get(ref) for ref in stream)

    def _on_hosts(self, data, step, columns, slices, resources, sink) -> Iterator[Any]:
        """A step with a `setup` runs on an actor pool of step hosts: idle ones of this shape are taken
        first (their models may be loaded already), and given back for the next stage when it is done."""
        import ray
        from ray import cloudpickle

        shape, n = (resources.num_cpus, resources.num_gpus), resources.concurrency or 1
        hosts = IDLE_HOSTS.take(shape, n) if self.steps_per_actor else []
        if len(hosts) < n:
            IDLE_HOSTS.make_room(shape, n - len(hosts))
            host = ray.remote(_StepHost).options(num_cpus=shape[0], num_gpus=shape[1], max_restarts=self.max_retries,
                                                 max_task_retries=self.max_retries)
            keep = 1 if shape[1] else self.steps_per_actor  # one model per GPU actor: two may not fit its memory
            hosts += [host.remote(keep) for _ in range(n - len(hosts))]
        blob = cloudpickle.dumps(step)
        key, ref, sink_ref = hashlib.sha256(blob).hexdigest(), [ray.put(blob)], ray.put(sink)
        pool = ray.util.ActorPool(hosts)
        done = False
        try:
            yield from pool.map(lambda a, rows: a.run.remote(key, ref, data, rows, columns, sink_ref), slices)
            done = True
        finally:
            if done and self.steps_per_actor:
                IDLE_HOSTS.give_back(shape, hosts)
            else:  # failed or abandoned midway: its hosts may be busy or broken
                for h in hosts:
                    ray.kill(h)


def make_engine(kind: str, **ray_options) -> Engine:
    if kind == "local":
        return LocalEngine()
    if kind == "ray":
        return RayEngine(**ray_options)
    raise ValueError(f"engine kind must be one of {ENGINES}, got {kind!r}")
