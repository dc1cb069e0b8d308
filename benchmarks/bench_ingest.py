"""Ingest: throughput and peak memory of raw JSONL -> raw_documents Parquet, at two partition sizes.

The claim under test: reading is streamed, so peak RSS stays flat when the partition grows, and
so do the checks (GX on a bounded sample, whole-partition metrics over streamed batches).
Peer, side by side in this script: polars' own `read_ndjson` + `write_parquet` (whole file in memory,
no per-record validation); for the checks, the previous way: the whole partition's columns through
pandas into GX. Each run happens in a fresh subprocess so ru_maxrss is its own.

Paths: `corpus_dag` (the reader alone), `stage` (the real `raw_documents` asset through Dagster,
no checks: the stage's own peak in the same framework), `dagster` (the asset and both of its
checks, materialized through Dagster in one process), `checks` (the two checks alone, re-run on the
stored partition), `gx_whole` (schema suite over the whole partition in pandas: the old check).
Every process that does the work counts: each run also reports the largest peak RSS among its
child processes (0 when no child ran; the checks start none), so work moved out of the measured
process cannot hide. `--trees` runs each path on each given checkout's code in turn (same inputs,
same session), to compare two commits side by side.

    python -m benchmarks.bench_ingest [--quick] [--trees ../main .]
"""
import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import datetime as dt, os, pathlib, resource, shutil, sys, time, fsspec, polars as pl
from corpus_dag.ingest import PartitionReader
from corpus_dag.storage import CorpusStore, arrow_schema
from corpus_dag.ingest import RAW_DOCUMENTS_SCHEMA
mode, src, out = sys.argv[1:4]
PK, DIMS = "2026-11-20|web", {"source": "web", "date": "2026-11-20"}
if mode in ("stage", "dagster", "checks", "gx_whole"):
    os.environ["CORPUS_ROOT"], os.environ["DAGSTER_HOME"] = out + "/corpus", out + "/home"
    if mode in ("stage", "dagster"):
        raw = pathlib.Path(out, "corpus/raw/web/2026-11-20")
        raw.mkdir(parents=True)
        os.link(src, raw / "in.jsonl")
        os.makedirs(out + "/home")
        shutil.copy("dagster.yaml", out + "/home/dagster.yaml")
    import dagster as dg
    from assets.common.partitions import DATE_SOURCE
    from assets.definitions import defs
passed = ""
t = time.perf_counter()
if mode == "stage":
    with dg.DagsterInstance.get() as instance:
        selection = dg.AssetSelection.assets("raw_documents", "rejected_documents").without_checks()
        result = dg.materialize([*defs.assets, *defs.asset_checks], instance=instance, resources=defs.resources,
                                selection=selection, partition_key=PK)
elif mode == "dagster":
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize([*defs.assets, *defs.asset_checks], instance=instance, resources=defs.resources,
                                selection=["raw_documents", "rejected_documents"], partition_key=PK, raise_on_error=False)
    passed = all(e.passed for e in result.get_asset_check_evaluations()) and len(result.get_asset_check_evaluations()) == 2
elif mode == "checks":
    job = dg.define_asset_job("checks", selection=dg.AssetSelection.checks_for_assets("raw_documents"), partitions_def=DATE_SOURCE)
    job_def = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, resources=defs.resources, jobs=[job]).resolve_job_def("checks")
    with dg.DagsterInstance.get() as instance:
        result = job_def.execute_in_process(instance=instance, tags={"dagster/partition": PK}, raise_on_error=False)
    passed = all(e.passed for e in result.get_asset_check_evaluations()) and len(result.get_asset_check_evaluations()) == 2
elif mode == "gx_whole":
    from assets.ingest.checks import _schema_expectations
    from corpus_dag.validation import run_suite
    frame = CorpusStore(os.environ["CORPUS_ROOT"]).read(CorpusStore.partition_path("raw_documents", DIMS), list(RAW_DOCUMENTS_SCHEMA))
    passed = run_suite(frame, _schema_expectations(), name="whole").success
elif mode == "corpus_dag":
    store = CorpusStore(out)
    reader = PartitionReader(fsspec.filesystem("file"), "web", dt.date(2026, 11, 21))
    with store.parquet_writer("raw_documents/data.parquet", arrow_schema(RAW_DOCUMENTS_SCHEMA)) as w:
        for split in reader.read(src):
            w.write(split.kept)
else:
    pl.read_ndjson(src).write_parquet(out + "/peer.parquet", compression="zstd")
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, passed)
"""


PATHS = ["corpus_dag", "polars", "stage", "dagster", "checks", "gx_whole"]


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


def run(mode: str, src: Path, out: Path, tree: Path = Path.cwd()) -> tuple[float, float, float, str]:
    """Seconds, peak RSS (MB) of the run's process and the largest of its children's, checks passed."""
    res = subprocess.run([sys.executable, "-c", CHILD, mode, str(src), str(out)], capture_output=True, text=True, check=False, cwd=tree)
    if res.returncode:
        raise RuntimeError(f"{mode} run failed:\n{res.stderr[-3000:]}")
    seconds, rss_kb, children_kb, *passed = res.stdout.strip().splitlines()[-1].split()
    return float(seconds), int(rss_kb) / 1024, int(children_kb) / 1024, " ".join(passed)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sizes", type=int, nargs="+", help="input sizes in MB (default 100 400; --quick: 20 80)")
    ap.add_argument("--paths", nargs="+", default=PATHS, choices=PATHS)
    ap.add_argument("--trees", type=Path, nargs="+", default=[Path.cwd()], help="checkouts whose code the runs use (default: this one)")
    args = ap.parse_args()
    sizes = args.sizes or ([20, 80] if args.quick else [100, 400])
    for i, tree in enumerate(args.trees):
        print(f"code {i}: {tree.resolve()}")
    print(f"{'input':>8} {'path':<12} {'code':>4} {'MB/s':>7} {'peak RSS MB':>12} {'children MB':>12} {'checks passed':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        for mb in sizes:
            src = Path(tmp) / f"in_{mb}.jsonl"
            make_corpus(src, mb)
            real_mb = src.stat().st_size / 1e6
            figures = {}
            for mode in args.paths:
                for i, tree in enumerate(args.trees):
                    out = Path(tmp) / f"out_{'dagster' if mode in ('checks', 'gx_whole') else mode}_{mb}_{i}"
                    out.mkdir(exist_ok=True)
                    secs, rss, children, passed = run(mode, src, out, tree)
                    figures[i, mode] = (real_mb / secs, rss)
                    print(f"{real_mb:>6.0f}MB {mode:<12} {i:>4} {real_mb / secs:>7.1f} {rss:>12.0f} {children:>12.0f} {passed:>14}", flush=True)
            for i in range(len(args.trees)):
                for a, b, what in (("corpus_dag", "polars", "speed and peak RSS"), ("checks", "gx_whole", "peak RSS"), ("checks", "stage", "peak RSS")):
                    if (i, a) in figures and (i, b) in figures:
                        speed = f"speed {figures[i, a][0] / figures[i, b][0]:.2f}x, " if what.startswith("speed") else ""
                        print(f"{'':>8} code {i} ratio {a}/{b}: {speed}peak RSS {figures[i, a][1] / figures[i, b][1]:.2f}x")


if __name__ == "__main__":
    main()
