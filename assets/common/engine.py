"""The `engine` resource: where stages run their batches, `local` (default) or `ray`.

One setting switches it: `CORPUS_ENGINE=ray` (or the resource's `kind`). With `ray`, `address`
empty starts a local Ray instance for the run; `auto`, `host:port` or `ray://host:port` attaches
to an existing cluster started with `ray start`. Or hand it a dagster-ray cluster resource
(`cluster: LocalRay(...)` / `KubeRayCluster(...)`): dagster-ray then creates, waits for and connects
the cluster for the step (and deletes it after, per its `lifecycle`), and the engine runs on it. Per-stage resources (`num_cpus`, `num_gpus`, `concurrency`,
`batch_rows`) are keyed by the stage tag of the assets (`filter`, `exam`, `perplexity`, ...).
"""
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import dagster as dg
from dagster_ray import RayResource
from pydantic import Field, PrivateAttr, field_validator, model_validator

from corpus_dag.engine import Engine, LocalEngine, RayEngine, StageResources


# The concurrency pool of the stages that load a model (vLLM, the reference LM): dagster.yaml limits it
# to one at a time, as one GPU holds one vLLM engine; `make demo` on a CPU-only host raises it.
MODEL_POOL = "gpu"

# The stage tags whose batches run on the engine: the keys `stages` takes.
ENGINE_STAGES = ("ingest", "exam", "dedup", "filter", "safety", "classify", "coherence", "perplexity", "decontaminate", "chunk",
                 "rebuild", "verify")


class StageSettings(dg.Config):
    num_cpus: float = Field(default=1.0, ge=0, description="CPUs per Ray task or actor of this stage.")
    num_gpus: float = Field(default=0.0, ge=0, description="GPUs per Ray actor (vLLM stages on a GPU cluster: 1).")
    concurrency: int | None = Field(default=None, ge=1, description="Parallel tasks / actors; empty = as many as fit.")
    batch_rows: int | None = Field(default=None, ge=1, description="Rows per batch; empty = the stage's default.")


class CorpusEngine(dg.ConfigurableResource):
    """Where stage batches run. Output is the same on both engines (tested per stage)."""

    kind: Literal["local", "ray"] = Field(
        default_factory=lambda: os.environ.get("CORPUS_ENGINE", "local"),  # type: ignore[return-value]
        description="local: in the Dagster step's process. ray: on a Ray cluster. Default: $CORPUS_ENGINE, else local.",
    )
    address: str = Field(
        default_factory=lambda: os.environ.get("CORPUS_RAY_ADDRESS", ""),
        description="Ray only. Empty: start a local Ray instance for the run (127.0.0.1). 'auto', 'host:port' or "
        "'ray://host:port': attach to an existing cluster. Default: $CORPUS_RAY_ADDRESS.",
    )
    cluster: RayResource | None = Field(
        default=None,
        description="Ray only. A dagster-ray cluster resource (LocalRay, KubeRayCluster, ...) whose lifecycle dagster-ray "
        "runs for the step (create, wait, connect, delete); takes the place of `address`.",
    )
    num_cpus: int | None = Field(default=None, ge=1, description="CPUs of a local Ray instance (empty: all).")
    object_store_mb: int | None = Field(default=None, ge=64, description="Object store of a local Ray instance, MB.")
    runtime_env: dict = Field(default_factory=dict, description="Ray runtime_env for the workers (pip, env_vars, "
                              "working_dir, py_modules). AWS_* variables of the driver are passed on by default.")
    stages: dict[str, StageSettings] = Field(default_factory=dict, description="Per-stage Ray resources, by stage tag: "
                                             + ", ".join(ENGINE_STAGES) + ".")
    steps_per_actor: int = Field(default=2, ge=0, description="Ray only. Models an idle actor keeps loaded for the next "
                                 "stage or partition of this process's runs (1 on GPU actors); 0 = a new actor per stage. "
                                 "Idle actors hold their CPUs/GPUs until other work needs them or the run ends.")
    stale_scratch_hours: float = Field(
        default=6, gt=0,
        description="Dedup scratch folders under CORPUS_ROOT/_scratch whose lease is older than this many hours are a "
        "crashed run's: the next dedup run of that partition removes them. A live run rewrites its lease every 10 minutes.",
    )
    _engine: Engine | None = PrivateAttr(default=None)

    @field_validator("stages")
    @classmethod
    def _known_stages(cls, stages: dict) -> dict:
        unknown = sorted(set(stages) - set(ENGINE_STAGES))
        if unknown:
            raise ValueError(f"engine.stages: unknown stage(s) {unknown}; the stages that run on the engine are {list(ENGINE_STAGES)}")
        return stages

    @model_validator(mode="after")
    def _cluster_needs_ray(self):
        if self.cluster is not None and self.kind != "ray":
            raise ValueError("engine: `cluster` is set but `kind` is local; set kind: ray (or CORPUS_ENGINE=ray) to run on it")
        return self

    def stage(self, name: str) -> StageResources:
        s = self.stages.get(name)
        return StageResources(**s.model_dump()) if s else StageResources()

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext):
        self._engine = self._build()
        try:
            yield self
        finally:
            if isinstance(self._engine, RayEngine):
                self._engine.shutdown()

    def _build(self) -> Engine:
        if self.kind == "local":
            return LocalEngine()
        mb = self.object_store_mb
        return RayEngine(address=self.address, num_cpus=self.num_cpus, object_store_memory=mb * 1024**2 if mb else None,
                         runtime_env=dict(self.runtime_env), steps_per_actor=self.steps_per_actor)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._build()
        return self._engine


@contextmanager
def one_ray_for_all_runs(engine: CorpusEngine) -> Iterator[str]:
    """Connect this process to Ray once for many in-process runs (the demo): otherwise every run
    starts and stops its own local instance, ~4 s apiece. Yields a line that says which engine ran.

    kind local, or a dagster-ray `cluster` (whose lifecycle dagster-ray runs per step): nothing to do.
    `address` set: attach, start nothing. Empty: start one local instance, its session folder in a
    temp folder of its own, stopped and removed on the way out (also on an error or Ctrl-C). Each
    run's engine then finds the process connected and reuses it (`RayEngine.connect`)."""
    if engine.kind != "ray" or engine.cluster is not None:
        yield "engine: local" if engine.kind == "local" else "engine: ray (dagster-ray cluster resource, one per step)"
        return
    ray_engine = engine._build()
    temp = None if engine.address else tempfile.mkdtemp(prefix="corpus-ray-")
    previous = os.environ.get("RAY_TMPDIR")
    if temp:
        os.environ["RAY_TMPDIR"] = temp  # Ray's session folder: logs and sockets, removed below
    try:
        ray_engine.connect()
        import ray

        where = f"{ray.get_runtime_context().gcs_address} (started for these runs)" if temp else f"{engine.address} (attached)"
        yield f"engine: ray, cluster {where}, {ray.cluster_resources().get('CPU', 0):g} CPUs"
    finally:
        ray_engine.shutdown()  # stops only an instance it started
        if temp:
            if previous is None:
                os.environ.pop("RAY_TMPDIR", None)
            else:
                os.environ["RAY_TMPDIR"] = previous
            shutil.rmtree(temp, ignore_errors=True)
