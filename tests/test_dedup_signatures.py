"""Signatures are datasketch's affine32 MinHash, bit for bit, for the documented shingles and hash."""
import hashlib
import random
import unicodedata

import numpy as np
import polars as pl
import pytest
from datasketch import LeanMinHash, MinHash, MinHashLSH
from datasketch.lsh import _optimal_param

from corpus_dag.dedup import DedupCfg, band_params, cfg_for, shingle_hash, shingles, signatures
from corpus_dag.dedup.nfkc import nfkc_code_points
from corpus_dag.dedup.shingles import exact_text

ZH = "已知集合函数的定义域为实数求下列说法正确是选择题分析解答，。（）Ａ１２\u3000"
EN_WORDS = ["The", "cat", "sat", "on", "mat!!", "dog's", "naïve", "x_y", "--", "I.", "\t", "\n"]
# Wide pool: combining marks, Hangul jamo, compatibility and full-width forms, astral characters.
POOL = [
    chr(c)
    for c in list(range(0x20, 0x800)) + list(range(0x900, 0xA00)) + list(range(0x1100, 0x1200))
    + list(range(0x2000, 0x2100)) + list(range(0x3000, 0x3100)) + list(range(0xAC00, 0xAC80))
    + list(range(0xF900, 0xF980)) + list(range(0xFE00, 0xFFFE)) + list(range(0x1D400, 0x1D480))
    + list(range(0x1F300, 0x1F380)) + [0x2F800, 0x10FFFD]
    if not 0xD800 <= c <= 0xDFFF
]


def random_docs(seed: int, n: int) -> list[str | None]:
    rnd = random.Random(seed)
    zh = ["".join(rnd.choice(ZH) for _ in range(rnd.randint(0, 80))) for _ in range(n)]
    en = [" ".join(rnd.choice(EN_WORDS) for _ in range(rnd.randint(0, 30))) for _ in range(n)]
    wild = ["".join(rnd.choice(POOL) for _ in range(rnd.randint(0, 40))) for _ in range(n)]
    return zh + en + wild + ["", "   ", None, "ab", "abcde", "abcdef", "😀x😀y😀z", "cafe\u0301 café"]


@pytest.mark.parametrize("shingle", ["char", "word"])
def test_signatures_are_bit_identical_to_datasketch(shingle):
    cfg = DedupCfg(shingle=shingle)
    texts = random_docs(seed=7, n=60)
    out = signatures(pl.DataFrame({"doc_id": [str(i) for i in range(len(texts))], "text": texts}), cfg)
    assert out.schema["signature"] == pl.Array(pl.UInt32, 128)
    for i, text in enumerate(texts):
        m = MinHash(num_perm=128, seed=1, hashfunc=shingle_hash, scheme="affine32")
        m.update_batch(shingles(text, cfg))
        assert np.array_equal(out["signature"][i].to_numpy(), m.hashvalues), repr(text)
        assert out["n_shingles"][i] == len(shingles(text, cfg))
        assert out["exact_key"][i] == "sha1:" + hashlib.sha1(exact_text(text).encode()).hexdigest()


def test_other_seed_and_width_match_too():
    cfg = DedupCfg(num_perm=64, seed=42, n=3)
    texts = random_docs(seed=3, n=10)
    out = signatures(pl.DataFrame({"text": texts}), cfg)
    for i, text in enumerate(texts):
        m = MinHash(num_perm=64, seed=42, hashfunc=shingle_hash)
        m.update_batch(shingles(text, cfg))
        assert np.array_equal(out["signature"][i].to_numpy(), m.hashvalues)


def test_datasketch_indexes_accept_stored_signatures():
    cfg = DedupCfg()
    base = "已知集合A={x|x^2-3x+2=0}，B={x|0<x<5,x∈N}，则满足条件A⊆C⊆B的集合C的个数为多少个？请说明理由。" * 3
    texts = [base, base.replace("多少", "几"), "An entirely different English document about cats and dogs." * 3]
    sig = signatures(pl.DataFrame({"doc_id": ["a", "b", "c"], "text": texts}), cfg)
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    for doc_id, values in zip(sig["doc_id"], sig["signature"]):
        lsh.insert(doc_id, LeanMinHash(seed=1, hashvalues=values.to_numpy(), scheme="affine32"))
    query = MinHash(num_perm=128, seed=1, hashfunc=shingle_hash)
    query.update_batch(shingles(base, cfg))
    assert sorted(lsh.query(query)) == ["a", "b"]
    lean = LeanMinHash(query)
    buf = bytearray(lean.bytesize())
    lean.serialize(buf)
    restored = LeanMinHash.deserialize(buf)
    assert np.array_equal(restored.hashvalues, sig["signature"][0].to_numpy())


def test_batched_nfkc_matches_unicodedata():
    texts = pl.Series([t or "" for t in random_docs(seed=11, n=400)])
    cps, offsets = nfkc_code_points(texts)
    for i, text in enumerate(texts):
        expected = np.frombuffer(unicodedata.normalize("NFKC", text).encode("utf-32-le"), dtype=np.uint32)
        assert np.array_equal(cps[offsets[i] : offsets[i + 1]], expected), ascii(text)


def test_missing_text_column_is_a_clear_error():
    with pytest.raises(ValueError, match="'text' column"):
        signatures(pl.DataFrame({"doc_id": ["a"]}), DedupCfg())


def test_bands_follow_datasketch_criterion_and_kind_defaults():
    for t in (0.7, 0.8, 0.85):
        assert band_params(t, 128, 0.5, 0.5) == _optimal_param(t, 128, 0.5, 0.5)
    bands, rows = DedupCfg(threshold=0.8).bands
    assert bands * rows <= 128 and bands >= 2
    assert cfg_for("web").threshold == 0.75
    assert cfg_for("exam_library").shingle == "char"
    assert cfg_for("web", lang="en").shingle == "word"
    assert cfg_for("exam_library", threshold=0.9).threshold == 0.9
    with pytest.raises(ValueError, match="no dedup defaults"):
        cfg_for("poetry")
    with pytest.raises(ValueError, match="shingle"):
        DedupCfg(shingle="byte")
