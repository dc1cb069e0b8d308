"""Heuristic quality filters (Gopher / InternLM2 style) that work for Chinese and English text.

Each rule is a small named, versioned step: a per-document value and the bounds that keep a
document, as polars expressions over per-document feature columns. A batch gets its features from
one table-lookup pass over its code points (every character class at once, `char_counts`) and one
explode of its lines in polars (`line_features`); the first rule a document fails names its drop,
so each dropped row carries `rule` (name@version), `value` and a `reason`. Language id runs last, only on the rows that
survived the cheap rules, and only on a bounded prefix of each text (see `detect_languages`).

Thresholds depend on the source kind (exam papers are short and full of digits and formulas, web
pages are not): `config/filters.yaml` overrides `FilterConfig`'s defaults per kind, and a source may
override its kind with a `filters:` mapping in config/sources.yaml.
"""
from __future__ import annotations

import dataclasses
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from corpus_dag.accounting import Split, split_by_reason
from corpus_dag.quality.repetition import DUP_NS, TOP_NS, repetition_features
from corpus_dag.settings import RATIO, checked, settings_model

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "filters.yaml"

# Character classes, one per code point (see `_class_table`).
OTHER, SPACE, LETTER, HAN, KANA_HANGUL, DIGIT, PUNCT, SYMBOL, BAD = range(9)
N_CLASSES = 9
# TeX math ($...$, $$...$$): content in exam and math pages, whose symbols and digits say nothing
# about the quality of the prose around them; the character-ratio rules read the text without it.
TEX_MATH = r"\$\$?[^$]*\$\$?"
# No evidence of a language, blanked before language id: TeX math, TeX commands, and one-letter
# Latin words (option labels "A." "B.", variables).
NO_LANG_EVIDENCE = TEX_MATH + r"|\\[A-Za-z]+|\b[A-Za-z]\b"
# Gopher's English stop words; two different ones in an all-ASCII prefix settle English (as in
# Gopher's own stop-word rule).
EN_STOP_WORDS = r"\b(?:the|be|to|of|and|that|have|with)\b"
NON_ASCII_LETTER = r"[\p{L}&&[^\x00-\x7F]]"
LINE_END = r"[。！？；…!?.;:：][\"'”’」』)）]?$"


class FilterConfigError(ValueError):
    """The filters file is malformed or names an unknown kind or setting."""


@dataclass(frozen=True)
class FilterConfig:
    """Thresholds of the heuristic rules for one source kind; None turns a rule off."""

    min_chars: int | None = 50
    max_chars: int | None = 1_000_000
    max_bad_char_ratio: float | None = 0.01
    min_letter_ratio: float | None = 0.5  # letters (Han characters included) / non-space chars
    max_digit_ratio: float | None = 0.3
    max_symbol_ratio: float | None = 0.15
    max_punct_ratio: float | None = 0.35
    min_line_end_punct_ratio: float | None = 0.12  # FineWeb's line_punct_ratio
    short_line_bytes: int = 30  # UTF-8 bytes: 10 Chinese characters or about 30 Latin letters
    max_short_line_ratio: float | None = 0.67
    max_dup_line_ratio: float | None = 0.3  # bytes in repeated lines / bytes in all lines
    # Gopher's repetition rules (see corpus_dag/quality/repetition.py); tokens are Han characters
    # or words, fractions are of the characters of a document's tokens.
    max_dup_line_count_ratio: float | None = 0.3  # repeated lines / lines
    max_dup_para_count_ratio: float | None = 0.3  # repeated paragraphs / paragraphs
    max_dup_para_char_ratio: float | None = 0.2  # characters in repeated paragraphs / in all
    max_top_ngram_char_ratio: tuple[tuple[int, float], ...] = ((2, 0.20), (3, 0.18), (4, 0.16))
    max_dup_ngram_char_ratio: tuple[tuple[int, float], ...] = ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))
    ngram_min_tokens: int = 50  # n-gram rules judge documents of at least this many tokens (Gopher's min words)
    allowed_langs: tuple[str, ...] = ("zh", "en")  # empty: no language rule
    min_lang_confidence: float = 0.5  # summed confidence of the allowed languages
    lang_candidates: tuple[str, ...] = ("zh", "en", "ja", "ko", "fr", "de", "es", "ru")
    lang_prefix_chars: int = 200


@dataclass(frozen=True)
class Rule:
    """One heuristic: a per-document value and the bounds that keep a document."""

    name: str
    version: int
    value: pl.Expr
    low: float | None = None
    high: float | None = None

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"

    def reason(self) -> pl.Expr:
        """A reason string where the value is out of bounds, else null. Constant per rule and side,
        so reasons count well; the value itself goes to the `value` column."""
        v = self.value
        out = pl.lit(None, pl.String)
        if self.high is not None:
            out = pl.when(v > self.high).then(pl.lit(f"{self.tag}: above max {self.high}")).otherwise(out)
        if self.low is not None:
            out = pl.when(v < self.low).then(pl.lit(f"{self.tag}: below min {self.low}")).otherwise(out)
        return out


def _ratio(num: str, den: str) -> pl.Expr:
    return (pl.col(num) / pl.col(den)).fill_nan(0.0).fill_null(0.0)


def heuristic_rules(cfg: FilterConfig) -> tuple[Rule, ...]:
    """The rules over `features()` and `line_features()` columns, most telling first; off ones left out."""
    rules = (
        Rule("doc_chars", 1, pl.col("_chars").cast(pl.Float64), cfg.min_chars, cfg.max_chars),
        Rule("bad_char_ratio", 1, _ratio("_bad", "_nonspace"), high=cfg.max_bad_char_ratio),
        Rule("letter_ratio", 1, _ratio("_letters", "_nonspace"), low=cfg.min_letter_ratio),
        Rule("digit_ratio", 1, _ratio("_digits", "_nonspace"), high=cfg.max_digit_ratio),
        Rule("symbol_ratio", 1, _ratio("_symbols", "_nonspace"), high=cfg.max_symbol_ratio),
        Rule("punct_ratio", 1, _ratio("_punct", "_nonspace"), high=cfg.max_punct_ratio),
        Rule("line_end_punct", 1, _ratio("_end_punct_lines", "_lines"), low=cfg.min_line_end_punct_ratio),
        Rule("short_lines", 1, _ratio("_short_lines", "_lines"), high=cfg.max_short_line_ratio),
        Rule("dup_lines", 1, _ratio("_dup_line_bytes", "_line_bytes"), high=cfg.max_dup_line_ratio),
        Rule("dup_line_count", 1, _ratio("_dup_lines", "_lines"), high=cfg.max_dup_line_count_ratio),
        *repetition_rules(cfg),
    )
    return tuple(r for r in rules if r.low is not None or r.high is not None)


def repetition_rules(cfg: FilterConfig) -> tuple[Rule, ...]:
    """Gopher's repetition rules over `repetition()` columns (paragraphs, n-grams). The n-gram ones read 0 on
    documents under `ngram_min_tokens` tokens: in a three-line text one repeated phrase is a
    large fraction and says nothing about boilerplate."""
    long_enough = pl.col("_tokens") >= cfg.ngram_min_tokens

    def ngram(column: str) -> pl.Expr:
        return pl.when(long_enough).then(_ratio(column, "_tok_chars")).otherwise(0.0)

    return (
        Rule("dup_para_count", 1, _ratio("_dup_paras", "_paras"), high=cfg.max_dup_para_count_ratio),
        Rule("dup_para_chars", 1, _ratio("_dup_para_chars", "_para_chars"), high=cfg.max_dup_para_char_ratio),
        *(Rule(f"top_{n}gram", 1, ngram(f"_top_{n}gram_chars"), high=r) for n, r in cfg.max_top_ngram_char_ratio),
        *(Rule(f"dup_{n}gram", 1, ngram(f"_dup_{n}gram_chars"), high=r) for n, r in cfg.max_dup_ngram_char_ratio),
    )


def lang_rule(cfg: FilterConfig) -> Rule | None:
    if not cfg.allowed_langs:
        return None
    return Rule("lang", 1, pl.col("_lang_conf"), low=cfg.min_lang_confidence)


@lru_cache(maxsize=1)
def _class_table() -> np.ndarray:
    """Class of every Unicode code point. BAD is broken decoding or binary junk: U+FFFD, private
    use, unassigned, and control characters other than tab and newlines. Symbols are Gopher's
    (hashes, ellipses) plus every Unicode symbol (math, currency, emoji, box drawing)."""
    cats = np.array([unicodedata.category(chr(cp)) for cp in range(0x110000)])
    table = np.full(0x110000, OTHER, np.uint8)
    table[cats.astype("U1") == "L"] = LETTER
    table[cats.astype("U1") == "P"] = PUNCT
    table[cats.astype("U1") == "S"] = SYMBOL
    table[cats == "Nd"] = DIGIT
    table[np.isin(cats, ["Co", "Cn", "Cc", "Cs"])] = BAD
    for lo, hi in ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x323AF)):
        table[lo : hi + 1][table[lo : hi + 1] == LETTER] = HAN
    for lo, hi in ((0x1100, 0x11FF), (0x3040, 0x30FF), (0x3130, 0x318F), (0x31F0, 0x31FF), (0xAC00, 0xD7AF), (0xFF66, 0xFF9D)):
        table[lo : hi + 1][table[lo : hi + 1] == LETTER] = KANA_HANGUL
    table[[cp for cp in range(0x110000) if chr(cp).isspace()]] = SPACE
    table[[ord("#"), ord("…")]] = SYMBOL
    table[0xFFFD] = BAD
    return table


def code_points(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """The code points of a batch in one buffer, and each text's length in characters."""
    lens = texts.str.len_chars().fill_null(0).to_numpy()
    return np.frombuffer("".join(texts.fill_null("").to_list()).encode("utf-32-le"), np.uint32), lens


def char_counts(texts: pl.Series) -> np.ndarray:
    """Per-document counts of each character class, shape (n_docs, N_CLASSES).

    One table lookup per code point counts every class at once. Polars' regex counting runs
    60-200 MB/s per Unicode class here, so seven classes that way cost about 20 MB/s in all;
    this single pass does them all at 200+ MB/s."""
    codes, lens = code_points(texts)
    key = np.repeat(np.arange(0, len(lens) * N_CLASSES, N_CLASSES, dtype=np.intp), lens)
    key += _class_table()[codes]
    return np.bincount(key, minlength=len(lens) * N_CLASSES).reshape(-1, N_CLASSES)


def lang_prefixes(texts: pl.Series, prefix_chars: int) -> pl.Series:
    """The first `prefix_chars` characters of each text that carry language evidence: spans in
    `NO_LANG_EVIDENCE` are blanked first (`\\mathrm{Na}_{2}` is no evidence of German)."""
    return (
        texts.fill_null("")
        .str.slice(0, 2 * prefix_chars)
        .str.replace_all(NO_LANG_EVIDENCE, " ")
        .str.slice(0, prefix_chars)
    )


def features(texts: pl.Series) -> pl.DataFrame:
    """The per-document counts the ratio rules read: length of the whole text, character classes
    of its prose (the text without `TEX_MATH` spans)."""
    full = char_counts(texts.str.replace_all(TEX_MATH, ""))
    letters = full[:, LETTER] + full[:, HAN] + full[:, KANA_HANGUL]
    return pl.DataFrame(
        {
            "_chars": texts.str.len_chars().fill_null(0),
            "_nonspace": full.sum(axis=1) - full[:, SPACE],
            "_bad": full[:, BAD],
            "_letters": letters,
            "_digits": full[:, DIGIT],
            "_symbols": full[:, SYMBOL],
            "_punct": full[:, PUNCT],
        }
    )


def repetition(texts: pl.Series, min_tokens: int = 0) -> pl.DataFrame:
    """Gopher's repetition features of each text's prose: TeX math spans become a space, as for
    the ratio rules (a math item's `$$` delimiters and variables repeat by notation, and made
    top-4-gram and duplicated-5-gram drops of good items on the web samples); n-gram features only
    for texts of at least `min_tokens` tokens."""
    codes, lens = code_points(texts.str.replace_all(TEX_MATH, " "))
    return repetition_features(codes, _class_table()[codes], lens, SPACE, HAN, min_tokens)


def line_features(df: pl.DataFrame, short_line_bytes: int) -> pl.DataFrame:
    """Per-document line counts (non-empty, short, ending like a sentence, repeated) from one explode.

    A line is "repeated" from its second occurrence on in the same document (Gopher's definition)."""
    lines = (
        df.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"), pl.col("text").str.split("\n").alias("_line"))
        .explode("_line")
        .with_columns(pl.col("_line").str.strip_chars())
        .filter(pl.col("_line").str.len_bytes() > 0)
        .with_columns(
            pl.col("_line").str.len_bytes().alias("_bytes"),
            (~pl.struct("_row", "_line").is_first_distinct()).alias("_dup"),
        )
    )
    per_doc = lines.group_by("_row").agg(
        pl.len().alias("_lines"),
        (pl.col("_bytes") < short_line_bytes).sum().alias("_short_lines"),
        pl.col("_line").str.contains(LINE_END).sum().alias("_end_punct_lines"),
        pl.col("_bytes").sum().alias("_line_bytes"),
        pl.col("_bytes").filter(pl.col("_dup")).sum().alias("_dup_line_bytes"),
        pl.col("_dup").sum().alias("_dup_lines"),
    )
    rows = pl.DataFrame({"_row": pl.int_range(df.height, dtype=pl.UInt32, eager=True)})
    return rows.join(per_doc, on="_row", how="left").fill_null(0).drop("_row")


@lru_cache(maxsize=8)
def _detector(candidates: tuple[str, ...]):
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    try:
        langs = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in candidates]
    except AttributeError as e:
        raise FilterConfigError(f"lang_candidates: unknown ISO 639-1 code in {candidates}") from e
    return LanguageDetectorBuilder.from_languages(*langs).with_low_accuracy_mode().build()


def detect_languages(prefixes: pl.Series, cfg: FilterConfig) -> tuple[list[str | None], list[float]]:
    """Top language (ISO 639-1) and the summed confidence of the allowed languages, per text,
    from its `lang_prefixes`.

    Cheap evidence decides where it alone can: a prefix whose letters are mostly (>= 70%) Han
    characters, with no kana or hangul, is Chinese; an all-ASCII prefix with two different
    English stop words (Gopher's list) is English; both with confidence 1. The rest goes to lingua
    (offline, bundled models) in its low-accuracy (trigram) mode, on the bounded prefix only:
    lingua reads about 4 MB/s on 2 cores, so the prefix keeps language id from dominating the
    filter's cost, and on 200 characters the trigram mode decides between the candidates as
    reliably as the full mode (lingua's own advice for texts over 120 characters)."""
    allowed = set(cfg.allowed_langs)
    counts = char_counts(prefixes)
    letters = counts[:, [LETTER, HAN, KANA_HANGUL]].sum(axis=1)
    chinese = (counts[:, HAN] >= 0.7 * letters) & (letters > 0) & (counts[:, KANA_HANGUL] == 0) & ("zh" in cfg.lang_candidates)
    english = (
        prefixes.str.to_lowercase().str.extract_all(EN_STOP_WORDS).list.n_unique().ge(2)
        & ~prefixes.str.contains(NON_ASCII_LETTER)
    ).to_numpy() & ("en" in cfg.lang_candidates)
    top: list[str | None] = ["zh" if c else "en" if e else None for c, e in zip(chinese, english)]
    conf = [float(lang in allowed) if lang else 0.0 for lang in top]
    rest = np.flatnonzero(~(chinese | english))
    if rest.size == 0:
        return top, conf
    detector = _detector(tuple(cfg.lang_candidates))
    for i, values in zip(rest, detector.compute_language_confidence_values_in_parallel(prefixes.gather(rest).to_list())):
        codes = [(v.language.iso_code_639_1.name.lower(), v.value) for v in values]
        top[i] = codes[0][0] if codes and codes[0][1] > 0 else None
        conf[i] = sum(p for c, p in codes if c in allowed)
    return top, conf


def apply_filters(df: pl.DataFrame, cfg: FilterConfig) -> Split:
    """Run every rule over one batch of documents (needs a `text` column).

    Kept rows get a `lang` column (top detected language, null when the language rule is off);
    dropped rows also get `rule`, `value` and `reason` from the first rule they failed."""
    if "text" not in df.columns:
        raise ValueError(f"apply_filters needs a 'text' column; got {df.columns}")
    rules = heuristic_rules(cfg)
    feats = features(df["text"]).hstack(line_features(df, cfg.short_line_bytes))
    if any(r.high is not None for r in repetition_rules(cfg)):
        feats = feats.hstack(repetition(df["text"], cfg.ngram_min_tokens))
    tagged = df.with_columns(
        pl.lit(None, pl.String).alias("lang"), *_first_failure(rules, feats), pl.lit(None, pl.Float64).alias("_lang_conf")
    )
    lang = lang_rule(cfg)
    if lang is not None:
        tagged = _apply_lang(tagged, cfg, lang)
    split = split_by_reason(tagged.drop("_lang_conf"), pl.col("_reason"))
    return Split(kept=split.kept.drop("rule", "value", "_reason"), dropped=split.dropped.drop("_reason"))


def _first_failure(rules: tuple[Rule, ...], feats: pl.DataFrame) -> list[pl.Series]:
    """`rule`, `value` and `_reason` of the first rule each row fails (nulls where it passes all)."""
    if not rules:
        return [pl.Series(n, [None] * feats.height, dtype=t) for n, t in (("rule", pl.String), ("value", pl.Float64), ("_reason", pl.String))]
    reasons = [r.reason() for r in rules]
    first = pl.coalesce([pl.when(reason.is_not_null()).then(pl.lit(i)) for i, reason in enumerate(reasons)])
    out = feats.select(
        pl.coalesce(reasons).alias("_reason"),
        pl.coalesce([pl.when(first == i).then(pl.lit(r.tag)) for i, r in enumerate(rules)]).alias("rule"),
        pl.coalesce([pl.when(first == i).then(r.value.cast(pl.Float64)) for i, r in enumerate(rules)]).alias("value"),
    )
    return [out["rule"], out["value"], out["_reason"]]


def _apply_lang(tagged: pl.DataFrame, cfg: FilterConfig, rule: Rule) -> pl.DataFrame:
    """Language id on the rows that passed every cheaper rule, then the language rule on them."""
    todo = tagged["_reason"].is_null().arg_true()
    if todo.len() == 0:
        return tagged
    top, conf = detect_languages(lang_prefixes(tagged["text"].gather(todo), cfg.lang_prefix_chars), cfg)
    tagged = tagged.with_columns(
        tagged["lang"].scatter(todo, pl.Series(top, dtype=pl.String)),
        tagged["_lang_conf"].scatter(todo, pl.Series(conf, dtype=pl.Float64)),
    )
    failed = rule.reason()
    return tagged.with_columns(
        pl.when(failed.is_not_null()).then(pl.lit(rule.tag)).otherwise(pl.col("rule")).alias("rule"),
        pl.when(failed.is_not_null()).then(rule.value).otherwise(pl.col("value")).alias("value"),
        pl.coalesce(pl.col("_reason"), failed).alias("_reason"),
    )


def load_filter_config(kind: str, overrides: dict | None = None, path: str | Path | None = None) -> FilterConfig:
    """`FilterConfig` for a source kind: code defaults, then the kind's entry in the filters file,
    then `overrides` (a source's own `filters:` settings)."""
    from corpus_dag.sources import KINDS

    if kind not in KINDS:
        raise FilterConfigError(f"unknown source kind {kind!r}; expected one of {KINDS}")
    path = Path(path or DEFAULT_CONFIG)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {} if path.exists() else {}
    except yaml.YAMLError as e:
        raise FilterConfigError(f"{path}: not valid YAML: {e}") from e
    kinds = doc.get("kinds") or {}
    if not isinstance(kinds, dict) or not all(isinstance(v, dict | None) for v in kinds.values()):
        raise FilterConfigError(f"{path}: 'kinds' must map a kind to its settings")
    unknown_kinds = set(kinds) - set(KINDS)
    if unknown_kinds:
        raise FilterConfigError(f"{path}: unknown kinds {sorted(unknown_kinds)}; expected some of {KINDS}")
    settings = {**(kinds.get(kind) or {}), **(overrides or {})}
    fields = {f.name: f for f in dataclasses.fields(FilterConfig)}
    unknown = set(settings) - set(fields)
    if unknown:
        raise FilterConfigError(f"{path}: kind {kind!r}: unknown settings {sorted(unknown)}; known: {sorted(fields)}")
    for key in ("allowed_langs", "lang_candidates"):
        if key in settings and settings[key] is None:
            settings[key] = ()  # null: no language rule
    for key, ns in (("max_top_ngram_char_ratio", TOP_NS), ("max_dup_ngram_char_ratio", DUP_NS)):
        if key in settings:
            settings[key] = _ngram_caps(path, kind, key, settings[key], ns)
    try:
        return FilterConfig(**checked(_SETTINGS, settings))
    except ValueError as e:
        raise FilterConfigError(f"{path}: kind {kind!r}: {e}") from None


def _ngram_caps(path: Path, kind: str, key: str, value, ns: tuple[int, ...]) -> tuple[tuple[int, float], ...]:
    """`{n: max_ratio}` from the filters file as sorted pairs; null or {} turns those rules off."""
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(isinstance(n, int) and n in ns and _is_ratio(r) for n, r in value.items()):
        raise FilterConfigError(f"{path}: kind {kind!r}: {key} must map n (one of {ns}) to a max ratio in [0, 1] or null; got {value!r}")
    return tuple(sorted((n, float(r)) for n, r in value.items() if r is not None))


def _is_ratio(value) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1)


# Ratios and confidences lie in [0, 1]; lengths and counts are not negative, and an upper length
# limit or a language-id prefix of 0 characters would drop or misjudge every document.
_SETTINGS = settings_model(
    FilterConfig,
    {f.name: RATIO for f in dataclasses.fields(FilterConfig) if f.name.endswith(("_ratio", "_confidence"))
     and f.name not in ("max_top_ngram_char_ratio", "max_dup_ngram_char_ratio")}
    | {"min_chars": (0, None), "max_chars": (1, None), "short_line_bytes": (0, None), "ngram_min_tokens": (0, None),
       "lang_prefix_chars": (1, None)},
)
