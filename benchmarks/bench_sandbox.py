"""PoT sandbox throughput (programs per second, 2 workers) of the bwrap sandbox against the previous design.

Ours: `run_programs` in mode `bwrap` (issue 12): per program one prlimit + bwrap launch with user,
mount, PID, network, IPC, UTS and cgroup namespaces, a read-only view of the interpreter and its
libraries (a few dozen bind mounts), a tmpfs work dir, and a wait until the PID namespace is gone.
Previous: mode `unsafe`, which is the previous design without its namespace and uid drop: a plain
subprocess `python -I -S` with rlimits (now set by prlimit, formerly by preexec_fn), an empty
environment, the audit hook and a process-group kill. The ratio is bwrap / previous (below 1: the
price of isolation).

Programs: short stdlib PoT programs of the kind the prompt asks for (fractions, math, itertools,
loops), each printing its answer; every result is checked, so a broken sandbox cannot look fast.

    python -m benchmarks.bench_sandbox            # 400 programs per mode
    python -m benchmarks.bench_sandbox --quick    # 60 programs per mode
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

from corpus_dag.rebuild.sandbox import (
    BWRAP,
    OK,
    UNSAFE,
    SandboxCfg,
    run_programs,
    sandbox_capabilities,
)

PROGRAMS = [
    ("from fractions import Fraction\nprint(Fraction(3, 4) + Fraction(5, 6))", "19/12"),
    ("import math\nprint(math.comb(10, 3) * math.factorial(4))", "2880"),
    ("import itertools\nprint(sum(1 for p in itertools.permutations(range(6)) if p[0] < p[-1]))", "360"),
    ("total = 0\nfor n in range(1, 1001):\n    if n % 3 == 0 or n % 5 == 0:\n        total += n\nprint(total)", "234168"),
    ("a, b = 1, 1\nfor _ in range(48):\n    a, b = b, a + b\nprint(a)", "7778742049"),
    ("import math\nr = 3\nprint(round(math.pi * r * r, 2))", "28.27"),
]
WORKERS = 2


def measure(mode: str, n: int) -> tuple[float, float]:
    """(programs per second, median seconds per program) for `n` programs in `mode`; checks every answer."""
    cfg = SandboxCfg(mode=mode, workers=WORKERS)
    sandbox_capabilities(mode)  # the one-off probe is not part of the throughput
    batch = [PROGRAMS[i % len(PROGRAMS)] for i in range(n)]
    started = time.perf_counter()
    results = run_programs([code for code, _ in batch], cfg)
    elapsed = time.perf_counter() - started
    wrong = [(r.status, r.answer, want) for r, (_, want) in zip(results, batch) if (r.status, r.answer) != (OK, want)]
    if wrong:
        raise SystemExit(f"{mode}: {len(wrong)} of {n} programs gave a wrong result, e.g. {wrong[0]}")
    return n / elapsed, statistics.median(r.seconds for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 programs per mode instead of 400")
    n = 60 if parser.parse_args().quick else 400
    print(f"{n} programs per mode, {WORKERS} workers, {os.cpu_count()} cores, launcher uid {os.geteuid()}")
    previous = measure(UNSAFE, n)
    ours = measure(BWRAP, n)
    for name, (rate, median) in (("previous (subprocess + rlimits)", previous), ("bwrap (namespaces)", ours)):
        print(f"{name:<32}: {rate:6.1f} programs/s, median {median * 1000:5.1f} ms per program")
    print(f"ratio bwrap / previous         : {ours[0] / previous[0]:.2f}")


if __name__ == "__main__":
    main()
