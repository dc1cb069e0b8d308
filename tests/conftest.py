# ---- foundation fixtures (lead): storage roots, a real Dagster instance, a real S3 server -----
import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


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
    """A real S3-compatible server (moto's ThreadedMotoServer) on 127.0.0.1."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


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

# ---- end tiny LLM fixtures -------------------------------------------------------------------
