"""Perplexity scores: real vLLM on CPU and transformers agree on the same tiny model."""
import math

import polars as pl
import pytest

from corpus_dag.quality.perplexity import PplConfig, TransformersScorer, load_scorer, score_documents

WINDOW = 96
DOCS = pl.DataFrame(
    {
        "doc_id": ["zh", "en", "mixed", "long", "one_token", "empty"],
        "text": [
            "春天来了，公园里的桃花和樱花都开了，许多家庭带着孩子去散步。",
            "The library opens at nine in the morning and closes at six in the evening.",
            "下列说法正确的是 A. water boils at 100 degrees B. 冰的密度大于水",
            "老人们在湖边下棋聊天，年轻人在草地上放风筝。" * 20,
            "x",
            "",
        ],
    }
)


@pytest.fixture(scope="module")
def transformers_scores(tiny_model_path):
    cfg = PplConfig(str(tiny_model_path), backend="transformers", window_tokens=WINDOW, batch_size=4, bucket_edges=(16, 64))
    scorer = TransformersScorer(cfg)
    return scorer, score_documents(DOCS, scorer, cfg)


def test_window_bucket_and_unscorable_rows(transformers_scores):
    scorer, scores = transformers_scores
    rows = {r["doc_id"]: r for r in scores.iter_rows(named=True)}
    n_long = len(scorer.tokenizer(DOCS["text"][3], add_special_tokens=False)["input_ids"])
    assert n_long > WINDOW
    assert rows["long"]["n_tokens"] == n_long and rows["long"]["n_scored"] == WINDOW - 1 and rows["long"]["truncated"]
    assert rows["long"]["token_bucket"] == "64+"
    assert rows["en"]["n_scored"] == rows["en"]["n_tokens"] - 1 and not rows["en"]["truncated"]
    assert rows["one_token"]["ppl"] is None and rows["empty"]["ppl"] is None and rows["empty"]["n_tokens"] == 0
    assert scores["doc_id"].to_list() == DOCS["doc_id"].to_list()


def test_transformers_ppl_equals_the_model_loss(transformers_scores):
    """Independent check: exp of the model's own mean cross-entropy over the same window."""
    import torch

    scorer, scores = transformers_scores
    for doc_id, text in DOCS.head(4).iter_rows():
        ids = scorer.tokenizer(text, add_special_tokens=False)["input_ids"][:WINDOW]
        with torch.inference_mode():
            loss = scorer.model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids])).loss.item()
        assert scores.filter(pl.col("doc_id") == doc_id)["ppl"][0] == pytest.approx(math.exp(loss), rel=1e-5)


@pytest.mark.slow
@pytest.mark.vllm
def test_vllm_and_transformers_agree(vllm_installed, tiny_model_path, vllm_cpu_env, transformers_scores):
    cfg = PplConfig(str(tiny_model_path), backend="vllm", window_tokens=WINDOW, batch_size=4, bucket_edges=(16, 64))
    # load_scorer keeps the engine for the session: a vLLM engine torn down in this process tears
    # down vLLM's global parallel state, and the session's other engines stop working
    got = score_documents(DOCS, load_scorer(cfg), cfg)
    _, want = transformers_scores
    assert got.drop("ppl").equals(want.drop("ppl"))
    for a, b in zip(got["ppl"].to_list(), want["ppl"].to_list()):
        assert (a is None and b is None) or a == pytest.approx(b, rel=1e-4)
    assert got["ppl"].null_count() == 2
