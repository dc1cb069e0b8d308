"""The rebuild assets through a real Dagster instance with the in-process vLLM engine (tiny model)."""
import dagster as dg
import polars as pl
import pytest

from assets.common.engine import CorpusEngine
from assets.common.storage import CorpusIOManager, CorpusStorage
from assets.rebuild import defs
from assets.rebuild.resources import LLMEngine
from corpus_dag.exam.questions import EXAM_QUESTION_SCHEMA
from corpus_dag.storage import CorpusStore

pytestmark = [pytest.mark.slow, pytest.mark.vllm]
PK = "2026-11-21|wenku"
DIMS = {"source": "wenku", "date": "2026-11-21"}


def test_rebuild_and_verify_a_partition(corpus_root, dagster_instance, tiny_model_path, vllm_engine):
    questions = pl.DataFrame(
        {"question_id": [f"w1-q{i}" for i in range(1, 4)], "doc_id": ["w1"] * 3, "question_no": [1, 2, 3],
         "section": ["选择题"] * 3, "text": ["已知集合 A={1,2}，求 A 的子集个数。", "解方程 x+1=3。", "第 1 页 共 4 页"],
         "context": [None] * 3, "subject": ["数学"] * 3, "is_valid": [True] * 3, "valid_score": [0.9] * 3},
        schema=EXAM_QUESTION_SCHEMA,
    )
    store = CorpusStore(corpus_root)
    store.write_frame(CorpusStore.partition_path("math_questions", DIMS), questions)
    storage = CorpusStorage()
    resources = {
        "storage": storage,
        "io_manager": CorpusIOManager(storage=storage),
        "engine": CorpusEngine(),
        "llm": LLMEngine(model=str(tiny_model_path)),
    }
    assert resources["llm"].engine() is vllm_engine  # the session's loaded model, not a second one
    run_config = {"ops": {"rebuilt_math_items": {"config": {"samples": 2, "max_tokens": 32, "batch_questions": 2}}}}

    def run():
        return dg.materialize(defs.assets, instance=dagster_instance, resources=resources, partition_key=PK, run_config=run_config)

    assert run().success
    rebuilt = store.read(CorpusStore.partition_path("rebuilt_math_items", DIMS))
    assert rebuilt.height == 6 and set(rebuilt["question_id"]) == set(questions["question_id"])
    meta = dagster_instance.get_latest_materialization_event(dg.AssetKey("rebuilt_math_items")).asset_materialization.metadata
    assert meta["prompts_sent"].value == 6 and meta["cache_hits"].value == 0
    assert meta["prompt_version"].value == "kp_cot_pot.v1" and meta["model"].value == tiny_model_path.name
    assert {"validity_rate", "agreement_rate", "tokens_per_s", "items_per_hour", "gpu_hours"} <= set(meta)

    verified = store.read(CorpusStore.partition_path("verified_math_items", DIMS))
    unverified = store.read(CorpusStore.partition_path("unverified_math_items", DIMS))
    assert verified.height + unverified.height == rebuilt.height  # every sample accounted for
    assert unverified["reason"].null_count() == 0

    assert run().success  # same config again: everything from the response cache
    meta = dagster_instance.get_latest_materialization_event(dg.AssetKey("rebuilt_math_items")).asset_materialization.metadata
    assert meta["prompts_sent"].value == 0 and meta["cache_hits"].value == 6
    assert store.read(CorpusStore.partition_path("rebuilt_math_items", DIMS)).equals(rebuilt)
