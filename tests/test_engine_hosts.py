"""Engine `ray` keeps the actors of steps with a `setup` (a model load) between stages and partitions:
the next partition's run of the same step finds its model loaded, a different step reuses the warm
process, and idle actors never keep other work from running.

The checks run in a child process with its own 1-CPU Ray instance (`python -m tests.test_engine_hosts
FOLDER`), as the cluster tests run their drivers: a Ray instance inside a pytest-xdist worker once
took the worker down, and xdist then stalled the whole run."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import polars as pl
import pytest

from corpus_dag.accounting import Split, WrittenSplit, split_by_reason, write_split
from corpus_dag.engine import BatchStep, LocalEngine, RayEngine, StageResources
from corpus_dag.storage import CorpusStore, PartitionData, arrow_schema, part_sink
from tests.helpers import partition_bytes

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parent.parent


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


SCHEMA = {"doc_id": pl.String, "text": pl.String}


def partition(tmp_path: Path, name: str) -> PartitionData:
    store = CorpusStore(str(tmp_path / "root"))
    rel = CorpusStore.partition_path("docs", {"source": name})
    store.write_frame(rel, pl.DataFrame({"doc_id": [f"{name}{i}" for i in range(50)], "text": [f"doc {i}" for i in range(50)]}))
    return PartitionData(store, rel)


def setups(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def run(engine, data, step, cpus=1.0):
    return pl.concat(list(engine.map_batches(data, step, batch_rows=10, resources=StageResources(num_cpus=cpus))))


def next_partition_finds_the_step_set_up_and_a_new_step_the_warm_process(tmp_path):
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


def steps_per_actor_zero_sets_up_every_time(tmp_path):
    log = str(tmp_path / "setups")
    engine = RayEngine(address="auto", steps_per_actor=0)
    for data in (partition(tmp_path, "a"), partition(tmp_path, "b")):
        run(engine, data, Tagging(log, "x"))
    assert [tag for tag, _ in setups(tmp_path / "setups")] == ["x", "x"]


def an_idle_actor_gives_its_cpu_to_other_work(tmp_path):
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


def run_lengths(batch: pl.DataFrame) -> pl.DataFrame:
    return batch.group_by("q", maintain_order=True).len()


def whole_runs_stay_in_one_batch_on_both_engines(tmp_path):
    """`whole=`: no batch cuts a run of equal keys (a question's samples), on Ray as locally."""
    lengths = [3, 1, 7, 2, 12, 1, 4]
    store = CorpusStore(str(tmp_path / "root"))
    rel = CorpusStore.partition_path("samples", {"source": "a"})
    store.write_frame(rel, pl.DataFrame({"q": [f"q{i}" for i, n in enumerate(lengths) for _ in range(n)]}))
    data = PartitionData(store, rel)
    on_ray = list(RayEngine(address="auto").map_batches(data, run_lengths, batch_rows=5, whole="q"))
    local = list(LocalEngine().map_batches(data, run_lengths, batch_rows=5, whole="q"))
    assert [f.to_dicts() for f in on_ray] == [f.to_dicts() for f in local]
    assert [f.height for f in local] == [3, 2, 2]  # slices of >= 5 rows ending where q changes: 3+1+7 | 2+12 | 1+4
    assert pl.concat(local)["len"].to_list() == lengths  # every run whole, in order


def numbered(item: tuple[str, int], sep: str):
    prefix, n = item
    for i in range(n):
        yield f"{prefix}{sep}{i}"


def streams_come_back_whole_and_in_input_order(tmp_path):
    """`map_streams`: one generator task per item (a raw file), its yields in order, the items in order."""
    items = [("a", 3), ("b", 0), ("c", 7), ("d", 1), ("e", 5)]
    fn = partial(numbered, sep="-")  # a partial, as the ingest stage passes
    on_ray = [list(s) for s in RayEngine(address="auto", stream_backlog=2).map_streams(fn, items)]
    assert on_ray == [list(s) for s in LocalEngine().map_streams(fn, items)] == [[f"{p}-{i}" for i in range(n)] for p, n in items]


@dataclass(frozen=True)
class SlowFirst:
    """Sleeps `seconds` over the partition's first batch only, so the later batches finish before it."""

    seconds: float

    def __call__(self, batch: pl.DataFrame) -> pl.DataFrame:
        if batch["doc_id"][0].endswith("a0"):
            time.sleep(self.seconds)
        return batch


def a_plain_map_comes_back_in_input_order_when_later_batches_finish_first(tmp_path):
    """Two half-CPU tasks at once on the one CPU: the first batch is still asleep while the others end."""
    data = partition(tmp_path, "a")
    got = list(RayEngine(address="auto").map_batches(data, SlowFirst(3.0), batch_rows=10,
                                                     resources=StageResources(num_cpus=0.5)))
    assert [f["doc_id"].to_list() for f in got] == [f["doc_id"].to_list() for f in LocalEngine().map_batches(data, SlowFirst(0), batch_rows=10)]


def typed_frames(batch: pl.DataFrame) -> tuple[bool, pl.DataFrame, pl.DataFrame]:
    """Whether this process pickles a frame as Arrow (Ray's own pickler), a frame of every kind of column
    the stages pass, and a zero-width frame of the batch's height."""
    import ray

    n = batch.height
    frame = batch.with_columns(
        pl.Series("kind", ["exact", "near"] * (n // 2) + ["exact"] * (n % 2), dtype=pl.Enum(["exact", "near"])),
        pl.Series("cat", ["a"] * n, dtype=pl.Categorical),
        pl.date(2026, 11, 21).alias("date"),
        pl.concat_list(pl.lit(1, pl.UInt32), pl.lit(2, pl.UInt32)).list.to_array(2).alias("signature"),
        pl.struct(pl.col("doc_id").alias("id"), pl.lit(0.5).alias("p")).alias("scores"),
        pl.col("text").str.split(" ").alias("words"),
        pl.lit("1.25").cast(pl.Decimal(10, 2)).alias("price"),
        pl.lit(None).alias("nothing"),
    )
    return b"pyarrow" in ray.cloudpickle.dumps(frame), frame, batch.drop(batch.columns)


def typed_stream(frames: list[pl.DataFrame]):
    for frame in frames:
        yield typed_frames(frame)


class TypedFrames(BatchStep):
    def __call__(self, batch: pl.DataFrame):
        return typed_frames(batch)


def frames_cross_ray_as_arrow_with_their_schema(tmp_path):
    """Every kind of task (a plain map on Ray Data, an actor pool, `map_tasks`, `map_streams`) sends polars
    frames as Arrow tables, whose buffers stay out of the pickle, and they come back with the same dtypes
    and rows as on the local engine; a zero-width frame keeps its height. (The Ray Data map packs its
    results itself, `corpus_dag.ray_data.pack`: the flag, which asks Ray's own pickler, is not its concern.)"""
    from polars.testing import assert_frame_equal

    data = partition(tmp_path, "a").pinned()
    frames = [data.read_rows(0, 10), data.read_rows(10, 50)]
    engine = RayEngine(address="auto")
    results = {
        "map": list(engine.map_batches(data, typed_frames, batch_rows=10)),
        "actor pool": list(engine.map_batches(data, TypedFrames(), batch_rows=10)),
        "map_tasks": list(engine.map_tasks(typed_frames, frames)),
        "map_streams": [x for s in engine.map_streams(typed_stream, [frames]) for x in s],
    }
    local = {"map": list(LocalEngine().map_batches(data, typed_frames, batch_rows=10)), "map_tasks": [typed_frames(f) for f in frames]}
    local["actor pool"], local["map_streams"] = local["map"], local["map_tasks"]
    for kind, got in results.items():
        if kind != "map":
            assert [arrow for arrow, _, _ in got] == [True] * len(local[kind]), f"{kind}: a frame pickled as polars"
        for (_, frame, empty), (_, want, want_empty) in zip(got, local[kind], strict=True):
            assert_frame_equal(frame, want)
            assert empty.shape == want_empty.shape == (want.height, 0)


def odd_out(batch: pl.DataFrame) -> Split:
    """Keeps the even-numbered documents, drops the odd ones with a reason."""
    odd = pl.when(pl.col("doc_id").str.extract(r"(\d+)$").cast(pl.Int64) % 2 == 1).then(pl.lit("odd"))
    return split_by_reason(batch, odd)


class OddOut(BatchStep):
    def __call__(self, batch: pl.DataFrame) -> Split:
        return odd_out(batch)


def written_by(sink, key: int, split: Split) -> tuple[int, WrittenSplit]:
    return os.getpid(), write_split(sink, "kept", "dropped", None, key, split)


def workers_write_their_slices_rows_and_only_the_accounting_comes_back(tmp_path):
    """A map with a sink: each slice's kept and dropped rows are written as parts by the process that computed
    them (a Ray Data task, a step host; this process on the local engine), invisible until the commit; what
    comes back is the accounting and a preview; and the parts have the local engine's bytes."""
    data = partition(tmp_path, "a").pinned()
    store, written, pids = data.store, {}, {}
    for kind, engine, step in (("local", LocalEngine(), odd_out), ("map", RayEngine(address="auto"), odd_out),
                               ("hosts", RayEngine(address="auto"), OddOut())):
        kept, dropped = (CorpusStore.partition_path(f"{a}_{kind}", {"source": "a"}) for a in ("kept", "dropped"))
        with store.commit({kept: arrow_schema(SCHEMA), dropped: arrow_schema(SCHEMA | {"reason": pl.String})}) as w:
            sink = part_sink({"kept": w[kept], "dropped": w[dropped]})
            results = list(engine.map_batches(data, step, batch_rows=10, sink=partial(written_by, sink)))
            for _pid, split in results:
                split.adopt_into({"kept": w[kept], "dropped": w[dropped]})
            assert not store.exists(kept) and len(list((tmp_path / "root" / f"kept_{kind}" / "source=a").glob("part-*"))) == 5
        pids[kind] = {pid for pid, _ in results}
        assert [s.key for _, s in results] == [0, 10, 20, 30, 40] and {s.n_in for _, s in results} == {10}
        assert sum(s.dropped["odd"] for _, s in results) == 25 and all(h.height == 5 for _, s in results for h in s.heads.values())
        written[kind] = [partition_bytes(store, kept), partition_bytes(store, dropped)]
        assert store.read(kept)["doc_id"].to_list() == [f"a{i}" for i in range(0, 50, 2)]
        assert store.read_rows(dropped, 3, 14)["doc_id"].to_list() == [f"a{i}" for i in range(7, 29, 2)]
    assert pids["local"] == {os.getpid()} and os.getpid() not in pids["map"] | pids["hosts"]
    assert written["map"] == written["hosts"] == written["local"] and len(written["local"][0]) == 5


def a_raw_partition_is_written_by_its_readers_and_repeated_ids_leave_their_parts(tmp_path):
    """The raw_documents stage's loop (`ingest.write_partition`) on Ray: the part tasks write the kept rows, a
    repeated id's part is rewritten by a task, and the partitions are the local engine's, byte for byte."""
    import datetime as dt

    from corpus_dag.ingest import RAW_DOCUMENTS_SCHEMA, REJECTED_DOCUMENTS_SCHEMA, IngestCfg, file_parts, read_raw_file
    from corpus_dag.ingest import write_partition

    store = CorpusStore(str(tmp_path / "root"))
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.jsonl").write_text("".join(json.dumps({"id": f"a{i}", "text": f"{i} " * 40}) + "\n" for i in range(20)))
    b = [{"id": "a5", "text": "a5 again"}, {"id": "b1", "text": "kept beside the repeat"}, {"id": "b", "text": ""}]
    (raw / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in b))  # one batch: its kept part is rewritten
    cfg = IngestCfg(batch_rows=3, split_bytes=300)
    parts = [p for f in ("a.jsonl", "b.jsonl") for p in file_parts(str(raw / f), (raw / f).stat().st_size, cfg.split_bytes)]
    read = partial(read_raw_file, fs=store.fs, source="s", date=dt.date(2026, 11, 21), cfg=cfg)
    written = {}
    for kind, engine in (("local", LocalEngine()), ("ray", RayEngine(address="auto"))):
        kept, rejected = (CorpusStore.partition_path(f"{a}_{kind}", {"source": "s"}) for a in ("kept", "rejected"))
        with store.commit({kept: arrow_schema(RAW_DOCUMENTS_SCHEMA), rejected: arrow_schema(REJECTED_DOCUMENTS_SCHEMA)}) as w:
            splits = list(write_partition(engine, read, parts, w, kept, rejected))
        assert sum(s.n_in for s in splits) == 23 and sum(sum(s.dropped.values()) for s in splits) == 2
        assert store.read(kept)["doc_id"].to_list() == [f"a{i}" for i in range(20)] + ["b1"]
        assert store.read(rejected).select("file", "line", "reason").rows() == [("b.jsonl", 1, "duplicate_doc_id: a5"),
                                                                                 ("b.jsonl", 3, "empty_text")]
        written[kind] = [partition_bytes(store, kept), partition_bytes(store, rejected)]
    assert len(parts) > 5 and written["ray"] == written["local"]


CHECKS = (next_partition_finds_the_step_set_up_and_a_new_step_the_warm_process, steps_per_actor_zero_sets_up_every_time,
          an_idle_actor_gives_its_cpu_to_other_work, whole_runs_stay_in_one_batch_on_both_engines,
          streams_come_back_whole_and_in_input_order, frames_cross_ray_as_arrow_with_their_schema,
          a_plain_map_comes_back_in_input_order_when_later_batches_finish_first,
          workers_write_their_slices_rows_and_only_the_accounting_comes_back,
          a_raw_partition_is_written_by_its_readers_and_repeated_ids_leave_their_parts)


def main(folder: str) -> None:
    """Start a 1-CPU Ray instance, run every check, print one JSON line: check name -> error or null."""
    temp = tempfile.mkdtemp(prefix="ch", dir="/tmp")  # short: Ray's socket paths are limited
    os.environ["RAY_TMPDIR"] = temp
    engine = RayEngine(num_cpus=1, object_store_memory=128 * 1024**2)
    engine.connect()
    results = {}
    try:
        for check in CHECKS:
            where = Path(folder) / check.__name__
            where.mkdir(parents=True)
            try:
                check(where)
                results[check.__name__] = None
            except AssertionError as e:
                results[check.__name__] = f"AssertionError: {e}"
    finally:
        engine.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    print("RESULT " + json.dumps(results), flush=True)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory, one_ray_at_a_time) -> dict:
    folder = tmp_path_factory.mktemp("hosts")
    proc = subprocess.run([sys.executable, "-m", "tests.test_engine_hosts", str(folder)], cwd=REPO, capture_output=True,
                          text=True, timeout=280)
    lines = [line[len("RESULT "):] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"exit {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return json.loads(lines[-1])


def test_a_packed_result_keeps_its_frames_texts_out_of_the_pickle_and_comes_back_equal():
    from polars.testing import assert_frame_equal

    from corpus_dag.accounting import Split
    from corpus_dag.ray_data import PAYLOAD, pack, unpack

    text = "字" * 100_000
    kept = pl.DataFrame({"doc_id": ["a", "b"], "text": [text, None], "n": [1, 2]}, schema_overrides={"n": pl.UInt8})
    result = (Split(kept, kept.head(0).with_columns(pl.lit("x").alias("reason"))), 7, pl.DataFrame(height=3))
    table = pack(result)
    assert table.column(PAYLOAD)[0].as_py().count(text.encode()[:300]) == 0  # the text is in a buffer row, not the pickle
    split, n, empty = unpack(table)
    assert_frame_equal(split.kept, kept) and assert_frame_equal(split.dropped, result[0].dropped)
    assert n == 7 and empty.shape == (3, 0)


@pytest.mark.parametrize("check", [c.__name__ for c in CHECKS])
def test_step_hosts(outcome, check):
    assert outcome[check] is None, outcome[check]


if __name__ == "__main__":
    main(sys.argv[1])
