"""`make demo`: seed the shipped sample library, materialize every stage through the named jobs,
print a per-stage table and the funnel from documents to training rows."""
import glob
import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg

from assets.common.engine import MODEL_POOL, one_ray_for_all_runs
from assets.definitions import defs
from assets.runner import funnel, materialize_all
from corpus_dag.storage import CorpusStore, seed_raw_library

SAMPLE_LIBRARY = Path(__file__).resolve().parent.parent / "samples" / "library"
# The demo's LLM is a tiny random model on CPU: keep its generations short. Real runs use the
# asset defaults (4 samples, 1024 tokens) or what the launchpad sets.
DEMO_CONFIG = {
    "rebuilt_math_items": {"samples": 2, "max_tokens": 32},
    "scored_math_items": {"max_tokens": 32},
    "self_instruct_math_items": {"samples": 2, "max_tokens": 32, "prompts_per_area": 1},
    # 2 segment pairs per long document instead of 8: a quarter of the reference-LM work (the largest
    # share of the demo's time), every long document still scored
    "coherence_scores": {"max_pairs": 2},
}


def open_model_pool(instance: dg.DagsterInstance, workers: int, gpus: int | None = None) -> str:
    """The model stages' pool (`gpu`) on this host: dagster.yaml lets one run at a time, as a GPU holds
    one vLLM engine. Without a GPU (`gpus`: the host's NVIDIA devices) they are CPU work like any
    other stage, so as many may run as there are workers (the demo's measured gain: 89 s -> 72 s).
    A limit set by hand (the UI's Concurrency page, `dagster instance concurrency set`) stands."""
    storage = instance.event_log_storage
    limit = next((p for p in storage.get_pool_limits() if p.name == MODEL_POOL), None)
    if limit is not None and not limit.from_default:
        return f"pool {MODEL_POOL}: {limit.limit} at a time (set on this instance)"
    gpus = len(glob.glob("/dev/nvidia[0-9]*")) if gpus is None else gpus
    if gpus or workers == 1:
        return f"pool {MODEL_POOL}: one model stage at a time (dagster.yaml)"
    storage.set_concurrency_slots(MODEL_POOL, workers)
    return f"pool {MODEL_POOL}: {workers} model stages at a time (no GPU here: they run on the CPU like the others)"


def print_table(summary) -> None:
    header = f"{'asset':<28} {'partition':<20} {'rows in':>8} {'rows out':>9} {'secs':>6}  dropped (reason: rows)"
    print(header)
    print("-" * len(header))
    for r in summary.rows:
        dropped = ", ".join(f"{k}: {v}" for k, v in list(r.dropped.items())[:3])
        more = f" (+{len(r.dropped) - 3} more)" if len(r.dropped) > 3 else ""
        fmt = lambda v: "" if v is None else f"{v:,}"
        print(f"{r.asset:<28} {r.partition:<20} {fmt(r.rows_in):>8} {fmt(r.rows_out):>9} {r.seconds or '':>6}  {dropped}{more}")


def print_funnel(summary) -> None:
    """Documents in -> ... -> training rows, overall and per source, then why any stage is empty."""
    rows = funnel(summary)
    sources = sorted({s for r in rows for s in r.by_source})
    header = f"{'funnel':<30} {'all':>7}" + "".join(f" {s:>9}" for s in sources)
    print(header)
    print("-" * len(header))
    for r in rows:
        per_source = "".join(f" {r.by_source[s]:>9,}" if s in r.by_source else f" {'-':>9}" for s in sources)
        print(f"{r.label:<30} {r.total:>7,}{per_source}")
    for note in dict.fromkeys(summary.notes.values()):  # one note, however many assets carry it
        print()
        print(textwrap.fill(f"Note: {note}", width=100))


def main() -> int:
    started = time.monotonic()
    store = CorpusStore()
    copied = seed_raw_library(store, SAMPLE_LIBRARY)
    raw = store.raw_files()
    partitions = sorted(f"{date}|{source}" for source, date in raw)
    print(f"corpus root: {store.root_url} ({len(copied)} raw files seeded, partitions: {', '.join(partitions)})")
    instance = dg.DagsterInstance.get()
    # A kill (SIGTERM) unwinds like Ctrl-C, so a Ray instance started for the demo is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with one_ray_for_all_runs(defs.resources["engine"]) as engine_line:
        print(engine_line)
        # local engine: two worker processes run independent runs side by side; on Ray the stages fan out themselves
        workers = 2 if defs.resources["engine"].kind == "local" else 1
        print(open_model_pool(instance, workers))
        summary = materialize_all(defs, instance, partitions, asset_config=DEMO_CONFIG, log_level="WARNING", workers=workers,
                                  weight={f"{date}|{source}": sum(f.size for f in files) for (source, date), files in raw.items()})
    print()
    print_table(summary)
    print()
    print_funnel(summary)
    print()
    print(f"checks: {summary.checks_passed} passed, {len(summary.checks_failed)} failed, {len(summary.checks_warned)} warnings")
    for name in summary.checks_failed:
        print(f"  FAILED  {name}")
    for name in summary.checks_warned:
        print(f"  warning {name}")
    for note in sorted(set(summary.caveats.values())):
        assets = ", ".join(a for a, n in sorted(summary.caveats.items()) if n == note)
        print(f"NOTE ({assets}): {note}")
    print(engine_line)
    print(f"done in {time.monotonic() - started:.0f}s. Dagster instance: {os.environ.get('DAGSTER_HOME')}")
    print("Open the UI with `make ui`, then http://127.0.0.1:3000 (Assets -> Lineage, Partitions, Checks).")
    return 0 if not summary.checks_failed else 1


def exit_now(code: int) -> None:
    """End without the interpreter's teardown: the vLLM engines' finalizers (gc, torch.distributed
    cleanup) took 15 s at exit under load and free nothing the OS does not. Every partition, event
    and line is written by now (the instance's SQLite connections close after each use)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
