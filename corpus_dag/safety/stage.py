"""The safety stage over one batch: domain blocklist, word blocklists, then PII.

Thresholds and the PII action depend on the source kind (config/safety.yaml), and a source may
override them with a `safety:` mapping in config/sources.yaml, as `filters:` does for the
heuristic filters. The lists themselves are shared by every source (`Blocklists`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from corpus_dag.accounting import DETAIL, REASON, Split, split_by_reason, text_bytes
from corpus_dag.engine import BatchStep
from corpus_dag.safety import pii
from corpus_dag.safety.domains import DomainBlocklist
from corpus_dag.safety.lists import ListFile
from corpus_dag.safety.words import WordBlocklist
from corpus_dag.settings import checked, settings_model

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "safety.yaml"
PII_ACTIONS = ("redact", "drop", "keep")
DOMAIN_RULE, WORD_RULE, PII_RULE = "domain_blocklist@1", "word_blocklist@1", "pii@1"
DROP_COLUMNS = {"pii": pii.COUNTS, "rule": pl.String, "value": pl.Float64, REASON: pl.String}


class SafetyConfigError(ValueError):
    """The safety file is malformed or names an unknown kind or setting."""


@dataclass(frozen=True)
class SafetyConfig:
    """Settings of the safety stage for one source kind (or source)."""

    max_word_hits_per_1k: float | None = 0.5  # listed-word hits per 1,000 characters; None: no word rule
    pii_action: str = "redact"  # redact: placeholders in the text; drop: drop documents with PII; keep: count only
    reason_words: int = 5  # first matched words named in a drop reason


# A negative hit rate would drop every document; a reason names at least one word.
_SETTINGS = settings_model(SafetyConfig, {"max_word_hits_per_1k": (0, None), "reason_words": (1, None)})


@dataclass(frozen=True)
class Blocklists:
    domains: DomainBlocklist
    words: WordBlocklist

    @classmethod
    def load(cls, domain_files: list[ListFile], word_files: dict[str, list[ListFile]]) -> Blocklists:
        return cls(DomainBlocklist.load(domain_files), WordBlocklist(word_files))

    def summary(self) -> pl.DataFrame:
        """One row per list file: kind, language, file, entries (0 is allowed, and shown)."""
        rows = [("domains", "", name, n) for name, n in zip(self.domains.lists, self.domains.sizes)]
        rows += [("words", lang, name, n) for lang, name, n in self.words.lists]
        return pl.DataFrame(rows, schema={"list": pl.String, "lang": pl.String, "file": pl.String, "entries": pl.Int64}, orient="row")


def apply_safety(df: pl.DataFrame, lists: Blocklists, cfg: SafetyConfig) -> Split:
    """Run the three safety steps over one batch (needs `text`; `url` where there is one).

    Every row gets `pii` (counts per type). Kept rows carry the redacted text when the action is
    `redact`; dropped rows keep their input text and get `rule`, `value` and `reason` of the first
    step that dropped them (domain, then words, then PII)."""
    if "text" not in df.columns:
        raise ValueError(f"apply_safety needs a 'text' column; got {df.columns}")
    domain = lists.domains.matches(df["url"]) if "url" in df.columns else [None] * df.height
    hits = lists.words.scan(df["text"], cfg.reason_words)
    per_1k = np.where(hits.chars > 0, 1000 * hits.counts / np.maximum(hits.chars, 1), 0.0)
    redacted, counts = pii.scan(df["text"], redact=cfg.pii_action == "redact")
    n_pii = counts.struct.unnest().sum_horizontal().to_numpy()
    rule, value, reason = [], [], []
    for i in range(df.height):
        r = _first_failure(i, domain, hits, per_1k, n_pii, counts, cfg)
        rule.append(r[0])
        value.append(r[1])
        reason.append(r[2])
    tagged = df.with_columns(
        counts,
        pl.Series("rule", rule, dtype=pl.String),
        pl.Series("value", value, dtype=pl.Float64),
        pl.Series("_reason", reason, dtype=pl.String),
        pl.Series("_redacted", redacted, dtype=pl.String),
    )
    split = split_by_reason(tagged, pl.col("_reason"))
    kept = split.kept.with_columns(pl.col("_redacted").alias("text")).drop("_redacted", "rule", "value", "_reason")
    return Split(kept=kept, dropped=split.dropped.drop("_redacted", "_reason").select(*df.columns, *DROP_COLUMNS))


def _first_failure(i, domain, hits, per_1k, n_pii, counts, cfg) -> tuple[str | None, float | None, str | None]:
    if domain[i] is not None:
        return DOMAIN_RULE, None, f"{DOMAIN_RULE}: listed domain{DETAIL}{domain[i]}"
    if cfg.max_word_hits_per_1k is not None and per_1k[i] > cfg.max_word_hits_per_1k:
        words = ", ".join(hits.first_words[i])
        return WORD_RULE, float(per_1k[i]), f"{WORD_RULE}: above max {cfg.max_word_hits_per_1k} hits per 1k chars{DETAIL}{hits.counts[i]} hits: {words}"
    if cfg.pii_action == "drop" and n_pii[i] > 0:
        found = ", ".join(f"{n} {t}" for t, n in counts[i].items() if n)
        return PII_RULE, float(n_pii[i]), f"{PII_RULE}: contains PII (action drop){DETAIL}{found}"
    return None, None, None


def load_safety_config(kind: str, overrides: dict | None = None, path: str | Path | None = None) -> SafetyConfig:
    """`SafetyConfig` for a source kind: code defaults, the kind's entry in the safety file, then
    `overrides` (a source's own `safety:` settings)."""
    from corpus_dag.sources import KINDS

    if kind not in KINDS:
        raise SafetyConfigError(f"unknown source kind {kind!r}; expected one of {KINDS}")
    path = Path(path or DEFAULT_CONFIG)
    try:
        doc = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.exists() else {}
    except yaml.YAMLError as e:
        raise SafetyConfigError(f"{path}: not valid YAML: {e}") from e
    kinds = doc.get("kinds") or {}
    if not isinstance(kinds, dict) or not all(isinstance(v, dict | None) for v in kinds.values()):
        raise SafetyConfigError(f"{path}: 'kinds' must map a kind to its settings")
    if set(kinds) - set(KINDS):
        raise SafetyConfigError(f"{path}: unknown kinds {sorted(set(kinds) - set(KINDS))}; expected some of {KINDS}")
    settings = {**(kinds.get(kind) or {}), **(overrides or {})}
    fields = {f.name for f in dataclasses.fields(SafetyConfig)}
    if set(settings) - fields:
        raise SafetyConfigError(f"{path}: kind {kind!r}: unknown settings {sorted(set(settings) - fields)}; known: {sorted(fields)}")
    try:
        cfg = SafetyConfig(**checked(_SETTINGS, settings))
    except ValueError as e:
        raise SafetyConfigError(f"{path}: kind {kind!r}: {e}") from None
    if cfg.pii_action not in PII_ACTIONS:
        raise SafetyConfigError(f"{path}: kind {kind!r}: pii_action {cfg.pii_action!r}; expected one of {PII_ACTIONS}")
    return cfg


class SafetyStep(BatchStep):
    """`apply_safety` with the blocklists built once per worker from the list files' bytes (a built
    automaton is not shipped to workers; `lists` already built in this process is used as is)."""

    def __init__(self, domain_files: list[ListFile], word_files: dict[str, list[ListFile]], cfg: SafetyConfig,
                 lists: Blocklists | None = None):
        self.domain_files, self.word_files, self.cfg, self.lists = domain_files, word_files, cfg, lists

    def __getstate__(self):
        return {**self.__dict__, "lists": None}

    def setup(self) -> None:
        if self.lists is None:
            self.lists = Blocklists.load(self.domain_files, self.word_files)

    def __call__(self, batch: pl.DataFrame) -> Split:
        return apply_safety(batch, self.lists, self.cfg)


@dataclass(frozen=True)
class SafetySummary:
    """What a batch's screening reports beyond its accounting: text bytes screened, PII found in all its
    rows and in the rows it kept (one row of counts per PII type each)."""

    text_bytes: int
    found: pl.DataFrame
    kept_found: pl.DataFrame


def summarize_safety(split: Split) -> SafetySummary:
    return SafetySummary(
        text_bytes(split),
        pl.concat([split.kept["pii"], split.dropped["pii"]]).struct.unnest().sum(),
        split.kept["pii"].struct.unnest().sum(),
    )
