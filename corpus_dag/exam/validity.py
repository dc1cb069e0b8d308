"""Is a split fragment a usable question? A fast char n-gram linear model (the seed used a BERT
fine-tuned on 1k hand-labelled fragments); trained from labelled fragments, plus a user's labels."""
from __future__ import annotations

import io
import pickle
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from corpus_dag.exam.features import NgramCfg, char_ngrams, fit_on_used_columns
from corpus_dag.exam.labels import held_out
from corpus_dag.exam.subject import SubjectModel, train_subject
from corpus_dag.exam.transformer import (
    TransformerCfg,
    TransformerValidity,
    train_transformer,
)

# P(valid) from which a fragment is kept. Below 0.5 on purpose: a lost question is gone for good, a
# kept fragment of junk is still caught downstream (the rebuild prompt answers 无效内容 for it).
# Held-out: 0.4 -> precision 0.973 / recall 0.985; 0.5 -> 0.980 / 0.978.
VALIDITY_THRESHOLD = 0.4


@dataclass
class ValidityModel:
    clf: LogisticRegression
    ngram: NgramCfg
    threshold: float = VALIDITY_THRESHOLD

    def scores(self, texts: list[str], features: sp.csr_matrix | None = None) -> np.ndarray:
        """P(valid) per text; `features`: the texts' char_ngrams(self.ngram) when the caller has them."""
        x = char_ngrams(texts, self.ngram) if features is None else features
        return self.clf.predict_proba(x)[:, 1] if x.shape[0] else np.zeros(0)


@dataclass
class ExamModels:
    """Everything the question stage needs, stored as one blob under CORPUS_ROOT."""

    validity: ValidityModel | TransformerValidity
    subject: SubjectModel
    metrics: dict

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        pickle.dump(self, buf, protocol=pickle.HIGHEST_PROTOCOL)
        return buf.getvalue()

    @staticmethod
    def from_bytes(blob: bytes) -> "ExamModels":
        model = pickle.loads(blob)
        if not isinstance(model, ExamModels):
            raise TypeError(f"not an ExamModels blob: {type(model).__name__}")
        return model


def _pr(pred: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    tp = int((pred & gold).sum())
    return tp / max(int(pred.sum()), 1), tp / max(int(gold.sum()), 1)


def training_code() -> list:
    """The modules whose source decides what `train_models` builds (corpus_dag.trained fingerprints them)."""
    import sys

    from corpus_dag.exam import features, labels, subject, transformer

    return [features, labels, subject, transformer, sys.modules[__name__]]


TRAINING_PACKAGES = ("numpy", "scipy", "scikit-learn", "torch", "transformers")


def train_models(fragments: list[dict], user_labels: list[dict] = (), ngram: NgramCfg = NgramCfg(),
                 threshold: float = VALIDITY_THRESHOLD, c: float = 10.0, transformer: TransformerCfg | None = None,
                 log=print) -> ExamModels:
    """Fit both classifiers on the training side; report precision/recall/accuracy on the held-out
    side (by source id). User labels always go to training and outweigh built ones. `transformer`
    swaps the validity model for a fine-tuned encoder (corpus_dag.exam.transformer)."""
    rows = list(fragments) + list(user_labels)
    test = np.array([held_out(r) and r.get("kind") != "user" for r in rows])
    texts = [r["text"] for r in rows]
    y = np.array([int(r["label"]) for r in rows])
    if len(set(y[~test])) < 2 or len(set(y[test])) < 2:
        raise ValueError("validity training needs valid (1) and invalid (0) fragments on both the "
                         f"training and held-out side; got {len(rows)} fragments")
    weight = np.array([3.0 if r.get("kind") == "user" else 1.0 for r in rows])
    test_texts = [t for t, h in zip(texts, test) if h]
    if transformer is None:
        x = char_ngrams(texts, ngram)
        clf = fit_on_used_columns(LogisticRegression(C=c, max_iter=400), x[~test], y[~test], sample_weight=weight[~test])
        validity = ValidityModel(clf, ngram, threshold)
        pred = validity.scores(test_texts, x[test]) >= threshold
    else:
        train_texts = [t for t, h in zip(texts, test) if not h]
        validity = train_transformer(train_texts, y[~test], weight[~test], transformer, threshold, log)
        pred = validity.scores(test_texts) >= threshold
    precision, recall = _pr(pred, y[test].astype(bool))

    subj_rows = [(r["text"], r["subject"], t) for r, t in zip(rows, test) if r.get("subject") and r["label"] == 1]
    subject = train_subject([s[0] for s in subj_rows if not s[2]], [s[1] for s in subj_rows if not s[2]], ngram)
    held = [s for s in subj_rows if s[2]]
    acc = float(np.mean([p == s[1] for p, s in zip(subject.predict([s[0] for s in held]), held)])) if held else float("nan")
    metrics = {
        "validity_precision": round(precision, 4), "validity_recall": round(recall, 4),
        "subject_accuracy": round(acc, 4), "n_train": int((~test).sum()), "n_test": int(test.sum()),
        "n_user_labels": len(user_labels), "threshold": threshold,
        "validity_backend": "ngram" if transformer is None else f"transformers:{transformer.base_model or 'scratch'}",
    }
    return ExamModels(validity, subject, metrics)
