"""Data-Juicer's ray_bts_minhash_deduplicator over a Parquet corpus (doc_id, text), run by Data-Juicer's own Python.

py-data-juicer cannot be installed beside this project's pins (see the Makefile's dj-venv), so
bench_ray starts this script in its venv ($CORPUS_DJ_PYTHON). With --address it attaches to the
bench's own Ray instance (same Ray version) and runs its workers on this venv's Python
(runtime_env py_executable), so that they import data_juicer; an instance with token
authentication also needs RAY_AUTH_MODE=token here, which the bench's ray.init sets for its
children. Without --address it starts a local instance of its own with --num-cpus CPUs.
Standard library, pyarrow, ray and data_juicer only. Writes one JSON file: the removed doc ids,
the number kept, the seconds from reading the corpus to the kept ids (op built, Ray attached and
workers warmed before the clock starts), this driver's peak RSS, how Ray was reached, the
settings, Data-Juicer's version.

    $CORPUS_DJ_PYTHON benchmarks/dj_minhash.py CORPUS_DIR WORK_DIR OUT.json --bands B --rows R [--address GCS | --num-cpus 2]

Settings next to ours (corpus_dag.dedup.DedupCfg): character 5-grams, Jaccard threshold 0.8, 128
permutations, and our bands x rows (passed in, not DJ's own optimum). Text lower-cased and
whitespace removed (ignore_pattern \\s) as our char shingles do; DJ does no NFKC. DJ unions every
band collision without verifying it (we verify by estimated Jaccard).
"""
import argparse
import json
import os
import sys
import time


def _read(corpus_dir: str, cpus: int):
    """The corpus as a Ray dataset in 2 blocks per CPU: Ray Data reads a small Parquet file as one
    block, one task, and Data-Juicer's MinHash runs one task per block."""
    import ray

    return ray.data.read_parquet(corpus_dir).select_columns(["doc_id", "text"]).repartition(2 * cpus)


def _import_dj(batch):
    import data_juicer.ops.deduplicator.ray_bts_minhash_deduplicator  # noqa: F401

    return batch


def _peak_rss_mb() -> float:
    """This process's VmHWM. Not ru_maxrss: Linux carries that over exec, so it would report the
    memory of the bench process that started this one."""
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus_dir")
    ap.add_argument("work_dir")
    ap.add_argument("out")
    ap.add_argument("--bands", type=int, required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--address", help="GCS address of a running Ray instance to attach to")
    ap.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local instance started without --address")
    args = ap.parse_args()

    import data_juicer
    import pyarrow.parquet as pq

    if args.address.startswith("127.0.0.1:"):  # the bench's instance binds loopback: join it as a loopback driver
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read by ray at import
    import ray
    from data_juicer.ops.deduplicator.ray_bts_minhash_deduplicator import (
        RayBTSMinhashDeduplicator,
    )

    if args.address:
        ray.init(address=args.address, runtime_env={"py_executable": sys.executable}, log_to_driver=False)
    else:
        ray.init(address="local", num_cpus=args.num_cpus, object_store_memory=300 * 1024**2,
                 include_dashboard=False, log_to_driver=False)
    op = RayBTSMinhashDeduplicator(tokenization="character", window_size=5, lowercase=True, ignore_pattern=r"\s",
                                   num_permutations=128, jaccard_threshold=0.8, num_bands=args.bands,
                                   num_rows_per_band=args.rows, work_dir=args.work_dir)
    all_ids = set(pq.read_table(args.corpus_dir, columns=["doc_id"])["doc_id"].to_pylist())
    cpus = int(ray.cluster_resources().get("CPU", 1))
    # Warm the workers (Ray Data and data_juicer imports), as bench_ray does for ours before its clock.
    for _ in _read(args.corpus_dir, cpus).map_batches(_import_dj, batch_format="pyarrow").iter_batches():
        pass
    started = time.perf_counter()
    docs = _read(args.corpus_dir, cpus)
    kept = {d for b in op.run(docs).iter_batches(batch_format="pyarrow") for d in b["doc_id"].to_pylist()}
    seconds = time.perf_counter() - started
    removed = sorted(all_ids - kept)
    ray.shutdown()
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"seconds": seconds, "removed": removed, "kept": len(kept),
                   "peak_rss_mb": _peak_rss_mb(),
                   "ray": f"attached to {args.address}" if args.address else f"own local instance, {args.num_cpus} CPUs",
                   "settings": f"character 5-grams, threshold 0.8, 128 permutations, {args.bands} bands x {args.rows} rows",
                   "version": data_juicer.__version__}, f)


if __name__ == "__main__":
    main()
