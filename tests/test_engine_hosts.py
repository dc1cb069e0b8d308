"""Engine `ray` keeps the actors of steps with a `setup` (a model load) between stages and partitions:
the next partition's run of the same step finds its model loaded, a different step reuses the warm
process, and idle actors never keep other work from running."""
import os
import shutil
import tempfile
from pathlib import Path

import polars as pl
import pytest

from corpus_dag.engine import BatchStep, LocalEngine, RayEngine, StageResources
from corpus_dag.storage import CorpusStore, PartitionData

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]


class Tagging(BatchStep):
    """Appends `tag` to every text; each `setup` writes a line (its process id) to `log`."""

    def __init__(self, log: str, tag: str):
        self.log, self.tag = log, tag

    def setup(self) -> None:
        with open(self.log, "a") as f:
            f.write(f"{self.tag} {os.getpid()}\n")

    def __call__(self, batch: pl.DataFrame) -> pl.DataFrame:
        return batch.with_columns(pl.col("text") + self.tag)


def upper(batch: pl.DataFrame) -> pl.DataFrame:
    return batch.with_columns(pl.col("text").str.to_uppercase())


@pytest.fixture(scope="module")
def ray_instance():
    import ray

    temp = tempfile.mkdtemp(prefix="ch", dir="/tmp")  # short: Ray's socket paths are limited
    os.environ["RAY_TMPDIR"] = temp
    engine = RayEngine(num_cpus=1)
    engine.connect()
    yield engine
    engine.shutdown()
    assert not ray.is_initialized()
    os.environ.pop("RAY_TMPDIR", None)
    shutil.rmtree(temp, ignore_errors=True)


def partition(tmp_path: Path, name: str) -> PartitionData:
    store = CorpusStore(str(tmp_path / "root"))
    rel = CorpusStore.partition_path("docs", {"source": name})
    store.write_frame(rel, pl.DataFrame({"doc_id": [f"{name}{i}" for i in range(50)], "text": [f"doc {i}" for i in range(50)]}))
    return PartitionData(store, rel)


def setups(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def run(engine, data, step, cpus=1.0):
    return pl.concat(list(engine.map_batches(data, step, batch_rows=10, resources=StageResources(num_cpus=cpus))))


def test_the_next_partition_finds_the_step_set_up_and_a_new_step_the_warm_process(ray_instance, tmp_path):
    log = str(tmp_path / "setups")
    a, b = partition(tmp_path, "a"), partition(tmp_path, "b")
    engine = RayEngine(address="auto")  # a run's engine: this process is connected already
    for data in (a, b):
        assert run(engine, data, Tagging(log, "x")).equals(run(LocalEngine(), data, Tagging(str(tmp_path / "local"), "x")))
    assert [tag for tag, _ in setups(tmp_path / "setups")] == ["x"]  # set up once for both partitions
    run(engine, a, Tagging(log, "y"))  # another step (another model): set up, in the same actor process
    run(engine, b, Tagging(log, "x"))  # and the first is still kept (two per actor)
    lines = setups(tmp_path / "setups")
    assert [tag for tag, _ in lines] == ["x", "y"] and len({pid for _, pid in lines}) == 1


def test_steps_per_actor_zero_sets_up_every_time(ray_instance, tmp_path):
    log = str(tmp_path / "setups")
    engine = RayEngine(address="auto", steps_per_actor=0)
    for data in (partition(tmp_path, "a"), partition(tmp_path, "b")):
        run(engine, data, Tagging(log, "x"))
    assert [tag for tag, _ in setups(tmp_path / "setups")] == ["x", "x"]


def test_an_idle_actor_gives_its_cpu_to_other_work(ray_instance, tmp_path):
    """The instance has one CPU and an idle actor holds it: a plain map that needs that CPU still runs
    (the idle actor is let go), and the next step with a setup starts a fresh actor."""
    log = str(tmp_path / "setups")
    data = partition(tmp_path, "a")
    engine = RayEngine(address="auto")
    run(engine, data, Tagging(log, "x"))
    assert run(engine, data, upper).equals(run(LocalEngine(), data, upper))  # would wait forever beside the idle actor
    run(engine, data, Tagging(log, "x"))
    pids = [pid for _, pid in setups(tmp_path / "setups")]
    assert len(pids) == 2 and pids[0] != pids[1]
