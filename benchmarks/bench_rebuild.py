"""Rebuild stage generation time against a bare `LLM.generate` of the same prompts and sampling params.

Ours: the generation half of `Rebuilder.rebuild` (`plan` + `complete`) with the offline
`VllmEngine` on an empty response cache: render the prompts, look them up in the cache, send the
missing ones to vLLM in one call, flush the responses to the cache. Parsing, the sandbox and the
answer comparison are timed apart (the peer does none of them).
Peer: one `LLM.generate(prompts, [SamplingParams per request])` with the very same rendered prompts
and per-sample params (seed + sample index, guided JSON) on the same loaded engine, in the same
process, with prefix caching off so no run reuses another's KV cache. Runs alternate (peer, ours)
after a warm-up; the figure is the best of the repeats. Because the machine is shared and the
runs minutes apart, the script also prints a same-run ratio: our wall time over the
`LLM.generate` call made inside that very run (the stage's own overhead, immune to load swings).

Model: the tiny random Qwen2 from `corpus_dag.llm.tiny_model` in float32 on CPU, so absolute
times are small and the ratio is what this measures. Fragments: the 数学 items of the shared
Chinese exam set (GAOKAO-Bench Apache-2.0, AGIEval MIT, CMATH MIT, TAL-SCQ5K MIT, Qwen2.5-Math MIT;
/work/shared/data/public/SOURCES.md), cycled when more prompts are asked for.

    python -m benchmarks.bench_rebuild            # 256 prompts (128 questions x 2 samples), 3 repeats
    python -m benchmarks.bench_rebuild --quick    # 32 prompts x 32 tokens, 2 repeats
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import polars as pl

PUBLIC = Path(__file__).resolve().parents[2] / "shared" / "data" / "public"
SAMPLES = 2


def fragments(n: int) -> list[str]:
    path = PUBLIC / "zh_exam_questions.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
    math_items = [r["question"][:600] for r in rows if r["subject"] == "数学"] or ["已知函数 f(x)=x^2-2x+3，求最小值。"]
    return [f"{math_items[i % len(math_items)]}（{i}）" for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="32 prompts x 32 tokens, 2 repeats (< 60 s)")
    ap.add_argument("--prompts", type=int, default=None)
    ap.add_argument("--max-tokens", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args()
    n_prompts = args.prompts or (32 if args.quick else 256)
    max_tokens = args.max_tokens or (32 if args.quick else 64)
    repeats = args.repeats or (2 if args.quick else 3)

    work = Path(tempfile.mkdtemp(prefix="bench_rebuild-"))
    try:
        from corpus_dag.llm.cpu import apply_vllm_env

        apply_vllm_env(work / "env")
        from corpus_dag.llm.cache import ResponseCache
        from corpus_dag.llm.engines import VllmCfg, VllmEngine
        from corpus_dag.llm.tiny_model import build_tiny_model
        from corpus_dag.rebuild.stage import RebuildCfg, Rebuilder
        from corpus_dag.storage import CorpusStore

        model = build_tiny_model(work / "tiny")
        # Prefix caching off: both sides send the very same prompts, and the later runs must not be
        # served from the earlier runs' KV cache.
        engine = VllmEngine(
            VllmCfg(str(model), served_name="tiny", dtype="float32", max_model_len=2048, enforce_eager=True, prefix_caching=False)
        )
        engine.start()
        cfg = RebuildCfg(samples=SAMPLES, max_tokens=max_tokens)
        n_questions = n_prompts // SAMPLES
        questions = pl.DataFrame({"question_id": [f"q{i}" for i in range(n_questions)], "text": fragments(n_questions)})

        store = CorpusStore(str(work / "corpus"))

        def bare() -> tuple[float, int]:
            with Rebuilder(engine, ResponseCache(store, "unused"), cfg) as rb:
                jobs = rb.plan(questions)
            prompts = [engine.render(j["messages"]) for j in jobs]
            params = [engine.sampling_params(cfg.sampling, j["sample_idx"]) for j in jobs]
            started = time.monotonic()
            outputs = engine.llm.generate(prompts, params, use_tqdm=False)
            return time.monotonic() - started, sum(len(o.outputs[0].token_ids) for o in outputs)

        def ours(run: int) -> tuple[float, float, float, dict]:
            batch = questions
            with Rebuilder(engine, ResponseCache(store, f"run{run}"), cfg) as rb:
                started = time.monotonic()
                completions = rb.complete(rb.plan(batch))
                generation = time.monotonic() - started
                inner = sum(c.latency_s for c in completions)  # the LLM.generate call inside this very run
                rest_started = time.monotonic()
                rb.rebuild(batch)  # all cached now: parsing, sandbox, comparison only
                rest = time.monotonic() - rest_started
                return generation, inner, rest, rb.stats.as_dict(engine)

        bare()  # warm-up (JSON grammar compiled once for both sides)
        peer_times, our_times, inner_times, rest_times = [], [], [], []
        for run in range(repeats):
            seconds, peer_tokens = bare()
            peer_times.append(seconds)
            generation, inner, rest, stats = ours(run)
            our_times.append(generation)
            inner_times.append(inner)
            rest_times.append(rest)
        peer, mine = min(peer_times), min(our_times)
        print(f"prompts: {n_questions * SAMPLES} ({n_questions} questions x {SAMPLES} samples), "
              f"max_tokens {max_tokens}, guided JSON, repeats {repeats}")
        print(f"bare LLM.generate          : {peer:.3f} s  (runs: {', '.join(f'{t:.3f}' for t in peer_times)})")
        print(f"rebuild stage generation   : {mine:.3f} s  (runs: {', '.join(f'{t:.3f}' for t in our_times)})")
        print(f"ratio stage / bare         : {mine / peer:.3f}x  (target <= 1.15x)")
        overhead = [o / i for o, i in zip(our_times, inner_times)]
        print(f"same-run ratio stage / its own LLM.generate: {min(overhead):.3f}x best, "
              f"{sorted(overhead)[len(overhead) // 2]:.3f}x median (immune to load between runs)")
        print(f"parse + sandbox + compare  : {min(rest_times):.3f} s (not in the ratio: the peer does none of it)")
        print(f"stage stats (last run)     : prompts_sent {stats['prompts_sent']}, cache_hits {stats['cache_hits']}, "
              f"tokens/s {stats['tokens_per_s']}, items/hour {stats['items_per_hour']}")
        print(f"tokens generated           : bare {peer_tokens}, stage {stats['tokens_out_generated']} (same prompts, same seeds)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
