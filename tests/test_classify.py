"""Document classifiers: strict config, training + scoring for each kind, thresholds and actions,
and the Dagster stage on the shipped web samples."""
import json
import random
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from assets.classify.assets import histogram_table
from assets.definitions import corpus_resources
from corpus_dag.accounting import DETAIL
from corpus_dag.classify.apply import (
    MISSING,
    apply_classifiers,
    score_documents,
    score_bins,
    score_histogram,
)
from corpus_dag.classify.config import (
    ClassifierConfigError,
    ClassifierSpec,
    load_classifiers,
    parse_classifiers,
)
from corpus_dag.classify.models import FASTTEXT_MAX_BUCKET, ModelFileError, fasttext_bucket, load_model
from corpus_dag.classify.train import (
    SHIPPED_LABELS,
    held_out_rows,
    read_labelled,
    train_classifier,
)
from corpus_dag.storage import CorpusStore, seed_raw_library
from tests.helpers import table_rows, with_stand_ins, write_jsonl

REPO = Path(__file__).resolve().parent.parent
AD = "限时特惠！点击链接立即抢购 BUY NOW "


def spec(**kw) -> ClassifierSpec:
    base = {"name": "ads", "kind": "ngram", "path": "models/ads.pkl", "label": "ad", "threshold": 0.5, "action": "drop",
            "train": {"epochs": 3, "max_length": 48}}
    return ClassifierSpec.model_validate(base | kw)


@pytest.fixture(scope="module")
def labelled() -> list[dict]:
    rng = random.Random(1)
    clean = [r["text"] for r in read_labelled(SHIPPED_LABELS / "advertisement.jsonl.gz") if r["label"] == "clean"][:240]
    rows = []
    for t in clean:
        ad = rng.random() < 0.5
        rows.append({"text": AD + t if ad else t, "label": "ad" if ad else "clean"})
    return rows


# ---- config ---------------------------------------------------------------------------------------
def test_shipped_config_declares_the_four_models_and_every_kind():
    specs = {s.name: s for s in load_classifiers()}
    assert {"toxicity", "pornography", "advertisement", "incoherent"} <= set(specs)
    assert {s.kind for s in specs.values()} == {"fasttext", "transformers", "ngram"}
    for s in specs.values():  # every shipped model has demo labels to train on
        assert (SHIPPED_LABELS / f"{s.name}.jsonl.gz").exists()


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"thresold": 0.5}, "model ads, key thresold: Extra inputs are not permitted"),
        ({"threshold": "high"}, "model ads, key threshold: Input should be a valid number"),
        ({"threshold": 1.5}, "model ads, key threshold"),
        ({"kind": "bert"}, "model ads, key kind"),
        ({"action": "delete"}, "model ads, key action"),
        ({"train": {"epoch": 2}}, "model ads, key train.epoch"),
        ({"name": "Ads!"}, "key name"),
    ],
)
def test_config_errors_name_file_model_and_key(tmp_path, entry, message):
    good = {"name": "ads", "kind": "ngram", "path": "m.pkl", "label": "ad", "threshold": 0.5, "action": "drop"}
    path = tmp_path / "classifiers.yaml"
    path.write_text(json.dumps({"models": [good | entry]}))  # JSON is YAML
    with pytest.raises(ClassifierConfigError) as e:
        load_classifiers(path)
    assert str(path) in str(e.value) and message in str(e.value)


def test_config_file_level_errors(tmp_path):
    with pytest.raises(ClassifierConfigError, match="not found"):
        load_classifiers(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [\n")
    with pytest.raises(ClassifierConfigError, match="not valid YAML"):
        load_classifiers(bad)
    entry = {"name": "a", "kind": "ngram", "path": "m", "label": "x", "threshold": 0.5, "action": "tag"}
    with pytest.raises(ClassifierConfigError, match="repeated: \\['a'\\]"):
        parse_classifiers({"models": [entry, entry]}, "f.yaml")
    with pytest.raises(ClassifierConfigError, match="f.yaml: key models: List should have at least 1 item"):
        parse_classifiers({"models": []}, "f.yaml")
    with pytest.raises(ClassifierConfigError, match="f.yaml: expected a mapping"):
        parse_classifiers(["models"], "f.yaml")


def test_labels_file_errors_name_file_and_line(tmp_path):
    path = write_jsonl(tmp_path / "l.jsonl", [{"text": "a", "label": "x"}, "not json", {"text": 3, "label": "x"}])
    with pytest.raises(ValueError, match=r"l.jsonl:2: not JSON"):
        read_labelled(path)
    path = write_jsonl(tmp_path / "m.jsonl", [{"text": "a", "label": "x"}, {"text": 3, "label": "x"}])
    with pytest.raises(ValueError, match=r"m.jsonl:2: needs a string 'text'"):
        read_labelled(path)


def test_a_group_stays_on_one_side_of_the_held_out_split(tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [{"text": f"piece {i}{suffix}", "label": label, "group": f"g{i}"}
                                               for i in range(200) for suffix, label in (("", "clean"), (" 白痴", "toxic"))]
                       + [{"text": f"loose {i}", "label": "clean"} for i in range(200)])
    rows = read_labelled(path)
    test = held_out_rows(rows)
    by_group = {}
    for r, t in zip(rows, test):
        by_group.setdefault(r["group"], set()).add(bool(t))
    assert all(len(sides) == 1 for g, sides in by_group.items() if g is not None)
    assert 0 < test[:400].sum() < 400 and 0 < test[400:].sum() < 200  # groups and loose rows both split
    with pytest.raises(ValueError, match=r"b.jsonl:1: 'group' must be a string"):
        read_labelled(write_jsonl(tmp_path / "b.jsonl", [{"text": "a", "label": "x", "group": 3}]))


def test_demo_label_sets_are_pairs_and_leave_the_held_out_library_alone():
    """Each demo positive has its own real piece (or the same template with harmless words) as the negative,
    and no piece comes from the fifth of the sample library kept apart to count false positives."""
    from samples.build_labels import _read_jsonl, library_held_out

    kept_apart = [r["text"] for p in sorted((REPO / "samples" / "library").glob("*/*/*.jsonl*")) if "broken" not in p.name
                  for r in _read_jsonl(p) if isinstance(r.get("text"), str) and library_held_out(r["id"])]
    assert kept_apart
    for s in load_classifiers():
        rows = read_labelled(SHIPPED_LABELS / f"{s.name}.jsonl.gz")
        groups = {}
        for r in rows:
            groups.setdefault(r["group"], []).append(r["label"] == s.label)
        assert all(sorted(v) == [False, True] for v in groups.values()), s.name
        pieces = [r["text"] for r in rows if r["label"] != s.label]
        assert not any(p in doc for p in pieces for doc in kept_apart), s.name


# ---- training and scoring, each kind ----------------------------------------------------------------
@pytest.mark.parametrize("kind, path", [("ngram", "models/ads.pkl"), ("fasttext", "models/ads.bin"),
                                        pytest.param("transformers", "models/ads", marks=pytest.mark.slow)])
def test_train_then_score_each_kind(tmp_path, labelled, kind, path):
    store = CorpusStore(str(tmp_path / "root"))
    s = spec(kind=kind, path=path, train={"epochs": 30 if kind == "fasttext" else 3, "max_length": 48})
    metrics = train_classifier(store, s, labelled, log=lambda *_: None)
    assert metrics["n_train"] + metrics["n_test"] == len(labelled) and metrics["n_test"] > 20
    assert 0.0 <= metrics["precision"] <= 1.0 and 0.0 <= metrics["recall"] <= 1.0
    assert store.exists(path if kind != "transformers" else f"{path}/config.json")
    model = load_model(store, s)  # from the published file, not the training object
    fresh = [r["text"] for r in read_labelled(SHIPPED_LABELS / "toxicity.jsonl.gz") if r["label"] == "clean"][:40]
    pos, neg = model.scores([AD + t for t in fresh]), model.scores(fresh)
    assert pos.shape == neg.shape == (40,) and ((pos >= 0) & (pos <= 1)).all()
    assert pos.mean() > neg.mean() + 0.2, f"{kind}: ads {pos.mean():.3f} vs clean {neg.mean():.3f}"
    assert model.scores([]).shape == (0,)


def test_fasttext_hash_rows_follow_the_training_bigrams():
    """At least 4x the distinct word bigrams, a power of two, from 2^18 up to fastText's default."""
    assert fasttext_bucket(["a b c", "a b"]) == 1 << 18
    words = [f"w{i}" for i in range(100_001)]  # 100,000 distinct bigrams -> 400,000 -> 2^19
    assert fasttext_bucket([" ".join(words)]) == 1 << 19
    many = [" ".join(f"w{i}" for i in range(j, j + 1_001)) for j in range(0, 1_000_000, 1_001)]  # ~1M bigrams
    assert fasttext_bucket(many) == FASTTEXT_MAX_BUCKET


def test_a_diverging_fasttext_training_retries_at_a_lower_rate_then_says_so(tmp_path, labelled, monkeypatch):
    import corpus_dag.classify.models as models

    store, s, said = CorpusStore(str(tmp_path)), spec(kind="fasttext", path="models/ads.bin", train={"epochs": 30}), []
    monkeypatch.setitem(models.FASTTEXT_PARAMS, "lr", 1e6)  # diverges at every try
    with pytest.raises(RuntimeError, match=r"classifier ads: fastText training failed at lr 250000 \(try 3 of 3\): .*NaN"):
        train_classifier(store, s, labelled, log=said.append)
    assert said == ["classifier ads: fastText diverged (NaN) at lr 1e+06; training again at 500000",
                    "classifier ads: fastText diverged (NaN) at lr 500000; training again at 250000"]
    assert not store.exists("models/ads.bin")


def test_training_needs_both_classes_on_both_sides(tmp_path):
    rows = [{"text": f"text {i}", "label": "clean"} for i in range(50)]
    with pytest.raises(ValueError, match="ads: the training side needs texts labelled 'ad'"):
        train_classifier(CorpusStore(str(tmp_path)), spec(), rows)


def test_missing_or_wrong_model_files_are_clear(tmp_path, labelled):
    store = CorpusStore(str(tmp_path))
    with pytest.raises(ModelFileError, match="classifier ads: no model at .*models/ads.pkl"):
        load_model(store, spec())
    store.write_bytes("models/junk.bin", b"not a model")
    with pytest.raises(ModelFileError, match="junk.bin"):
        load_model(store, spec(kind="fasttext", path="models/junk.bin"))
    train_classifier(store, spec(kind="fasttext", path="models/ads.bin", train={"epochs": 5}), labelled)
    with pytest.raises(ModelFileError, match="has no label 'spam'"):
        load_model(store, spec(kind="fasttext", path="models/ads.bin", label="spam"))


# ---- thresholds and actions (scripted scores) -----------------------------------------------------------
def test_apply_drops_tags_and_missing_scores():
    docs = pl.DataFrame({"doc_id": ["a", "b", "c", "d"], "text": ["w", "x", "y", "z"]})
    specs = [spec(name="tox", threshold=0.8, action="drop"), spec(name="ad", threshold=0.5, action="tag"),
             spec(name="porn", threshold=0.9, action="drop")]
    scores = pl.DataFrame({
        "doc_id": ["a", "a", "a", "b", "b", "b", "c", "c", "c", "d", "d"],
        "model": ["tox", "ad", "porn"] * 3 + ["tox", "ad"],
        "label": "x",
        "score": [0.1, 0.6, 0.2, 0.85, 0.1, 0.95, 0.8, 0.5, 0.0, 0.0, 0.0],
    })
    split = apply_classifiers(docs, scores, specs)
    assert split.kept["doc_id"].to_list() == ["a"] and split.kept["tags"].to_list() == [["ad"]]
    reasons = dict(zip(split.dropped["doc_id"], split.dropped["reason"]))
    assert reasons["b"] == f"classifier tox{DETAIL}score 0.85 >= threshold 0.8"  # first drop model in config order
    assert reasons["c"] == f"classifier tox{DETAIL}score 0.8 >= threshold 0.8"
    assert reasons["d"] == f"{MISSING}{DETAIL}no score from porn"
    assert split.dropped.filter(pl.col("doc_id") == "c")["tags"].to_list() == [["ad"]]
    assert split.n_in == docs.height and split.kept.columns == ["doc_id", "text", "tags"]


def test_score_documents_and_histogram():
    class Fixed:
        def __init__(self, value):
            self.value = value

        def scores(self, texts):
            return np.full(len(texts), self.value, dtype=type(self.value) if isinstance(self.value, np.floating) else None)

    docs = pl.DataFrame({"doc_id": ["a", "b", "c"], "text": ["x", None, "z"]})
    out = score_documents(docs, [(spec(name="m1"), Fixed(0.05)), (spec(name="m2"), Fixed(np.float32(1.0)))])  # dtypes differ by kind
    assert out.height == 6 and out.columns == ["doc_id", "model", "label", "score"]
    hist = score_histogram(pl.concat([score_bins(out.head(4)), score_bins(out.tail(2))]))  # two batches' bins add up
    assert hist["m1"]["counts"] == [3] + [0] * 9 and hist["m2"]["counts"] == [0] * 9 + [3]
    assert hist["m1"]["bin_edges"][0] == 0.0 and hist["m1"]["bin_edges"][-1] == 1.0


# ---- the Dagster stage ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_classifier_stage_materializes(corpus_root, dagster_instance, tmp_path, labelled):
    from assets.classify import defs as classify_defs
    from assets.classify.assets import CLASSIFY_INPUT
    from assets.common.storage import CorpusIOManager, CorpusStorage
    from assets.ingest import defs as ingest_defs
    from assets.quality import defs as quality_defs

    store = CorpusStore(corpus_root)
    seed_raw_library(store, REPO / "samples" / "library")
    for name in ("ads_ngram", "ads_fasttext", "ads_encoder"):  # the user's labels under CORPUS_ROOT/labels/
        write_jsonl(Path(corpus_root) / "labels" / f"{name}.jsonl", labelled)
    cfg_file = tmp_path / "classifiers.yaml"
    cfg_file.write_text(json.dumps({"models": [
        {"name": "ads_ngram", "kind": "ngram", "path": "models/c/ads.pkl", "label": "ad", "threshold": 0.5, "action": "drop"},
        {"name": "ads_fasttext", "kind": "fasttext", "path": "models/c/ads.bin", "label": "ad", "threshold": 0.5, "action": "tag",
         "train": {"epochs": 30}},
        {"name": "ads_encoder", "kind": "transformers", "path": "models/c/ads", "label": "ad", "threshold": 0.5, "action": "tag",
         "train": {"epochs": 2, "max_length": 48}},
    ]}))
    storage = CorpusStorage()
    everything = with_stand_ins([*ingest_defs.assets, *quality_defs.assets, *classify_defs.assets, *classify_defs.asset_checks])
    resources = {**corpus_resources(), "storage": storage, "io_manager": CorpusIOManager(storage=storage)}
    key, dims = "2026-11-21|web", {"source": "web", "date": "2026-11-21"}
    assert dg.materialize(everything, selection=["raw_documents", "rejected_documents"], partition_key=key,
                          instance=dagster_instance, resources=resources).success
    docs = store.read(CorpusStore.partition_path("raw_documents", dims))
    docs = docs.with_columns(pl.when(pl.int_range(pl.len()) % 3 == 0).then(AD + pl.col("text")).otherwise(pl.col("text")).alias("text"))
    store.write_frame(CorpusStore.partition_path(CLASSIFY_INPUT, dims), docs)  # stands in for the filter stage

    files = {"config_file": str(cfg_file)}
    trained = dg.materialize(everything, selection=["quality_classifiers"], instance=dagster_instance, resources=resources,
                             run_config={"ops": {"quality_classifiers": {"config": files}}})
    meta = trained.get_asset_materialization_events()[0].materialization.metadata
    models = {r["model"]: r for r in table_rows(meta["models"])}
    assert set(models) == {"ads_ngram", "ads_fasttext", "ads_encoder"}
    assert meta["ads_ngram_recall"].value > 0.5 and str(Path(corpus_root) / "labels") in models["ads_ngram"]["labels"]

    def train(**config) -> dict[str, dict]:
        run = dg.materialize(everything, selection=["quality_classifiers"], instance=dagster_instance, resources=resources,
                             run_config={"ops": {"quality_classifiers": {"config": files | config}}})
        return {r["model"]: r for r in table_rows(run.get_asset_materialization_events()[0].materialization.metadata["models"])}

    # the same labels, settings and code: every stored model and its figures are reused
    model_files = {p: p.read_bytes() for p in sorted((Path(corpus_root) / "models" / "c").rglob("*")) if p.is_file()}
    again = train()
    assert not any(r["reused"] for r in models.values()) and all(r["reused"] for r in again.values())
    assert [{k: v for k, v in r.items() if k not in ("reused", "seconds")} for r in again.values()] == \
        [{k: v for k, v in r.items() if k not in ("reused", "seconds")} for r in models.values()]
    assert {p: p.read_bytes() for p in model_files} == model_files
    write_jsonl(Path(corpus_root) / "labels" / "ads_ngram.jsonl", labelled[:-20])  # its labels change
    changed = train(only=["ads_ngram", "ads_fasttext"])
    assert (changed["ads_ngram"]["reused"], changed["ads_fasttext"]["reused"]) == (False, True)
    assert changed["ads_ngram"]["n_train"] + changed["ads_ngram"]["n_test"] == len(labelled) - 20
    assert train(only=["ads_fasttext"], retrain=True)["ads_fasttext"]["reused"] is False

    run = dg.materialize(everything, selection=["quality_scores", "classified_documents", "classifier_drops"], partition_key=key,
                         instance=dagster_instance, resources=resources,
                         run_config={"ops": {"quality_scores": {"config": files | {"batch_rows": -(-docs.height // 3)}},
                                             "classified_documents": {"config": files}}})
    assert run.success
    [check] = run.get_asset_check_evaluations()
    assert check.passed and check.metadata["rows_in"].value == docs.height
    hist = table_rows(check.metadata["score_histogram"])
    assert {r["model"] for r in hist} == {"ads_ngram", "ads_fasttext", "ads_encoder"}
    assert sum(r["documents"] for r in hist if r["model"] == "ads_ngram") == docs.height

    scores = store.read(CorpusStore.partition_path("quality_scores", dims))
    scored = next(e.materialization.metadata for e in run.get_asset_materialization_events()
                  if e.materialization.asset_key.path[-1] == "quality_scores")
    assert (scored["files"].value, scored["rows_in"].value, scored["rows_kept"].value) == (3, docs.height, docs.height)
    # the histogram summed from the three slices' bins is the stored scores' own
    assert table_rows(scored["score_histogram"]) == table_rows(histogram_table(score_bins(scores)))
    kept = store.read(CorpusStore.partition_path("classified_documents", dims))
    drops = store.read(CorpusStore.partition_path("classifier_drops", dims))
    assert scores.height == 3 * docs.height and kept.height + drops.height == docs.height and drops.height > 0
    ngram = scores.filter(pl.col("model") == "ads_ngram").select("doc_id", "score")
    assert drops.join(ngram, on="doc_id")["score"].min() >= 0.5 and kept.join(ngram, on="doc_id")["score"].max() < 0.5
    assert drops["reason"].str.starts_with(f"classifier ads_ngram{DETAIL}score ").all()
    tagged = kept.join(scores.filter(pl.col("model") == "ads_fasttext"), on="doc_id")
    assert (tagged["tags"].list.contains("ads_fasttext") == (tagged["score"] >= 0.5)).all()
    planted = docs.filter(pl.col("text").str.starts_with(AD))["doc_id"]
    assert drops["doc_id"].is_in(planted.implode()).mean() > 0.8  # what is dropped is mostly the planted ads


@pytest.mark.slow
def test_models_and_labels_on_s3(s3_root, labelled):
    """Labels read from, models written to and loaded back from an S3 root (files and a folder)."""
    store = CorpusStore(s3_root)
    store.write_bytes("labels/ads.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in labelled).encode())
    from corpus_dag.classify.train import labels_for

    for s in (spec(kind="fasttext", path="models/ads.bin", train={"epochs": 30}),
              spec(kind="transformers", path="models/ads", train={"epochs": 1, "max_length": 32})):
        rows, origin = labels_for(store, s)
        assert origin == f"{s3_root}/labels/ads.jsonl" and len(rows) == len(labelled)
        train_classifier(store, s, rows, log=lambda *_: None)
        assert store.exists(s.path) and load_model(store, s).scores(["x", AD + "x"]).shape == (2,)


def test_a_training_record_vouches_only_for_its_inputs(tmp_path):
    """corpus_dag.trained: the stored figures come back only for the same fingerprint and while the
    model is there; train_once removes the record before the model is overwritten."""
    from corpus_dag import trained
    from corpus_dag.classify.train import TRAINING_PACKAGES, training_code

    store = CorpusStore(str(tmp_path))
    rows = [{"text": "a", "label": "ad"}, {"text": "b", "label": "clean"}]
    digest = trained.fingerprint(rows, {"epochs": 3}, training_code(), TRAINING_PACKAGES)
    assert trained.fingerprint(rows[:1], {"epochs": 3}, training_code(), TRAINING_PACKAGES) != digest
    assert trained.fingerprint(rows, {"epochs": 4}, training_code(), TRAINING_PACKAGES) != digest
    assert trained.fingerprint(rows, {"epochs": 3}, training_code()[:-1], TRAINING_PACKAGES) != digest
    assert trained.fingerprint([dict(reversed(r.items())) for r in rows], {"epochs": 3}, training_code(), TRAINING_PACKAGES) == digest
    seen = {}

    def train() -> dict:  # records what the record holds while the model is being written
        seen["record"] = store.exists("models/m.bin.trained.json")
        store.write_bytes("models/m.bin", b"model")
        return {"precision": 0.9}

    assert trained.train_once(store, "models/m.bin", digest, train) == ({"precision": 0.9}, False)
    assert trained.train_once(store, "models/m.bin", digest, train) == ({"precision": 0.9}, True)
    assert trained.reusable(store, "models/m.bin", "0" * 64) is None
    assert trained.train_once(store, "models/m.bin", digest, train, retrain=True) == ({"precision": 0.9}, False)
    assert seen["record"] is False  # an earlier record is gone before a model is overwritten
    store.delete("models/m.bin")
    assert trained.reusable(store, "models/m.bin", digest) is None  # a record counts only while its model is there
