"""NFKC for a whole batch in numba, with Python's unicodedata for the documents it cannot prove.

unicodedata.normalize("NFKC") costs ~80 us for a 1,000-character Chinese page (full-width
punctuation takes its slow path): more than everything else in dedup together. But for most text
NFKC is a per-character map. A character c is "local" when the first character of NFKD(c) is a
starter (combining class 0) that cannot be the second half of a canonical composition. In a
string of local characters nothing reorders or composes across character boundaries (reordering
stops at starters; composition needs a second half), so NFKC(s) = concat(NFKC(c) for c in s).
Documents holding any other character (combining marks, Hangul jamo, rare planes) are normalised
by Python instead. tests/test_dedup_signatures.py checks the result against unicodedata.
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit

TABLE_SIZE = 0x30000  # planes 0-2; anything above goes to Python
_HANGUL_SECOND = [(0x1161, 0x1175), (0x11A8, 0x11C2)]  # jamo that compose algorithmically


@lru_cache(maxsize=1)
def nfkc_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(local bool [TABLE_SIZE], offsets int64 [TABLE_SIZE + 1], code points uint32): NFKC of
    character c is data[offsets[c]:offsets[c + 1]] when local[c] (built once per process, ~0.3 s)."""
    second = {lo + i for lo, hi in _HANGUL_SECOND for i in range(hi - lo + 1)}
    decompositions = [unicodedata.decomposition(chr(c)) for c in range(TABLE_SIZE)]
    for d in decompositions:
        if d and d[0] != "<" and d.count(" ") == 1:
            second.add(int(d.split()[1], 16))
    local = np.zeros(TABLE_SIZE, dtype=np.bool_)
    offsets = np.zeros(TABLE_SIZE + 1, dtype=np.int64)
    data: list[int] = []
    for c in range(TABLE_SIZE):
        offsets[c] = len(data)
        ch = chr(c)
        if 0xD800 <= c <= 0xDFFF or c in second:
            continue
        if not decompositions[c]:  # NFKD(c) == c
            if not unicodedata.combining(ch):
                local[c] = True
                data.append(c)
            continue
        first = unicodedata.normalize("NFKD", ch)[0]
        if not unicodedata.combining(first) and ord(first) not in second:
            local[c] = True
            data.extend(map(ord, unicodedata.normalize("NFKC", ch)))
    offsets[TABLE_SIZE] = len(data)
    return local, offsets, np.array(data, dtype=np.uint32)


def utf8_buffers(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes as uint8, int64 offsets) of a string column, straight from Arrow (null -> "")."""
    arr = texts.fill_null("").to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.large_string())
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data, offsets


def nfkc_code_points(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """NFKC code points (uint32) of every text, concatenated, and their int64 offsets."""
    data, offsets = utf8_buffers(texts)
    local, table_off, table_data = nfkc_table()
    n_docs = offsets.shape[0] - 1
    lengths = np.empty(n_docs, dtype=np.int64)
    _mapped_lengths(data, offsets, local, table_off, lengths)
    slow = np.flatnonzero(lengths < 0)
    slow_cps = [np.frombuffer(unicodedata.normalize("NFKC", texts[int(i)]).encode("utf-32-le"), dtype=np.uint32) for i in slow]
    for i, cps in zip(slow, slow_cps):
        lengths[i] = cps.shape[0]
    out_off = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(lengths, out=out_off[1:])
    out = np.empty(out_off[-1], dtype=np.uint32)
    is_slow = np.zeros(n_docs, dtype=np.bool_)
    is_slow[slow] = True
    _map(data, offsets, is_slow, table_off, table_data, out_off, out)
    for i, cps in zip(slow, slow_cps):
        out[out_off[i] : out_off[i + 1]] = cps
    return out, out_off


@njit(inline="always")
def next_code_point(data, i):
    """(code point, byte length) of the valid UTF-8 sequence at data[i]."""
    c = np.uint32(data[i])
    if c < 0x80:
        return c, 1
    if c < 0xE0:
        return ((c & 0x1F) << 6) | (np.uint32(data[i + 1]) & 0x3F), 2
    if c < 0xF0:
        return ((c & 0x0F) << 12) | ((np.uint32(data[i + 1]) & 0x3F) << 6) | (np.uint32(data[i + 2]) & 0x3F), 3
    return (
        ((c & 0x07) << 18) | ((np.uint32(data[i + 1]) & 0x3F) << 12)
        | ((np.uint32(data[i + 2]) & 0x3F) << 6) | (np.uint32(data[i + 3]) & 0x3F)
    ), 4


@njit(nogil=True, cache=True)
def _mapped_lengths(data, offsets, local, table_off, lengths):
    """NFKC length of each document, or -1 if it holds a non-local character."""
    for d in range(offsets.shape[0] - 1):
        i, n = offsets[d], 0
        while i < offsets[d + 1]:
            c, size = next_code_point(data, i)
            i += size
            if c >= TABLE_SIZE or not local[c]:
                n = -1
                break
            n += table_off[c + 1] - table_off[c]
        lengths[d] = n


@njit(nogil=True, cache=True)
def _map(data, offsets, is_slow, table_off, table_data, out_off, out):
    for d in range(offsets.shape[0] - 1):
        if is_slow[d]:
            continue
        i, w = offsets[d], out_off[d]
        while i < offsets[d + 1]:
            c, size = next_code_point(data, i)
            i += size
            for j in range(table_off[c], table_off[c + 1]):
                out[w] = table_data[j]
                w += 1
