"""Source declarations (config/sources.yaml): which raw folders exist and what kind they are."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KINDS = ("exam_library", "web", "book", "code", "patent")
LANGS = ("zh", "en", "mixed")
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "sources.yaml"


class SourceConfigError(ValueError):
    """The sources file is missing, malformed or names an unknown kind."""


@dataclass(frozen=True)
class Source:
    name: str
    kind: str
    lang: str = "mixed"
    description: str = ""
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceSet:
    start_date: dt.date
    sources: tuple[Source, ...]
    max_record_chars: int = 2_000_000
    max_rejected_rate: float = 0.2

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sources]

    def get(self, name: str) -> Source:
        for s in self.sources:
            if s.name == name:
                return s
        raise SourceConfigError(f"unknown source {name!r}; declared: {', '.join(self.names)}")

    def of_kind(self, *kinds: str) -> list[Source]:
        return [s for s in self.sources if s.kind in kinds]


def load_sources(path: str | Path | None = None) -> SourceSet:
    path = Path(path or DEFAULT_CONFIG)
    if not path.exists():
        raise SourceConfigError(f"sources file not found: {path}")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise SourceConfigError(f"{path}: not valid YAML: {e}") from e
    entries = doc.get("sources")
    if not isinstance(entries, list) or not entries:
        raise SourceConfigError(f"{path}: needs a non-empty 'sources:' list")
    known = {"name", "kind", "lang", "description"}
    sources, seen = [], set()
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not e.get("name") or not e.get("kind"):
            raise SourceConfigError(f"{path}: source #{i + 1} needs 'name' and 'kind'")
        name, kind, lang = str(e["name"]), e["kind"], e.get("lang", "mixed")
        if not name.replace("_", "").replace("-", "").isalnum():
            raise SourceConfigError(f"{path}: source name {name!r} must be letters, digits, '_' or '-'")
        if name in seen:
            raise SourceConfigError(f"{path}: source {name!r} is declared twice")
        if kind not in KINDS:
            raise SourceConfigError(f"{path}: source {name!r} has kind {kind!r}; expected one of {KINDS}")
        if lang not in LANGS:
            raise SourceConfigError(f"{path}: source {name!r} has lang {lang!r}; expected one of {LANGS}")
        seen.add(name)
        settings = {k: v for k, v in e.items() if k not in known}
        sources.append(Source(name, kind, lang, e.get("description", ""), settings))
    try:
        start = dt.date.fromisoformat(str(doc.get("start_date", "2026-01-01")))
    except ValueError as e:
        raise SourceConfigError(f"{path}: start_date must be YYYY-MM-DD: {e}") from e
    return SourceSet(
        start,
        tuple(sources),
        int(doc.get("max_record_chars", 2_000_000)),
        float(doc.get("max_rejected_rate", 0.2)),
    )
