"""Engine `ray` on a real two-node Ray cluster (loopback only): same output as engine `local`
for every stage, on a local folder and on S3; a killed worker is retried; a killed driver
publishes nothing and a re-run succeeds."""
import pytest

from tests import ray_cluster

pytestmark = [pytest.mark.slow, pytest.mark.ray]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, one_ray_at_a_time):
    reason = ray_cluster.available()
    if reason:
        pytest.skip(reason)
    c = ray_cluster.start(tmp_path_factory.mktemp("ray"))
    yield c
    ray_cluster.stop(c)


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("roots")
    return str(base / "local"), str(base / "ray")


def test_the_cluster_has_two_nodes_on_loopback(cluster):
    nodes = cluster.run("nodes")
    assert nodes["alive"] == 2 and set(nodes["addresses"]) == {"127.0.0.1"} and nodes["cpus"] == 2.0


def test_every_stage_writes_the_same_files_on_ray_as_locally(cluster, roots):
    result = cluster.run("pipeline", *roots, timeout=900)
    print("seconds", result["seconds"])
    assert result["failures"] == [] and result["missing"] == []
    assert result["partitions"] >= 30  # 2 partitions x every output of the engine stages (+ dedup_clusters, thresholds)
    assert result["different"] == []  # byte-identical Parquet
    assert set(result["max_rel_diff"]) == {"perplexity_scores", "coherence_scores"}
    assert max(result["max_rel_diff"].values()) < 1e-4  # float model scores: same model and batches
    assert result["timed_rows"]["rebuilt_math_items"] > 0  # generated on Ray: equal but for the wall-clock latency_s
    assert set(result["timed_rows"]) == {"rebuilt_math_items", "unverified_math_items"}


def test_the_same_on_s3(cluster, roots):
    result = cluster.run("pipeline", roots[0], "", "s3", timeout=900)
    print("seconds", result["seconds"])
    assert result["failures"] == [] and result["missing"] == [] and result["different"] == []
    assert result["partitions"] >= 15  # the web partition of every output through the safety stage, and its dedup_clusters


def test_a_killed_worker_is_retried_with_the_same_output(cluster, tmp_path):
    result = cluster.run("worker_kill", str(tmp_path / "root"))
    assert result["killed"], "no busy worker was found to kill"
    assert result["rows"] == 600 and result["identical"]


def test_a_killed_driver_publishes_nothing_and_a_rerun_succeeds(cluster, roots):
    result = cluster.run("driver_kill", roots[1], timeout=600)
    assert result["exit"] == -9 and result["version_unchanged"] and result["files_unchanged"]
    assert result["orphan_parts"] >= 3  # killed once its workers had written parts, which no reader sees
    assert result["rerun_exit"] == 0, result["rerun_tail"]
    assert result["new_version"] and result["visible_after_rerun"] == result["committed_after_rerun"]  # the orphans removed
    assert len(result["committed_after_rerun"]) > 1  # a part per slice of 40 documents that kept some
