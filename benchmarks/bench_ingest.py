"""Ingest: throughput and peak memory of raw JSONL -> raw_documents Parquet, at two partition sizes.

The claim under test: reading is streamed, so peak RSS stays flat when the partition grows.
Peer, side by side in this script: polars' own `read_ndjson` + `write_parquet` (whole file in memory,
no per-record validation). Each run happens in a fresh subprocess so ru_maxrss is its own.

    python -m benchmarks.bench_ingest [--quick]
"""
import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import datetime as dt, resource, sys, time, fsspec, polars as pl
from corpus_dag.ingest import PartitionReader
from corpus_dag.storage import CorpusStore, arrow_schema
from corpus_dag.ingest import RAW_DOCUMENTS_SCHEMA
mode, src, out = sys.argv[1:4]
t = time.perf_counter()
if mode == "corpus_dag":
    store = CorpusStore(out)
    reader = PartitionReader(fsspec.filesystem("file"), "web", dt.date(2026, 11, 21))
    with store.parquet_writer("raw_documents/data.parquet", arrow_schema(RAW_DOCUMENTS_SCHEMA)) as w:
        for split in reader.read(src):
            w.write(split.kept)
else:
    pl.read_ndjson(src).write_parquet(out + "/peer.parquet", compression="zstd")
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def make_corpus(path: Path, mb: int) -> None:
    rng = random.Random(0)
    words = "the of a training corpus document model data 数据 训练 语料 文档 试卷 题目 答案".split()
    with open(path, "w", encoding="utf-8") as f:
        size, i = 0, 0
        while size < mb * 1_000_000:
            text = " ".join(rng.choice(words) for _ in range(rng.randint(50, 800)))
            line = json.dumps({"id": f"d{i}", "text": text, "title": f"t{i}", "lang": "mixed"}, ensure_ascii=False) + "\n"
            f.write(line)
            size += len(line.encode())
            i += 1


def run(mode: str, src: Path, out: Path) -> tuple[float, float]:
    res = subprocess.run([sys.executable, "-c", CHILD, mode, str(src), str(out)], capture_output=True, text=True, check=True)
    seconds, rss_kb = res.stdout.split()
    return float(seconds), int(rss_kb) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    sizes = [20, 80] if args.quick else [100, 400]
    print(f"{'input':>8} {'path':<12} {'MB/s':>7} {'peak RSS MB':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for mb in sizes:
            src = Path(tmp) / f"in_{mb}.jsonl"
            make_corpus(src, mb)
            real_mb = src.stat().st_size / 1e6
            figures = {}
            for mode in ("corpus_dag", "polars"):
                out = Path(tmp) / f"out_{mode}_{mb}"
                out.mkdir()
                secs, rss = run(mode, src, out)
                figures[mode] = (real_mb / secs, rss)
                print(f"{real_mb:>6.0f}MB {mode:<12} {real_mb / secs:>7.1f} {rss:>12.0f}")
            ours, peer = figures["corpus_dag"], figures["polars"]
            print(f"{'':>8} ratio corpus_dag/polars: speed {ours[0] / peer[0]:.2f}x, peak RSS {ours[1] / peer[1]:.2f}x")


if __name__ == "__main__":
    main()
