"""Decontamination throughput (MB/s of UTF-8 text) and hits, against datatrove's n-gram filter.

Ours: `corpus_dag.decontam.BenchmarkIndex` over data/benchmarks (GSM8K, MATH500, GAOKAO): word
13-grams for English items, character 20-grams for Chinese items, numpy hashing of a whole batch,
one process.
Peer: datatrove 0.10.1 `NGramsDecontFilter` with 13-grams, run the way datatrove runs a filter
(one document at a time, one process). Its index is built with datatrove's own
`NGramsDecontIndexer.compute_hashes` over the same items (the indexer step itself needs lighteval,
which is not installed); sha1 hashes, since xxhash is not installed. datatrove word-tokenises
every language with its English tokenizer here and, by default, maps digits to 0.

Input: the shipped web sample (samples/library/web, 115 pages, 4 of them carry a benchmark item)
repeated in a seeded random order up to the target size; both sides see the same documents.
We also print which sample pages each side flags.

    python -m benchmarks.bench_decontam            # about 40 MB
    python -m benchmarks.bench_decontam --quick    # about 4 MB
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import polars as pl

from corpus_dag.decontam import BenchmarkIndex, DecontamCfg, load_benchmarks

ROOT = Path(__file__).resolve().parent.parent


def sample_pages() -> list[dict]:
    return [json.loads(line) for p in sorted((ROOT / "samples/library/web").glob("*/part-0.jsonl")) for line in p.read_text(encoding="utf-8").splitlines()]


def corpus(pages: list[dict], mb: float) -> list[str]:
    rng, out, size = random.Random(0), [], 0
    while size < mb * 1e6:
        text = rng.choice(pages)["text"]
        out.append(text)
        size += len(text.encode())
    return out


def datatrove_filter(benchmarks: dict[str, pl.DataFrame], folder: str):
    from datatrove.pipeline.decont.n_grams import NGramsDecontConfig, NGramsDecontFilter, NGramsDecontIndexer
    from datatrove.utils.hashing import HashConfig, create_hash_func
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    cfg = NGramsDecontConfig(n_grams=13, find_query_ngrams=True, find_overlap_ngrams=False, hash_config=HashConfig(hash_fc="sha1"))
    indexer = types.SimpleNamespace(config=cfg, tokenizer=load_word_tokenizer("en"), hash_func=create_hash_func(cfg.hash_config))
    for name, df in benchmarks.items():
        hashes = set()
        for text in df["text"]:
            hashes.update(NGramsDecontIndexer.compute_hashes(indexer, text))
        np.array(sorted(hashes), dtype=np.uint64).tofile(f"{folder}/{name}.index.hashes")
    flt = NGramsDecontFilter(folder, config=cfg)
    flt.load_index_hashes()
    return flt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="about 4 MB instead of 40 MB")
    args = ap.parse_args()
    import datatrove.pipeline.decont.n_grams  # noqa: F401  (configures datatrove's logger on import)
    from datatrove.data import Document
    from loguru import logger

    logger.remove()  # datatrove logs every index file it loads
    pages = sample_pages()
    texts = corpus(pages, 4 if args.quick else 40)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    benchmarks = load_benchmarks()

    t = time.perf_counter()
    ours = BenchmarkIndex(benchmarks, DecontamCfg())
    ours_index_s = time.perf_counter() - t
    df = pl.DataFrame({"doc_id": [str(i) for i in range(len(texts))], "text": texts})
    t, ours_hits = time.perf_counter(), 0
    for batch in df.iter_slices(20_000):
        ours_hits += ours.split(batch).dropped.height
    ours_s = time.perf_counter() - t

    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        peer = datatrove_filter(benchmarks, folder)
        peer_index_s = time.perf_counter() - t
        t = time.perf_counter()
        peer_hits = sum(peer.filter(Document(text=x, id=str(i))) is not True for i, x in enumerate(texts))
        peer_s = time.perf_counter() - t

        sample = pl.DataFrame({"doc_id": [p["id"] for p in pages], "text": [p["text"] for p in pages]})
        kinds = {p["id"]: p["sample_kind"] for p in pages}
        ours_flagged = sorted(kinds[i] for i in ours.split(sample).dropped["doc_id"])
        peer_flagged = sorted(kinds[p["id"]] for p in pages if peer.filter(Document(text=p["text"], id=p["id"])) is not True)

    print(f"input: {len(texts):,} web pages, {mb:.1f} MB; benchmark items: {sum(d.height for d in benchmarks.values()):,}")
    print(f"{'':>10} {'index s':>8} {'check s':>8} {'MB/s':>7} {'docs flagged':>13}")
    print(f"{'ours':>10} {ours_index_s:8.2f} {ours_s:8.2f} {mb / ours_s:7.1f} {ours_hits:13,}")
    print(f"{'datatrove':>10} {peer_index_s:8.2f} {peer_s:8.2f} {mb / peer_s:7.1f} {peer_hits:13,}")
    print(f"ratio (ours / datatrove MB/s): {peer_s / ours_s:.1f}x")
    print(f"sample pages flagged by ours ({len(ours_flagged)}): {ours_flagged}")
    print(f"sample pages flagged by datatrove ({len(peer_flagged)}): {peer_flagged}")


if __name__ == "__main__":
    main()
