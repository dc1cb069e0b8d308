"""Train once per inputs: a model is stored with a record of what it was trained from (a fingerprint of
its labels, its settings, the training code and the libraries' versions) and what it measured.
Materializing it again from the same inputs reuses the stored model and its figures instead of
training again; a change to any input trains anew.

The record sits next to the model (`{model}.trained.json`). It is removed before a model is
overwritten and written after, so a crash in between leaves no record that vouches for the wrong model.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from types import ModuleType

from corpus_dag.storage import CorpusStore

SUFFIX = ".trained.json"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def fingerprint(rows: list[dict], settings: dict, code: Iterable[ModuleType], packages: Iterable[str]) -> str:
    """sha256 over the training rows, the settings, the source of the training modules and the versions of the packages."""
    h = hashlib.sha256()
    for part in (rows, settings):
        h.update(json.dumps(part, sort_keys=True, ensure_ascii=False, default=str).encode())
        h.update(b"\0")
    for module in code:
        h.update(Path(module.__file__).read_bytes())
    for package in sorted(packages):
        h.update(f"{package}=={_version(package)}\n".encode())
    return h.hexdigest()


def reusable(store: CorpusStore, model: str, digest: str) -> dict | None:
    """The stored model's figures when it was trained from inputs with this fingerprint, else None."""
    record = model + SUFFIX
    if not (store.exists(record) and store.exists(model)):
        return None
    stored = json.loads(store.read_bytes(record))
    return stored["metrics"] if stored.get("fingerprint") == digest else None


def train_once(store: CorpusStore, model: str, digest: str, train: Callable[[], dict], retrain: bool = False) -> tuple[dict, bool]:
    """(figures, reused): the stored model's figures when it was trained from inputs with this
    fingerprint (and `retrain` is off), else those `train()` returns after writing the model."""
    metrics = None if retrain else reusable(store, model, digest)
    if metrics is not None:
        return metrics, True
    store.delete(model + SUFFIX)  # before the model is overwritten
    metrics = train()
    store.write_bytes(model + SUFFIX, json.dumps({"fingerprint": digest, "metrics": metrics}, default=str).encode())
    return metrics, False
