"""Word blocklists per language, matched with one Aho-Corasick automaton over a whole batch.

Text and list entries are NFKC-normalised (full-width -> half-width) and lower-cased first, so
`ＦＵＣＫ`, `Fuck` and `fuck` are one word. The automaton finds every occurrence of every listed
word (overlapping, so a rejected occurrence never hides another); a hit then has to sit on word
boundaries:
- Chinese lists (`zh`): its start and end must both be jieba token boundaries, so a listed word
  across or inside unrelated words does not fire (球吧 in 我们去/打球/吧).
  Only the text around candidate hits is segmented: jieba cuts a text in blocks of
  `JIEBA_BLOCK` characters independently, so segmenting the block that holds a hit gives the
  same tokens as segmenting the whole document, at a tiny fraction of the cost.
- every other list: the characters before and after must not be Latin letters or digits.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl

from corpus_dag.dedup.nfkc import TABLE_SIZE, nfkc_code_points
from corpus_dag.safety.lists import ListFile, word_entries

SEGMENTED_LANGS = ("zh",)  # lists matched on jieba token boundaries
JIEBA_BLOCK = re.compile(r"[\u4E00-\u9FD5a-zA-Z0-9+#&._%\-]")  # jieba's re_han_default, one character


@lru_cache(maxsize=1)
def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower-case map, Latin-letter-or-digit flag, jieba-block flag) per code point below TABLE_SIZE."""
    lower = np.arange(TABLE_SIZE, dtype=np.uint32)
    alnum = np.zeros(TABLE_SIZE, np.bool_)
    block = np.zeros(TABLE_SIZE, np.bool_)
    for cp in range(TABLE_SIZE):
        ch = chr(cp)
        low = ch.lower()
        if len(low) == 1:
            lower[cp] = ord(low)
        alnum[cp] = ch.isalnum() and not ("\u2e80" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\uf900" <= ch <= "\ufaff")
        block[cp] = JIEBA_BLOCK.match(ch) is not None
    return lower, alnum, block


def _lookup(table: np.ndarray, cps: np.ndarray, default) -> np.ndarray:
    inside = cps < TABLE_SIZE
    return np.where(inside, table[np.where(inside, cps, 0)], default)


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

            self._automaton = ahocorasick_rs.AhoCorasick(self.words, matchkind=ahocorasick_rs.MatchKind.Standard)

    def __len__(self) -> int:
        return len(self.words)

    def scan(self, texts: pl.Series, max_words: int = 5) -> Hits:
        """Hits per document of `texts` (matched on their NFKC, lower-cased form)."""
        cps, offsets = nfkc_code_points(texts)
        lower, alnum, block = _tables()
        cps = _lookup(lower, cps, cps).astype(np.uint32)
        chars = np.diff(offsets)
        n = texts.len()
        if self._automaton is None or cps.size == 0:
            return Hits(np.zeros(n, np.int64), chars, [[] for _ in range(n)])
        found = np.array(self._automaton.find_matches_as_indexes(cps.tobytes().decode("utf-32-le"), overlapping=True), np.int64).reshape(-1, 3)
        word, start, end = found[:, 0], found[:, 1], found[:, 2]
        doc = np.searchsorted(offsets, start, side="right") - 1
        ok = end <= offsets[doc + 1]  # the batch is one haystack: no hit may span two documents
        ok &= self._latin_boundaries(cps, offsets, doc, start, end, alnum) | self.segmented[word]
        seg = ok & self.segmented[word]
        if seg.any():
            ok[seg] = self._jieba_boundaries(cps, offsets, doc[seg], start[seg], end[seg], block)
        return self._per_doc(n, chars, doc[ok], word[ok], max_words)

    @staticmethod
    def _latin_boundaries(cps, offsets, doc, start, end, alnum) -> np.ndarray:
        before = np.where(start > offsets[doc], _lookup(alnum, cps[np.maximum(start - 1, 0)], False), False)
        after = np.where(end < offsets[doc + 1], _lookup(alnum, cps[np.minimum(end, cps.size - 1)], False), False)
        return ~before & ~after

    @staticmethod
    def _jieba_boundaries(cps, offsets, doc, start, end, block) -> np.ndarray:
        """Whether each hit starts and ends on a token boundary of jieba's cut of its block."""
        breaks = np.flatnonzero(~_lookup(block, cps, False))
        at = np.searchsorted(breaks, start)
        lo = np.maximum(np.where(at > 0, breaks[np.maximum(at - 1, 0)] + 1, 0), offsets[doc])
        hi = np.minimum(np.where(at < breaks.size, breaks[np.minimum(at, breaks.size - 1)], cps.size), offsets[doc + 1])
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
