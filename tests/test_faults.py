"""Faults an unlucky operator meets: S3 going away between a stage's two outputs, a run killed mid-step."""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from corpus_dag.storage import CorpusStore, StorageError, arrow_schema
from tests.conftest import REPO
from tests.helpers import BAD_RECORDS, stop_process_group, write_jsonl

SCHEMA = arrow_schema({"doc_id": pl.String, "n": pl.Int64})
KEPT, DROPPED = (CorpusStore.partition_path(a, {"source": "s", "date": "2026-11-21"}) for a in ("kept", "dropped"))


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 in front of the S3 server; `cut()` drops every open connection and
    refuses new ones (as an outage would), `restore()` lets traffic through again."""

    def __init__(self, upstream_port: int):
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.is_cut = False
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self.is_cut:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.open |= {client, server}
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if self.is_cut:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            self._close(s)

    def _close(self, s: socket.socket) -> None:
        with self.lock:
            self.open.discard(s)
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def cut(self) -> None:
        self.is_cut = True
        with self.lock:
            live = list(self.open)
        for s in live:
            self._close(s)

    def restore(self) -> None:
        self.is_cut = False

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def proxied_s3_root(s3_server, s3_root, monkeypatch):
    """The test's s3:// CORPUS_ROOT reached through a proxy the test can cut; one attempt per request,
    so an outage fails the commit in seconds instead of after botocore's retries."""
    import fsspec

    proxy = CuttableProxy(int(s3_server.rsplit(":", 1)[1]))
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fsspec.filesystem("s3").clear_instance_cache()
    yield proxy
    proxy.close()
    fsspec.filesystem("s3").clear_instance_cache()


def _commit_pair(store: CorpusStore, kept_rows: int, dropped_rows: int) -> None:
    with store.commit({KEPT: SCHEMA, DROPPED: SCHEMA}, run_id="test") as w:
        w[KEPT].write(pl.DataFrame({"doc_id": [f"k{i}" for i in range(kept_rows)], "n": list(range(kept_rows))}))
        w[DROPPED].write(pl.DataFrame({"doc_id": [f"d{i}" for i in range(dropped_rows)], "n": list(range(dropped_rows))}))


def _cut_before_any_write(store, proxy, monkeypatch):
    proxy.cut()


def _cut_after_first_data_file(store, proxy, monkeypatch):
    atomic_open = store.atomic_open

    @contextlib.contextmanager
    def write_then_cut(rel):
        with atomic_open(rel) as f:
            yield f
        if rel.rsplit("/", 1)[-1].startswith("part-"):
            proxy.cut()  # one output's data file is in place, the other's is not

    monkeypatch.setattr(store, "atomic_open", write_then_cut)


def _cut_before_the_manifest(store, proxy, monkeypatch):
    write_json = store._write_json

    def cut_then_write(rel, doc):
        if "outputs" in doc:  # the head manifest: the one write that commits
            proxy.cut()
        write_json(rel, doc)

    monkeypatch.setattr(store, "_write_json", cut_then_write)


@pytest.mark.parametrize("cut", [_cut_before_any_write, _cut_after_first_data_file, _cut_before_the_manifest])
def test_an_s3_outage_between_two_outputs_keeps_the_old_pair(proxied_s3_root, cut):
    proxy = proxied_s3_root
    _commit_pair(CorpusStore(), 7, 3)
    before = CorpusStore().version(KEPT)

    store = CorpusStore()
    with pytest.MonkeyPatch.context() as hooks:  # the s3fs instance is shared: unhook before reading back
        cut(store, proxy, hooks)
        with pytest.raises(StorageError, match=r"(?s)kept/source=s/date=2026-11-21.*nothing was published"):
            _commit_pair(store, 100, 5)
    proxy.restore()

    reader = CorpusStore()
    assert (reader.num_rows(KEPT), reader.num_rows(DROPPED)) == (7, 3)  # the old pair, still paired
    assert reader.version(KEPT) == reader.version(DROPPED) == before

    _commit_pair(CorpusStore(), 100, 5)  # the re-run, with S3 back
    reader = CorpusStore()
    assert (reader.num_rows(KEPT), reader.num_rows(DROPPED)) == (100, 5)
    assert reader.version(KEPT) == reader.version(DROPPED) != before
    for rel in (KEPT, DROPPED):
        folder = reader.abs(rel.rsplit("/", 1)[0])
        names = sorted(p.rsplit("/", 1)[-1] for p in reader.fs.ls(folder, refresh=True))
        assert names == ["_manifest.json", f"part-{reader.version(KEPT)}.parquet"], names  # no .inflight-*, no orphan


@pytest.mark.slow
def test_an_s3_outage_in_the_ingest_stage_keeps_the_old_raw_and_rejected_pair(tmp_path, proxied_s3_root, s3_server,
                                                                              s3_root, dagster_instance):
    """The same outage through the real `raw_documents` + `rejected_documents` asset: the run fails
    naming the outputs, both keep their previous version, and the re-run with S3 back commits."""
    import boto3

    from assets.definitions import defs

    proxy, dims = proxied_s3_root, {"source": "wenku", "date": "2026-11-20"}
    raw, rejected = (CorpusStore.partition_path(a, dims) for a in ("raw_documents", "rejected_documents"))

    def ingest(n_docs: int, n_bad: int):
        lib = tmp_path / f"lib{n_docs}"
        write_jsonl(lib / "wenku/2026-11-20/a.jsonl", [{"id": f"d{i}", "text": f"期中考试 第{i}题"} for i in range(n_docs)] + BAD_RECORDS[:n_bad])
        CorpusStore().write_bytes("raw/wenku/2026-11-20/a.jsonl", (lib / "wenku/2026-11-20/a.jsonl").read_bytes())
        return dg.materialize([*defs.assets, *defs.asset_checks], instance=dagster_instance, resources=defs.resources,
                              selection=["raw_documents", "rejected_documents"], partition_key="2026-11-20|wenku",
                              raise_on_error=False)

    assert ingest(30, 2).success
    before = CorpusStore().version(raw)
    with pytest.MonkeyPatch.context() as hooks:
        write_json = CorpusStore._write_json

        def cut_then_write(self, rel, doc):
            if "outputs" in doc:  # the commit's one manifest write
                proxy.cut()
            write_json(self, rel, doc)

        hooks.setattr(CorpusStore, "_write_json", cut_then_write)
        failed = ingest(50, 3)
    proxy.restore()
    assert not failed.success
    errors = " ".join(e.step_failure_data.error.to_string() for e in failed.get_step_failure_events())
    assert "raw_documents/source=wenku/date=2026-11-20" in errors and "nothing was published" in errors, errors[-2000:]
    store = CorpusStore()
    assert (store.num_rows(raw), store.num_rows(rejected)) == (30, 2)  # the old pair
    assert store.version(raw) == store.version(rejected) == before

    rerun = ingest(50, 3)
    assert rerun.success and all(e.passed for e in rerun.get_asset_check_evaluations())
    store = CorpusStore()
    assert (store.num_rows(raw), store.num_rows(rejected)) == (50, 3)
    assert store.version(raw) == store.version(rejected) != before
    bucket, prefix = s3_root.removeprefix("s3://").split("/", 1)
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
            .list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    assert not [k for k in keys if ".inflight-" in k]
    assert len([k for k in keys if k.endswith(".parquet") and "_documents/" in k]) == 2  # one version per output


SLOW_JOB = '''
import os, time
import dagster as dg


@dg.op
def wait_mid_step():
    with open(os.environ["WORKER_PID_FILE"], "w") as f:
        f.write(str(os.getpid()))
    time.sleep(600)


@dg.job(executor_def=dg.in_process_executor)  # like the project's jobs: the step runs in the run worker
def slow_job():
    wait_mid_step()


defs = dg.Definitions(jobs=[slow_job])
'''


class Daemon:
    """`dagster-daemon run` on a temp instance (the repo's dagster.yaml) and a one-job workspace."""

    def __init__(self, tmp_path):
        self.tmp, self.home = tmp_path, tmp_path / "home"
        if not self.home.exists():
            self.home.mkdir()
            (self.home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
            (tmp_path / "slow_job.py").write_text(SLOW_JOB)
            (tmp_path / "workspace.yaml").write_text(
                "load_from:\n  - python_file:\n      relative_path: slow_job.py\n      location_name: slow\n")
            # The instance's SQLite files are made here, once: the daemon and `dagster job launch` creating
            # them at the same time raced in alembic under load (CommandError, the launch failed).
            with dg.DagsterInstance.from_config(str(self.home)) as instance:
                instance.run_storage, instance.event_log_storage, instance.schedule_storage
        self.pid_file = tmp_path / "worker.pid"
        self.bin = Path(sys.executable).parent
        # PYTHONPATH: the instance's run launcher (assets.common.run_launcher) comes from this checkout
        self.env = os.environ | {"DAGSTER_HOME": str(self.home), "WORKER_PID_FILE": str(self.pid_file),
                                 "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        self.log = open(tmp_path / "daemon.log", "ab")
        self.proc = subprocess.Popen([self.bin / "dagster-daemon", "run", "-w", "workspace.yaml"], cwd=tmp_path,
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self) -> str:
        return (self.tmp / "daemon.log").read_text()[-3000:]

    def launch_and_wait_mid_step(self) -> int:
        """Submit slow_job (the daemon dequeues and launches it); the pid of its worker once the step runs."""
        self.pid_file.unlink(missing_ok=True)
        launched = subprocess.run([self.bin / "dagster", "job", "launch", "-w", "workspace.yaml", "-j", "slow_job"],
                                  cwd=self.tmp, env=self.env, capture_output=True, text=True, timeout=120)
        assert launched.returncode == 0, f"dagster job launch failed:\n{launched.stderr[-3000:]}\ndaemon log:\n{self.log_tail()}"
        deadline = time.monotonic() + 180
        while not (self.pid_file.exists() and self.pid_file.read_text()) and time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_tail()
            time.sleep(0.5)
        assert self.pid_file.exists(), "the run's step never started: " + self.log_tail()
        return int(self.pid_file.read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            stop_process_group(self.proc)
        self.log.close()


def _wait_until_not_started(instance, run_id: str, seconds: float):
    deadline = time.monotonic() + seconds
    while instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED and time.monotonic() < deadline:
        time.sleep(1)
    return instance.get_run_by_id(run_id).status


@pytest.mark.slow
def test_a_run_killed_mid_step_is_marked_failed(tmp_path, monkeypatch):
    """kill -9 mid-step: the run ends FAILURE, not STARTED forever. First only the run worker is killed
    (the code server that spawned it reports it); then the daemon, its code server and the worker all
    at once (a host or container restart): the next daemon's run monitoring finds the worker gone."""
    daemon = Daemon(tmp_path)
    try:
        monkeypatch.setenv("DAGSTER_HOME", str(daemon.home))
        with dg.DagsterInstance.get() as instance:
            worker = daemon.launch_and_wait_mid_step()
            [run] = instance.get_runs(limit=1)
            assert run.status == dg.DagsterRunStatus.STARTED
            os.kill(worker, signal.SIGKILL)
            assert _wait_until_not_started(instance, run.run_id, 90) == dg.DagsterRunStatus.FAILURE, daemon.log_tail()

            daemon.launch_and_wait_mid_step()
            [run] = instance.get_runs(limit=1)
            assert run.status == dg.DagsterRunStatus.STARTED
            os.killpg(daemon.proc.pid, signal.SIGKILL)  # daemon, code server and run worker together
            daemon.proc.wait()
            daemon.stop()
            assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED  # nobody left to say
            daemon = Daemon(tmp_path)
            assert _wait_until_not_started(instance, run.run_id, 120) == dg.DagsterRunStatus.FAILURE, daemon.log_tail()
            messages = [e.message or "" for e in instance.all_logs(run.run_id)]
            assert any("run worker process (pid" in m and "is gone" in m for m in messages), messages[-4:]
    finally:
        daemon.stop()


CONCURRENT_RUN = """
import sys, time
import dagster as dg
from assets.definitions import defs
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))  # every run starts its ingest at the same moment
with dg.DagsterInstance.get() as instance:
    result = dg.materialize([*defs.assets, *defs.asset_checks], instance=instance, resources=defs.resources,
                            selection=["raw_documents", "rejected_documents"], partition_key="2026-11-20|wenku",
                            raise_on_error=False)
def chain(error):  # an op's error, then what caused it
    while error is not None:
        yield f"{error.cls_name}: {error.message.strip()}"
        error = error.cause
errors = [m for e in result.get_step_failure_events() for m in chain(e.step_failure_data.error)]
print("RESULT", result.success, repr(" | ".join(errors)))
"""


@pytest.mark.slow
def test_concurrent_runs_of_one_partition_leave_one_consistent_pair(tmp_path, corpus_root, dagster_instance):
    """Three Dagster runs of the same ingest partition in three processes, released together: each
    one either commits and passes its checks, or fails naming the newer run that beat it (a commit
    refused, or its version replaced before its checks read it); never another error. What stays is
    one version of each output, the same for both, reconciling with the input, and no stray file."""
    records = [{"id": f"w{i}", "text": f"2026年期末试卷 第{i}题 " + "题目内容 " * 40, "title": "试卷"} for i in range(20_000)]
    write_jsonl(Path(CorpusStore().abs("raw/wenku/2026-11-20/a.jsonl")), records + BAD_RECORDS[:3])
    start = time.time() + 20
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT_RUN, str(start)], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True) for _ in range(3)]
    outcomes = [next(line for line in p.communicate(timeout=600)[0].splitlines() if line.startswith("RESULT ")) for p in procs]
    succeeded = [o for o in outcomes if o.startswith("RESULT True")]
    assert succeeded, outcomes
    for o in outcomes:
        assert o.startswith("RESULT True") or "ConcurrentCommitError" in o or "of a newer run before this check" in o, o
    store = CorpusStore()
    raw, rejected = (CorpusStore.partition_path(a, {"source": "wenku", "date": "2026-11-20"}) for a in ("raw_documents", "rejected_documents"))
    assert store.version(raw) == store.version(rejected)
    assert (store.num_rows(raw), store.num_rows(rejected)) == (20_000, 3)
    for rel in (raw, rejected):  # the version's files (the kept rows: a part per batch read), the manifest, nothing else
        folder = Path(store.abs(rel)).parent
        named = sorted(Path(f).name for f in store.files(rel))
        assert sorted(os.listdir(folder)) == ["_manifest.json", *named] and all(f.startswith(f"part-{store.version(raw)}") for f in named)
