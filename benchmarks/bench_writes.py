"""Where a map stage's rows are written: by the workers (`map_split` since 0b96e5b: each slice's kept
and dropped rows as parts, one commit) or by the Dagster step (before: every result travels back to
the step, which writes it into one file per output).

    python -m benchmarks.bench_writes           # 100k documents through the heuristic filters
    python -m benchmarks.bench_writes --quick   # 10k

Side by side in this one script, on one local Ray instance (2 CPUs, loopback), and engine local for
reference: the filters (`apply_filters`, web rules) over the partition, map + write + commit, as
`filtered_documents` / `filter_drops` run it. Each way runs once untimed (the workers import the
stage), then `--repeats` times in alternation; figures are medians. Printed: wall time, the step
process's peak resident memory above its level before the run (sampled every 0.02 s), the bytes of
results the step received, and the ratios against the previous way. Nothing is asserted.
"""
from __future__ import annotations

import argparse
import pickle
import statistics
import tempfile
import threading
import time
from functools import partial

import polars as pl
import psutil

from benchmarks.bench_dedup import make_corpus
from corpus_dag.accounting import REASON, map_and_write
from corpus_dag.engine import LocalEngine, RayEngine
from corpus_dag.quality.filters import apply_filters, load_filter_config
from corpus_dag.storage import CorpusStore, PartitionData, arrow_schema

BATCH_ROWS = 20_000  # filtered_documents' default


class StepMemory:
    """Peak RSS of this process above its level when the block began, sampled every 0.02 s."""

    def __enter__(self) -> StepMemory:
        self.process, self.peak, self.running = psutil.Process(), 0, True
        self.base = self.process.memory_info().rss
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss - self.base)
            time.sleep(0.02)

    def __exit__(self, *exc) -> None:
        self.running = False
        self.thread.join()

    @property
    def peak_mb(self) -> float:
        return self.peak / 1e6


def outputs(docs: PartitionData, name: str) -> dict:
    """The kept and dropped partitions of one way's run, as `filtered_documents` / `filter_drops` declare them."""
    schema = docs.schema | {"lang": pl.String}
    drops = schema | {"rule": pl.String, "value": pl.Float64, REASON: pl.String}
    return {CorpusStore.partition_path(f"kept_{name}", {"source": "bench"}): arrow_schema(schema),
            CorpusStore.partition_path(f"dropped_{name}", {"source": "bench"}): arrow_schema(drops)}


def in_the_step(engine, store, docs, step, name: str) -> int:
    """Results back to the step, which writes them (the way before 0b96e5b); the bytes it received."""
    specs, received = outputs(docs, name), 0
    kept, dropped = specs
    with store.commit(specs) as w:
        for split in engine.map_batches(docs, step, batch_rows=BATCH_ROWS):
            received += len(pickle.dumps(split, protocol=5))
            w[kept].write(split.kept)
            w[dropped].write(split.dropped)
    return received


def on_the_workers(engine, store, docs, step, name: str) -> int:
    """Each slice's rows written where it was computed, its accounting back (map_split); the bytes received."""
    specs, received = outputs(docs, name), 0
    kept, dropped = specs
    with store.commit(specs) as w:
        for split in map_and_write(engine, docs, step, {"kept": w[kept], "dropped": w[dropped]}, "kept", "dropped", batch_rows=BATCH_ROWS):
            received += len(pickle.dumps(split, protocol=5))
    return received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k documents instead of 100k")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n_docs = 10_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory() as root:
        store = CorpusStore(root)
        rel = CorpusStore.partition_path("docs", {"source": "bench", "date": "2026-11-21"})
        corpus = make_corpus(n_docs).select("doc_id", "text")
        store.write_frame(rel, corpus)
        docs = PartitionData(store, rel).pinned()
        mb = corpus["text"].str.len_bytes().sum() / 1e6
        del corpus
        step = partial(apply_filters, cfg=load_filter_config("web"))
        ray = RayEngine(num_cpus=2, object_store_memory=300 * 1024**2)
        ray.connect()
        ways = {("ray", "workers"): (ray, on_the_workers), ("ray", "step"): (ray, in_the_step),
                ("local", "workers"): (LocalEngine(), on_the_workers), ("local", "step"): (LocalEngine(), in_the_step)}
        times, peaks, received = {w: [] for w in ways}, {w: [] for w in ways}, {}
        for way, (engine, fn) in ways.items():
            fn(engine, store, docs, step, "_".join(way))  # untimed: imports, workers started
        for r in range(args.repeats):
            for way, (engine, fn) in (list(ways.items())[r % 4:] + list(ways.items())[:r % 4]):
                with StepMemory() as memory:
                    started = time.perf_counter()
                    received[way] = fn(engine, store, docs, step, "_".join(way))
                    times[way].append(time.perf_counter() - started)
                peaks[way].append(memory.peak_mb)
                print(f"  round {r + 1}/{args.repeats}: {way[0]}, written by the {way[1]}: {times[way][-1]:.2f} s, "
                      f"step peak +{peaks[way][-1]:,.0f} MB", flush=True)
        ray.shutdown()
    print(f"\nfilters over {n_docs:,} documents ({mb:.1f} MB), map + write + commit, medians of {args.repeats}:")
    med = {w: (statistics.median(times[w]), statistics.median(peaks[w])) for w in ways}
    for way in ways:
        secs, peak = med[way]
        print(f"{way[0]:>5}, rows written by the {way[1]:<7}: {secs:6.2f} s  {mb / secs:6.1f} MB/s  "
              f"step process peak +{peak:6,.0f} MB  results received {received[way] / 1e6:8.2f} MB")
    for engine in ("ray", "local"):
        (ws, wp), (ss, sp) = med[(engine, "workers")], med[(engine, "step")]
        print(f"{engine}: on the workers vs in the step: {ws / ss:.2f}x the time, the step's peak +{wp:,.0f} MB against "
              f"+{sp:,.0f} MB, {received[(engine, 'workers')] / received[(engine, 'step')]:.4f}x the bytes received")


if __name__ == "__main__":
    main()
