# ---- foundation fixtures (lead): storage roots, a real Dagster instance, a real S3 server -----
import fcntl
import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


# ---- skip policy: under CI=true a skip is a failure unless the test says why it may skip ------
def skips_fail() -> bool:
    """CI sets CI=true; there every dependency is installed, so a skip means something broke."""
    return os.environ.get("CI", "").lower() in ("true", "1")


def _fail_skip(report, where: str) -> None:
    report.outcome = "failed"
    report.longrepr = (
        f"{where} skipped under CI=true: {report.longrepr}\n"
        "A skip hides a broken dependency in CI. If this test may legitimately skip on a CI machine, "
        "mark it @pytest.mark.may_skip(reason=...) (and do the skip inside the test or a fixture)."
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if not (report.skipped and skips_fail()) or hasattr(report, "wasxfail"):
        return
    marker = item.get_closest_marker("may_skip")
    if marker is None or not marker.kwargs.get("reason"):
        _fail_skip(report, item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A module-level skip (importorskip at import time) cannot carry a marker: always a failure in CI."""
    report = (yield).get_result()
    if report.skipped and skips_fail():
        _fail_skip(report, collector.nodeid)

# ---- end skip policy ---------------------------------------------------------------------------


# ---- order: `make test` runs two xdist workers, a file at a time, in collection order ----------
# These modules take minutes each (real Ray cluster, whole-library runs, servers); started first,
# they land on different workers while the short files fill the gaps, instead of one of them
# starting last and running alone.
LONGEST_FIRST = ("test_ray_cluster.py", "test_demo_e2e.py")


def pytest_collection_modifyitems(session, config, items):
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}

    def rank(item) -> tuple[int, int]:
        name = item.path.name
        if name in LONGEST_FIRST:
            return (0, LONGEST_FIRST.index(name))
        return (1, 0) if item.path in slow_files else (2, 0)

    items.sort(key=rank)  # stable, and by whole files: a file's tests stay together and in order


@pytest.fixture(scope="module")
def one_ray_at_a_time(tmp_path_factory):
    """Held by a module's Ray instance or cluster for as long as the module runs: the xdist workers'
    Ray instances take turns. Started beside the two-node cluster at work on this 2-core machine, an
    instance's raylet once stayed unregistered past Ray's fixed 30 s start-up wait (the test failed),
    and another time the worker that started it went down and xdist stalled."""
    with open(tmp_path_factory.getbasetemp().parent / "one-ray-at-a-time.lock", "w") as lock:  # shared by the workers
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture
def corpus_root(tmp_path, monkeypatch):
    """A fresh local CORPUS_ROOT for one test."""
    root = tmp_path / "corpus"
    monkeypatch.setenv("CORPUS_ROOT", str(root))
    return str(root)


@pytest.fixture
def dagster_instance(tmp_path, monkeypatch):
    """A real Dagster instance (SQLite storage in a temp DAGSTER_HOME), with the repo's dagster.yaml."""
    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        yield instance


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server on 127.0.0.1: moto's server (what ThreadedMotoServer runs), in a
    process of its own, so that serving a whole-library Dagster run does not take the GIL from it."""
    from tests.helpers import moto_server_process, stop_process_group

    port = free_port()
    server = moto_server_process(port)
    yield f"http://127.0.0.1:{port}"
    stop_process_group(server)


@pytest.fixture
def s3_root(s3_server, monkeypatch):
    """CORPUS_ROOT=s3://bucket/prefix on the moto server, credentials via the standard AWS variables."""
    import boto3

    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    bucket = f"corpus-{os.urandom(4).hex()}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    import fsspec

    fsspec.filesystem("s3").clear_instance_cache()
    root = f"s3://{bucket}/lab"
    monkeypatch.setenv("CORPUS_ROOT", root)
    return root

# ---- end foundation fixtures -----------------------------------------------------------------


# ---- tiny LLM fixtures (rebuild helper): a real tiny random model and a CPU vLLM environment ----
@pytest.fixture(scope="session")
def vllm_cpu_env(tmp_path_factory):
    """Set the CPU vLLM variables (KV cache size, in-process engine, caches in a temp dir) for the session."""
    from corpus_dag.llm.cpu import vllm_env

    env = vllm_env(tmp_path_factory.mktemp("vllm_env"))
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        yield env


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """A tiny random Qwen2 model with a trained byte-level BPE tokenizer (about 5 s to build)."""
    from corpus_dag.llm.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_llm") / "model")


@pytest.fixture(scope="session")
def vllm_installed():
    """Skip (a failure under CI=true) when vLLM's CPU build is missing."""
    pytest.importorskip("vllm", reason="vLLM is not installed (make vllm)")


@pytest.fixture(scope="session")
def vllm_engine(vllm_installed, tiny_model_path, vllm_cpu_env):
    """The session's one in-process vLLM engine on the tiny model (a load costs seconds to a minute
    under load). Built by the `llm` resource's defaults, so every Dagster run of the session that
    points $CORPUS_REBUILD_MODEL or LLMEngine(model=...) at the tiny model reuses it."""
    from assets.rebuild.resources import LLMEngine

    engine = LLMEngine(model=str(tiny_model_path)).engine()
    engine.start()
    return engine

# ---- end tiny LLM fixtures -------------------------------------------------------------------


# ---- exam classifiers: trained once per session -----------------------------------------------
@pytest.fixture(scope="session")
def exam_models():
    """The fragment classifiers (n-gram backend, 2**16 hashed features: what question_classifier
    trains with `hash_dim: 65536`), trained once for every test that needs a model."""
    from corpus_dag.exam.features import NgramCfg
    from corpus_dag.exam.labels import load_fragments
    from corpus_dag.exam.validity import train_models

    return train_models(load_fragments(), ngram=NgramCfg(dim=1 << 16), log=lambda _: None)


@pytest.fixture
def installed_classifier(corpus_root, exam_models):
    """`exam_models` stored where question_classifier writes its model, so exam stages run without retraining."""
    from assets.exam.assets import MODEL_PATH
    from corpus_dag.storage import CorpusStore

    CorpusStore(corpus_root).write_bytes(MODEL_PATH, exam_models.to_bytes())
    return exam_models

# ---- end exam classifiers ---------------------------------------------------------------------
