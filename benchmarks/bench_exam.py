"""Exam extraction benchmark: raw wenku JSONL -> exam_questions on a held-out generated set.

    python -m benchmarks.bench_exam            # 3000 documents, seed 20261121 (never tuned on)
    python -m benchmarks.bench_exam --quick    # 300 documents, < 60 s
    python -m benchmarks.bench_exam --generator alt     # the cross-check set, seed 5 (see below)
    python -m benchmarks.bench_exam --generator third   # issue 13's set, seed 13013 (see below)

Prints exam-document F1, question recall/precision (a true question is found when a kept fragment
of the same document has char-5-gram Jaccard >= 0.6 with it), subject accuracy on found
questions and throughput (raw JSONL bytes / seconds, reading with polars included), for this
pipeline and for the seed's baseline (keyword match + `re.split('(\\d+、)', sheet)` + title rules)
side by side, then question recall per kind of paper (keyword-less titles, material groups, answer
keys, late numbering, two-column damage: corpus_dag.exam.evaluate.paper_kinds) and how often a
found question of a material group carries its material in `context`. Targets: F1 >= 0.98,
recall/precision >= 0.96, no kind below 0.93 recall, subject >= 0.95, >= 20 MB/s.

`--generator alt` builds the set with samples/build_wenku_alt.py, a generator written apart from
the splitter (its author never read the splitter or samples/build_wenku.py): other titles, layouts,
dump damage and traps over the same public questions. Some of its exam papers lose their title
line and carry no exam keyword at all: detection keeps them by their structure.

`--generator third` builds it with samples/build_wenku_third.py (issue 13; written before the
detector and splitter were changed for it): keyword-less titles, material groups from the question
bank's own grouped records, answer keys in several layouts, parts numbered from 21 or 41,
two-column damage, and non-exam documents full of exam words. Its held-out seed 13013 was never
looked at while tuning (seeds 1 and 2 were).
"""
from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import polars as pl

from corpus_dag.exam.detect import ExamCfg, detect_exams
from corpus_dag.exam.evaluate import (
    KINDS,
    SEED_KEYWORDS,
    context_scores,
    paper_kinds,
    score,
)
from corpus_dag.exam.features import NgramCfg
from corpus_dag.exam.labels import load_fragments
from corpus_dag.exam.questions import extract_questions
from corpus_dag.exam.split import split_naive
from corpus_dag.exam.subject import subject_from_question, subject_from_title
from corpus_dag.exam.validity import ExamModels, train_models
from samples.build_wenku import write

# generator module, held-out seed (never tuned on)
GENERATORS = {"wenku": ("samples.build_wenku", 20261121), "alt": ("samples.build_wenku_alt", 5),
              "third": ("samples.build_wenku_third", 13013)}

RAW_SCHEMA = {"id": pl.String, "title": pl.String, "text": pl.String}
_MODELS: ExamModels | None = None
SPAWN = multiprocessing.get_context("spawn")  # polars is not fork-safe


def _init(blob: bytes, warm_shard: str) -> None:
    """Load the models, then run both pipelines once on a small shard of other documents: first
    calls pay one-off costs (lazy imports, plugin discovery) that a partition-long run amortises."""
    global _MODELS
    _MODELS = ExamModels.from_bytes(blob)
    _ours(warm_shard)
    _naive(warm_shard)


def _ours(path: str) -> tuple[list[str], str]:
    """One raw file -> exam_documents (+ non_exam_documents) -> exam_questions, each written to
    Parquet next to it as the partition runs write them."""
    docs = pl.read_ndjson(path, schema=RAW_SCHEMA).rename({"id": "doc_id"})
    split = detect_exams(docs, ExamCfg())
    split.kept.write_parquet(f"{path}.exam_documents.parquet", compression="zstd")
    split.dropped.write_parquet(f"{path}.non_exam_documents.parquet", compression="zstd")
    exams = pl.read_parquet(f"{path}.exam_documents.parquet", columns=["doc_id", "title", "text", "questions"])
    out = f"{path}.exam_questions.parquet"
    extract_questions(exams, _MODELS).write_parquet(out, compression="zstd")
    return split.kept["doc_id"].to_list(), out


def _naive(path: str) -> tuple[list[str], str]:
    docs = pl.read_ndjson(path, schema=RAW_SCHEMA).rename({"id": "doc_id"})
    kw = "|".join(SEED_KEYWORDS)
    kept = docs.filter(pl.col("title").fill_null("").str.contains(kw) | pl.col("text").str.contains(kw))
    q = split_naive(kept).join(kept.select("doc_id", "title"), on="doc_id")
    subj = [subject_from_title(t) or subject_from_question(x) or "其他" for t, x in q.select("title", "text").iter_rows()]
    out = f"{path}.naive_questions.parquet"
    q.with_columns(pl.Series("subject", subj), pl.lit(True).alias("is_valid")).write_parquet(out, compression="zstd")
    return kept["doc_id"].to_list(), out


def _ready(_: int) -> bool:
    return _MODELS is not None


def _run(fn, shards: list[str], workers: int, blob: bytes, warm_shard: str, passes: int):
    """Workers are started, hold the models and are warmed up before the clock starts (a long run
    amortises that). Each worker writes its questions to Parquet, as a partition run does; the set
    is processed `passes` times and the median pass is reported (a single pass lasts about a
    second, short enough for one scheduler hiccup to move it)."""
    with ProcessPoolExecutor(workers, mp_context=SPAWN, initializer=_init, initargs=(blob, warm_shard)) as pool:
        assert all(pool.map(_ready, range(workers * 4)))
        seconds = []
        for _ in range(passes):
            t0 = time.perf_counter()
            parts = list(pool.map(fn, shards))
            seconds.append(time.perf_counter() - t0)
    kept = {d for ids, _ in parts for d in ids}
    questions = pl.concat([pl.read_parquet(out, columns=["doc_id", "text", "subject", "is_valid", "context"]) for _, out in parts])
    return kept, questions, statistics.median(seconds)


def _fragments(q: pl.DataFrame, valid_only: bool) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for d, x, s, v, _ in q.iter_rows():
        if v or not valid_only:
            out.setdefault(d, []).append((x, s))
    return out


def print_kinds(truth: dict, records: dict, kept: set, frags: dict, naive_frags: dict, naive_kept: set) -> None:
    """Question recall per kind of paper (the kinds of issue 13), ours and naive side by side."""
    by_kind: dict[str, dict] = {}
    for d, t in truth.items():
        for k in paper_kinds(records[d], t):
            by_kind.setdefault(k, {})[d] = t
    print(f"{'kind of paper':38s} {'papers':>6s} {'questions':>9s} {'doc recall':>10s} {'q recall':>9s} {'naive q recall':>15s}")
    for k in KINDS:
        sub = by_kind.get(k, {})
        if not sub:
            continue
        ours, base = score(sub, kept, frags), score(sub, naive_kept, naive_frags)
        print(f"{k:38s} {len(sub):6d} {ours.n_true:9d} {ours.doc_recall:10.4f} {ours.q_recall:9.4f} {base.q_recall:15.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="300 documents, a smaller hash space for the classifiers")
    ap.add_argument("--docs", type=int, default=None)
    ap.add_argument("--seed", type=int, default=None, help="default: the generator's held-out seed")
    ap.add_argument("--generator", choices=sorted(GENERATORS), default="wenku",
                    help="alt: samples/build_wenku_alt.py, a generator written apart from the splitter (cross-check); "
                    "third: samples/build_wenku_third.py (keyword-less titles, material groups, answer keys, late numbering)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shard-docs", type=int, default=250)
    ap.add_argument("--passes", type=int, default=5, help="timed passes over the set; the median is reported")
    a = ap.parse_args()
    n_docs = a.docs or (300 if a.quick else 3000)
    module, held_out = GENERATORS[a.generator]
    a.seed = held_out if a.seed is None else a.seed

    t0 = time.perf_counter()
    models = train_models(load_fragments(), ngram=NgramCfg(dim=1 << 16) if a.quick else NgramCfg())
    train_s = time.perf_counter() - t0
    gen = importlib.import_module(module).generate
    pairs = gen(a.seed, n_docs)
    records = {r["id"]: r for r, _ in pairs}
    truth = {t["doc_id"]: t for _, t in pairs}
    with tempfile.TemporaryDirectory() as tmp:
        shards = []
        for i in range(0, len(pairs), a.shard_docs):  # raw files as a library holds them: many parts
            folder = Path(tmp) / f"s{i}"
            write(pairs[i : i + a.shard_docs], folder, dates=("2026-11-21",), gz_date=None)
            shards.append(str(folder / "library" / "wenku" / "2026-11-21" / "part-0.jsonl"))
        raw_mb = sum(os.path.getsize(s) for s in shards) / 1e6
        warm = Path(tmp) / "warm"  # other documents (another seed), not timed
        write(gen(a.seed + 1, 40), warm, dates=("2026-11-21",), gz_date=None)
        warm_shard = str(warm / "library" / "wenku" / "2026-11-21" / "part-0.jsonl")
        blob = models.to_bytes()
        kept, q, secs = _run(_ours, shards, a.workers, blob, warm_shard, a.passes)
        n_kept, nq, nsecs = _run(_naive, shards, a.workers, blob, warm_shard, a.passes)

    ours = score(truth, kept, _fragments(q, valid_only=True))
    ours_all = score(truth, kept, _fragments(q, valid_only=False))
    naive = score(truth, n_kept, _fragments(nq, valid_only=False))
    n_exam = sum(t["is_exam"] for t in truth.values())
    print(f"held-out set ({a.generator} generator): seed {a.seed}, {n_docs} documents ({n_exam} exam papers, {ours.n_true} true questions), "
          f"{raw_mb:.1f} MB raw JSONL, {a.workers} worker processes, {os.cpu_count()} cores visible")
    print(f"classifier training (not timed below): {train_s:.1f} s; held-out {json.dumps(models.metrics)}")
    rows = [
        ("exam-document F1", ours.doc_f1, naive.doc_f1, ">= 0.98"),
        ("  precision / recall", f"{ours.doc_precision:.4f} / {ours.doc_recall:.4f}",
         f"{naive.doc_precision:.4f} / {naive.doc_recall:.4f}", ""),
        ("question recall", ours.q_recall, naive.q_recall, ">= 0.96"),
        ("question precision", ours.q_precision, naive.q_precision, ">= 0.96"),
        ("  (all fragments, before validity)", f"R {ours_all.q_recall:.4f} P {ours_all.q_precision:.4f}", "", ""),
        ("subject accuracy (found questions)", ours.subject_acc, naive.subject_acc, ">= 0.95"),
        ("throughput MB/s", round(raw_mb / secs, 2), round(raw_mb / nsecs, 2), ">= 20"),
        ("fragments emitted (valid)", ours.n_fragments, naive.n_fragments, ""),
    ]
    print(f"{'metric':38s} {'corpus_dag':>22s} {'naive re.split':>22s} {'target':>8s}")
    for name, mine, base, target in rows:
        print(f"{name:38s} {str(mine):>22s} {str(base):>22s} {target:>8s}")
    print_kinds(truth, records, kept, _fragments(q, valid_only=True), _fragments(nq, valid_only=False), n_kept)
    ctx = context_scores(truth, {d: list(zip(g["text"], g["context"])) for (d,), g in q.filter("is_valid").group_by("doc_id")})
    if ctx.group_found:
        print(f"material context: {ctx.group_context_right:.4f} of {ctx.group_found} found group questions carry their material; "
              f"{ctx.plain_context_null:.4f} of {ctx.plain_found} found ordinary questions carry none")
    print(f"ratios vs naive: question recall x{ours.q_recall / max(naive.q_recall, 1e-9):.2f}, "
          f"precision x{ours.q_precision / max(naive.q_precision, 1e-9):.2f}, F1 x{ours.doc_f1 / max(naive.doc_f1, 1e-9):.2f}, "
          f"throughput x{(raw_mb / secs) / (raw_mb / nsecs):.2f}")


if __name__ == "__main__":
    main()
