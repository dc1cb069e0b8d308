"""The optional transformers validity backend: a real encoder trained here on CPU (from scratch: no hub)."""
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from assets.definitions import defs
from corpus_dag.exam.features import NgramCfg
from corpus_dag.exam.labels import load_fragments
from corpus_dag.exam.questions import extract_questions
from corpus_dag.exam.transformer import TransformerCfg, TransformerValidity
from corpus_dag.exam.validity import ExamModels, train_models
from corpus_dag.storage import CorpusStore

REPO = Path(__file__).resolve().parent.parent
OBVIOUS = [
    "已知函数 f(x)=x²-2x，则 f(x) 在区间 [0,3] 上的最小值为（ ）A．-1 B．0 C．3 D．-3",
    "1.D 2.C 3.A 4.B 5.C",
    "第 2 页 共 6 页",
]


@pytest.fixture(scope="module")
def models():
    return train_models(load_fragments()[::4], ngram=NgramCfg(dim=1 << 16),
                        transformer=TransformerCfg(epochs=2, max_length=64, hidden=64), log=lambda _: None)


@pytest.mark.slow
def test_encoder_learns_validity(models):
    assert isinstance(models.validity, TransformerValidity)
    m = models.metrics
    assert m["validity_backend"] == "transformers:scratch"
    assert m["validity_precision"] >= 0.9 and m["validity_recall"] >= 0.9, m
    s = models.validity.scores(OBVIOUS)
    assert s[0] >= 0.5 and max(s[1:]) < 0.5, s


@pytest.mark.slow
def test_blob_round_trip_scores_the_same(models):
    again = ExamModels.from_bytes(models.to_bytes())
    assert np.allclose(again.validity.scores(OBVIOUS), models.validity.scores(OBVIOUS), atol=1e-5)


@pytest.mark.slow
def test_questions_stage_uses_the_encoder(models):
    import polars as pl

    text = "2021年高三数学试卷\n一、选择题\n" + "\n".join(f"{i}．{OBVIOUS[0]}" for i in range(1, 4)) + "\n4．1.D 2.C 3.A 4.B"
    q = extract_questions(pl.DataFrame({"doc_id": ["d"], "title": ["2021年高三数学试卷"], "text": [text]}), models)
    assert q["question_no"].to_list()[:3] == [1, 2, 3]
    assert np.allclose(q["valid_score"], models.validity.scores(q["text"].to_list()).round(4))
    assert q["is_valid"].to_list()[:3] == [True] * 3


@pytest.mark.slow
def test_fine_tunes_a_pretrained_folder(tmp_path):
    """base_model: a saved encoder folder (what a downloaded Chinese BERT is) is loaded and fine-tuned."""
    from corpus_dag.exam.transformer import _scratch, train_transformer

    frags = load_fragments()[::8]
    texts, labels = [r["text"] for r in frags], np.array([r["label"] for r in frags])
    tokenizer, model = _scratch(texts, TransformerCfg(hidden=64))
    model.save_pretrained(tmp_path / "encoder")
    tokenizer.save_pretrained(tmp_path / "encoder")
    cfg = TransformerCfg(base_model=str(tmp_path / "encoder"), epochs=2, lr=1e-3, max_length=64)
    validity = train_transformer(texts, labels, np.ones(len(texts)), cfg, 0.5, log=lambda _: None)
    s = validity.scores(OBVIOUS)
    assert s[0] >= 0.5 and max(s[1:]) < 0.5, s


def test_misconfiguration_is_named():
    with pytest.raises(ValueError, match="epochs"):
        TransformerCfg(epochs=0)
    with pytest.raises(dg.Failure, match="backend must be 'ngram' or 'transformers'"):
        dg.materialize(defs.assets, resources=defs.resources, selection=["question_classifier"],
                       run_config={"ops": {"question_classifier": {"config": {"backend": "bert"}}}})


@pytest.mark.slow
def test_question_classifier_asset_with_the_transformers_backend(corpus_root, dagster_instance):
    """question_classifier trains the encoder (1 epoch, CPU), stores it in the model blob, and
    exam_questions scores the sample library with it."""
    folder = Path(CorpusStore(corpus_root).abs("raw/wenku/2026-11-21"))
    folder.mkdir(parents=True)
    shutil.copy(REPO / "samples/library/wenku/2026-11-21/part-0.jsonl.gz", folder)
    everything = [*defs.assets, *defs.asset_checks]
    config = {"backend": "transformers", "epochs": 1, "max_length": 64, "hash_dim": 1 << 16}
    assert dg.materialize(everything, instance=dagster_instance, resources=defs.resources, selection=["question_classifier"],
                          run_config={"ops": {"question_classifier": {"config": config}}}).success
    meta = dagster_instance.get_latest_materialization_event(dg.AssetKey("question_classifier")).asset_materialization.metadata
    assert meta["validity_backend"].value == "transformers:scratch"
    assert meta["validity_precision"].value >= 0.8 and meta["validity_recall"].value >= 0.8
    result = dg.materialize(everything, instance=dagster_instance, resources=defs.resources, partition_key="2026-11-21|wenku",
                            selection=["raw_documents", "rejected_documents", "exam_documents", "non_exam_documents", "exam_questions"])
    assert result.success
    q = CorpusStore(corpus_root).read(CorpusStore.partition_path("exam_questions", {"date": "2026-11-21", "source": "wenku"}))
    assert q.height > 100 and q["is_valid"].mean() > 0.8
