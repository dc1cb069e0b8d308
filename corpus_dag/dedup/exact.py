"""Exact verification of candidate pairs: Jaccard of the two documents' shingle sets, batched.

A document's set is its sorted unique shingle hashes, computed by the signer's own kernel
(`minhash._shingle_hashes`: same normalisation, units and 32-bit hash), so the exact check
measures precisely the set whose Jaccard the MinHash signature estimates. Sets of the documents
that need them are computed by read tasks (one file each), joined into one scratch file (values
of row after row; `starts`/`lengths` per gid say where each lies) and memory-mapped when pairs are
checked. The file grows with the
candidates, not the corpus, and is read in blocks: pairs are grouped by the blocks their two sets
lie in and the mapping's pages are released after each group, so at most two blocks are resident.

Sets of 32-bit hashes: two distinct shingles share a hash with probability 2**-32, so two
documents of m shingles each see about m**2 / 2**32 collisions (~2e-4 for m = 1,000), each
moving their Jaccard by about 1/m; negligible next to any threshold.
"""
from __future__ import annotations

import mmap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import polars as pl
from numba import njit

from .config import DedupCfg
from .minhash import _shingle_hashes, in_order
from .nfkc import nfkc_code_points

MISSING = -1


def shingle_sets(texts: pl.Series, cfg: DedupCfg) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique shingle hashes of every text, back to back as uint32; int64 set sizes)."""
    cps, offsets = nfkc_code_points(texts)
    values = np.empty(cps.shape[0], dtype=np.uint32)  # a document has at most one shingle per code point
    lengths = np.zeros(offsets.shape[0] - 1, dtype=np.int64)
    used = _sorted_sets(cps, offsets, cfg.n, cfg.shingle == "word", values, lengths)
    return values[:used], lengths


BLOCK_VALUES = 1 << 25  # 128 MB of uint32 shingle hashes per block


@dataclass(frozen=True)
class ShingleSets:
    """Shingle sets of some documents, addressed by gid; starts[gid] is MISSING for the others.
    `mapping` is the memory map under `values` (None when they are in memory)."""

    values: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    mapping: mmap.mmap | None = None
    block_values: int = BLOCK_VALUES

    def jaccard(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Exact Jaccard of the sets of a[i] and b[i] (1.0 for two empty sets, as `apply.exact_jaccard`)."""
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        if (self.starts[a] == MISSING).any() or (self.starts[b] == MISSING).any():
            raise ValueError("exact Jaccard asked for a document whose shingle set was not computed")
        inter = np.empty(len(a), dtype=np.int64)
        n_blocks = self.values.shape[0] // self.block_values + 1
        block_pair = (self.starts[a] // self.block_values) * n_blocks + self.starts[b] // self.block_values
        order = np.argsort(block_pair, kind="stable")
        groups = np.flatnonzero(np.diff(block_pair[order])) + 1
        for idx in np.split(order, groups):
            part = np.empty(len(idx), dtype=np.int64)
            _intersections(self.values, self.starts, self.lengths, a[idx], b[idx], part)
            inter[idx] = part
            if self.mapping is not None:
                self.mapping.madvise(mmap.MADV_DONTNEED)  # file-backed pages: re-read from cache if needed
        union = self.lengths[a] + self.lengths[b] - inter
        return np.divide(inter, union, out=np.ones(len(a)), where=union > 0)


def write_shingle_sets(
    batches: Iterable[tuple[np.ndarray, pl.Series]], cfg: DedupCfg, out: BinaryIO, threads: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Shingle sets of (gids, texts) batches appended to the binary file `out`, back to back;
    (gids, set sizes) in the order written. `threads` batches in flight (the kernels release the GIL)."""
    gids, sizes = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    for batch_gids, (values, lengths) in in_order(lambda batch: (batch[0], shingle_sets(batch[1], cfg)), batches, threads):
        out.write(values.tobytes())
        gids.append(np.asarray(batch_gids, dtype=np.int64))
        sizes.append(lengths)
    return np.concatenate(gids), np.concatenate(sizes)


def set_index(written: Iterable[tuple[np.ndarray, np.ndarray]], n_docs: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts, lengths) by gid of sets written one file after another, each file's (gids, set sizes)
    as `write_shingle_sets` returned them; MISSING starts for documents without a set."""
    starts = np.full(n_docs, MISSING, dtype=np.int64)
    lengths = np.zeros(n_docs, dtype=np.int64)
    written_so_far = 0
    for gids, sizes in written:
        starts[gids] = written_so_far + np.cumsum(sizes) - sizes
        lengths[gids] = sizes
        written_so_far += int(sizes.sum())
    return starts, lengths


def mapped_sets(path: str | Path, starts: np.ndarray, lengths: np.ndarray) -> ShingleSets:
    """The sets in the file at `path` (indexed by `set_index`), memory-mapped."""
    if not lengths.any():
        return ShingleSets(np.empty(0, dtype=np.uint32), starts, lengths)
    with open(path, "rb") as f:
        mapping = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return ShingleSets(np.frombuffer(mapping, dtype=np.uint32), starts, lengths, mapping)


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
