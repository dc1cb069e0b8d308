"""Materialize the whole DAG in dependency order, partition by partition (`make demo`, end-to-end tests).

Assets with different partitionings (date x source, per source, per recipe, unpartitioned) cannot
share one run, so the graph is cut into waves: each wave is a set of assets with the same
partitions definition whose upstream assets are all done, run once per partition key through the
named job that holds it (`corpus_daily`, `corpus_global*`), so the runs show under those jobs.

With `workers` > 1 a wave is split into its independent parts and the runs go to that many worker
processes: a run starts as soon as the runs that materialize its upstream assets are done, so
independent partitions (and the two classifier trainings, which only later waves read) run side by
side; the `gpu` pool limits how many model stages run at once. Processes, not threads: a run captures
its step output through the process's file descriptors. Workers fork from this process when it runs
no other thread (definitions already imported), else they start fresh and import them (`defs_ref`).
"""
import importlib
import multiprocessing
import multiprocessing.connection
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import dagster as dg

from assets.common.partitions import DATE_SOURCE, dims_for
from assets.common.pools import assign_free_slots


@dataclass
class StageRow:
    asset: str
    partition: str
    rows_in: int | None
    rows_out: int | None
    rows_kept: int | None = None
    dropped: dict = field(default_factory=dict)
    seconds: float | None = None


@dataclass
class RunSummary:
    rows: list[StageRow] = field(default_factory=list)
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)  # ERROR severity
    checks_warned: list[str] = field(default_factory=list)  # WARN severity: worth a look, not a stop
    notes: dict[str, str] = field(default_factory=dict)  # asset -> `llm_note` (why its output is empty)
    caveats: dict[str, str] = field(default_factory=dict)  # asset -> its CAVEAT_KEYS text (a random demo model, the demo lists)


# Metadata that a stage repeats on every partition (the tiny random demo model, the demo blocklists): said once per run.
CAVEAT_KEYS = ("model_warning", "lists_warning")

# What a reader follows from raw documents to training rows: (label, asset whose row count it is).
FUNNEL = [
    ("documents ingested", "raw_documents"),
    ("exam papers", "exam_documents"),
    ("questions", "exam_questions"),
    ("math questions", "math_questions"),
    ("rebuilt samples", "rebuilt_math_items"),
    ("verified math items", "verified_math_items"),
    ("math items, deduplicated", "math_deduplicated_items"),
    ("math items, decontaminated", "decontaminated_math_items"),
    ("documents, deduplicated", "deduplicated_documents"),
    ("documents, filtered", "filtered_documents"),
    ("documents, safety-kept", "safety_documents"),
    ("documents, classifier-kept", "classified_documents"),
    ("documents, coherent", "coherence_documents"),
    ("documents, perplexity-kept", "quality_documents"),
    ("documents, decontaminated", "decontaminated_documents"),
    ("patent chunks", "chunked_documents"),
    ("training rows", "training_mixture"),
]


@dataclass
class FunnelRow:
    label: str
    asset: str
    total: int
    by_source: dict[str, int]  # empty for assets not partitioned by source (training_mixture: by recipe)


def funnel(summary: RunSummary) -> list[FunnelRow]:
    """Row counts along FUNNEL, overall and per source, from the materializations of a run."""
    out = []
    for label, asset in FUNNEL:
        rows = [r for r in summary.rows if r.asset == asset and r.rows_out is not None]
        if not rows:
            continue
        by_source: dict[str, int] = {}
        for r in rows:
            if "|" in r.partition:  # `date|source`
                source = r.partition.split("|")[1]
                by_source[source] = by_source.get(source, 0) + r.rows_out
        out.append(FunnelRow(label, asset, sum(r.rows_out for r in rows), dict(sorted(by_source.items()))))
    return out


def plan_waves(defs: dg.Definitions) -> list[tuple[dg.PartitionsDefinition | None, list[dg.AssetKey]]]:
    graph = defs.resolve_asset_graph()
    keys = sorted(graph.materializable_asset_keys, key=lambda k: k.to_user_string())
    pdef = {k: graph.get(k).partitions_def for k in keys}
    parents = {k: set(graph.get(k).parent_keys) & set(keys) for k in keys}
    done: set = set()
    waves = []
    while len(done) < len(keys):
        ready = [k for k in keys if k not in done and parents[k] <= done]
        if not ready:
            raise RuntimeError("cycle in the asset graph")
        current = pdef[ready[0]]
        wave: list = []
        while ready := [k for k in keys if k not in done and k not in wave and pdef[k] == current and parents[k] <= done | set(wave)]:
            wave.extend(ready)
        done |= set(wave)
        waves.append((current, wave))
    return waves


def _job_for(defs: dg.Definitions, wave: list[dg.AssetKey]) -> dg.JobDefinition:
    """The named job whose selection holds every asset of the wave."""
    for job in defs.resolve_all_job_defs():
        if not job.name.startswith("__") and set(wave) <= job.asset_layer.executable_asset_keys:
            return job
    names = ", ".join(k.to_user_string() for k in wave)
    raise RuntimeError(f"no named job in assets/definitions.py selects all of: {names}")


def _partition_keys(pdef, date_source_keys: list[str]) -> list[str | None]:
    if pdef is None:
        return [None]
    if pdef == DATE_SOURCE:
        return date_source_keys
    return list(pdef.get_partition_keys())


def _run_config(defs: dg.Definitions, wave: list[dg.AssetKey], asset_config: dict[str, dict], log_level: str) -> dict:
    ops = {
        defs.resolve_assets_def(key).node_def.name: {"config": asset_config[key.to_user_string()]}
        for key in wave
        if key.to_user_string() in asset_config
    }
    loggers = {"console": {"config": {"log_level": log_level}}}
    return {"ops": ops, "loggers": loggers} if ops else {"loggers": loggers}


def _reasons(table) -> dict:
    """{reason: rows} from a stage's `dropped_by_reason` table."""
    return {r.data["reason"]: r.data["rows"] for r in table.records} if isinstance(table, dg.TableMetadataValue) else {}


def _value(meta: dict, key: str):
    v = meta.get(key)
    return getattr(v, "value", v)


RESULT_EVENTS = {dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.ASSET_CHECK_EVALUATION}


def _collect(summary: RunSummary, instance: dg.DagsterInstance, run_id: str, pk: str | None) -> None:
    """Add a finished run's materializations and check outcomes (read back from the instance) to the summary."""
    for entry in instance.all_logs(run_id, of_type=RESULT_EVENTS):
        event = entry.dagster_event
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            name = f"{evaluation.asset_check_key.to_user_string()} [{pk}]"
            if evaluation.passed:
                summary.checks_passed += 1
            elif evaluation.severity == dg.AssetCheckSeverity.WARN:
                summary.checks_warned.append(name)
            else:
                summary.checks_failed.append(name)
            continue
        mat = event.step_materialization_data.materialization
        meta = dict(mat.metadata)
        asset = mat.asset_key.to_user_string()
        for key in CAVEAT_KEYS:
            if caveat := _value(meta, key):
                summary.caveats[asset] = caveat
        summary.rows.append(
            StageRow(
                asset=asset,
                partition=mat.partition or "-",
                rows_in=_value(meta, "rows_in"),
                rows_out=_value(meta, "dagster/row_count"),
                rows_kept=_value(meta, "rows_kept"),
                dropped=_reasons(meta.get("dropped_by_reason")),
                seconds=_value(meta, "seconds"),
            )
        )
        if "llm_note" in meta:
            summary.notes[asset] = _value(meta, "llm_note")


@dataclass
class PlannedRun:
    job: str
    keys: list[dg.AssetKey]
    partition: str | None
    after: set[int]  # the planned runs that materialize an upstream asset of `keys`
    source: str | None = None  # the source its partition belongs to (None: unpartitioned, per recipe)
    pooled: bool = False  # holds a step of a concurrency pool (`gpu`: the stages that load a model)


def plan_runs(defs: dg.Definitions, date_source_keys: list[str], split: bool = False) -> list[PlannedRun]:
    """One run per wave and partition, in wave order; `split`: one per independent part of a wave
    (assets linked by an edge or one op stay together), so that parts can run side by side."""
    graph = defs.resolve_asset_graph()
    runs: list[PlannedRun] = []
    made_by: dict[dg.AssetKey, set[int]] = {}
    for pdef, wave in plan_waves(defs):
        job = _job_for(defs, wave)
        for part in _independent_parts(defs, wave) if split else [wave]:
            after = set().union(*(made_by.get(p, set()) for k in part for p in graph.get(k).parent_keys))
            first = len(runs)
            pooled = any(defs.resolve_assets_def(k).node_def.pools for k in part)
            runs += [PlannedRun(job.name, part, pk, after, dims_for(pdef, pk).get("source"), pooled)
                     for pk in _partition_keys(pdef, date_source_keys)]
            for k in part:
                made_by[k] = set(range(first, len(runs)))
    return runs


def _independent_parts(defs: dg.Definitions, wave: list[dg.AssetKey]) -> list[list[dg.AssetKey]]:
    """The wave's connected parts (union-find over its edges and over the outputs of one op), in wave order."""
    graph, group = defs.resolve_asset_graph(), {k: k for k in wave}

    def root(k):
        while group[k] != k:
            k = group[k]
        return k

    for k in wave:
        linked = [p for p in graph.get(k).parent_keys if p in group] + [o for o in defs.resolve_assets_def(k).keys if o in group]
        for other in linked:
            group[root(other)] = root(k)
    parts: dict = {}
    for k in wave:
        parts.setdefault(root(k), []).append(k)
    return list(parts.values())


def _serve(conn, defs_ref: str, instance_dir: str) -> None:
    """A worker process: load the definitions and the instance once, then run what the parent sends
    (job, asset keys, partition, run config) until it sends None; answer (run id, succeeded)."""
    module, attr = defs_ref.split(":")
    defs = getattr(importlib.import_module(module), attr)
    with dg.DagsterInstance.from_config(instance_dir) as instance:
        while (task := conn.recv()) is not None:
            job, keys, partition, run_config = task
            result = defs.resolve_job_def(job).execute_in_process(
                run_config=run_config, instance=instance, partition_key=partition,
                asset_selection=[dg.AssetKey.from_user_string(k) for k in keys], raise_on_error=False,
            )
            conn.send((result.run_id, result.success))


POOL_CHECK_S = 2.0


class _Workers:
    """`n` worker processes. Runs that load a model (a `gpu` pool step) stay with their source on the
    worker that ran its first such run, so vLLM loads once per source in one process, not in each."""

    def __init__(self, n: int, defs_ref: str, instance: dg.DagsterInstance):
        # fork while this process runs no other thread (fast: definitions already imported), else spawn
        ctx = multiprocessing.get_context("fork" if threading.active_count() == 1 else "spawn")
        self.conns, self.procs = [], []
        for i in range(n):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child, defs_ref, instance.root_directory), daemon=True, name=f"corpus-worker-{i}")
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)
        self.instance = instance
        self.busy: dict[int, int] = {}  # worker -> planned run
        self.home: dict[str, int] = {}  # source -> the worker its model-loading runs go to

    def pick(self, worker: int, ready: list[int], runs: list[PlannedRun], weight: dict[str | None, float]) -> int | None:
        """The run this idle worker starts: its own sources' model runs first, then the heaviest
        partition (weight), then plan order; never a model run of a source homed elsewhere."""
        mine = [i for i in ready if not runs[i].pooled or self.home.get(runs[i].source, worker) == worker]
        return min(mine, key=lambda i: (runs[i].source not in self.home, -weight.get(runs[i].partition, 0), i)) if mine else None

    def start(self, worker: int, i: int, run: PlannedRun, run_config: dict) -> None:
        if run.pooled and run.source is not None:
            self.home.setdefault(run.source, worker)
        self.conns[worker].send((run.job, [k.to_user_string() for k in run.keys], run.partition, run_config))
        self.busy[worker] = i

    def finished(self) -> list[tuple[int, str, bool]]:
        """Wait for at least one running run to end: (planned run, run id, succeeded) each. Every
        POOL_CHECK_S of waiting, free pool slots go to queued steps (`assign_free_slots`)."""
        done = []
        while not (ended := multiprocessing.connection.wait([self.conns[w] for w in self.busy], timeout=POOL_CHECK_S)):
            assign_free_slots(self.instance)
        for conn in ended:
            worker = self.conns.index(conn)
            try:
                run_id, success = conn.recv()
            except EOFError:
                raise RuntimeError(f"worker process {worker} died (exit code {self.procs[worker].exitcode})") from None
            done.append((self.busy.pop(worker), run_id, success))
        return done

    def close(self) -> None:
        for conn, proc in zip(self.conns, self.procs):
            if proc.is_alive() and not self.busy:
                conn.send(None)
            proc.join(timeout=10 if not self.busy else 0)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=10)
            if proc.is_alive():  # a run's interrupt handler may hold SIGTERM back: kill it
                proc.kill()
                proc.join()


def _failure(instance: dg.DagsterInstance, run: PlannedRun, run_id: str) -> RuntimeError:
    """The error of a run that failed in a worker, with each failed step's innermost cause."""
    errors = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        error = entry.dagster_event.step_failure_data.error
        while error.cause is not None:
            error = error.cause
        errors.append(f"{entry.step_key}: {error.message.strip()}")
    return RuntimeError(f"run {run_id} of {run.job} [{run.partition or 'unpartitioned'}] failed: " + "; ".join(errors or ["see its event log"]))


def materialize_all(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    date_source_keys: Iterable[str],
    log=print,
    asset_config: dict[str, dict] | None = None,
    log_level: str = "INFO",
    workers: int = 1,
    defs_ref: str = "assets.definitions:defs",
    weight: dict[str, float] | None = None,
) -> RunSummary:
    """Run every asset (and its checks) for the given date x source partitions; raise on failure.

    `asset_config` maps an asset key to its config (e.g. fewer LLM samples for a demo). `workers` > 1
    runs them in that many processes (a persistent instance, and `defs_ref`, "module:attribute", naming `defs`);
    `weight` (partition key -> e.g. its raw bytes) starts the heavier partitions first there.
    """
    runs = plan_runs(defs, sorted(date_source_keys), split=workers > 1)
    configs = [_run_config(defs, r.keys, asset_config or {}, log_level) for r in runs]
    run_ids: dict[int, str] = {}

    def announce(i: int) -> None:
        r = runs[i]
        log(f"-> {r.job}: {', '.join(k.to_user_string() for k in r.keys)} [{r.partition or 'unpartitioned'}]")

    if workers <= 1:
        for i, r in enumerate(runs):
            announce(i)
            job = defs.resolve_job_def(r.job)
            run_ids[i] = job.execute_in_process(run_config=configs[i], instance=instance, partition_key=r.partition,
                                                asset_selection=r.keys).run_id
    else:
        if instance.is_ephemeral:
            raise ValueError("materialize_all: workers > 1 needs a persistent Dagster instance (DAGSTER_HOME)")
        pool = _Workers(workers, defs_ref, instance)
        try:
            while len(run_ids) < len(runs):
                for worker in range(workers):
                    ready = [i for i, r in enumerate(runs) if i not in run_ids and i not in pool.busy.values() and r.after.issubset(run_ids)]
                    if worker not in pool.busy and (i := pool.pick(worker, ready, runs, weight or {})) is not None:
                        announce(i)
                        pool.start(worker, i, runs[i], configs[i])
                if not pool.busy:
                    raise RuntimeError("materialize_all: no planned run can start (their upstream runs never end)")
                for i, run_id, success in pool.finished():
                    if not success:
                        raise _failure(instance, runs[i], run_id)
                    run_ids[i] = run_id
        finally:
            pool.close()
    summary = RunSummary()
    for i in sorted(run_ids):  # in plan order, however the runs interleaved
        _collect(summary, instance, run_ids[i], runs[i].partition)
    return summary
