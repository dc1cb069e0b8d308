"""Gopher's repetition features (Rae et al. 2021, table A1) for Chinese and English in one pass.

A token is a Han character or a run of other non-space characters (an English word), so Chinese is
measured character by character and English word by word, and mixed text needs no language id.
Per document the kernel returns its tokens and, in characters of tokens (spaces not counted):
- paragraphs (runs of non-blank lines) and the repeated ones, by count and by characters;
- for n = 2..4, the characters of the most frequent n-gram times its count (`top_ngram`);
- for n = 5..10, the characters covered by n-gram occurrences seen before in the same document
  (`dup_ngram`; overlapping occurrences are counted once per token, datatrove's skip-ahead is not).

It runs in numba over the code points of a whole batch (the same buffer `char_counts` builds),
one open-addressing hash table per document and n: a Python Counter per n-gram is 50x slower.
"""
from __future__ import annotations

import numpy as np
import polars as pl
from numba import njit, prange

TOP_NS = (2, 3, 4)
DUP_NS = (5, 6, 7, 8, 9, 10)
COLUMNS = (
    "_tokens",
    "_tok_chars",
    "_paras",
    "_dup_paras",
    "_para_chars",
    "_dup_para_chars",
    *(f"_top_{n}gram_chars" for n in TOP_NS),
    *(f"_dup_{n}gram_chars" for n in DUP_NS),
)
N_COLUMNS = len(COLUMNS)
_FNV = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)


@njit(nogil=True, cache=True)
def _table_insert(keys, counts, key, shift):
    """Insert `key` (never 0, already mixed) into an open-addressing table of 2**(64 - shift)
    slots, starting at its top bits; return its count after the insert."""
    mask = keys.size - 1
    i = np.int64(key >> shift)
    while True:
        if keys[i] == key:
            counts[i] += 1
            return counts[i]
        if keys[i] == 0:
            keys[i] = key
            counts[i] = 1
            return 1
        i = (i + 1) & mask


@njit(nogil=True, cache=True)
def _tokens(cps, cls, start, end, space, han):
    """Hash, length (characters) and line number of each token of cps[start:end]."""
    n = end - start
    hashes = np.empty(n, np.uint64)
    lens = np.empty(n, np.int64)
    line_of = np.empty(n, np.int64)
    m, line, in_tok = 0, 0, False
    for j in range(start, end):
        c = cls[j]
        if cps[j] == 10:
            line += 1
        if c == space:
            in_tok = False
            continue
        if in_tok and c != han:
            hashes[m - 1] = (hashes[m - 1] ^ np.uint64(cps[j])) * _FNV
            lens[m - 1] += 1
            continue
        hashes[m] = (np.uint64(0xCBF29CE484222325) ^ np.uint64(cps[j])) * _FNV
        lens[m] = 1
        line_of[m] = line
        m += 1
        in_tok = c != han
    return hashes[:m], lens[:m], line_of[:m]


@njit(nogil=True, cache=True)
def _paragraphs(hashes, lens, line_of, out):
    """Paragraph counts: a paragraph is a run of consecutive lines with tokens (a blank line ends
    it); its key chains its tokens' hashes and line breaks."""
    m = hashes.size
    keys, counts, shift = _table(m)
    t = 0
    while t < m:
        key, chars, prev = np.uint64(0), 0, line_of[t]
        while t < m and line_of[t] - prev <= 1:
            key = (key ^ hashes[t]) * _MIX + np.uint64(line_of[t] - prev)
            prev = line_of[t]
            chars += lens[t]
            t += 1
        out[2] += 1
        out[4] += chars
        if _table_insert(keys, counts, key * _MIX | np.uint64(1), shift) > 1:
            out[3] += 1
            out[5] += chars


@njit(nogil=True, cache=True)
def _table(m):
    """An empty table with at least twice `m` slots, and the shift that maps a key to a slot."""
    bits = 4
    while (1 << bits) < 2 * m + 2:
        bits += 1
    return np.zeros(1 << bits, np.uint64), np.zeros(1 << bits, np.int32), np.uint64(64 - bits)


@njit(nogil=True, cache=True)
def _ngrams(hashes, lens, out, min_tokens):
    """Top n-gram characters (n = 2..4) and duplicated n-gram characters (n = 5..10), for
    documents of at least `min_tokens` tokens (the rules do not judge shorter ones). Once no
    n-gram repeats, no longer one can: the passes stop there."""
    m = hashes.size
    cum = np.zeros(m + 1, np.int64)
    for t in range(m):
        cum[t + 1] = cum[t] + lens[t]
    out[0] = m
    out[1] = cum[m]
    if m < min_tokens:
        return
    gram = hashes.copy()
    keys, counts, shift = _table(m)
    for n in range(2, 11):
        k = m - n + 1
        if k <= 0 or (n >= 6 and out[9 + n - 6] == 0):
            break
        keys[:] = 0
        best, covered_to, dup_chars = 0, 0, 0
        for i in range(k):
            gram[i] = (gram[i] * _MIX) ^ hashes[i + n - 1]
            seen = _table_insert(keys, counts, gram[i] | np.uint64(1), shift)
            chars = cum[i + n] - cum[i]
            if n <= 4 and seen * chars > best:
                best = seen * chars
            if n >= 5 and seen > 1:
                dup_chars += cum[i + n] - cum[max(i, covered_to)]
                covered_to = i + n
        if n <= 4:
            out[6 + n - 2] = best
        else:
            out[9 + n - 5] = dup_chars


@njit(parallel=True, nogil=True, cache=True)
def _features(cps, cls, offsets, space, han, min_tokens):
    n_docs = offsets.size - 1
    out = np.zeros((n_docs, N_COLUMNS), np.int64)
    for d in prange(n_docs):
        hashes, lens, line_of = _tokens(cps, cls, offsets[d], offsets[d + 1], space, han)
        _ngrams(hashes, lens, out[d], min_tokens)
        _paragraphs(hashes, lens, line_of, out[d])
    return out


def repetition_features(codes: np.ndarray, classes: np.ndarray, lens: np.ndarray, space: int, han: int, min_tokens: int = 0) -> pl.DataFrame:
    """`COLUMNS` per document from the code points of a batch (`codes`), their character classes
    and each document's length in characters; n-gram columns stay 0 under `min_tokens` tokens."""
    offsets = np.zeros(lens.size + 1, np.int64)
    np.cumsum(lens, out=offsets[1:])
    out = _features(codes, classes, offsets, np.uint8(space), np.uint8(han), min_tokens)
    return pl.DataFrame(out, schema=list(COLUMNS), orient="row")
