"""Hashed character n-gram features computed over a whole batch at once.

scikit-learn's char analyzer builds one Python string per n-gram, which caps throughput at a few
MB/s; hashing code points in a compiled loop (numba, one pass per text: hash, sort, count) keeps
the classifiers far from being the pipeline's bottleneck.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

MULT = np.array([0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D], dtype=np.uint32)
ORDER_SALT = 0x27D4EB2F
N_EXTRA = 16  # length-bucket columns after the hashed ones
LOG_COUNTS = 1024  # log1p of counts below this is looked up, each computed once per call (log1p was most of the time)


@dataclass(frozen=True)
class NgramCfg:
    """n-gram orders, hash space, and how many characters of each text are looked at."""

    orders: tuple[int, ...] = (1, 2, 3)
    dim: int = 1 << 18
    head_chars: int = 200
    tail_chars: int = 60


def _clip(texts: list[str], cfg: NgramCfg) -> list[str]:
    keep = cfg.head_chars + cfg.tail_chars
    return [t if len(t) <= keep else t[: cfg.head_chars] + t[-cfg.tail_chars :] for t in texts]


@njit(nogil=True, cache=True, inline="always")
def _log1p_count(count, logs):
    """np.log1p(float32(count)), the same scalar call, made once per distinct small count."""
    if count >= len(logs):
        return np.log1p(np.float32(count))
    if logs[count] < 0:
        logs[count] = np.log1p(np.float32(count))
    return logs[count]


@njit(nogil=True, cache=True)
def _row_features(codes, offsets, orders, shift, dim, indptr, indices, data):
    """Per text: count its hashed n-gram columns in a dense scratch row (reset after use, so no sort),
    take log1p, append the length bucket, L2-normalise. `indices/data` fit every n-gram distinct."""
    counts = np.zeros(dim, dtype=np.int32)
    logs = np.full(LOG_COUNTS, -1.0, dtype=np.float32)
    m0, m1, m2 = MULT[0], MULT[1], MULT[2]
    nnz = 0
    for r in range(len(offsets) - 1):
        a, b = offsets[r], offsets[r + 1]
        start = nnz
        for n in orders:
            salt = np.uint32(n * ORDER_SALT)
            for i in range(a, b - n + 1):
                h = np.uint32(codes[i] * m0)
                if n > 1:
                    h = np.uint32((h ^ codes[i + 1]) * m1)
                if n > 2:
                    h = np.uint32((h ^ codes[i + 2]) * m2)
                for j in range(3, n):
                    h = np.uint32((h ^ codes[i + j]) * MULT[j % 3])
                col = np.uint32(h + salt) >> shift
                indices[nnz] = col  # kept (nnz moves on) only when the column is new: no branch to mispredict
                nnz += counts[col] == 0
                counts[col] += 1
        norm = 0.0
        for t in range(start, nnz):
            v = _log1p_count(counts[indices[t]], logs)
            counts[indices[t]] = 0
            data[t] = v
            norm += v * v
        v = np.log1p(np.float32(1.0))
        indices[nnz] = dim + int(min(np.log2(b - a + 1.0), N_EXTRA - 1))
        data[nnz] = v
        norm += v * v
        nnz += 1
        norm = np.sqrt(norm)
        for t in range(start, nnz):
            data[t] /= norm
        indptr[r + 1] = nnz
    return nnz


def char_ngrams(texts: list[str], cfg: NgramCfg = NgramCfg()) -> sp.csr_matrix:
    """Rows of log(1+count) hashed n-gram features, L2-normalised, plus a length-bucket feature."""
    texts = _clip([t or "" for t in texts], cfg)
    n_rows = len(texts)
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
    offsets = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=n_rows), out=offsets[1:])
    cap = len(codes) * len(cfg.orders) + n_rows
    indptr = np.zeros(n_rows + 1, dtype=np.int32)
    indices = np.empty(cap, dtype=np.int32)
    data = np.empty(cap, dtype=np.float32)
    shift = np.uint32(32 - int(np.log2(cfg.dim)))
    nnz = _row_features(codes, offsets, np.array(cfg.orders, dtype=np.int64), shift, cfg.dim, indptr, indices, data)
    return sp.csr_matrix((data[:nnz], indices[:nnz], indptr), shape=(n_rows, cfg.dim + N_EXTRA))


def fit_on_used_columns(clf, x: sp.csr_matrix, y, sample_weight=None):
    """clf.fit (a linear model with L2, e.g. LogisticRegression) over the hashed columns some training
    row uses, its coef_ then widened back to x's width with zeros. A column that is zero in every row
    has gradient equal to its own weight, which starts at 0 and stays there, so the fit is the same
    (same iterations; coefficients within float rounding, predictions equal); but a solver's cost per
    iteration follows the columns used (about 150k of 2**18 for the subject model: lbfgs 12.8 s -> 6.9 s)."""
    used = np.unique(x.indices)
    clf.fit(x[:, used], y, sample_weight=sample_weight)
    coef = np.zeros((clf.coef_.shape[0], x.shape[1]), dtype=clf.coef_.dtype)
    coef[:, used] = clf.coef_
    clf.coef_, clf.n_features_in_ = coef, x.shape[1]
    return clf
