"""Train a configured classifier from a labelled JSONL ({"text", "label"}, optional "group") and measure
it on a held-out side (stable by group, else by text, as corpus_dag.exam.labels.held_out splits question
fragments). Rows that share a group (a text and its edited copy) stay on one side, so the held-out
figures never score a copy of a training text."""
from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import numpy as np
from sklearn.metrics import precision_score, recall_score

from corpus_dag.classify.config import ClassifierSpec
from corpus_dag.classify.models import fit, load_built, publish
from corpus_dag.exam.labels import held_out
from corpus_dag.storage import CorpusStore

SHIPPED_LABELS = Path(__file__).resolve().parents[2] / "samples" / "labels"


def read_labelled(path: str | Path, text: str | None = None) -> list[dict]:
    """Rows {"text", "label", "group"} of a JSONL (or .jsonl.gz) file (`group` None where the line has
    none); `text`: its content, already read (from S3). A bad line is an error naming the file and line."""
    path = str(path)
    if text is None:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            text = f.read()
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{n}: not JSON ({e.msg})") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str) or not isinstance(rec.get("label"), (str, int, bool)):
            raise ValueError(f"{path}:{n}: needs a string 'text' and a string (or integer) 'label'")
        if not isinstance(rec.get("group", ""), str):
            raise ValueError(f"{path}:{n}: 'group' must be a string")
        rows.append({"text": rec["text"], "label": str(rec["label"]).lower() if isinstance(rec["label"], bool) else str(rec["label"]),
                     "group": rec.get("group") or None})
    return rows


def labels_for(store: CorpusStore, spec: ClassifierSpec) -> tuple[list[dict], str]:
    """The model's labels: the user's file under CORPUS_ROOT (train.labels, default labels/{name}.jsonl)
    when present, else the shipped demo labels; and where they came from."""
    rel = spec.train.labels or f"labels/{spec.name}.jsonl"
    if store.exists(rel):
        return read_labelled(store.url(rel), store.read_bytes(rel).decode("utf-8")), store.url(rel)
    if spec.train.labels:
        raise FileNotFoundError(f"classifier {spec.name}: labels file {store.url(rel)} not found")
    shipped = SHIPPED_LABELS / f"{spec.name}.jsonl.gz"
    if not shipped.exists():
        raise FileNotFoundError(f"classifier {spec.name}: no labels at {store.url(rel)} and no demo labels at {shipped}")
    return read_labelled(shipped), str(shipped)


def training_code() -> list:
    """The modules whose source decides what `train_classifier` builds (corpus_dag.trained fingerprints them)."""
    import sys

    from corpus_dag.classify import models
    from corpus_dag.exam import features, transformer

    return [models, features, transformer, sys.modules[__name__]]


TRAINING_PACKAGES = ("numpy", "scikit-learn", "fasttext-numpy2-wheel", "torch", "transformers")


def held_out_rows(rows: list[dict]) -> np.ndarray:
    """Which rows are held out: by `group` where a row has one (a pair stays on one side), else by text."""
    return np.array([held_out({"id": r.get("group"), "text": r["text"]}) for r in rows], dtype=bool)


def train_classifier(store: CorpusStore, spec: ClassifierSpec, rows: list[dict], seed: int = 0, log=print) -> dict:
    """Fit on the training side, measure precision/recall at the spec's threshold on the held-out
    side, publish the model at the spec's path; returns the metrics."""
    test = held_out_rows(rows)
    y = np.array([r["label"] == spec.label for r in rows])
    for side, mask in (("training", ~test), ("held-out", test)):
        if y[mask].all() or not y[mask].any():
            raise ValueError(f"classifier {spec.name}: the {side} side needs texts labelled {spec.label!r} and others; "
                             f"got {int(mask.sum())} rows, {int(y[mask].sum())} labelled {spec.label!r}")
    texts = [r["text"] for r in rows]
    with tempfile.TemporaryDirectory(prefix=f"train-{spec.name}-") as tmp:
        built = fit(spec, [t for t, h in zip(texts, test) if not h], y[~test], Path(tmp) / Path(spec.path).name, seed, log)
        scores = load_built(spec, built).scores([t for t, h in zip(texts, test) if h])
        publish(store, spec, built)
    pred = scores >= spec.threshold
    return {
        "kind": spec.kind,
        "label": spec.label,
        "threshold": spec.threshold,
        "precision": round(float(precision_score(y[test], pred, zero_division=0)), 4),
        "recall": round(float(recall_score(y[test], pred, zero_division=0)), 4),
        "n_train": int((~test).sum()),
        "n_test": int(test.sum()),
        "n_positive": int(y.sum()),
    }
