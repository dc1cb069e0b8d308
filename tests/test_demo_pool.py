"""`make demo`'s model pool: opened to the workers on a host without a GPU, left at one with a GPU,
and a limit set on the instance by hand is kept."""
import dagster as dg

from assets.common.engine import MODEL_POOL
from scripts.demo import open_model_pool


def _limit(instance: dg.DagsterInstance) -> int | None:
    return next((p.limit for p in instance.event_log_storage.get_pool_limits() if p.name == MODEL_POOL), None)


def test_without_a_gpu_as_many_model_stages_run_as_workers(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        line = open_model_pool(instance, workers=2, gpus=0)
        assert _limit(instance) == 2 and "2 model stages at a time" in line


def test_with_a_gpu_or_one_worker_the_pool_stays_at_one(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        assert "one model stage at a time" in open_model_pool(instance, workers=2, gpus=1)
        assert "one model stage at a time" in open_model_pool(instance, workers=1, gpus=0)
        assert _limit(instance) in (None, 1)


def test_a_limit_set_by_hand_stands(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.event_log_storage.set_concurrency_slots(MODEL_POOL, 3)
        assert "3 at a time (set on this instance)" in open_model_pool(instance, workers=2, gpus=0)
        assert _limit(instance) == 3
