"""The `engine` resource on a dagster-ray cluster resource: dagster-ray's LocalRay starts the Ray
instance for the step (its lifecycle), and the stage writes the bytes engine local writes."""
import shutil
import tempfile

import dagster as dg
import pytest
from dagster_ray import LocalRay

from assets.common.engine import CorpusEngine
from corpus_dag.storage import CorpusStore
from tests.test_dedup_dagster import defs, run, seed

pytestmark = pytest.mark.ray


def test_a_dagster_ray_cluster_resource_runs_the_stage(corpus_root, dagster_instance):
    import ray

    assert not ray.is_initialized()  # started by LocalRay below, not by an earlier test
    seed(corpus_root)
    d = defs()
    for pk in ("2026-11-20|wenku", "2026-11-21|wenku"):
        run(dagster_instance, d, ["raw_documents", "rejected_documents", "minhash_signatures"], pk)
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
            written[name] = store.fs.cat_file(store.abs(store.resolve(rel)))
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
