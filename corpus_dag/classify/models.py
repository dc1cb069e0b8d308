"""The three model kinds behind one interface (`scores(texts)` = P(label) per text), their
training from labelled texts, and where their files live.

fastText models are `.bin` files (trained here with `fasttext.train_supervised`, or any supervised
fastText model of yours); transformers models are folders a `AutoModelForSequenceClassification`
loads (trained here from scratch with corpus_dag.exam.transformer, or a fine-tuned model of yours);
ngram models are pickles of the project's char n-gram logistic regression (corpus_dag.exam.features).
Training always fits "label vs everything else", so a model answers for the label it was trained on.
"""
from __future__ import annotations

import io
import itertools
import json
import pickle
import posixpath
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from corpus_dag.classify.config import ClassifierSpec
from corpus_dag.exam.transformer import TransformerCfg, train_transformer
from corpus_dag.storage import CorpusStore

if TYPE_CHECKING:  # scikit-learn and numba take seconds to import: imported where the ngram kind needs them
    from sklearn.linear_model import LogisticRegression

    from corpus_dag.exam.features import NgramCfg

OTHER = "other"  # the negative class of a trained model
# One-vs-all loss: softmax at these learning rates hits "Encountered NaN" on small, separable label sets.
FASTTEXT_PARAMS = {"lr": 0.5, "dim": 32, "wordNgrams": 2, "minn": 0, "maxn": 0, "minCount": 1, "loss": "ova"}
FASTTEXT_MAX_BUCKET = 2_000_000  # fastText's default number of word n-gram hash rows
FASTTEXT_TRIES = 3
# A bigger n-gram window than the question classifier's (corpus_dag.exam.features.NgramCfg): documents, not fragments.
NGRAM = {"dim": 1 << 18, "head_chars": 1500, "tail_chars": 500}


class ModelFileError(RuntimeError):
    """A model file or folder that is missing or cannot be loaded."""


# Han characters (CJK unified ideographs and extension A) become tokens of their own; line breaks and
# other control whitespace become spaces (fastText predicts one line at a time).
_FASTTEXT_TABLE = {c: f" {chr(c)} " for r in ((0x3400, 0x4DC0), (0x4E00, 0xA000)) for c in range(*r)} | {
    ord(c): " " for c in "\n\r\t\v\f"}


def fasttext_lines(texts: list[str]) -> list[str]:
    """fastText reads whitespace-separated tokens on one line: lower-case, one line, and every Han
    character its own token (Chinese has no spaces; word bigrams then see pairs of characters).
    str.translate runs in C: about twice as fast as the same edit with polars regexes."""
    return [(t or "").lower().translate(_FASTTEXT_TABLE) for t in texts]


@dataclass
class NgramClassifier:
    clf: LogisticRegression
    ngram: NgramCfg
    label: str

    def scores(self, texts: list[str]) -> np.ndarray:
        from corpus_dag.exam.features import char_ngrams

        if not texts:
            return np.zeros(0)
        column = list(self.clf.classes_).index(self.label)
        return self.clf.predict_proba(char_ngrams(texts, self.ngram))[:, column]


class FastTextClassifier:
    def __init__(self, path: str, label: str):
        import fasttext

        try:
            self.model = fasttext.load_model(path)
        except ValueError as e:
            raise ModelFileError(f"{path}: not a fastText model ({e})") from None
        self.key = f"__label__{label}"
        if self.key not in self.model.get_labels():
            raise ModelFileError(f"{path}: fastText model has no label {label!r} (it has {self.model.get_labels()[:10]})")

    def scores(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0)
        labels, probs = self.model.predict(fasttext_lines(texts), k=-1, threshold=0.0)
        found = [p[list(ls).index(self.key)] if self.key in ls else 0.0 for ls, p in zip(labels, probs)]
        return np.clip(np.array(found, dtype=np.float64), 0.0, 1.0)  # fastText adds 1e-5 before its log: 1.00001


class TransformersClassifier:
    def __init__(self, folder: str, label: str, max_length: int = 512, batch_size: int = 32):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder)
            self.model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
        except (OSError, ValueError) as e:
            raise ModelFileError(f"{folder}: not a transformers sequence classifier ({e})") from None
        label2id = self.model.config.label2id
        if label not in label2id:
            raise ModelFileError(f"{folder}: model has no label {label!r} (config label2id: {sorted(label2id)})")
        self.column, self.torch = label2id[label], torch
        self.max_length, self.batch_size = max_length, batch_size

    def scores(self, texts: list[str]) -> np.ndarray:
        torch, out = self.torch, [np.zeros(0)]
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(texts[i : i + self.batch_size], truncation=True, max_length=self.max_length,
                                       padding=True, return_tensors="pt")
                out.append(torch.softmax(self.model(**batch).logits.float(), dim=-1)[:, self.column].numpy())
        return np.concatenate(out).astype(np.float64)


# ---- where model files live -------------------------------------------------------------------
def _is_local(spec: ClassifierSpec) -> bool:
    return Path(spec.path).is_absolute()


@contextmanager
def local_path(store: CorpusStore, spec: ClassifierSpec) -> Iterator[str]:
    """The model's file or folder on local disk (downloaded to a temp dir when the root is S3)."""
    if _is_local(spec) or store.protocol == "file":
        path = spec.path if _is_local(spec) else store.abs(spec.path)
        if not Path(path).exists():
            raise ModelFileError(f"classifier {spec.name}: no model at {path}; materialize quality_classifiers "
                                 "or set its path in config/classifiers.yaml")
        yield path
        return
    if not store.exists(spec.path):
        raise ModelFileError(f"classifier {spec.name}: no model at {store.url(spec.path)}; materialize quality_classifiers")
    with tempfile.TemporaryDirectory(prefix=f"classifier-{spec.name}-") as tmp:
        target = posixpath.join(tmp, posixpath.basename(spec.path.rstrip("/")))
        store.fs.get(store.abs(spec.path), target, recursive=spec.kind == "transformers")
        yield target


def load_model(store: CorpusStore, spec: ClassifierSpec):
    """The scorer of one configured model (fastText and transformers read their files while loading)."""
    with local_path(store, spec) as path:
        if spec.kind == "fasttext":
            return FastTextClassifier(path, spec.label)
        if spec.kind == "transformers":
            return TransformersClassifier(path, spec.label, max_length=spec.train.max_length)
        try:
            model = pickle.loads(Path(path).read_bytes())
        except (pickle.UnpicklingError, EOFError, AttributeError) as e:
            raise ModelFileError(f"{path}: not an ngram classifier pickle ({e})") from None
        if not isinstance(model, NgramClassifier) or model.label != spec.label:
            raise ModelFileError(f"{path}: expected an ngram classifier for label {spec.label!r}")
        return model


def _put_folder(store: CorpusStore, folder: Path, rel: str) -> None:
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        store.write_bytes(posixpath.join(rel, f.relative_to(folder).as_posix()), f.read_bytes())


def model_home(store: CorpusStore, spec: ClassifierSpec) -> tuple[CorpusStore, str]:
    """Where the spec's model lives: (the store, its path there): under the root, or a local absolute path."""
    if _is_local(spec):
        return CorpusStore(str(Path(spec.path).parent)), Path(spec.path).name
    return store, spec.path


def publish(store: CorpusStore, spec: ClassifierSpec, built: Path) -> None:
    """Publish a trained model file or folder at the spec's path."""
    target, rel = model_home(store, spec)
    if built.is_dir():
        _put_folder(target, built, rel)
    else:
        target.write_bytes(rel, built.read_bytes())


# ---- training -----------------------------------------------------------------------------------
def _fit_ngram(texts: list[str], y: np.ndarray, spec: ClassifierSpec, out: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from corpus_dag.exam.features import NgramCfg, char_ngrams, fit_on_used_columns

    ngram = NgramCfg(**NGRAM)
    clf = fit_on_used_columns(LogisticRegression(C=10.0, max_iter=400, class_weight="balanced"),
                              char_ngrams(texts, ngram), np.where(y, spec.label, OTHER))
    out.write_bytes(pickle.dumps(NgramClassifier(clf, ngram, spec.label), protocol=pickle.HIGHEST_PROTOCOL))


def fasttext_bucket(lines: list[str]) -> int:
    """Hash rows for the word bigrams: a power of two at least 4x the distinct bigrams of the training
    lines (few collisions), from 2^18 (smaller tables diverged more often) to fastText's default. The
    default's 2M x 32 floats made a 257 MB model of 2,000 labelled texts (50k bigrams), written, read
    back and loaded per scored partition."""
    bigrams = {pair for line in lines for pair in itertools.pairwise(line.split())}
    return min(FASTTEXT_MAX_BUCKET, 1 << max(18, (4 * len(bigrams) - 1).bit_length()))


def _fit_fasttext(texts: list[str], y: np.ndarray, spec: ClassifierSpec, out: Path, seed: int, log) -> None:
    """fastText's SGD can diverge ("Encountered NaN", more often on small label sets): then train again at
    half the learning rate, saying so, up to FASTTEXT_TRIES times."""
    import fasttext

    train_file = out.with_suffix(".train.txt")
    lines = fasttext_lines(texts)
    train_file.write_text("".join(f"__label__{spec.label if p else OTHER} {t}\n" for t, p in zip(lines, y)), encoding="utf-8")
    params = FASTTEXT_PARAMS | {"bucket": fasttext_bucket(lines)}
    for attempt in range(1, FASTTEXT_TRIES + 1):
        try:
            model = fasttext.train_supervised(str(train_file), epoch=spec.train.epochs, thread=1, seed=seed, verbose=0, **params)
            break
        except RuntimeError as e:
            if "NaN" not in str(e) or attempt == FASTTEXT_TRIES:
                raise RuntimeError(f"classifier {spec.name}: fastText training failed at lr {params['lr']:g} "
                                   f"(try {attempt} of {FASTTEXT_TRIES}): {e}") from None
            log(f"classifier {spec.name}: fastText diverged (NaN) at lr {params['lr']:g}; training again at {params['lr'] / 2:g}")
            params["lr"] /= 2
    model.save_model(str(out))


def _fit_transformers(texts: list[str], y: np.ndarray, spec: ClassifierSpec, out: Path, seed: int, log) -> None:
    cfg = TransformerCfg(epochs=spec.train.epochs, max_length=spec.train.max_length, device="cpu", seed=seed)
    trained = train_transformer(texts, y.astype(int), np.ones(len(y)), cfg, spec.threshold, log)
    with tarfile.open(fileobj=io.BytesIO(trained.files)) as tar:
        tar.extractall(out, filter="data")
    config = json.loads((out / "config.json").read_text())
    config["id2label"], config["label2id"] = {"0": OTHER, "1": spec.label}, {OTHER: 0, spec.label: 1}
    (out / "config.json").write_text(json.dumps(config, indent=2))


def fit(spec: ClassifierSpec, texts: list[str], y: np.ndarray, out: Path, seed: int = 0, log=print) -> Path:
    """Train `spec`'s kind on texts with y = is-the-label; write the model to `out` (file or folder)."""
    if spec.kind == "ngram":
        _fit_ngram(texts, y, spec, out)
    elif spec.kind == "fasttext":
        _fit_fasttext(texts, y, spec, out, seed, log)
    else:
        _fit_transformers(texts, y, spec, out, seed, log)
    return out


def load_built(spec: ClassifierSpec, built: Path):
    """The scorer of a model just trained into `built` (to measure it before publishing)."""
    return load_model(CorpusStore(str(built.parent)), spec.model_copy(update={"path": str(built)}))
