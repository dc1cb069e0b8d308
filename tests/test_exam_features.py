"""Hashed char n-gram features: the compiled kernel against a plain-Python statement of the same features."""
import math

import numpy as np
from numba import njit

from corpus_dag.exam.features import LOG_COUNTS, MULT, N_EXTRA, ORDER_SALT, NgramCfg, char_ngrams

MASK = 0xFFFFFFFF
# The scalar log1p the kernel called per value before it looked counts up (numpy's own float32 log1p may
# take a vectorised path that rounds differently).
log1p32 = njit(lambda count: np.log1p(np.float32(count)))  # boxed as a Python float: np.float32 it again


def _column(codes: list[int], n: int, shift: int) -> int:
    h = codes[0] * int(MULT[0]) & MASK
    for j in range(1, n):
        h = (h ^ codes[j]) * int(MULT[j % 3]) & MASK
    return ((h + n * ORDER_SALT) & MASK) >> shift


def reference_row(text: str, cfg: NgramCfg) -> dict[int, float]:
    """One text's features, written out: log1p(count) per hashed column, a length bucket, L2-normalised."""
    if len(text) > cfg.head_chars + cfg.tail_chars:
        text = text[: cfg.head_chars] + text[-cfg.tail_chars :]
    codes, shift = [ord(c) for c in text], 32 - int(math.log2(cfg.dim))
    counts: dict[int, int] = {}
    for n in cfg.orders:
        for i in range(len(codes) - n + 1):
            col = _column(codes[i : i + n], n, shift)
            counts[col] = counts.get(col, 0) + 1
    row = {col: np.float32(log1p32(c)) for col, c in counts.items()}
    row[cfg.dim + int(min(np.log2(len(text) + 1.0), N_EXTRA - 1))] = np.float32(log1p32(1))
    norm = math.sqrt(sum(float(v * v) for v in row.values()))  # float32 squares summed in float64, as the kernel does
    return {col: float(np.float32(float(v) / norm)) for col, v in row.items()}


def test_char_ngrams_match_the_written_out_features():
    """Tricky inputs: empty, shorter than an n-gram, astral code points, a text clipped head and tail,
    and counts past the log1p lookup table (one character repeated, a long head)."""
    long_head = NgramCfg(dim=1 << 12, head_chars=3000)
    texts = ["", "a", "ab", "已知函数f(x)=x²，求f(2)的值。", "𝑥+𝑦=1 😀", "甲" * 400, "题" * (LOG_COUNTS + 300),
             "下列说法正确的是（ ）A．1 B．2 C．3 D．4" * 30]
    for cfg in (NgramCfg(dim=1 << 12), long_head):
        x = char_ngrams(texts, cfg)
        assert x.shape == (len(texts), cfg.dim + N_EXTRA)
        for r, text in enumerate(texts):
            row = x.getrow(r)
            assert dict(zip(row.indices.tolist(), row.data.tolist())) == reference_row(text, cfg), text[:20]
