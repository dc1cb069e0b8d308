"""Decontamination: drop training rows that share long n-grams with benchmark test items.

A model trained on its own test set reports a score it did not earn. The check follows GPT-3 /
OLMo practice: a row is contaminated when it contains an n-gram of a benchmark item. English items
are indexed by word n-grams (13 words); Chinese items by character n-grams (20 characters), since
Chinese has no spaces and a 13-word span would be a whole page. Letters are lower-cased and
full-width ASCII (Ａ１) folded to ASCII; word n-grams use runs of ASCII letters/digits, character
n-grams use CJK characters plus ASCII letters/digits, so punctuation, spacing and LaTeX markup do
not hide a copy. (Both folds run on code points in numpy: NFKC in Python cost more than the rest.)

The index is built once: 64-bit polynomial hashes of every benchmark n-gram in one sorted numpy
array. Rows are checked in batches with `np.searchsorted`, all n-grams of a batch at once.
N-grams found in many benchmark items (boilerplate such as "下列说法正确的是") are left out of the
index so they cannot flag ordinary text. Hash collisions are possible in principle (about 1e-13
per n-gram pair); a dropped row shows the matched n-gram so a person can check it.
"""
from __future__ import annotations

import functools
import gzip
import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from corpus_dag.accounting import REASON, Split
from corpus_dag.chunking import CJK, CJK_RANGES
from corpus_dag.engine import BatchStep

DEFAULT_BENCHMARKS = Path(__file__).resolve().parent.parent / "data" / "benchmarks"
REASON_CONTAMINATED = "contaminated"
_P = np.uint64(0x100000001B3)  # FNV prime: the polynomial base of n-gram hashes
_P_INV = np.uint64(pow(int(_P), -1, 1 << 64))
_Q = np.uint64(0x9E3779B97F4A7C15)  # base of per-word character hashes
_WORD_SALT = np.uint64(0xA0761D6478BD642F)  # keeps word n-grams apart from char n-grams
_CJK_CHAR = re.compile(f"[{CJK}]")
_WORD = re.compile(r"[A-Za-z]+")
_FILTER_BITS = 24


@dataclass(frozen=True)
class DecontamCfg:
    """n_words / n_chars: n-gram sizes; min_matches: n-grams a row must share with one item;
    max_items_per_ngram: n-grams shared by more benchmark items are boilerplate, not indexed;
    column: the text to check (`text` for documents, `question` for math items);
    batch_chars: bound on characters hashed at once (memory is ~40 bytes per character)."""

    n_words: int = 13
    n_chars: int = 20
    min_matches: int = 1
    max_items_per_ngram: int = 5
    column: str = "text"
    batch_chars: int = 4_000_000

    def __post_init__(self):
        for name in ("n_words", "n_chars", "min_matches", "max_items_per_ngram", "batch_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"DecontamCfg.{name} must be >= 1, got {getattr(self, name)}")


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads polynomial hashes over all 64 bits."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def _powers(base: np.uint64, n: int) -> np.ndarray:
    """base**0 .. base**(n-1) modulo 2**64."""
    out = np.ones(max(n, 1), dtype=np.uint64)
    out[1:] = np.cumprod(np.full(len(out) - 1, base, dtype=np.uint64))
    return out[:n]


def _rolling(values: np.ndarray, owner: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every window of n consecutive values with one owner, and the window start indices.

    Polynomial hash sum(v[i+j] * P**j) mod 2**64 for all windows at once from prefix sums:
    (S[i+n] - S[i]) * P**-i, where S are prefix sums of v[k] * P**k (P is odd, so invertible).
    """
    m = len(values) - n + 1
    if m <= 0:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    prefix = np.zeros(len(values) + 1, dtype=np.uint64)
    np.cumsum(values * _powers(_P, len(values)), out=prefix[1:])
    starts = np.flatnonzero(owner[:m] == owner[n - 1 :])
    h = (prefix[starts + n] - prefix[starts]) * _powers(_P_INV, m)[starts]
    return _mix(h), starts


@dataclass(frozen=True)
class _Grams:
    """Every n-gram of a batch: hash, row, and its span in the joined text."""

    hashes: np.ndarray
    rows: np.ndarray
    begin: np.ndarray
    end: np.ndarray


def _join(texts: list[str]) -> str:
    """One text per NUL-separated slot (NULs inside a text become spaces)."""
    return "\x00".join((t or "").replace("\x00", " ") for t in texts)


def _grams(joined: str, n_words: int, n_chars: int) -> tuple[_Grams, _Grams]:
    """(word n-grams, character n-grams) of texts joined by NUL (which belongs to no n-gram)."""
    cp = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).copy()
    cp[(cp >= 0xFF01) & (cp <= 0xFF5E)] -= 0xFEE0  # full-width ASCII -> ASCII
    cp[(cp >= 0x41) & (cp <= 0x5A)] += 0x20  # lower case
    row = np.cumsum(cp == 0, dtype=np.int64)
    alnum = ((cp >= 0x30) & (cp <= 0x39)) | ((cp >= 0x61) & (cp <= 0x7A))
    cjk = np.zeros(len(cp), dtype=bool)
    for lo, hi in CJK_RANGES:
        cjk |= (cp >= lo) & (cp <= hi)

    # characters: CJK + ASCII letters/digits, everything else skipped
    pos = np.flatnonzero(alnum | cjk)
    h, s = _rolling(cp[pos].astype(np.uint64), row[pos], n_chars)
    chars = _Grams(h, row[pos[s]], pos[s], pos[s + n_chars - 1] + 1)

    # words: maximal runs of ASCII letters/digits, each hashed from its characters
    wpos = np.flatnonzero(alnum)
    first = np.ones(len(wpos), dtype=bool)
    first[1:] = np.diff(wpos) > 1
    run_start = np.flatnonzero(first)
    k = np.arange(len(wpos)) - np.repeat(run_start, np.diff(np.append(run_start, len(wpos))))
    powers = _powers(_Q, int(k.max(initial=0)) + 1)
    word = np.add.reduceat(cp[wpos].astype(np.uint64) * powers[k], run_start) if len(wpos) else np.empty(0, np.uint64)
    w_begin = wpos[run_start]
    w_end = np.append(wpos[run_start[1:] - 1], wpos[-1:]) + 1 if len(wpos) else np.empty(0, np.int64)
    h, s = _rolling(_mix(word) ^ _WORD_SALT, row[w_begin], n_words)
    words = _Grams(h, row[w_begin[s]], w_begin[s], w_end[s + n_words - 1])
    return words, chars


def _is_chinese(text: str) -> bool:
    """Index an item by characters when CJK characters outnumber English words in it."""
    return len(_CJK_CHAR.findall(text)) >= max(len(_WORD.findall(text)), 1)


def load_benchmarks(folder: str | Path = DEFAULT_BENCHMARKS) -> dict[str, pl.DataFrame]:
    """{benchmark name: frame(id, text)} from `{name}.jsonl` / `{name}.jsonl.gz` files."""
    folder = Path(folder)
    files = sorted(folder.glob("*.jsonl")) + sorted(folder.glob("*.jsonl.gz"))
    if not files:
        raise FileNotFoundError(f"no benchmark files (*.jsonl, *.jsonl.gz) in {folder}")
    out = {}
    for f in files:
        data = gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()
        df = pl.read_ndjson(io.BytesIO(data))
        if not {"id", "text"} <= set(df.columns):
            raise ValueError(f"{f}: benchmark records need 'id' and 'text', found {df.columns}")
        out[f.name.split(".")[0]] = df.select(pl.col("id").cast(pl.String), pl.col("text").cast(pl.String))
    return out


class BenchmarkIndex:
    """Sorted 64-bit hashes of benchmark n-grams, each pointing at one item that contains it."""

    def __init__(self, benchmarks: dict[str, pl.DataFrame], cfg: DecontamCfg = DecontamCfg()):
        self.cfg = cfg
        names = sorted(benchmarks)
        items = pl.concat([benchmarks[b].select("id", "text").with_columns(benchmark=pl.lit(b)) for b in names])
        self.items = items.select("benchmark", "id")
        texts = items["text"].to_list()
        words, chars = _grams(_join(texts), cfg.n_words, cfg.n_chars)
        zh = np.array([_is_chinese(t) for t in texts], dtype=bool)
        keep_w, keep_c = ~zh[words.rows], zh[chars.rows]
        hashes = np.concatenate([words.hashes[keep_w], chars.hashes[keep_c]])
        rows = np.concatenate([words.rows[keep_w], chars.rows[keep_c]])
        pairs = np.unique(np.stack([hashes, rows.astype(np.uint64)]), axis=1)  # one per (n-gram, item)
        uniq, first, n_items = np.unique(pairs[0], return_index=True, return_counts=True)
        common = n_items > cfg.max_items_per_ngram
        self.keys, self.item = uniq[~common], pairs[1][first][~common].astype(np.int64)
        # A 16 MB presence table on the top 24 hash bits: one random read per n-gram rules out almost
        # all of them before the (cache-unfriendly) binary search over the sorted keys.
        if not len(self.keys):
            raise ValueError("the benchmark index is empty: no item is long enough for an n-gram (check n_words/n_chars)")
        self.maybe = np.zeros(1 << _FILTER_BITS, dtype=bool)
        self.maybe[self.keys >> np.uint64(64 - _FILTER_BITS)] = True
        indexed = np.zeros(len(texts), dtype=bool)
        indexed[self.item] = True
        self.stats = {
            "items": len(texts),
            "items_indexed": int(indexed.sum()),
            "ngrams": len(self.keys),
            "ngrams_left_out_as_common": int(common.sum()),
            "items_by_chars": int(zh.sum()),
        }

    @classmethod
    def from_folder(cls, folder: str | Path = DEFAULT_BENCHMARKS, cfg: DecontamCfg = DecontamCfg()) -> "BenchmarkIndex":
        return cls(load_benchmarks(folder), cfg)

    def _hits(self, texts: list[str]) -> pl.DataFrame:
        """Per contaminated row: the item sharing most n-grams, how many, and one matched n-gram."""
        joined = _join(texts)
        found = []
        for g in _grams(joined, self.cfg.n_words, self.cfg.n_chars):
            cand = np.flatnonzero(self.maybe[g.hashes >> np.uint64(64 - _FILTER_BITS)])
            at = np.minimum(np.searchsorted(self.keys, g.hashes[cand]), len(self.keys) - 1)
            same = self.keys[at] == g.hashes[cand]
            hit = cand[same]
            found.append(pl.DataFrame({"row": g.rows[hit], "item": self.item[at[same]], "begin": g.begin[hit], "end": g.end[hit]}))
        hits = pl.concat(found)
        # rows are numbered from 0 inside `joined`; NUL separators are counted, so row ids match texts
        best = (
            hits.group_by("row", "item")
            .agg(pl.len().alias("n_matched"), pl.col("begin").min(), pl.col("end").sort_by("begin").first())
            .sort("row", "n_matched", "item", descending=[False, True, False])
            .unique("row", keep="first", maintain_order=True)
            .filter(pl.col("n_matched") >= self.cfg.min_matches)
        )
        ngrams = [joined[b:e] for b, e in zip(best["begin"], best["end"])]
        items = self.items[best["item"].to_list()]
        return pl.DataFrame(
            {
                "row": best["row"],
                "benchmark": items["benchmark"],
                "benchmark_item_id": items["id"],
                "matched_ngram": pl.Series(ngrams, dtype=pl.String),
                "n_matched": best["n_matched"].cast(pl.Int64),
            }
        )

    def split(self, df: pl.DataFrame, column: str | None = None) -> Split:
        """kept rows, and contaminated rows with reason, benchmark, benchmark_item_id, matched_ngram."""
        column = column or self.cfg.column
        if column not in df.columns:
            raise ValueError(f"decontamination column {column!r} not in frame columns {df.columns}")
        texts = df[column].cast(pl.String).to_list()
        parts, start, chars = [], 0, 0
        for i, t in enumerate(texts):  # hash at most ~batch_chars characters at once
            chars += len(t or "") + 1
            if chars >= self.cfg.batch_chars or i == len(texts) - 1:
                parts.append(self._hits(texts[start : i + 1]).with_columns(pl.col("row") + start))
                start, chars = i + 1, 0
        hits = pl.concat(parts) if parts else self._hits([])
        hits = hits.rename({"row": "__row"}).with_columns(pl.col("__row").cast(pl.UInt32))
        tagged = df.with_row_index("__row").join(hits, on="__row", how="left", maintain_order="left")
        tagged = tagged.with_columns(pl.when(pl.col("benchmark").is_not_null()).then(pl.lit(REASON_CONTAMINATED)).alias(REASON))
        kept = tagged.filter(pl.col(REASON).is_null()).select(df.columns)
        dropped = tagged.filter(pl.col(REASON).is_not_null()).drop("__row")
        return Split(kept=kept, dropped=dropped)


def contaminated_counts(split: Split) -> Counter:
    """{benchmark: rows removed} of a split, for metadata."""
    return Counter(split.dropped["benchmark"].to_list()) if split.dropped.height else Counter()


class DecontamStep(BatchStep):
    """`BenchmarkIndex.split` on the text `text` computes; the index is built once per worker."""

    def __init__(self, cfg: DecontamCfg, text: pl.Expr, folder: str | Path | None = None):
        self.cfg, self.text, self.folder = cfg, text, folder
        self.index: BenchmarkIndex | None = None

    def __getstate__(self):
        return {"cfg": self.cfg, "text": self.text, "folder": self.folder, "index": None}

    def setup(self) -> None:
        self.index = shared_index(self.folder or DEFAULT_BENCHMARKS, self.cfg)

    def __call__(self, batch: pl.DataFrame) -> Split:
        split = self.index.split(batch.with_columns(self.text.alias(self.cfg.column)))
        return Split(kept=split.kept.drop(self.cfg.column), dropped=split.dropped.drop(self.cfg.column))


def shared_index(folder: str | Path, cfg: DecontamCfg) -> BenchmarkIndex:
    """The index of `folder` under `cfg`, built once per process while its files stay the same (every
    partition's step of a run, and of the next runs in the same process, checks against it)."""
    folder = Path(folder).resolve()
    stamp = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in sorted(folder.glob("*.jsonl*")))
    return _index(folder, cfg, stamp)


@functools.lru_cache(maxsize=4)
def _index(folder: Path, cfg: DecontamCfg, _stamp: tuple) -> BenchmarkIndex:
    return BenchmarkIndex.from_folder(folder, cfg)
