"""The post-training assets through a real Dagster instance with real vLLM on CPU (the tiny random model).

The upstream partitions are written by the test (a random model never writes a verified item), so
the judge, the reward model, the RFT sampler and the self-instruct generator run for real over known
paths; a second run must find every response in the cache and call no model.
"""
import dagster as dg
import polars as pl
import pytest

from assets.common.storage import CorpusIOManager, CorpusStorage
from assets.posttrain import defs
from assets.rebuild.resources import JudgeEngine, LLMEngine
from corpus_dag.llm.engines import VllmEngine
from corpus_dag.llm.tiny_model import NOISE_NOTE
from corpus_dag.posttrain.reward import RewardCfg, RewardModel
from corpus_dag.rebuild.stage import REBUILT_SCHEMA, VERIFIED_SCHEMA
from corpus_dag.storage import CorpusStore
from tests.helpers import with_stand_ins
from tests.test_posttrain_core import PATHS

pytest.importorskip("vllm")
pytestmark = [pytest.mark.slow, pytest.mark.vllm]
PK = "2026-11-21|wenku"
DIMS = {"source": "wenku", "date": "2026-11-21"}
LLM_ASSETS = ("scored_math_items", "rft_math_items", "self_instruct_math_items")
RFT_SAMPLES = 3


@pytest.fixture(scope="session")
def reward_model_path(tiny_model_path, tmp_path_factory):
    """A tiny random sequence-classification (reward) model folder with the tiny model's tokenizer."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    out = tmp_path_factory.mktemp("reward") / "tiny-reward"
    config = AutoConfig.from_pretrained(tiny_model_path, num_labels=1)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_path).save_pretrained(out)
    return out


def verified_rows() -> pl.DataFrame:
    return pl.DataFrame([{"item_id": "q1-s0", "messages": [{"role": "user", "content": "2 加 2 等于几？"},
                                                             {"role": "assistant", "content": "4"}],
                          "question_id": "q1", "knowledge_points": ["加法", "方程"], "answer": "4", "model": "gen",
                          "prompt_version": "kp_cot_pot.v1", "votes": 2, "share": 0.5}], schema=VERIFIED_SCHEMA)


def latest(instance, asset: str) -> dict:
    return instance.get_latest_materialization_event(dg.AssetKey(asset)).asset_materialization.metadata


def test_posttrain_partition_end_to_end_and_resume(corpus_root, dagster_instance, tiny_model_path, vllm_cpu_env,
                                                    reward_model_path, monkeypatch):
    store = CorpusStore(corpus_root)
    store.write_frame(CorpusStore.partition_path("rebuilt_math_items", DIMS), PATHS.cast(REBUILT_SCHEMA))
    store.write_frame(CorpusStore.partition_path("verified_math_items", DIMS), verified_rows())
    storage = CorpusStorage()
    engine = {"model": str(tiny_model_path), "served_name": "tiny", "dtype": "float32", "max_model_len": 1024,
              "enforce_eager": True}
    resources = {"storage": storage, "io_manager": CorpusIOManager(storage=storage), "llm": LLMEngine(**engine),
                 "judge": JudgeEngine(**engine)}
    run_config = {"ops": {
        "scored_math_items": {"config": {"max_tokens": 96, "reward_model": str(reward_model_path), "top_m": 2}},
        "rft_math_items": {"config": {"samples": RFT_SAMPLES, "max_tokens": 96}},
        "self_instruct_math_items": {"config": {"prompts_per_area": 1, "problems_per_prompt": 3, "samples": 2,
                                                "max_tokens": 96}},
    }}

    def run():
        result = dg.materialize(with_stand_ins([*defs.assets, *defs.asset_checks]), instance=dagster_instance, resources=resources,
                                partition_key=PK, run_config=run_config)
        checks = {(e.asset_check_key.name, e.passed) for e in result.get_asset_check_evaluations()}
        return result, checks

    started, start = set(), VllmEngine.start
    monkeypatch.setattr(VllmEngine, "start", lambda self: started.add(id(self)) or start(self))
    result, checks = run()
    assert len(started) == 1  # llm and judge on the same model share one engine (one load) within the run
    assert result.success and len(checks) == 8 and all(passed for _, passed in checks), checks

    def read(asset):
        return store.read(CorpusStore.partition_path(asset, DIMS))

    scored, scored_drops = read("scored_math_items"), read("scored_math_drops")
    assert scored.height + scored_drops.height == PATHS.height
    reasons = dict(zip(scored_drops["item_id"], scored_drops["reason"]))
    assert reasons["q1-s4"] == "invalid_response" and reasons["q2-s0"] == "no_reference"
    judged = pl.concat([scored, scored_drops.drop("reason")]).filter(pl.col("judge_model") == "tiny")
    assert sorted(judged["item_id"]) == ["q1-s0", "q1-s1", "q1-s2", "q1-s3"]  # every valid path with a reference
    assert judged["reward"].null_count() == 0 and judged["critique_mode"].null_count() == 0
    meta = latest(dagster_instance, "scored_math_items")
    assert meta["prompts_sent"].value == 4 and meta["cache_hits"].value == 0 and meta["model_warning"].value == NOISE_NOTE
    histogram = meta["critique_score_histogram"]
    assert isinstance(histogram, dg.TableMetadataValue) and [r.data["score"] for r in histogram.records] == [str(s) for s in range(11)]
    assert sum(r.data["count"] for r in histogram.records) == judged["critique_score"].count() == meta["paths_judged"].value
    assert meta["reward_backend"].value == "transformers"  # auto without a GPU
    assert {"tokens_per_s", "gpu_hours", "kept_share", "critique_score_mean", "rows_in", "dropped_by_reason"} <= set(meta)

    # RFT: q1 (verified answer 4) gets RFT_SAMPLES fresh paths from the random model (none parses); q2 (no verified
    # answer) is not sampled and its one scored path is carried with its scoring reason
    rft, rft_drops = read("rft_math_items"), read("rft_math_drops")
    rft_meta = latest(dagster_instance, "rft_math_items")
    assert rft.height == 0 and rft_drops.height == RFT_SAMPLES + 1
    assert sorted(rft_drops["reason"]) == ["invalid_response"] * RFT_SAMPLES + ["no_reference"]
    assert rft_meta["prompts_sent"].value == RFT_SAMPLES and rft_meta["questions_sampled"].value == 1
    assert rft_meta["samples"].value == RFT_SAMPLES and rft_meta["distinct_paths_per_100_samples"].value == 0.0
    assert rft_meta["model_warning"].value == NOISE_NOTE
    assert rft_meta["judge_model"].value == "tiny" and rft_meta["paths_judged"].value == 0  # no fresh path was correct
    # the judge's figures beside the generator's, under the same names with `judge_`
    assert {f"judge_{k}" for k in ("prompts_sent", "cache_hits", "tokens_per_s", "gpu_hours")} <= set(rft_meta)
    pairs, unpaired = read("dpo_pairs"), read("dpo_unpaired_questions")
    assert pairs["question_id"].n_unique() + unpaired.height == 2
    dpo_meta = latest(dagster_instance, "dpo_pairs")
    assert dpo_meta["model_warning"].value == NOISE_NOTE  # built from the tiny judge's scores
    pair_types = dpo_meta["pair_type_counts"]
    assert isinstance(pair_types, dg.TableMetadataValue) and sum(r.data["count"] for r in pair_types.records) == pairs.height

    si_meta = latest(dagster_instance, "self_instruct_math_items")
    generated = sum(si_meta["generated_per_area"].value.values())
    si_kept, si_drops = read("self_instruct_math_items"), read("self_instruct_drops")
    assert si_kept.height + si_drops.height == generated
    solved = si_kept.height + si_drops.filter(pl.col("reason").str.starts_with("not_verified")).height
    # one area (equations: the seed's knowledge points), one generation prompt, 2 samples per instruction solved
    assert si_meta["prompts_sent"].value == 1 + 2 * solved and si_meta["model_warning"].value == NOISE_NOTE
    print({a: {k: latest(dagster_instance, a)[k].value for k in ("prompts_sent", "tokens_per_s", "rows_in", "rows_kept")}
           for a in LLM_ASSETS}, "generated", generated, "solved", solved, "pairs", pairs.height, "rft", rft.height)
    first = {a: latest(dagster_instance, a)["prompts_sent"].value for a in LLM_ASSETS}

    result, checks = run()  # the same config again: every response comes from the cache
    assert result.success and all(passed for _, passed in checks)
    for asset in LLM_ASSETS:
        meta = latest(dagster_instance, asset)
        assert meta["prompts_sent"].value == 0 and meta["cache_hits"].value == first[asset], asset
    assert read("scored_math_items").equals(scored) and read("dpo_pairs").equals(pairs)
    assert read("rft_math_drops").equals(rft_drops)


def test_vllm_reward_backend_scores_like_transformers(reward_model_path, vllm_cpu_env):
    """The vLLM pooling (classify) backend on CPU gives the transformers backend's rewards; long pairs are truncated."""
    pairs = [("2 加 2 等于几？", "答案：4"), ("求 x 的值。", "x = 3。" * 400), ("1 加 1 等于几？", "答案：3")]
    cfg = {"model": str(reward_model_path), "max_length": 256}
    expected = RewardModel(RewardCfg(**cfg, backend="transformers")).score(pairs)
    got = RewardModel(RewardCfg(**cfg, backend="vllm", dtype="float32")).score(pairs)
    assert got == pytest.approx(expected, abs=1e-4) and len(set(expected)) == 3, (got, expected)
