"""Word blocklists per language, matched with one Aho-Corasick automaton over a whole batch.

Text and list entries are NFKC-normalised (full-width -> half-width) and lower-cased first, so
`ＦＵＣＫ`, `Fuck` and `fuck` are one word. The automaton finds every occurrence of every listed
word (overlapping, so a rejected occurrence never hides another); a hit then has to sit on word
boundaries:
- Chinese lists (`zh`): its start and end must both be jieba token boundaries, so a listed word
  across or inside unrelated words does not fire (球吧 in 我们去/打球/吧).
  Only the text around candidate hits is segmented: jieba cuts a text in blocks of
  `JIEBA_BLOCK` characters independently, so the block that holds a hit, clipped to
  `JIEBA_WINDOW` characters either side of it, is segmented (jieba's best route through a
  sentence seldom changes that far from where it is cut; a block that fits is cut whole, exactly
  as in the full document). Segmenting whole documents would cost ~1 MB/s.
- every other list: the characters before and after must not be Latin letters or digits.
"""
from __future__ import annotations

import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl

from corpus_dag.dedup.nfkc import TABLE_SIZE, nfkc_code_points
from corpus_dag.safety.lists import ListFile, word_entries

SEGMENTED_LANGS = ("zh",)  # lists matched on jieba token boundaries
JIEBA_BLOCK = re.compile(r"[\u4E00-\u9FD5a-zA-Z0-9+#&._%\-]")  # jieba's re_han_default, one character
JIEBA_WINDOW = 12
THREADS = os.cpu_count() or 2


@lru_cache(maxsize=1)
def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower-case map, Latin-letter-or-digit flag, jieba-block flag) for every code point, so a
    batch is mapped by plain indexing; planes above TABLE_SIZE (rare CJK extensions) map to
    themselves and count as neither."""
    lower = np.arange(0x110000, dtype=np.uint32)
    alnum = np.zeros(0x110000, np.bool_)
    block = np.zeros(0x110000, np.bool_)
    for cp in range(TABLE_SIZE):
        ch = chr(cp)
        low = ch.lower()
        if len(low) == 1:
            lower[cp] = ord(low)
        alnum[cp] = ch.isalnum() and not ("\u2e80" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\uf900" <= ch <= "\ufaff")
        block[cp] = JIEBA_BLOCK.match(ch) is not None
    return lower, alnum, block


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.dt.initialize()
    return jieba.dt


@dataclass(frozen=True)
class Hits:
    """Per document: the number of word hits, its normalised length, the first distinct words hit."""

    counts: np.ndarray
    chars: np.ndarray
    first_words: list[list[str]]


class WordBlocklist:
    """The words of every list; `scan` counts their hits per document of a batch."""

    def __init__(self, lists: dict[str, list[ListFile]]):
        self.lists: list[tuple[str, str, int]] = []  # (lang, file name, entries)
        words, origin = {}, []
        for lang, files in lists.items():
            for f in files:
                entries = word_entries(f).to_list()
                self.lists.append((lang, f.name, len(entries)))
                for w in entries:
                    if w not in words:
                        words[w] = len(origin)
                        origin.append((w, f.name, lang in SEGMENTED_LANGS))
        self.words = [w for w, _, _ in origin]
        self.list_of = [name for _, name, _ in origin]
        self.segmented = np.array([seg for _, _, seg in origin], np.bool_)
        self._automaton = None
        if self.words:
            import ahocorasick_rs

            # Over UTF-8 bytes: 1.7x the speed of matching a str (no byte -> character offsets inside)
            self._automaton = ahocorasick_rs.BytesAhoCorasick([w.encode() for w in self.words], matchkind=ahocorasick_rs.MatchKind.Standard)

    def __len__(self) -> int:
        return len(self.words)

    def scan(self, texts: pl.Series, max_words: int = 5) -> Hits:
        """Hits per document of `texts` (matched on their NFKC, lower-cased form)."""
        cps, offsets = nfkc_code_points(texts)
        lower, alnum, block = _tables()
        cps = lower[cps]
        chars = np.diff(offsets)
        n = texts.len()
        if self._automaton is None or cps.size == 0:
            return Hits(np.zeros(n, np.int64), chars, [[] for _ in range(n)])
        found = self._search(cps, offsets)
        word, start, end = found[:, 0], found[:, 1], found[:, 2]
        doc = np.searchsorted(offsets, start, side="right") - 1
        ok = end <= offsets[doc + 1]  # the batch is one haystack: no hit may span two documents
        ok &= self._latin_boundaries(cps, offsets, doc, start, end, alnum) | self.segmented[word]
        seg = ok & self.segmented[word]
        if seg.any():
            ok[seg] = self._jieba_boundaries(cps, offsets, doc[seg], start[seg], end[seg], block)
        return self._per_doc(n, chars, doc[ok], word[ok], max_words)

    def _search(self, cps: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(word, start, end) in characters of every occurrence, one thread per slice of documents
        (the automaton releases the GIL while it matches `bytes`)."""
        n_docs = offsets.size - 1
        bounds = offsets[np.linspace(0, n_docs, min(THREADS, n_docs) + 1).astype(np.int64)]

        def one(lo: int, hi: int) -> np.ndarray:
            piece = cps[lo:hi]
            data = piece.tobytes().decode("utf-32-le").encode("utf-8")
            found = np.array(self._automaton.find_matches_as_indexes(data, overlapping=True), np.int64).reshape(-1, 3)
            if found.size:  # UTF-8 byte offsets -> character offsets (every match starts and ends on a character)
                starts = np.zeros(piece.size + 1, np.int64)
                np.cumsum(1 + (piece >= 0x80) + (piece >= 0x800) + (piece >= 0x10000), out=starts[1:])
                found[:, 1:] = np.searchsorted(starts, found[:, 1:])
            return found + np.array([0, lo, lo])

        with ThreadPoolExecutor(len(bounds) - 1) as pool:
            return np.concatenate(list(pool.map(one, bounds[:-1].tolist(), bounds[1:].tolist())))

    @staticmethod
    def _latin_boundaries(cps, offsets, doc, start, end, alnum) -> np.ndarray:
        before = (start > offsets[doc]) & alnum[cps[np.maximum(start - 1, 0)]]
        after = (end < offsets[doc + 1]) & alnum[cps[np.minimum(end, cps.size - 1)]]
        return ~before & ~after

    @staticmethod
    def _jieba_boundaries(cps, offsets, doc, start, end, block) -> np.ndarray:
        """Whether each hit starts and ends on a token boundary of jieba's cut of its (clipped) block."""
        breaks = np.flatnonzero(~block[cps])
        at = np.searchsorted(breaks, start)
        lo = np.maximum(np.where(at > 0, breaks[np.maximum(at - 1, 0)] + 1, 0), np.maximum(offsets[doc], start - JIEBA_WINDOW))
        hi = np.minimum(np.where(at < breaks.size, breaks[np.minimum(at, breaks.size - 1)], cps.size), np.minimum(offsets[doc + 1], end + JIEBA_WINDOW))
        cut, bounds = _jieba(), {}
        ok = np.zeros(start.size, np.bool_)
        for i, (b0, b1, s, e) in enumerate(zip(lo.tolist(), hi.tolist(), start.tolist(), end.tolist())):
            if (b0, b1) not in bounds:
                pos, edges = b0, {b0}
                for token in cut.cut(cps[b0:b1].tobytes().decode("utf-32-le"), HMM=True):
                    pos += len(token)
                    edges.add(pos)
                bounds[(b0, b1)] = edges
            ok[i] = s in bounds[(b0, b1)] and e in bounds[(b0, b1)]
        return ok

    def _per_doc(self, n: int, chars: np.ndarray, doc: np.ndarray, word: np.ndarray, max_words: int) -> Hits:
        counts = np.bincount(doc, minlength=n)
        first: list[list[str]] = [[] for _ in range(n)]
        for d, w in zip(doc.tolist(), word.tolist()):  # hits come in text order
            words = first[d]
            label = f"{self.words[w]} ({self.list_of[w]})"
            if len(words) < max_words and label not in words:
                words.append(label)
        return Hits(counts, chars, first)
