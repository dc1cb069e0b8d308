"""Hierarchical chunking for long structured sources (patents, books).

document -> step (a section heading such as 技术领域, or a step line such as 步骤S1) -> paragraph
(a line, blank lines attached) -> fragment (at most `max_tokens`, repeating the last
`overlap_tokens` of the previous fragment of the same paragraph). Retrieval and training want
bounded pieces that still know where they sit in the document; the spans tile the text exactly, so
`reassemble` gives every document back.

Token counts come from a real tokenizer when `ChunkCfg.tokenizer` names a `transformers` tokenizer
folder; otherwise from the seed's estimate: 1.6 tokens per CJK character, 1.3 per run of ASCII
letters/digits (an English word or a number), 1 per other symbol, 0 for whitespace.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import polars as pl

from corpus_dag.accounting import Split

CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FFFF))  # CJK ideographs
CJK = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in CJK_RANGES)  # as a regex character-class body
TOKENS_PER_CJK_CHAR = 1.6
TOKENS_PER_WORD = 1.3
TOKENS_PER_SYMBOL = 1.0
HEADING = (
    r"(?:技术领域|背景技术|发明内容|附图说明|具体实施方式|权利要求书?|说明书摘要|摘要|实施例\s*\d+|"
    r"步骤\s*S?\d+|[Ss]tep\s*\d+|第[一二三四五六七八九十百零\d]+[章节篇部分]|Chapter\s+\d+|#{1,6}\s)"
)
SENTENCE_END = "。！？；!?;.\n"
CHUNK_SCHEMA = {
    "id": pl.String,
    "patent": pl.String,
    "jurisdiction": pl.String,
    "title": pl.String,
    "step": pl.Int32,
    "paragraph": pl.Int32,
    "fragment": pl.Int32,
    "text": pl.String,
    "lang": pl.String,
    "pub_date": pl.Date,
    "source": pl.String,
    "page": pl.Int32,
    "hash": pl.String,
}
_LINE = re.compile(r"[^\n]*\n|[^\n]+")
_MAX_SPACE = 0x3000  # the highest code point for which str.isspace() holds
_SPACE_TABLE = np.array([chr(c).isspace() for c in range(_MAX_SPACE + 1)])
_SENTENCE_TABLE = np.zeros(max(map(ord, SENTENCE_END)) + 2, dtype=bool)
_SENTENCE_TABLE[[ord(c) for c in SENTENCE_END]] = True
# Costs are counted in integer tenths of a token so that sums never drift past a bound.
_TENTHS = tuple(round(r * 10) for r in (TOKENS_PER_CJK_CHAR, TOKENS_PER_WORD, TOKENS_PER_SYMBOL))


@dataclass(frozen=True)
class ChunkCfg:
    """max_tokens bounds a fragment; overlap_tokens (<= max_tokens/2) repeats the previous tail."""

    max_tokens: int = 512
    overlap_tokens: int = 64
    tokenizer: str | None = None
    heading: str = HEADING

    def __post_init__(self):
        if self.max_tokens < 2:
            raise ValueError(f"ChunkCfg.max_tokens must be >= 2, got {self.max_tokens}")
        if not 0 <= self.overlap_tokens <= self.max_tokens // 2:
            raise ValueError(
                f"ChunkCfg.overlap_tokens must be between 0 and max_tokens/2 ({self.max_tokens // 2}), got {self.overlap_tokens}"
            )
        try:
            re.compile(self.heading)
        except re.error as e:
            raise ValueError(f"ChunkCfg.heading is not a valid regex: {e}") from e


def estimate_tokens_expr(col: str = "text") -> pl.Expr:
    """The seed's token estimate of a text column, vectorised (same rates as `EstimateCounter`)."""
    c = pl.col(col)
    cjk = c.str.count_matches(f"[{CJK}]")
    words = c.str.count_matches(r"[A-Za-z0-9]+")
    symbols = c.str.count_matches(rf"[^\s{CJK}A-Za-z0-9]")
    return (cjk * TOKENS_PER_CJK_CHAR + words * TOKENS_PER_WORD + symbols * TOKENS_PER_SYMBOL).ceil().cast(pl.Int64)


class EstimateCounter:
    """Token units: each CJK char, ASCII letter/digit run or other symbol, with leading whitespace attached."""

    context_free = True  # units of a substring cut at unit boundaries are the units of the whole

    def units(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(starts, costs): unit i covers text[starts[i]:starts[i+1]]; starts[0] == 0; costs in tenths."""
        return self.span_units(text, [(0, len(text))])[0]

    def span_units(self, text: str, spans: list[tuple[int, int]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """`units(text[a:b])` for every span, classifying the text once. Each span must start at 0 or
        right after a newline, so no word runs across its start."""
        cp = _codepoints(text)
        space = (cp <= _MAX_SPACE) & _SPACE_TABLE[np.minimum(cp, _MAX_SPACE)]
        cjk = np.zeros(len(cp), dtype=bool)
        for lo, hi in CJK_RANGES:
            cjk |= (cp >= lo) & (cp <= hi)
        word = ((cp >= 0x30) & (cp <= 0x39)) | ((cp >= 0x41) & (cp <= 0x5A)) | ((cp >= 0x61) & (cp <= 0x7A))
        after_word = np.zeros(len(cp), dtype=bool)
        after_word[1:] = word[:-1]
        heads = np.flatnonzero(~space & ~(word & after_word))  # first char of every non-space unit
        solid = np.flatnonzero(~space)
        before = np.searchsorted(solid, heads) - 1  # the previous non-space char: whitespace after it joins this unit
        all_starts = np.where(before >= 0, solid[np.maximum(before, 0)] + 1, 0)
        all_costs = np.where(cjk[heads], _TENTHS[0], np.where(word[heads], _TENTHS[1], _TENTHS[2])).astype(np.int64)
        out = []
        for a, b in spans:
            i0, i1 = np.searchsorted(heads, [a, b])
            starts, costs = all_starts[i0:i1] - a, all_costs[i0:i1]
            last = np.searchsorted(solid, b) - 1
            tail = solid[last] + 1 - a if last >= 0 and solid[last] >= a else 0
            if len(starts):
                starts[0] = 0  # whitespace before the span's first unit is part of it
            if tail < b - a:  # trailing whitespace (or a blank span) is a unit of its own, cost 0
                starts, costs = np.append(starts, tail), np.append(costs, 0)
            out.append((starts.astype(np.int64), costs))
        return out


class TokenizerCounter:
    """Token units from a `transformers` fast tokenizer: one unit per distinct token start offset."""

    context_free = False  # BPE merges can differ at a cut, so overlaps are measured on the fragment alone

    def __init__(self, path: str):
        from transformers import AutoTokenizer

        try:
            self.tok = AutoTokenizer.from_pretrained(path)
        except Exception as e:
            raise ValueError(f"cannot load tokenizer from {path!r}: {e}") from e
        if not self.tok.is_fast:
            raise ValueError(f"tokenizer at {path!r} is not a fast tokenizer; offsets are needed to cut text")

    def units(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        offsets = self.tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        token_starts = np.array([s for s, e in offsets if e > s] or [0], dtype=np.int64)
        starts, counts = np.unique(np.concatenate([[0], token_starts]), return_counts=True)
        counts[0] -= 1  # the 0 added above is not a token
        return starts, counts * 10


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _counter(cfg: ChunkCfg):
    return TokenizerCounter(cfg.tokenizer) if cfg.tokenizer else EstimateCounter()


def _tail_units(costs: np.ndarray, overlap_tokens: int) -> int:
    """How many trailing units fit in overlap_tokens (never all of them: a fragment must move on)."""
    if overlap_tokens <= 0 or len(costs) < 2:
        return 0
    k = int(np.searchsorted(np.cumsum(costs[::-1]), overlap_tokens * 10, side="right"))
    return min(k, len(costs) - 1)


def overlap_chars(fragment: str, counter, overlap_tokens: int) -> int:
    """How many trailing characters of `fragment` the next fragment repeats."""
    starts, costs = counter.units(fragment)
    k = _tail_units(costs, overlap_tokens)
    return 0 if k == 0 else len(fragment) - int(starts[len(starts) - k])


def _paragraphs(text: str, a: int, b: int) -> list[tuple[int, int]]:
    """Lines of text[a:b]; whitespace-only lines join the next line (or the last, at the end)."""
    spans, start = [], a
    for m in _LINE.finditer(text, a, b):
        if m.group().strip():
            spans.append((start, m.end()))
            start = m.end()
    if not spans:
        return [(a, b)]
    if start < b:
        spans[-1] = (spans[-1][0], b)
    return spans


def _steps(text: str, heading: re.Pattern) -> list[tuple[int, int]]:
    """Spans that start at a heading line; a whitespace-only span joins the next one."""
    cuts = [0]
    for m in _LINE.finditer(text):
        if m.start() > 0 and heading.match(m.group().lstrip()) and text[cuts[-1] : m.start()].strip():
            cuts.append(m.start())
    return list(zip(cuts, cuts[1:] + [len(text)]))


def _fragments(text: str, starts: np.ndarray, costs: np.ndarray, counter, cfg: ChunkCfg) -> list[tuple[int, int]]:
    """Token-bounded spans of a paragraph (given its units); each after the first starts inside its predecessor."""
    budget = cfg.max_tokens * 10
    if costs.sum() <= budget:  # most paragraphs fit in one fragment
        return [(0, len(text))]
    n = len(starts)
    ends = np.append(starts[1:], len(text))
    cum = np.concatenate([[0], np.cumsum(costs)])
    is_sentence_end = _SENTENCE_TABLE[np.minimum(_codepoints(text)[ends - 1], len(_SENTENCE_TABLE) - 1)]
    spans, a, u, floor = [], 0, 0, 0  # char start, unit start, last unit already covered
    while True:
        j = int(np.searchsorted(cum, cum[u] + budget, side="right")) - 1
        j = max(j, u + 1, floor + 1)
        if j >= n:
            spans.append((a, len(text)))
            return spans
        lo = max(floor + 1, int(np.searchsorted(cum, cum[u] + budget // 2, side="left")))
        ok = np.flatnonzero(is_sentence_end[lo - 1 : j]) if lo <= j else []
        k = lo + int(ok[-1]) if len(ok) else j  # units [u, k): end at a sentence if one is late enough
        end = int(ends[k - 1])
        spans.append((a, end))
        if counter.context_free:  # a fragment alone has the same units as in its paragraph
            u = max(k - _tail_units(costs[u:k], cfg.overlap_tokens), u + 1)
            a = int(starts[u])
        else:
            a = end - overlap_chars(text[a:end], counter, cfg.overlap_tokens)
            u = max(int(np.searchsorted(starts, a, side="left")), u + 1)
        floor = k


def chunk_spans(text: str, cfg: ChunkCfg, counter=None) -> list[tuple[int, int, int, int, int]]:
    """(step, paragraph, fragment, start, end) for every fragment of one document, in order."""
    counter = counter or _counter(cfg)
    heading = re.compile(cfg.heading)
    paragraphs = [(s, p, pa, pb) for s, (sa, sb) in enumerate(_steps(text, heading)) for p, (pa, pb) in enumerate(_paragraphs(text, sa, sb))]
    spans = [(pa, pb) for _, _, pa, pb in paragraphs]
    units = counter.span_units(text, spans) if counter.context_free else [counter.units(text[a:b]) for a, b in spans]
    out = []
    for (s, p, pa, pb), (starts, costs) in zip(paragraphs, units):
        for f, (fa, fb) in enumerate(_fragments(text[pa:pb], starts, costs, counter, cfg)):
            out.append((s, p, f, pa + fa, pa + fb))
    return out


def reassemble(fragments: pl.DataFrame, cfg: ChunkCfg) -> str:
    """One document's text from its fragments (any order): each fragment minus its repeated head."""
    counter = _counter(cfg)
    parts, prev_key, prev_text = [], None, ""
    for step, para, text in fragments.sort("step", "paragraph", "fragment").select("step", "paragraph", "text").iter_rows():
        if (step, para) == prev_key:
            parts.append(text[overlap_chars(prev_text, counter, cfg.overlap_tokens) :])
        else:
            parts.append(text)
        prev_key, prev_text = (step, para), text
    return "".join(parts)


def _lang(text: str) -> str:
    cjk = len(re.findall(f"[{CJK}]", text))
    words = len(re.findall(r"[A-Za-z]+", text))
    return "zh" if cjk and cjk >= words else ("en" if words else "und")


@dataclass(frozen=True)
class Chunked:
    """One batch of documents: their fragments, and the documents that gave none (with a reason)."""

    chunks: pl.DataFrame
    dropped: pl.DataFrame
    n_docs: int


def _patent(doc_id: str, meta: dict) -> str:
    return str(meta.get("patent_number") or doc_id)


def _has_text(text: str | None) -> bool:
    return bool(text and text.strip())


def later_copies(batches: Iterable[pl.DataFrame]) -> dict[str, str]:
    """doc_id -> patent number of every document (with text) whose patent an earlier document of the
    partition already has: the copies chunking drops, found in one pass over `doc_id`, `meta` and
    `text` so that every batch can then be chunked on its own (on any worker). Holds the patent
    numbers seen; returns only the copies. Document ids are unique within a partition (ingest)."""
    seen: set[str] = set()
    copies: dict[str, str] = {}
    for batch in batches:
        for doc_id, meta, text in zip(batch["doc_id"], batch["meta"], batch["text"]):
            if not _has_text(text):
                continue
            patent = _patent(doc_id, json.loads(meta) if meta else {})
            if patent in seen:
                copies[doc_id] = patent
            seen.add(patent)
    return copies


class Chunker:
    """Chunks `raw_documents`-shaped batches; drops `copies` (from `later_copies` over the whole partition)
    so ids stay unique per partition. A batch step: batches are independent, so any engine maps it.

    Patent fields come from `meta` (patent_number, jurisdiction, pub_date, page_starts); without
    them the document id stands in for the patent number and the partition date for pub_date.
    """

    def __init__(self, cfg: ChunkCfg = ChunkCfg(), copies: Mapping[str, str] | None = None):
        self.cfg = cfg
        self.copies = dict(copies or {})

    @cached_property
    def counter(self):
        return _counter(self.cfg)

    def __call__(self, docs: pl.DataFrame) -> Split:
        """Fragments are the kept rows; kept and dropped count documents (`kept_in`)."""
        out = self.chunk(docs)
        return Split(kept=out.chunks, dropped=out.dropped, kept_in=out.n_docs - out.dropped.height)

    def chunk(self, docs: pl.DataFrame) -> Chunked:
        rows: dict[str, list] = {k: [] for k in CHUNK_SCHEMA}
        dropped: list[tuple[int, str]] = []
        for i, d in enumerate(docs.iter_rows(named=True)):
            meta = json.loads(d["meta"]) if d.get("meta") else {}
            patent = _patent(d["doc_id"], meta)
            if not _has_text(d["text"]):
                dropped.append((i, "no_text"))
                continue
            if d["doc_id"] in self.copies:
                dropped.append((i, f"duplicate_patent: {patent}"))
                continue
            juris = meta.get("jurisdiction") or (patent[:2] if patent[:2].isalpha() and patent[:2].isupper() else None)
            pub_date = meta.get("pub_date") or (d["date"].isoformat() if d.get("date") else None)
            pages = meta.get("page_starts")
            for s, p, f, a, b in chunk_spans(d["text"], self.cfg, self.counter):
                text = d["text"][a:b]
                row = (
                    f"{patent}-step{s}-{p}-{f}", patent, juris, d.get("title"), s, p, f, text, _lang(text),
                    pub_date, d["source"], bisect.bisect_right(pages, a) if pages else None,
                    "sha1:" + hashlib.sha1(text.encode("utf-8")).hexdigest(),
                )  # fmt: skip
                for k, v in zip(CHUNK_SCHEMA, row):
                    rows[k].append(v)
        schema = {**CHUNK_SCHEMA, "pub_date": pl.String}
        chunks = pl.DataFrame(rows, schema=schema).with_columns(pl.col("pub_date").str.to_date(strict=False))
        idx, reasons = zip(*dropped) if dropped else ((), ())
        bad = docs[list(idx)].with_columns(pl.Series("reason", list(reasons), dtype=pl.String))
        return Chunked(chunks=chunks, dropped=bad, n_docs=docs.height)
