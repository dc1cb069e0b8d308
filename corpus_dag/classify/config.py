"""config/classifiers.yaml, validated strictly when loaded: one entry per model.

A typo in a key or a wrong type is an error naming the file, the model and the key, never a
model silently run with defaults.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO_ROOT / "config" / "classifiers.yaml"
KINDS = ("fasttext", "transformers", "ngram")


class ClassifierConfigError(ValueError):
    """config/classifiers.yaml (or a user's copy) is malformed."""


class TrainSpec(BaseModel):
    """How the `quality_classifiers` asset trains a model (ignored when `enabled` is false)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    enabled: bool = Field(True, description="false: the model at `path` is yours; training leaves it alone")
    labels: str = Field("", description="labelled JSONL (text, label) under CORPUS_ROOT; empty: labels/{name}.jsonl")
    epochs: int = Field(5, ge=1, description="fasttext / transformers epochs")
    max_length: int = Field(128, ge=8, description="transformers: tokens per text")


class ClassifierSpec(BaseModel):
    """One model: what it is, where it lies, which label it scores and what a high score does."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="model name; names the drop reason and the tag")
    kind: Literal["fasttext", "transformers", "ngram"]
    path: str = Field(min_length=1, description="model file (fasttext .bin, ngram .pkl) or folder (transformers), "
                                                "relative to CORPUS_ROOT or absolute")
    label: str = Field(min_length=1, description="the label whose probability is the score")
    threshold: float = Field(ge=0.0, le=1.0, description="score from which the action applies")
    action: Literal["drop", "tag"]
    train: TrainSpec = TrainSpec()


class ClassifiersFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    models: list[ClassifierSpec] = Field(min_length=1, description="at least one model (drop the stage to classify nothing)")


def _where(data: dict, loc: tuple) -> str:
    """'model toxicity, key threshold' from a pydantic error location like ('models', 0, 'threshold')."""
    if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
        entry = (data.get("models") or [])[loc[1]]
        name = entry.get("name") if isinstance(entry, dict) else None
        key = ".".join(str(p) for p in loc[2:]) or "(entry)"
        return f"model {name or f'#{loc[1] + 1}'}, key {key}"
    return f"key {'.'.join(map(str, loc))}"


def parse_classifiers(data, source: str) -> list[ClassifierSpec]:
    """Validate an already-parsed YAML document; `source` names it in errors."""
    if not isinstance(data, dict):
        raise ClassifierConfigError(f"{source}: expected a mapping with a 'models' list, got {type(data).__name__}")
    try:
        specs = ClassifiersFile.model_validate(data).models
    except ValidationError as e:
        problems = "; ".join(f"{_where(data, err['loc'])}: {err['msg']}" for err in e.errors())
        raise ClassifierConfigError(f"{source}: {problems}") from None
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ClassifierConfigError(f"{source}: model names must be unique; repeated: {dup}")
    return specs


def load_classifiers(path: str | Path = DEFAULT_CONFIG) -> list[ClassifierSpec]:
    """The models declared in a classifiers YAML file."""
    path = Path(path)
    if not path.is_file():
        raise ClassifierConfigError(f"{path}: classifier config not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ClassifierConfigError(f"{path}: not valid YAML ({e})") from None
    return parse_classifiers(data, str(path))
