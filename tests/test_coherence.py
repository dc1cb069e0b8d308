"""Long-document coherence: the arithmetic on a scripted scorer, the two real backends agreeing on
the tiny model, and the Dagster stages on the shipped web samples."""
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.definitions import corpus_resources
from corpus_dag.accounting import DETAIL
from corpus_dag.quality.coherence import (
    BELOW,
    CoherenceCfg,
    coherence_split,
    fit_coherence_thresholds,
    pair_gains,
    score_coherence,
    segment_pairs,
)
from corpus_dag.storage import CorpusStore, seed_raw_library
from tests.helpers import with_stand_ins

REPO = Path(__file__).resolve().parent.parent
SEEN, UNSEEN = -1.0, -4.0


class ScriptedScorer:
    """A fake LM: a token seen earlier in the sequence costs 1 nat, a new one 4. Text is
    space-separated integer token ids. Records every sequence it is asked to score."""

    def __init__(self):
        self.calls = []

    def tokenizer(self, texts, add_special_tokens=False, verbose=False):
        return {"input_ids": [[int(t) for t in text.split()] for text in texts]}

    def token_logprobs(self, batch):
        self.calls.append(batch)
        return [[SEEN if t in seq[:j] else UNSEEN for j, t in enumerate(seq) if j > 0] for seq in batch]


def test_gain_arithmetic_by_hand():
    # S1 = 1 2 3 4, S2 = 1 2 5 6; S2's first token is left out on both sides.
    # after S1: 2 seen, 5 and 6 new -> -1 - 4 - 4 = -9; alone: 2, 5, 6 all new -> -12; gain = 3 / 3 tokens
    assert pair_gains([([1, 2, 3, 4], [1, 2, 5, 6])], ScriptedScorer(), batch_size=4) == [1.0]
    # nothing of S2 in S1: the context buys nothing
    assert pair_gains([([1, 2, 3, 4], [7, 8, 9, 10])], ScriptedScorer(), batch_size=4) == [0.0]


def test_segments_cut_consecutively_and_spread_when_many():
    cfg = CoherenceCfg(min_tokens=7, segment_tokens=4, max_pairs=2)
    assert segment_pairs(list(range(7)), cfg) == []  # not over min_tokens
    assert segment_pairs(list(range(9)), cfg) == [([0, 1, 2, 3], [4, 5, 6, 7])]  # 1-token tail left out
    pairs = segment_pairs(list(range(40)), cfg)  # 10 segments, 9 pairs -> first and last
    assert [p[0][0] for p in pairs] == [0, 32] and pairs[1][1] == [36, 37, 38, 39]
    with pytest.raises(ValueError, match="min_tokens"):
        CoherenceCfg(min_tokens=4, segment_tokens=4)


def test_coherent_document_scores_above_stitched_one():
    coherent = " ".join(["1 2 3 4"] * 4)  # every segment repeats the vocabulary of the one before
    stitched = "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"  # every segment new
    docs = pl.DataFrame({"doc_id": ["coherent", "stitched", "short"], "text": [coherent, stitched, "1 2 3"]})
    scorer = ScriptedScorer()
    out = score_coherence(docs, scorer, CoherenceCfg(min_tokens=7, segment_tokens=4, max_pairs=8, batch_size=4))
    rows = {r["doc_id"]: r for r in out.iter_rows(named=True)}
    # coherent: with context 2 3 4 all seen (-3), alone all new (-12): gain 3 per pair
    assert rows["coherent"]["segment_gains"] == [3.0, 3.0, 3.0] and rows["coherent"]["coherence"] == 3.0
    assert rows["stitched"]["segment_gains"] == [0.0, 0.0, 0.0] and rows["stitched"]["coherence"] == 0.0
    assert rows["short"]["n_pairs"] == 0 and rows["short"]["coherence"] is None and rows["short"]["n_tokens"] == 3
    assert all(len(b) <= 4 for b in scorer.calls) and max(len(s) for b in scorer.calls for s in b) == 8

    split = coherence_split(docs, out, low=1.0, kind="web")
    assert split.kept["doc_id"].to_list() == ["coherent", "short"]
    [reason] = split.dropped["reason"].to_list()
    assert reason == f"{BELOW}{DETAIL}median gain 0.0 < 1.0 (web); per segment pair: [0.0, 0.0, 0.0]"
    no_cut = coherence_split(docs, out, low=None, kind="web")
    assert no_cut.kept.height == 3 and no_cut.dropped.height == 0 and "reason" in no_cut.dropped.columns


def test_thresholds_per_kind_pooled_and_none():
    ref = pl.DataFrame({"kind": ["web"] * 10 + ["book"] * 2, "coherence": [float(i) for i in range(10)] + [100.0, 200.0]})
    th = fit_coherence_thresholds(ref, ["web", "book", "patent"], low_quantile=0.1, min_docs=5)
    rows = {r["kind"]: r for r in th.iter_rows(named=True)}
    assert rows["web"]["fit"] == "kind" and rows["web"]["low"] == pytest.approx(0.9) and rows["web"]["n_ref"] == 10
    pooled = ref["coherence"].quantile(0.1, "linear")
    assert rows["book"]["fit"] == "pooled" and rows["book"]["low"] == pytest.approx(pooled) and rows["book"]["n_ref"] == 2
    assert rows["patent"]["fit"] == "pooled"
    empty = fit_coherence_thresholds(ref.head(0), ["web"])
    assert empty.row(0, named=True) == {"kind": "web", "n_ref": 0, "low": None, "fit": "none"}


def test_ppl_buckets_reach_128k_tokens_and_every_bucket_gets_a_cut():
    from corpus_dag.quality.perplexity import (
        DEFAULT_BUCKET_EDGES,
        bucket_labels,
        token_bucket,
    )
    from corpus_dag.quality.thresholds import CutConfig, compute_thresholds

    assert DEFAULT_BUCKET_EDGES[-1] == 131072 and bucket_labels(DEFAULT_BUCKET_EDGES)[-2:] == ["65536-131072", "131072+"]
    lengths = pl.DataFrame({"n": [10, 5000, 100_000, 131072, 500_000]})
    got = lengths.select(token_bucket(pl.col("n"), DEFAULT_BUCKET_EDGES))["n"].to_list()
    assert got == ["0-64", "4096-8192", "65536-131072", "131072+", "131072+"]
    ref = pl.DataFrame({"ppl": [float(i) for i in range(1, 101)], "token_bucket": ["64-128"] * 60 + ["32768-65536"] * 40})
    th = compute_thresholds(ref, CutConfig(min_bucket_docs=50))
    assert th.height == len(DEFAULT_BUCKET_EDGES) + 1
    fits = dict(zip(th["token_bucket"], th["fit"]))
    assert fits["64-128"] == "bucket" and fits["32768-65536"] == "pooled" and fits["131072+"] == "pooled"


# ---- real backends on the tiny model --------------------------------------------------------------
LONG = pl.DataFrame({
    "doc_id": ["story", "short"],
    "text": ["老人们在湖边下棋聊天，年轻人在草地上放风筝。The library opens at nine and closes at six. " * 12, "春天来了。"],
})
CFG = CoherenceCfg(min_tokens=40, segment_tokens=24, max_pairs=3, batch_size=4)


@pytest.fixture(scope="module")
def transformers_scorer(tiny_model_path):
    from corpus_dag.quality.perplexity import PplConfig, TransformersScorer

    return TransformersScorer(PplConfig(str(tiny_model_path), backend="transformers", window_tokens=CFG.window_tokens))


def test_transformers_gain_equals_the_model_loss(transformers_scorer):
    """Independent check: the gain from the model's own cross-entropy over S2[1:], with and without S1."""
    import torch

    model, tok = transformers_scorer.model, transformers_scorer.tokenizer
    out = score_coherence(LONG, transformers_scorer, CFG)
    ids = tok(LONG["text"][0], add_special_tokens=False)["input_ids"]
    s1, s2 = ids[:24], ids[24:48]

    def nll(seq, n_target):  # summed NLL of the last n_target tokens of seq
        labels = torch.tensor([[-100] * (len(seq) - n_target) + seq[-n_target:]])
        with torch.inference_mode():
            return model(input_ids=torch.tensor([seq]), labels=labels).loss.item() * n_target

    want = (nll(s2, 23) - nll(s1 + s2, 23)) / 23
    assert out["segment_gains"][0][0] == pytest.approx(want, rel=1e-4, abs=1e-5)
    assert out["n_pairs"].to_list() == [3, 0]


@pytest.mark.slow
@pytest.mark.vllm
def test_vllm_and_transformers_agree(tiny_model_path, vllm_cpu_env, transformers_scorer):
    pytest.importorskip("vllm")
    from corpus_dag.quality.perplexity import PplConfig, VllmScorer

    vllm = VllmScorer(PplConfig(str(tiny_model_path), backend="vllm", window_tokens=CFG.window_tokens))
    got, want = score_coherence(LONG, vllm, CFG), score_coherence(LONG, transformers_scorer, CFG)
    assert got.drop("segment_gains", "coherence").equals(want.drop("segment_gains", "coherence"))
    for a, b in zip(got["segment_gains"][0], want["segment_gains"][0]):
        assert a == pytest.approx(b, abs=1e-3)
    assert got["coherence"][1] is None


# ---- the Dagster stages -----------------------------------------------------------------------------
@pytest.mark.slow
def test_coherence_stages_materialize(corpus_root, dagster_instance, tiny_model_path):
    from assets.classify import defs as classify_defs
    from assets.classify.coherence import COHERENCE_INPUT
    from assets.common.storage import CorpusIOManager, CorpusStorage
    from assets.ingest import defs as ingest_defs
    from assets.quality import defs as quality_defs

    store = CorpusStore(corpus_root)
    seed_raw_library(store, REPO / "samples" / "library")
    storage = CorpusStorage()
    everything = with_stand_ins([*ingest_defs.assets, *quality_defs.assets, *classify_defs.assets])
    resources = {**corpus_resources(), "storage": storage, "io_manager": CorpusIOManager(storage=storage)}
    key, dims = "2026-11-21|web", {"source": "web", "date": "2026-11-21"}
    assert dg.materialize(everything, selection=["raw_documents", "rejected_documents"], partition_key=key,
                          instance=dagster_instance, resources=resources).success
    docs = store.read(CorpusStore.partition_path("raw_documents", dims))
    store.write_frame(CorpusStore.partition_path(COHERENCE_INPUT, dims), docs)  # stands in for the filter stage

    score_cfg = {"model": str(tiny_model_path), "backend": "transformers", "min_tokens": 100, "segment_tokens": 50, "max_pairs": 2}
    assert dg.materialize(everything, selection=["coherence_scores"], partition_key=key, instance=dagster_instance,
                          resources=resources, run_config={"ops": {"coherence_scores": {"config": score_cfg}}}).success
    scores = store.read(CorpusStore.partition_path("coherence_scores", dims))
    assert scores["doc_id"].to_list() == docs["doc_id"].to_list()
    long = scores.filter(pl.col("n_pairs") > 0)
    assert long.height > 5 and (long["n_tokens"] > 100).all() and scores.filter(pl.col("n_pairs") == 0)["coherence"].null_count() == scores.height - long.height

    th = {"ops": {"coherence_thresholds": {"config": {"low_quantile": 0.3, "min_docs": 5}}}}
    assert dg.materialize(everything, selection=["coherence_thresholds"], instance=dagster_instance, resources=resources, run_config=th).success
    cut = store.read(CorpusStore.partition_path("coherence_thresholds", {}))
    web = cut.filter(pl.col("kind") == "web").row(0, named=True)
    assert web["fit"] == "kind" and web["low"] == pytest.approx(long["coherence"].quantile(0.3, "linear"))

    assert dg.materialize(everything, selection=["coherence_documents", "coherence_drops"], partition_key=key,
                          instance=dagster_instance, resources=resources).success
    kept = store.read(CorpusStore.partition_path("coherence_documents", dims))
    drops = store.read(CorpusStore.partition_path("coherence_drops", dims))
    assert kept.height + drops.height == docs.height and drops.height > 0
    assert (drops["coherence"] < web["low"]).all() and drops["reason"].str.contains("per segment pair: \\[").all()
    assert kept.filter(pl.col("coherence").is_not_null())["coherence"].min() >= web["low"]
