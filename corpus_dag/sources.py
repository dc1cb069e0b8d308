"""Source profiles: each raw source resolves ONCE, when the config loads, to typed stage settings.

`config/kinds.yaml` holds the defaults of every source kind (which kind-specific stages apply,
dedup settings); `config/sources.yaml` declares the sources and may override any of them per
source (`dedup:`, `filters:`, `safety:`, `ingest:`, `max_rejected_rate`). Both files are validated against
a schema when the definitions load: an unknown key, a wrong type or a value out of range is an
error that names the file, the source and the key, so a typo never passes silently.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from corpus_dag.dedup.config import DedupCfg
from corpus_dag.quality.filters import FilterConfig, FilterConfigError, load_filter_config
from corpus_dag.safety.stage import SafetyConfig, SafetyConfigError, load_safety_config

KINDS = ("exam_library", "web", "book", "code", "patent")
LANGS = ("zh", "en", "mixed")
KIND_STAGES = ("exam", "chunk")  # stages that run only for some kinds; every other stage runs for all
CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULT_CONFIG = CONFIG_DIR / "sources.yaml"
KINDS_CONFIG = CONFIG_DIR / "kinds.yaml"


class SourceConfigError(ValueError):
    """A sources or kinds file is missing, malformed, or has an unknown key or a bad value."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _overrides_of(cls: type, name: str) -> type[BaseModel]:
    """A strict model of `cls`'s fields, each optional: a mapping of overrides for that dataclass."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: (hints[f.name] | None, None) for f in dataclasses.fields(cls)}
    return create_model(name, __base__=_Strict, **fields)


DedupOverrides = create_model(
    "DedupOverrides",
    __base__=_overrides_of(DedupCfg, "_DedupFields"),
    min_rate=(float | None, Field(default=None, ge=0, le=1)),
    max_rate=(float | None, Field(default=None, ge=0, le=1)),
)
NgramCaps = dict[int, float | None] | None  # {n: max ratio}, as in config/filters.yaml
FilterOverrides = create_model(
    "FilterOverrides",
    __base__=_overrides_of(FilterConfig, "_FilterFields"),
    max_top_ngram_char_ratio=(NgramCaps, None),
    max_dup_ngram_char_ratio=(NgramCaps, None),
)
SafetyOverrides = _overrides_of(SafetyConfig, "SafetyOverrides")


class IngestSettings(_Strict):
    on_damaged_file: Literal["error", "quarantine"] = "error"
    t2s: bool = False
    fix_mojibake: bool = False


class _KindDefaults(_Strict):
    stages: list[Literal["exam", "chunk"]] = []
    dedup: DedupOverrides = DedupOverrides()  # type: ignore[valid-type]


class _SourceEntry(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    kind: Literal["exam_library", "web", "book", "code", "patent"]
    lang: Literal["zh", "en", "mixed"] = "mixed"
    description: str = ""
    max_rejected_rate: float | None = Field(default=None, ge=0, le=1)
    dedup: DedupOverrides = DedupOverrides()  # type: ignore[valid-type]
    filters: FilterOverrides = FilterOverrides()  # type: ignore[valid-type]
    safety: SafetyOverrides = SafetyOverrides()  # type: ignore[valid-type]
    ingest: IngestSettings = IngestSettings()


class _SourcesFile(_Strict):
    start_date: dt.date = dt.date(2026, 1, 1)
    end_date: dt.date | None = None  # exclusive; None: up to today
    max_record_chars: int = Field(default=2_000_000, gt=0)
    max_rejected_rate: float = Field(default=0.2, ge=0, le=1)
    sources: list[_SourceEntry] = Field(min_length=1)


@dataclass(frozen=True)
class Source:
    """One source, resolved: its kind's defaults with its own overrides applied."""

    name: str
    kind: str
    lang: str
    description: str
    max_rejected_rate: float
    stages: frozenset[str]
    dedup: DedupCfg
    dedup_rate: tuple[float, float]  # the dedup check's range of dropped shares
    filters: FilterConfig
    safety: SafetyConfig
    ingest: IngestSettings

    def applies(self, stage: str) -> bool:
        """Whether a kind-specific stage (exam, chunk) runs for this source."""
        return stage not in KIND_STAGES or stage in self.stages


@dataclass
class SourceSet:
    start_date: dt.date
    sources: tuple[Source, ...]
    max_record_chars: int = 2_000_000
    max_rejected_rate: float = 0.2
    end_date: dt.date | None = None

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

    def replace(self, name: str, **changes: Any) -> None:
        """Swap one source's resolved settings (tests, and tools that tune one source)."""
        self.sources = tuple(dataclasses.replace(s, **changes) if s.name == name else s for s in self.sources)


def _read_yaml(path: Path) -> Any:
    if not path.exists():
        raise SourceConfigError(f"config file not found: {path}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise SourceConfigError(f"{path}: not valid YAML: {e}") from e


def _explain(path: Path, error: ValidationError, doc: Any) -> SourceConfigError:
    """One line per problem: file, the source it is in (by name), and the key path."""
    lines = []
    for e in error.errors():
        loc = list(e["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int):
            entries = doc.get("sources") if isinstance(doc, dict) else None
            entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
            name = entry.get("name") if isinstance(entry, dict) else None
            where, loc = f"source {name or '#' + str(loc[1] + 1)!r}: ", loc[2:]
        key = ".".join(str(x) for x in loc) or "(top level)"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"{path}: {where}{key}: {msg} (got {e.get('input')!r})" if e["type"] != "extra_forbidden" else f"{path}: {where}{key}: {msg}")
    return SourceConfigError("\n".join(lines))


def load_kinds(path: str | Path | None = None) -> dict[str, _KindDefaults]:
    """The per-kind defaults file, validated; every kind must be there."""
    path = Path(path or KINDS_CONFIG)
    doc = _read_yaml(path)
    model = create_model("_KindsFile", __base__=_Strict, **{k: (_KindDefaults, ...) for k in KINDS})
    try:
        return dict(model.model_validate(doc))
    except ValidationError as e:
        raise _explain(path, e, doc) from None


def dedup_cfg(kind: str, lang: str, overrides: dict[str, Any], kinds: dict[str, _KindDefaults] | None = None) -> DedupCfg:
    """A source's dedup settings: its kind's defaults, English prose on word 5-grams, then its own."""
    defaults = (kinds or load_kinds())[kind].dedup.model_dump(exclude_none=True)
    if lang == "en" and kind != "code":
        defaults |= {"shingle": "word", "n": 5}
    return DedupCfg(**(defaults | overrides))


def _resolve(entry: _SourceEntry, top: _SourcesFile, kinds: dict[str, _KindDefaults], path: Path) -> Source:
    where = f"{path}: source {entry.name!r}"
    dedup = entry.dedup.model_dump(exclude_none=True)
    rate = (dedup.pop("min_rate", 0.0), dedup.pop("max_rate", 0.5))
    try:
        dedup_settings = dedup_cfg(entry.kind, entry.lang, dedup, kinds)
    except ValueError as e:
        raise SourceConfigError(f"{where}: dedup: {e}") from None
    try:
        filters = load_filter_config(entry.kind, entry.filters.model_dump(exclude_none=True))
    except FilterConfigError as e:
        raise SourceConfigError(f"{where}: filters: {e}") from None
    try:
        safety = load_safety_config(entry.kind, entry.safety.model_dump(exclude_none=True))
    except SafetyConfigError as e:
        raise SourceConfigError(f"{where}: safety: {e}") from None
    return Source(
        name=entry.name,
        kind=entry.kind,
        lang=entry.lang,
        description=entry.description,
        max_rejected_rate=top.max_rejected_rate if entry.max_rejected_rate is None else entry.max_rejected_rate,
        stages=frozenset(kinds[entry.kind].stages),
        dedup=dedup_settings,
        dedup_rate=rate,
        filters=filters,
        safety=safety,
        ingest=entry.ingest,
    )


def load_sources(path: str | Path | None = None, kinds_path: str | Path | None = None) -> SourceSet:
    """The sources file (default: $CORPUS_SOURCES, else config/sources.yaml), resolved and validated."""
    path = Path(path or os.environ.get("CORPUS_SOURCES") or DEFAULT_CONFIG)
    doc = _read_yaml(path)
    try:
        top = _SourcesFile.model_validate(doc)
    except ValidationError as e:
        raise _explain(path, e, doc) from None
    seen = set()
    for entry in top.sources:
        if entry.name in seen:
            raise SourceConfigError(f"{path}: source {entry.name!r} is declared twice")
        seen.add(entry.name)
    kinds = load_kinds(kinds_path)
    if top.end_date is not None and top.end_date <= top.start_date:
        raise SourceConfigError(f"{path}: end_date {top.end_date} must come after start_date {top.start_date}")
    return SourceSet(top.start_date, tuple(_resolve(e, top, kinds, path) for e in top.sources),
                     top.max_record_chars, top.max_rejected_rate, top.end_date)
