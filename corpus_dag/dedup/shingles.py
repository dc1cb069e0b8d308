"""What a shingle is, and the 32-bit shingle hash, as plain-Python reference functions.

The batched kernels in `minhash` never build shingle strings; these functions define what they
compute, so anyone can rebuild a stored signature with datasketch:

    m = datasketch.MinHash(num_perm=128, seed=1, hashfunc=shingle_hash, scheme="affine32")
    m.update_batch(shingles(text, cfg))      # == the stored signature, bit for bit

Normalisation: NFKC, then
  - exact key: sha1 of the UTF-8 text with whitespace runs collapsed to one space, stripped;
  - char shingles: whitespace dropped (layout and OCR scatter spaces between Chinese characters),
    ASCII letters lower-cased; n consecutive characters;
  - word shingles: ASCII letters lower-cased, ASCII punctuation treated as a separator; n
    consecutive words joined by one space.
Whitespace is what Python's str.isspace() says. A text shorter than n units is one shingle; an
empty one has none.

Shingle hash: a 32-bit polynomial over the shingle's code points,
h = (...((c0 * P + c1) * P + c2)...) mod 2**32 with P = 0x01000193 (the FNV-32 prime, odd).
Weak alone (low bits see only low bits), but datasketch's affine32 scheme pre-mixes every input
with the MurmurHash3 finalizer; and unlike sha1 or FNV-1a over bytes, fixed-length n-grams of it
are computed for all positions of a document independently (SIMD-friendly).
"""
from __future__ import annotations

import string
import unicodedata

from .config import DedupCfg

PRIME = 0x01000193
MASK32 = 0xFFFFFFFF
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_PUNCT_TO_SPACE = str.maketrans({c: " " for c in string.punctuation})


def exact_text(text: str | None) -> str:
    return " ".join(unicodedata.normalize("NFKC", text or "").split())


def shingle_units(text: str | None, shingle: str) -> list[str]:
    """Characters (char mode) or words (word mode) of the normalised text."""
    norm = unicodedata.normalize("NFKC", text or "").translate(_ASCII_LOWER)
    if shingle == "char":
        return [c for c in norm if not c.isspace()]
    return norm.translate(_PUNCT_TO_SPACE).split()


def shingles(text: str | None, cfg: DedupCfg) -> list[bytes]:
    """The UTF-8 shingles of one document (reference; the signer computes the same in batches)."""
    units = shingle_units(text, cfg.shingle)
    sep = "" if cfg.shingle == "char" else " "
    width = min(cfg.n, len(units))
    return [sep.join(units[i : i + width]).encode("utf-8") for i in range(len(units) - width + 1)] if units else []


def shingle_hash(shingle: bytes) -> int:
    """The 32-bit shingle hash (see module docstring); pass it to datasketch as `hashfunc`."""
    h = 0
    for ch in shingle.decode("utf-8"):
        h = (h * PRIME + ord(ch)) & MASK32
    return h
