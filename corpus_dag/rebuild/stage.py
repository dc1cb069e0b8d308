"""The rebuild stage: math question fragments in, k rebuilt samples per question out, then the verified ones.

Per input batch: look every (question, sample) up in the response cache, send only the missing
ones to the engine in ONE call, flush those responses to the cache, then parse, execute the
programs in the sandbox and compare program and CoT answers. A crash loses at most the batch in
flight; a re-run with the same config finds everything in the cache and calls no model.
"""
from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import Self

import polars as pl

from corpus_dag.accounting import REASON, Split
from corpus_dag.engine import BatchStep
from corpus_dag.llm.cache import ResponseCache, cache_key
from corpus_dag.llm.engines import Completion, Engine, OpenAICfg, Request, Sampling, VllmCfg, build_engine
from corpus_dag.rebuild.consistency import (
    ConsistencyCfg,
    canonical_program,
    majority,
    pick_paths,
)
from corpus_dag.rebuild.equivalence import NONE, AnswerJudge, EquivCfg
from corpus_dag.rebuild.parse import RESPONSE_SCHEMA, parse_response
from corpus_dag.rebuild.prompts import Prompt, load_prompt, messages_hash
from corpus_dag.rebuild.sandbox import SandboxCfg, run_programs, sandbox_capabilities
from corpus_dag.rebuild.sft import SftCfg, sft_messages

REBUILT_SCHEMA = {
    "item_id": pl.String,
    "question_id": pl.String,
    "prompt_version": pl.String,
    "model": pl.String,
    "sample_idx": pl.Int32,
    "valid": pl.Boolean,
    "knowledge_points": pl.List(pl.String),
    "question": pl.String,
    "cot": pl.String,
    "cot_answer": pl.String,
    "program": pl.String,
    "program_answer": pl.String,
    "exec_status": pl.String,
    "agree": pl.Boolean,
    "equivalence_tier": pl.String,
    "tokens_in": pl.Int32,
    "tokens_out": pl.Int32,
    "latency_s": pl.Float64,
    "context": pl.String,  # the material the source question's group shares (math_questions.context); null for most
}
MESSAGE = pl.Struct({"role": pl.String, "content": pl.String})
VERIFIED_SCHEMA = {
    "item_id": pl.String,
    "messages": pl.List(MESSAGE),
    "question_id": pl.String,
    "knowledge_points": pl.List(pl.String),
    "answer": pl.String,
    "model": pl.String,
    "prompt_version": pl.String,
    "votes": pl.Int32,
    "share": pl.Float64,
}
DROPPED_SCHEMA = {**REBUILT_SCHEMA, REASON: pl.String}


@dataclass(frozen=True)
class RebuildCfg:
    prompt: str = "kp_cot_pot"
    prompt_rev: int = 1
    samples: int = 4  # k samples per question
    guided_json: bool = True  # ask for RESPONSE_SCHEMA via structured output
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 1024
    seed: int = 0
    sandbox: SandboxCfg = field(default_factory=SandboxCfg)
    equivalence: EquivCfg = field(default_factory=EquivCfg)
    consistency: ConsistencyCfg = field(default_factory=ConsistencyCfg)

    @property
    def sampling(self) -> Sampling:
        schema = RESPONSE_SCHEMA if self.guided_json else None
        return Sampling(self.temperature, self.top_p, self.max_tokens, self.seed, schema)


@dataclass
class RebuildStats:
    """Counters for a partition's metadata."""

    questions: int = 0
    samples: int = 0
    prompts_sent: int = 0
    cache_hits: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    generation_s: float = 0.0
    valid: int = 0
    agree: int = 0
    exec_status: Counter = field(default_factory=Counter)

    def add(self, other: RebuildStats) -> None:
        """Count another batch's statistics in (a stage sums its workers' batches)."""
        for f in fields(self):  # every counter; the Counter adds per key
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self, engine: Engine | None = None) -> dict:
        hours = self.generation_s / 3600
        return {
            "questions": self.questions,
            "samples": self.samples,
            "prompts_sent": self.prompts_sent,
            "cache_hits": self.cache_hits,
            "tokens_in_sent": self.tokens_in,
            "tokens_out_generated": self.tokens_out,
            "generation_s": round(self.generation_s, 3),
            "tokens_per_s": round(self.tokens_out / self.generation_s, 1) if self.generation_s else 0.0,
            "items_per_hour": round(self.prompts_sent / hours, 1) if hours else 0.0,
            "validity_rate": round(self.valid / self.samples, 4) if self.samples else 0.0,
            "agreement_rate": round(self.agree / self.valid, 4) if self.valid else 0.0,
            "exec_status": dict(self.exec_status),
            **(engine.cost(self.tokens_in, self.tokens_out, self.generation_s) if engine else {}),
        }


class Rebuilder:
    """Rebuilds batches of `math_questions` rows (needs `question_id` and `text`; `context`, the material of a
    question group, goes into the prompt before the question when the batch has it) with one engine and cache."""

    def __init__(self, engine: Engine, cache: ResponseCache, cfg: RebuildCfg = RebuildCfg()):
        sandbox_capabilities(cfg.sandbox.mode)  # no sandbox, no generation: raises SandboxUnavailable
        self.engine, self.cache, self.cfg = engine, cache, cfg
        self.prompt = load_prompt(cfg.prompt, cfg.prompt_rev)
        self.sampling = cfg.sampling
        self.judge = AnswerJudge(cfg.equivalence)
        self.stats = RebuildStats()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the answer judge's worker process."""
        self.judge.close()

    def rebuild(self, questions: pl.DataFrame) -> pl.DataFrame:
        """One row per (question, sample) with the columns of REBUILT_SCHEMA."""
        missing = {"question_id", "text"} - set(questions.columns)
        if missing:
            raise ValueError(f"rebuild: input batch lacks column(s) {sorted(missing)}")
        jobs = self.plan(questions)
        completions = self.complete(jobs)
        parsed = [parse_response(c.text, self.prompt.required) for c in completions]
        runs = run_programs([p.program if p.valid else None for p in parsed], self.cfg.sandbox)
        rows = []
        for job, c, p, run in zip(jobs, completions, parsed, runs):
            verdict = self.judge.judge(p.answer, run.answer) if p.valid and run and run.answer else None
            rows.append(
                {
                    "item_id": job["item_id"],
                    "question_id": job["question_id"],
                    "prompt_version": self.prompt.version,
                    "model": self.engine.model,
                    "sample_idx": job["sample_idx"],
                    "valid": p.valid,
                    "knowledge_points": p.knowledge_points,
                    "question": p.question or None,
                    "cot": p.cot or None,
                    "cot_answer": p.answer or None,
                    "program": p.program or None,
                    "program_answer": run.answer if run else None,
                    "exec_status": run.status if run else None,
                    "agree": bool(verdict and verdict.equal),
                    "equivalence_tier": verdict.tier if verdict else NONE,
                    "tokens_in": c.tokens_in,
                    "tokens_out": c.tokens_out,
                    "latency_s": c.latency_s,
                    "context": job["context"],
                }
            )
            self.stats.exec_status[rows[-1]["exec_status"] or "not_run"] += 1
        self.stats.questions += questions.height
        self.stats.samples += len(rows)
        self.stats.valid += sum(r["valid"] for r in rows)
        self.stats.agree += sum(r["agree"] for r in rows)
        return pl.DataFrame(rows, schema=REBUILT_SCHEMA)

    def plan(self, questions: pl.DataFrame) -> list[dict]:
        fingerprint = self.sampling.fingerprint()
        run_id = hashlib.sha1(f"{self.engine.model}|{self.prompt.version}|{fingerprint}".encode()).hexdigest()[:8]
        contexts = questions["context"] if "context" in questions.columns else pl.repeat(None, questions.height, eager=True)
        jobs = []
        for qid, text, context in zip(questions["question_id"], questions["text"], contexts):
            for i in range(self.cfg.samples):
                job = plan_job(self.engine.model, self.prompt, text or "", fingerprint, i, context)
                jobs.append({**job, "question_id": qid, "item_id": f"{qid}-{run_id}-s{i}", "context": context})
        return jobs

    def complete(self, jobs: list[dict]) -> list[Completion]:
        return complete_cached(self.engine, self.cache, self.prompt.version, jobs, self.sampling, self.stats)


class RebuildStep(BatchStep):
    """`Rebuilder.rebuild` as an engine step: each worker builds its own LLM engine from `llm` (a vLLM
    model loads once per worker process: once in the Dagster step on engine `local`, once per actor
    on Ray) and shares `cache`; a batch's Split keeps every sample of its questions, and its facts are
    the batch's own statistics (`RebuildStats`), which the stage sums."""

    def __init__(self, llm: VllmCfg | OpenAICfg, cache: ResponseCache, cfg: RebuildCfg = RebuildCfg()):
        self.llm, self.cache, self.cfg, self.rebuilder = llm, cache, cfg, None

    def setup(self) -> None:
        self.rebuilder = Rebuilder(build_engine(self.llm), self.cache, self.cfg)

    def teardown(self) -> None:
        if self.rebuilder is not None:
            self.rebuilder.close()

    def __call__(self, questions: pl.DataFrame) -> Split:
        self.rebuilder.stats = RebuildStats()
        return Split(self.rebuilder.rebuild(questions), kept_in=questions.height, facts=self.rebuilder.stats)


def plan_job(model: str, prompt: Prompt, fragment: str, fingerprint: str, sample_idx: int, context: str | None = None) -> dict:
    """One request to send or find in the cache: messages, their hash, the cache key, the sample index."""
    messages = prompt.messages(fragment, context)
    digest = messages_hash(messages)
    key = cache_key(model, prompt.version, digest, fingerprint, sample_idx)
    return {"messages": messages, "prompt_hash": digest, "key": key, "sample_idx": sample_idx}


def complete_cached(
    engine: Engine, cache: ResponseCache, prompt_version: str, jobs: list[dict], sampling: Sampling, stats: RebuildStats
) -> list[Completion]:
    """Cached completions where present; all others from ONE engine call, flushed to the cache.

    `jobs` come from `plan_job`; `stats` counts prompts sent, cache hits, tokens and generation time.
    """
    cached = cache.get_many(j["key"] for j in jobs)
    todo = [j for j in jobs if j["key"] not in cached]
    stats.cache_hits += len(jobs) - len(todo)
    if todo:
        engine.start()
        started = time.monotonic()
        fresh = engine.generate([Request(j["messages"], j["sample_idx"]) for j in todo], sampling)
        stats.generation_s += time.monotonic() - started
        stats.prompts_sent += len(todo)
        stats.tokens_in += sum(c.tokens_in for c in fresh)
        stats.tokens_out += sum(c.tokens_out for c in fresh)
        fingerprint = sampling.fingerprint()
        rows = [
            {
                "key": j["key"],
                "model": engine.model,
                "prompt_version": prompt_version,
                "prompt_hash": j["prompt_hash"],
                "sampling": fingerprint,
                "sample_idx": j["sample_idx"],
                "text": c.text,
                "tokens_in": c.tokens_in,
                "tokens_out": c.tokens_out,
                "latency_s": c.latency_s,
            }
            for j, c in zip(todo, fresh)
        ]
        cache.put_many(rows)
        cached.update((r["key"], r) for r in rows)
    return [Completion(r["text"], r["tokens_in"], r["tokens_out"], r["latency_s"]) for r in (cached[j["key"]] for j in jobs)]


def select_verified(
    rebuilt: pl.DataFrame, judge: AnswerJudge, cfg: ConsistencyCfg | None = None, sft: SftCfg = SftCfg()
) -> Split:
    """Per question: majority vote over the samples' CoT answers, then up to `max_paths` distinct paths.

    Kept rows are SFT records (VERIFIED_SCHEMA); every other sample is dropped with its reason.
    Expects all samples of a question in this frame (see `VerifyStep`).
    """
    cfg = cfg or ConsistencyCfg()
    kept, dropped = [], []
    for _, group in rebuilt.group_by("question_id", maintain_order=True):
        rows = group.sort("sample_idx").to_dicts()
        answers = [r["cot_answer"] if r["valid"] else None for r in rows]
        groups = majority(answers, lambda a, b: judge.judge(a, b).equal)
        top = groups[0] if groups else []
        votes, share = len(top), len(top) / len(rows)
        passes = votes >= cfg.min_votes and share >= cfg.min_share
        reasons: dict[int, str] = {}
        for i, r in enumerate(rows):
            if not r["valid"]:
                reasons[i] = "invalid_response"
            elif not passes:
                reasons[i] = f"no_consensus: {votes}/{len(rows)} votes"
            elif i not in top:
                reasons[i] = "minority_answer"
            elif r["program"] and not r["agree"]:  # a CoT-only prompt (kp_cot) has no program to check
                reasons[i] = "program_disagrees"
        candidates = [i for i in top if i not in reasons]
        _, why = pick_paths([path_key(rows[i]) for i in candidates], cfg.max_paths)
        reasons.update({candidates[j]: reason for j, reason in why.items()})
        for i, r in enumerate(rows):
            if i in reasons:
                dropped.append({**r, REASON: reasons[i]})
            else:
                kept.append(_sft_record(r, votes, share, sft))
    return Split(pl.DataFrame(kept, schema=VERIFIED_SCHEMA), pl.DataFrame(dropped, schema=DROPPED_SCHEMA))


class VerifyStep(BatchStep):
    """`select_verified` as an engine step over batches that hold whole questions (`map_batches(...,
    whole="question_id")`); the Math-Verify judge process starts once per worker."""

    def __init__(self, cfg: ConsistencyCfg | None = None, sft: SftCfg = SftCfg()):
        self.cfg, self.sft, self.judge = cfg or ConsistencyCfg(), sft, None

    def setup(self) -> None:
        self.judge = AnswerJudge()

    def teardown(self) -> None:
        if self.judge is not None:
            self.judge.close()

    def __call__(self, batch: pl.DataFrame) -> Split:
        return select_verified(batch.select(list(REBUILT_SCHEMA)).cast(REBUILT_SCHEMA), self.judge, self.cfg, self.sft)


def whole_questions(batches: Iterable[pl.DataFrame], schema: dict, key: str = "question_id") -> Iterator[pl.DataFrame]:
    """Re-cut a stream of batches whose rows are grouped by `key` so no group is split across two frames:
    the last group of a batch waits for the next batch. Every frame is cast to `schema`."""
    carry = pl.DataFrame(schema=schema)
    for batch in batches:
        batch = pl.concat([carry, batch.select(list(schema)).cast(schema)])
        if batch.height == 0:
            continue
        last = batch[key][-1]
        carry = batch.filter(pl.col(key) == last)
        ready = batch.filter(pl.col(key) != last)
        if ready.height:
            yield ready
    if carry.height:
        yield carry


def path_key(row: dict) -> str | None:
    """What makes a reasoning path distinct: its canonical program, or its whitespace-collapsed CoT without one."""
    if row["program"]:
        return canonical_program(row["program"])
    return " ".join((row["cot"] or "").split())


def _sft_record(row: dict, votes: int, share: float, sft: SftCfg) -> dict:
    return {
        "item_id": row["item_id"],
        "messages": sft_messages(row, sft),
        "question_id": row["question_id"],
        "knowledge_points": row["knowledge_points"],
        "answer": row["cot_answer"],
        "model": row["model"],
        "prompt_version": row["prompt_version"],
        "votes": votes,
        "share": round(share, 4),
    }
