"""Exact verification of candidate pairs: Jaccard of the two documents' shingle sets, batched.

A document's set is its sorted unique shingle hashes, computed by the signer's own kernel
(`minhash._shingle_hashes`: same normalisation, units and 32-bit hash), so the exact check
measures precisely the set whose Jaccard the MinHash signature estimates. Sets of the documents
that need them are computed by read tasks, each appending its sets to a part file of its own
(values of set after set); `SetIndex` says, for every candidate document, which part holds its
set, where and how long. Pairs are checked in chunks: a chunk gathers only the sets its pairs
name, from the part files (memory-mapped, or byte ranges on s3://), so a task holds the sets of
its own pairs, never all of them, and no file is copied through one process.

Sets of 32-bit hashes: two distinct shingles share a hash with probability 2**-32, so two
documents of m shingles each see about m**2 / 2**32 collisions (~2e-4 for m = 1,000), each
moving their Jaccard by about 1/m; negligible next to any threshold.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import polars as pl
from numba import njit

from .config import DedupCfg
from corpus_dag.engine import LOCAL_THREADS, in_order

from .minhash import _shingle_hashes
from .nfkc import nfkc_code_points


def shingle_sets(texts: pl.Series, cfg: DedupCfg) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique shingle hashes of every text, back to back as uint32; int64 set sizes)."""
    cps, offsets = nfkc_code_points(texts)
    values = np.empty(cps.shape[0], dtype=np.uint32)  # a document has at most one shingle per code point
    lengths = np.zeros(offsets.shape[0] - 1, dtype=np.int64)
    used = _sorted_sets(cps, offsets, cfg.n, cfg.shingle == "word", values, lengths)
    return values[:used], lengths


PAIRS_PER_CHUNK = 1 << 20  # pairs whose sets are gathered at once: memory follows the chunk, not the corpus
# Reads the sets at (offsets, lengths) of one part file, in that order, back to back as uint32.
Fetch = Callable[[int, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SetIndex:
    """Where each candidate document's set lies: gids (sorted), the part file, the offset (in
    values) within it, the set size. Its size follows the candidates, not the corpus."""

    gids: np.ndarray
    part: np.ndarray
    offset: np.ndarray
    length: np.ndarray

    @classmethod
    def of(cls, written: Sequence[tuple[np.ndarray, np.ndarray]]) -> SetIndex:
        """The index of part files written one each, as `write_shingle_sets` returned (gids, set sizes)
        for part k; a document found twice keeps the later part's set."""
        gids = np.concatenate([np.empty(0, np.int64), *(g for g, _ in written)])
        length = np.concatenate([np.empty(0, np.int64), *(n for _, n in written)])
        offset = np.concatenate([np.empty(0, np.int64), *(np.cumsum(n) - n for _, n in written)])
        part = np.concatenate([np.empty(0, np.int32), *(np.full(len(g), k, np.int32) for k, (g, _) in enumerate(written))])
        order = np.argsort(gids, kind="stable")
        last = np.append(gids[order][1:] != gids[order][:-1], True)[: len(gids)]  # the later of equal gids
        keep = order[last]
        return cls(gids[keep], part[keep], offset[keep], length[keep])

    def positions(self, gids: np.ndarray) -> np.ndarray:
        """Each gid's row in the index; ValueError for a gid without a set."""
        pos = np.searchsorted(self.gids, gids)
        found = pos < len(self.gids)
        found[found] = self.gids[pos[found]] == gids[found]
        if not found.all():
            raise ValueError(f"exact Jaccard asked for {int((~found).sum())} documents whose shingle set was not computed")
        return pos

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        np.savez(out, gids=self.gids, part=self.part, offset=self.offset, length=self.length)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> SetIndex:
        z = np.load(io.BytesIO(data))
        return cls(z["gids"], z["part"], z["offset"], z["length"])


@dataclass(frozen=True)
class ShingleSets:
    """Shingle sets of the candidate documents, by gid: `index` says where, `fetch` reads them."""

    index: SetIndex
    fetch: Fetch

    def jaccard(self, a: np.ndarray, b: np.ndarray, chunk: int = PAIRS_PER_CHUNK) -> np.ndarray:
        """Exact Jaccard of the sets of a[i] and b[i] (1.0 for two empty sets, as `apply.exact_jaccard`)."""
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        out = np.ones(len(a))
        for lo in range(0, len(a), chunk):
            aa, bb = a[lo : lo + chunk], b[lo : lo + chunk]
            need = np.unique(np.concatenate([aa, bb]))
            values, starts, lengths = self._gather(need)
            la, lb = np.searchsorted(need, aa), np.searchsorted(need, bb)
            inter = np.empty(len(aa), dtype=np.int64)
            _intersections(values, starts, lengths, la, lb, inter)
            union = lengths[la] + lengths[lb] - inter
            out[lo : lo + chunk] = np.divide(inter, union, out=np.ones(len(aa)), where=union > 0)
        return out

    def _gather(self, need: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sets of `need` (sorted gids) back to back, read part by part; (values, starts, lengths) by position in `need`."""
        pos = self.index.positions(need)
        part, lengths = self.index.part[pos], self.index.length[pos]
        starts, pieces, at = np.empty(len(need), dtype=np.int64), [np.empty(0, np.uint32)], 0
        for k in np.unique(part):
            sel = np.flatnonzero(part == k)
            pieces.append(self.fetch(int(k), self.index.offset[pos[sel]], lengths[sel]))
            starts[sel] = at + np.cumsum(lengths[sel]) - lengths[sel]
            at += int(lengths[sel].sum())
        return np.concatenate(pieces), starts, lengths


def write_shingle_sets(
    batches: Iterable[tuple[np.ndarray, pl.Series]], cfg: DedupCfg, out: BinaryIO, threads: int = LOCAL_THREADS
) -> tuple[np.ndarray, np.ndarray]:
    """Shingle sets of (gids, texts) batches appended to the binary file `out`, back to back;
    (gids, set sizes) in the order written. `threads` batches in flight (the kernels release the GIL)."""
    gids, sizes = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    for batch_gids, (values, lengths) in in_order(lambda batch: (batch[0], shingle_sets(batch[1], cfg)), batches, threads):
        out.write(values.tobytes())
        gids.append(np.asarray(batch_gids, dtype=np.int64))
        sizes.append(lengths)
    return np.concatenate(gids), np.concatenate(sizes)


def mapped_fetch(paths: Sequence[str | Path]) -> Fetch:
    """`Fetch` over local part files (paths[k]), memory-mapped: only the pages of the sets read."""

    def fetch(k: int, offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        if not lengths.sum():
            return np.empty(0, dtype=np.uint32)
        values = np.memmap(paths[k], dtype=np.uint32, mode="r")
        return _spans(values, offsets, lengths)

    return fetch


def in_memory_fetch(values: np.ndarray) -> Fetch:
    """`Fetch` over one part held in memory (the sets of a single `shingle_sets` call)."""
    return lambda _k, offsets, lengths: _spans(values, offsets, lengths)


def ranged_fetch(fs, paths: Sequence[str]) -> Fetch:
    """`Fetch` over part files on an fsspec filesystem (s3://): one byte range per run of adjacent sets."""

    def fetch(k: int, offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        order = np.argsort(offsets, kind="stable")
        lo, hi = offsets[order], offsets[order] + lengths[order]
        new_run = np.append(True, lo[1:] != hi[:-1])
        run_lo, run_hi = lo[new_run], np.maximum.reduceat(hi, np.flatnonzero(new_run)) if len(lo) else hi
        read = run_hi > run_lo  # a run of empty sets reads nothing (S3 refuses an empty range)
        blobs = iter(fs.cat_ranges([paths[k]] * int(read.sum()), (4 * run_lo[read]).tolist(), (4 * run_hi[read]).tolist(),
                                   on_error="raise") if read.any() else [])
        merged = np.frombuffer(b"".join(next(blobs) if r else b"" for r in read), dtype=np.uint32)
        first = np.cumsum(run_hi - run_lo) - (run_hi - run_lo)  # where each run starts in `merged`
        run_of = np.cumsum(new_run) - 1
        in_merged = first[run_of] + (lo - run_lo[run_of])  # each set's start in `merged`, in offset order
        starts = np.empty(len(offsets), dtype=np.int64)
        starts[order] = in_merged
        return _spans(merged, starts, lengths)

    return fetch


def _spans(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """values[starts[i] : starts[i] + lengths[i]] of every span, back to back."""
    out = np.empty(int(lengths.sum()), dtype=np.uint32)
    _copy_spans(values, np.asarray(starts, dtype=np.int64), np.asarray(lengths, dtype=np.int64), out)
    return out


@njit(nogil=True, cache=True)
def _copy_spans(values, starts, lengths, out):
    w = 0
    for i in range(starts.shape[0]):
        out[w : w + lengths[i]] = values[starts[i] : starts[i] + lengths[i]]
        w += lengths[i]


@njit(nogil=True, cache=True)
def _sorted_sets(src, offsets, n, words, values, lengths):
    """Sorted unique shingle hashes of each document into `values`, back to back; returns the total."""
    w = 0
    for d in range(offsets.shape[0] - 1):
        unique = np.unique(_shingle_hashes(src, offsets[d], offsets[d + 1], n, words))
        values[w : w + unique.shape[0]] = unique
        lengths[d] = unique.shape[0]
        w += unique.shape[0]
    return w


@njit(nogil=True, cache=True)
def _intersections(values, starts, lengths, a, b, out):
    """out[k] = size of the intersection of the sorted sets of a[k] and b[k] (one merge pass)."""
    for k in range(a.shape[0]):
        i, i_end = starts[a[k]], starts[a[k]] + lengths[a[k]]
        j, j_end = starts[b[k]], starts[b[k]] + lengths[b[k]]
        inter = 0
        while i < i_end and j < j_end:
            x, y = values[i], values[j]
            if x == y:
                inter += 1
                i += 1
                j += 1
            elif x < y:
                i += 1
            else:
                j += 1
        out[k] = inter
