"""The `engine` resource on a dagster-ray cluster resource: dagster-ray's LocalRay starts the Ray
instance for the step (its lifecycle), and the stage writes the bytes engine local writes."""
import shutil
import tempfile

import dagster as dg
import pytest
from dagster_ray import LocalRay

from assets.common.engine import CorpusEngine
from tests.helpers import partition_bytes
from corpus_dag.storage import CorpusStore
from tests.test_dedup_dagster import signed_library

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("one_ray_at_a_time")]


def test_a_dagster_ray_cluster_resource_runs_the_stage(corpus_root, dagster_instance):
    import ray

    assert not ray.is_initialized()  # started by LocalRay below, not by an earlier test
    d = signed_library(dagster_instance, corpus_root)
    store = CorpusStore(corpus_root)
    rel = CorpusStore.partition_path("dedup_clusters", {"source": "wenku"})
    # a short session folder: Ray's socket paths are limited to 107 bytes, and TMPDIR may be a deep pytest folder
    temp = tempfile.mkdtemp(prefix="cr", dir="/tmp")
    cluster = LocalRay(ray_init_options={"num_cpus": 1, "include_dashboard": False, "_temp_dir": temp})
    written, engines, logs = {}, {}, {}
    try:
        for name, engine in (("local", CorpusEngine(kind="local")), ("ray", CorpusEngine(kind="ray", cluster=cluster))):
            result = dg.materialize(d.assets, instance=dagster_instance, resources={**d.resources, "engine": engine},
                                    selection=["dedup_clusters"], partition_key="wenku")
            written[name] = partition_bytes(store, rel)
            engines[name] = result.asset_materializations_for_node("dedup_clusters")[0].metadata["engine"].value
            logs[name] = " ".join(e.message for e in dagster_instance.all_logs(result.run_id))
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    assert engines == {"local": "local", "ray": "ray"}
    assert "Connected to LocalRay" in logs["ray"] and "LocalRay" not in logs["local"]  # dagster-ray ran its lifecycle
    assert written["ray"] == written["local"] and store.read(rel).height == 4


def test_a_cluster_with_the_local_engine_is_refused_when_built():
    with pytest.raises(ValueError, match="`cluster` is set but `kind` is local"):
        CorpusEngine(kind="local", cluster=LocalRay())


def test_a_misspelt_stage_is_refused_when_built():
    from assets.common.engine import StageSettings

    with pytest.raises(ValueError, match=r"unknown stage\(s\) \['perplexty'\].*'perplexity'"):
        CorpusEngine(kind="ray", stages={"perplexty": StageSettings(num_gpus=1)})
    assert CorpusEngine(kind="ray", stages={"rebuild": StageSettings(num_gpus=1)}).stage("rebuild").num_gpus == 1


def test_a_second_process_attaches_to_a_loopback_instance():
    """`address` pointing at an instance bound to 127.0.0.1 (the engine's local instance, or a
    loopback-only `ray start`): the driver joins as a loopback driver instead of waiting forever for a
    raylet on the machine's address, and leaves no Ray setting in the environment."""
    import subprocess
    import sys

    import ray

    from corpus_dag.engine import RayEngine

    engine = RayEngine(num_cpus=1)
    engine.connect()
    try:
        address = ray.get_runtime_context().gcs_address
        assert address.startswith("127.0.0.1:")
        code = ("import os, sys, ray; from corpus_dag.engine import RayEngine; RayEngine(address=sys.argv[1]).connect(); "
                "print('CPUS', ray.cluster_resources().get('CPU'), 'RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER' in os.environ)")
        attached = subprocess.run([sys.executable, "-c", code, address], capture_output=True, text=True, timeout=120)
    finally:
        engine.shutdown()
    assert attached.returncode == 0, attached.stderr[-2000:]
    assert "CPUS 1.0 False" in attached.stdout
