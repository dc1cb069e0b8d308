"""Perplexity stage overhead against bare vLLM prompt-logprob scoring of the same texts.

Ours: `corpus_dag.quality.perplexity.score_documents` with the vLLM backend (tokenize, window,
batch by length, score, build the `perplexity_scores` frame with buckets).
Peer: the shortest correct script with the same engine: tokenize every text, cut it to the same
window, one `LLM.generate(..., SamplingParams(prompt_logprobs=0, max_tokens=1))` call for all of
them, perplexity per text in a Python loop. Both run on one loaded engine, after a warm-up, in
alternating order; the figure is the best of the repeats.

Model: the tiny random Qwen2 from `corpus_dag.llm.tiny_model` (no model hub here), in float32 on
CPU, so the absolute times are small; the ratio is what this measures. Texts: Chinese exam items
with analyses (GAOKAO-Bench Apache-2.0, AGIEval MIT, CMATH MIT, TAL-SCQ5K MIT, Qwen2.5-Math MIT)
and GSM8K test items with solutions (openai/grade-school-math, MIT), from /work/shared/data/public
(see SOURCES.md there).

    python -m benchmarks.bench_perplexity            # 1200 documents, 3 repeats
    python -m benchmarks.bench_perplexity --quick    # 150 documents, 2 repeats
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import polars as pl

PUBLIC = Path(__file__).resolve().parents[2] / "shared" / "data" / "public"
WINDOW = 256


def _texts(n: int) -> list[str]:
    def rows(name):
        with open(PUBLIC / name, encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    zh = [r["question"] + "\n" + (r.get("analysis") or "") for r in rows("zh_exam_questions.jsonl")]
    en = [r["question"] + "\n" + r["answer"] for r in rows("gsm8k_test_sample.jsonl")]
    mixed = [t for pair in zip(zh, en) for t in pair]
    return mixed[:n]


def bare_vllm(llm, tokenizer, texts: list[str]) -> list[float | None]:
    from vllm import SamplingParams, TokensPrompt

    ids = [row[:WINDOW] for row in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    keep = [i for i, row in enumerate(ids) if len(row) >= 2]
    outs = llm.generate([TokensPrompt(prompt_token_ids=ids[i]) for i in keep], SamplingParams(prompt_logprobs=0, max_tokens=1), use_tqdm=False)
    ppl: list[float | None] = [None] * len(texts)
    for i, out in zip(keep, outs):
        lps = [lp[t].logprob for t, lp in zip(ids[i][1:], out.prompt_logprobs[1:])]
        ppl[i] = math.exp(-sum(lps) / len(lps))
    return ppl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="150 documents, 2 repeats")
    ap.add_argument("--docs", type=int, default=None)
    args = ap.parse_args()
    n, repeats = (150, 2) if args.quick else (args.docs or 1200, 3)
    work = Path(tempfile.mkdtemp(prefix="bench_ppl_"))
    try:
        run(work, n, repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, n: int, repeats: int) -> None:
    from corpus_dag.llm.cpu import apply_vllm_env
    from corpus_dag.llm.tiny_model import build_tiny_model

    apply_vllm_env(work / "env")
    from corpus_dag.quality.perplexity import PplConfig, VllmScorer, score_documents

    cfg = PplConfig(str(build_tiny_model(work / "model")), backend="vllm", window_tokens=WINDOW)
    scorer = VllmScorer(cfg)
    texts = _texts(n)
    df = pl.DataFrame({"doc_id": [f"d{i}" for i in range(len(texts))], "text": texts})
    n_tokens = sum(min(len(r), WINDOW) for r in scorer.tokenizer(texts, add_special_tokens=False)["input_ids"])
    print(f"{len(texts)} documents, {n_tokens} tokens scored (window {WINDOW}), tiny Qwen2 on vLLM CPU")

    bare_vllm(scorer.llm, scorer.tokenizer, texts[:16])  # warm-up
    ours_t, bare_t = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        ours = score_documents(df, scorer, cfg)
        ours_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        bare = bare_vllm(scorer.llm, scorer.tokenizer, texts)
        bare_t.append(time.perf_counter() - t)
    worst = max(abs(a - b) / b for a, b in zip(ours["ppl"].to_list(), bare) if b is not None)
    print(f"{'scoring':<34}{'s':>8}{'tokens/s':>12}")
    print(f"{'corpus_dag perplexity_scores':<34}{min(ours_t):>8.2f}{n_tokens / min(ours_t):>12.0f}")
    print(f"{'bare vLLM prompt_logprobs':<34}{min(bare_t):>8.2f}{n_tokens / min(bare_t):>12.0f}")
    print(f"overhead ours/bare: {min(ours_t) / min(bare_t):.3f}x (target <= 1.15x); max relative ppl difference {worst:.1e}")


if __name__ == "__main__":
    main()
