"""The post-training stages over frames of whole questions: score, RFT paths, DPO pairs, self-instruct.

Each function takes every path of the questions it is given (see `whole_questions`) and returns a
Split: kept rows, and dropped rows with a `reason`. Model calls go through the rebuild stage's
`complete_cached`, so every response is in the response cache and a re-run calls no model.
"""
from __future__ import annotations

import hashlib
import heapq
import itertools
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa

from corpus_dag.accounting import REASON, Split
from corpus_dag.llm.cache import ResponseCache
from corpus_dag.llm.engines import Engine, Sampling
from corpus_dag.posttrain.critique import CRITIQUE_SCHEMA, critique_fragment, parse_critique
from corpus_dag.posttrain.dpo import DpoCfg, pair_paths
from corpus_dag.posttrain.reward import RewardModel
from corpus_dag.posttrain.rft import RftCfg, canonical_tokens, diverse_paths
from corpus_dag.posttrain.select import SelectCfg, difficulty, rank_key, select_paths
from corpus_dag.posttrain.self_instruct import (
    SelfInstructCfg,
    SimilarityFilter,
    area_of,
    generation_fragment,
    instruction_id,
    parse_problems,
    problems_schema,
    seed_sets,
)
from corpus_dag.rebuild.equivalence import AnswerJudge
from corpus_dag.rebuild.prompts import load_prompt
from corpus_dag.rebuild.sft import SftCfg, hybrid_solution, prompt_messages, sft_messages
from corpus_dag.rebuild.stage import (
    MESSAGE,
    REBUILT_SCHEMA,
    VERIFIED_SCHEMA,
    RebuildCfg,
    RebuildStats,
    Rebuilder,
    complete_cached,
    plan_job,
    select_verified,
    whole_questions,
)
from corpus_dag.storage import PartitionData, arrow_schema

STEP = pl.Struct({"verdict": pl.String, "comment": pl.String})
SCORED_SCHEMA = {
    **REBUILT_SCHEMA,
    "reference_answer": pl.String,
    "correct": pl.Boolean,
    "program_correct": pl.Boolean,
    "critique_score": pl.Float64,
    "critique_correct": pl.Boolean,
    "critique_steps": pl.List(STEP),
    "critique_mode": pl.String,
    "judge_model": pl.String,
    "reward": pl.Float64,
    "difficulty": pl.String,
    "correct_share": pl.Float64,
}
SCORED_DROPPED_SCHEMA = {**SCORED_SCHEMA, REASON: pl.String}
PATHS_SCHEMA = {**SCORED_SCHEMA, "scored_reason": pl.String}  # scored_paths: a scored path and its scoring drop reason
RFT_SCHEMA = {
    **VERIFIED_SCHEMA,
    "difficulty": pl.String,
    "critique_score": pl.Float64,
    "reward": pl.Float64,
    "min_distance": pl.Float64,
}
DPO_SCHEMA = {
    "pair_id": pl.String,
    "question_id": pl.String,
    "prompt": pl.List(MESSAGE),
    "chosen": pl.List(MESSAGE),
    "rejected": pl.List(MESSAGE),
    "pair_type": pl.String,
    "chosen_item_id": pl.String,
    "rejected_item_id": pl.String,
    "chosen_score": pl.Float64,
    "rejected_score": pl.Float64,
    "reference_answer": pl.String,
    "difficulty": pl.String,
    "model": pl.String,
    "judge_model": pl.String,
}
DPO_DROPPED_SCHEMA = {"question_id": pl.String, "paths": pl.Int32, "correct_paths": pl.Int32, REASON: pl.String}
SELF_INSTRUCT_SCHEMA = {**VERIFIED_SCHEMA, "area": pl.String, "instruction": pl.String, "seed_item_ids": pl.List(pl.String)}
SELF_INSTRUCT_DROPPED_SCHEMA = {
    "instruction_id": pl.String,
    "area": pl.String,
    "instruction": pl.String,
    "seed_item_ids": pl.List(pl.String),
    "similar_to": pl.String,
    "similarity": pl.Float64,
    REASON: pl.String,
}
LLM_KEYS = ("prompts_sent", "cache_hits", "tokens_in_sent", "tokens_out_generated", "generation_s", "tokens_per_s", "items_per_hour")


def llm_metadata(stats: Sequence[RebuildStats], engine: Engine | None) -> dict:
    """Prompts sent, cache hits, tokens, tokens/s and the engine's cost estimate, summed over `stats`."""
    total = RebuildStats()
    for s in stats:
        for k in ("prompts_sent", "cache_hits", "tokens_in", "tokens_out", "generation_s"):
            setattr(total, k, getattr(total, k) + getattr(s, k))
    full = total.as_dict(engine)
    return {k: v for k, v in full.items() if k in LLM_KEYS or k in ("gpu_hours", "api_usd")}


def _split(kept: list[dict], dropped: list[dict], kept_schema: dict, dropped_schema: dict) -> Split:
    return Split(pl.DataFrame(kept, schema=kept_schema), pl.DataFrame(dropped, schema=dropped_schema))


# ---- scoring ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoreCfg:
    select: SelectCfg = field(default_factory=SelectCfg)
    temperature: float = 0.0  # the judge should be deterministic
    max_tokens: int = 512
    guided_json: bool = True
    seed: int = 0
    prompt_rev: int = 1

    @property
    def sampling(self) -> Sampling:
        return Sampling(self.temperature, 1.0, self.max_tokens, self.seed, CRITIQUE_SCHEMA if self.guided_json else None)


class Scorer:
    """Critique (judge engine, cached) + optional reward model + selection and hard tagging."""

    def __init__(self, judge: Engine, cache: ResponseCache, answers: AnswerJudge, cfg: ScoreCfg = ScoreCfg(),
                 reward: RewardModel | None = None):
        self.judge, self.cache, self.answers, self.cfg, self.reward = judge, cache, answers, cfg, reward
        self.prompt = load_prompt("critique", cfg.prompt_rev)
        self.stats = RebuildStats()
        self.scores: Counter = Counter()  # critique score -> paths

    def _same(self, a: str | None, b: str | None) -> bool:
        return bool(a and b and self.answers.judge(a, b).equal)

    def judge_paths(self, rows: list[dict]) -> None:
        """Critique (cached) and reward each path in place; rows need `question`, `reference_answer` and the path.
        One engine call and one reward batch for all of them. The RFT stage judges its fresh paths with it too."""
        fingerprint = self.cfg.sampling.fingerprint()
        jobs = [plan_job(self.judge.model, self.prompt, critique_fragment(r["question"] or "", r["reference_answer"], r),
                         fingerprint, 0) for r in rows]
        critiques = [parse_critique(c.text) for c in complete_cached(self.judge, self.cache, self.prompt.version, jobs,
                                                                      self.cfg.sampling, self.stats)]
        rewards = self.reward.score([(r["question"] or "", _solution(r)) for r in rows]) if self.reward else [None] * len(rows)
        for r, c, reward in zip(rows, critiques, rewards):
            r.update(critique_score=c.score, critique_correct=c.correct, critique_steps=c.steps, critique_mode=c.mode,
                     judge_model=self.judge.model, reward=reward)
            if c.score is not None:
                self.scores[c.score] += 1

    def score(self, paths: pl.DataFrame, references: dict[str, str]) -> Split:
        """Every path of the frame's questions, scored, tagged, and kept or dropped with a reason."""
        rows = [{**r, "reference_answer": references.get(r["question_id"])} for r in paths.to_dicts()]
        todo = [r for r in rows if r["valid"] and r["reference_answer"] is not None]
        self.judge_paths(todo)
        for r in todo:
            r.update(correct=self._same(r["cot_answer"], r["reference_answer"]) and r["critique_correct"] is not False,
                     program_correct=self._same(r["program_answer"], r["reference_answer"]))
        groups: dict[str, list[dict]] = {}
        for r in rows:
            groups.setdefault(r["question_id"], []).append(_defaults(r))
        kept, dropped = [], []
        for group_rows in groups.values():
            level, share = difficulty([r["correct"] for r in group_rows], self.cfg.select.hard_share)
            reasons = select_paths(group_rows, self.cfg.select)
            for i, r in enumerate(group_rows):
                r.update(difficulty=level, correct_share=round(share, 4))
                (dropped.append({**r, REASON: reasons[i]}) if i in reasons else kept.append(r))
        return _split(kept, dropped, SCORED_SCHEMA, SCORED_DROPPED_SCHEMA)


def _defaults(row: dict) -> dict:
    """An unscored path: no critique, not correct."""
    defaults = {"correct": False, "program_correct": False, "critique_steps": [], "critique_mode": None}
    return {**{k: None for k in SCORED_SCHEMA}, **row, **{k: v for k, v in defaults.items() if row.get(k) is None}}


def _solution(row: dict) -> str:
    return hybrid_solution(row["cot"], row["program"], row["program_answer"], row["cot_answer"])


def stream_scored_paths(kept: PartitionData, dropped: PartitionData, batch_rows: int = 20_000) -> Iterator[pl.DataFrame]:
    """Every path of scored_math_items and its drops with `scored_reason`, in question id then sample order (ties: kept
    first, then file order), as frames of whole questions of about `batch_rows` rows, without the partition in memory.

    The rows of one question may sit in both files, in no particular question order: an external merge sort. Each
    `batch_rows` batch of either file is sorted into a local run file; the runs are then merged question by question.
    Memory: one batch, plus RUN_CHUNK rows per open run; at most MAX_OPEN_RUNS runs are open at once (more are first
    merged in passes of that many). polars' streaming sort was not used: measured on polars 2.1, its peak memory grew
    with the input even with a small out-of-core budget.
    """
    with tempfile.TemporaryDirectory(prefix="scored-paths-") as folder:
        runs = [_sorted_run(batch, os.path.join(folder, f"run-{n}.arrow"))
                for n, batch in enumerate(_tagged_batches(kept, dropped, batch_rows))]
        while len(runs) > MAX_OPEN_RUNS:
            runs = [_merged_run(runs[i:i + MAX_OPEN_RUNS], f"{runs[i]}.{i}") for i in range(0, len(runs), MAX_OPEN_RUNS)]
        questions = (pl.concat([group for _, _, group in parts]).sort("sample_idx", maintain_order=True)
                     for _, parts in itertools.groupby(_merge(runs), key=lambda item: item[0]))
        yield from _gathered(questions, batch_rows)


RUN_CHUNK = 256  # rows of a sorted run read at a time while merging
MAX_OPEN_RUNS = 64  # run files read at once; a partition of more batches is merged in passes


def _merge(runs: list[str]) -> Iterator[tuple[str, int, pl.DataFrame]]:
    """The runs' questions in question id order; a question's rows from several runs in run order (the runs are
    consecutive batches, so a merged run of consecutive runs keeps that order)."""
    return heapq.merge(*(_run_questions(path, n) for n, path in enumerate(runs)))


def _gathered(frames: Iterable[pl.DataFrame], rows: int) -> Iterator[pl.DataFrame]:
    """`frames` concatenated into frames of at least `rows` rows (the last one may hold fewer); none is split."""
    ready, held = [], 0
    for frame in frames:
        ready.append(frame)
        held += frame.height
        if held >= rows:
            yield pl.concat(ready)
            ready, held = [], 0
    if ready:
        yield pl.concat(ready)


def _merged_run(runs: list[str], path: str) -> str:
    """One sorted run file of consecutive `runs` (removed once merged)."""
    with pa.ipc.new_file(path, arrow_schema(PATHS_SCHEMA)) as writer:
        for frame in _gathered((group for _, _, group in _merge(runs)), RUN_CHUNK):
            writer.write_table(frame.to_arrow(), max_chunksize=RUN_CHUNK)
    for run in runs:
        os.remove(run)
    return path


def _tagged_batches(kept: PartitionData, dropped: PartitionData, batch_rows: int) -> Iterator[pl.DataFrame]:
    """Both files' rows in PATHS_SCHEMA columns, kept first, each file in its order (the order ties keep)."""
    for data, reason in ((kept, pl.lit(None, pl.String).alias(REASON)), (dropped, pl.col(REASON))):
        for batch in data.iter_batches(batch_rows=batch_rows):
            yield batch.select(*SCORED_SCHEMA, reason).rename({REASON: "scored_reason"}).cast(PATHS_SCHEMA)


def _sorted_run(batch: pl.DataFrame, path: str) -> str:
    table = batch.sort("question_id", "sample_idx", maintain_order=True).to_arrow()
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table, max_chunksize=RUN_CHUNK)
    return path


def _run_questions(path: str, n: int) -> Iterator[tuple[str, int, pl.DataFrame]]:
    """(question id, run number `n`, its rows) of one sorted run, RUN_CHUNK rows read at a time; the run number
    orders a question's rows from several runs (never two frames compared)."""
    reader = pa.ipc.open_file(path)
    chunks = (pl.from_arrow(reader.get_batch(i)) for i in range(reader.num_record_batches))
    for frame in whole_questions(chunks, PATHS_SCHEMA):
        for group in frame.partition_by("question_id", maintain_order=True):
            yield group["question_id"][0], n, group


def question_batches(frames: Iterable[pl.DataFrame], questions: int) -> Iterator[pl.DataFrame]:
    """Frames of whole questions re-cut into frames of `questions` questions each (the last one may hold fewer)."""
    carry = pl.DataFrame()
    for frame in frames:
        carry = pl.concat([carry, frame]) if carry.height else frame
        group = carry["question_id"].rle_id()
        full = (group[-1] + 1) // questions if carry.height else 0
        parts = carry.with_columns((group // questions).alias("_batch")).partition_by("_batch", maintain_order=True,
                                                                                      include_key=False)
        yield from parts[:full]
        carry = pl.concat(parts[full:]) if len(parts) > full else pl.DataFrame()
    if carry.height:
        yield carry


# ---- RFT ----------------------------------------------------------------------------------------
@dataclass
class RftStats:
    samples: int = 0  # fresh paths sampled
    distinct: int = 0  # distinct canonical correct programs among them
    distances: list[float] = field(default_factory=list)  # each kept path's min distance to the earlier kept ones

    def per_100(self) -> float:
        return round(100 * self.distinct / self.samples, 2) if self.samples else 0.0


def rft_questions(paths: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(questions to sample: `question_id`, `text`, `reference_answer`, `difficulty`; the paths of every other question).

    A question is sampled when it has a verified answer and a question text; the text is the one of
    its best-ranked correct path (the judge's favourite), else of its first valid path.
    """
    best: dict[str, tuple[tuple, dict]] = {}
    for r in paths.filter(pl.col("reference_answer").is_not_null() & pl.col("question").is_not_null()).to_dicts():
        key = (not r["correct"], not r["valid"], rank_key(r))
        if r["question_id"] not in best or key < best[r["question_id"]][0]:
            best[r["question_id"]] = (key, r)
    texts = pl.DataFrame(
        [{"question_id": q, "text": r["question"], "reference_answer": r["reference_answer"], "difficulty": r["difficulty"]}
         for q, (_, r) in best.items()],
        schema={"question_id": pl.String, "text": pl.String, "reference_answer": pl.String, "difficulty": pl.String},
    )
    return texts, paths.filter(~pl.col("question_id").is_in(texts["question_id"].implode()))


class RftSampler:
    """RFT paths: N fresh paths per verified question (a `Rebuilder`: the generator engine and its response
    cache, so a re-run calls no model), the correct ones (answer equal to the verified answer, by the
    answer-equivalence judge), judged by the scoring stage's `Scorer` (critique + optional reward, its own cache),
    selected as in the seed (`scorer.cfg.select`: top M by reward, then the critique cut; either may be off), then a
    diverse subset of the rest in rank order (`diverse_paths`: the best-ranked distinct path first)."""

    def __init__(self, engine: Engine, cache: ResponseCache, solve: RebuildCfg, cfg: RftCfg, sft: SftCfg, scorer: Scorer):
        self.engine, self.cache, self.solve, self.cfg, self.sft, self.scorer = engine, cache, solve, cfg, sft, scorer
        self.stats = RftStats()
        self._solver: Rebuilder | None = None

    def __enter__(self) -> RftSampler:
        return self

    def __exit__(self, *exc) -> None:
        if self._solver is not None:
            self._solver.__exit__(*exc)

    @property
    def solver(self) -> Rebuilder:
        """Built for the first question to sample: a partition without one needs no sandbox and loads no model."""
        if self._solver is None:
            self._solver = Rebuilder(self.engine, self.cache, self.solve)
        return self._solver

    @property
    def llm_stats(self) -> RebuildStats:
        return self._solver.stats if self._solver is not None else RebuildStats()

    def _same(self, a: str | None, b: str | None) -> bool:
        return bool(a and b and self.solver.judge.judge(a, b).equal)

    def select(self, paths: pl.DataFrame) -> Split:
        """Scored paths of whole questions in; kept: the selected diverse correct fresh paths; dropped: every other
        fresh path with its reason, plus the scored paths of questions not sampled (their scoring reason)."""
        questions, unsampled = rft_questions(paths)
        dropped = [{**{k: r[k] for k in SCORED_SCHEMA}, REASON: r["scored_reason"] or "no_reference"}
                   for r in unsampled.to_dicts()]
        fresh = self.solver.rebuild(questions.select("question_id", "text")) if questions.height else pl.DataFrame(schema=REBUILT_SCHEMA)
        facts = {q["question_id"]: q for q in questions.to_dicts()}
        groups = [[self._judged(r, facts[qid[0]]) for r in group.sort("sample_idx").to_dicts()]
                  for qid, group in fresh.group_by("question_id", maintain_order=True)]
        wrong = [{i: why for i, r in enumerate(rows) if (why := _wrong(r))} for rows in groups]
        self.scorer.judge_paths([r for rows, bad in zip(groups, wrong) for i, r in enumerate(rows) if i not in bad])
        kept = []
        for rows, reasons in zip(groups, wrong):
            share = round(sum(r["correct"] for r in rows) / len(rows), 4)
            picked, gaps = self._pick(rows, reasons)
            for i in picked:
                r = rows[i] | {"correct_share": share}
                kept.append({**_sft_fields(r, self.sft), "difficulty": r["difficulty"], "critique_score": r["critique_score"],
                             "reward": r["reward"], "min_distance": round(gaps[i], 4)})
            dropped.extend({**_defaults(r), "correct_share": share, REASON: reasons[i]} for i, r in enumerate(rows) if i in reasons)
        return _split(kept, dropped, RFT_SCHEMA, SCORED_DROPPED_SCHEMA)

    def _pick(self, rows: list[dict], reasons: dict[int, str]) -> tuple[list[int], dict[int, float]]:
        """One question's judged fresh paths -> (kept indexes in pick order, their min distances); adds the drop
        reason of every other correct path to `reasons`. Counts samples, distinct programs and distances."""
        correct = [i for i in range(len(rows)) if i not in reasons]
        ranked = sorted(correct, key=lambda i: rank_key(rows[i]))
        reasons |= {ranked[k]: why for k, why in select_paths([rows[i] for i in ranked], self.scorer.cfg.select).items()}
        pool = [i for i in ranked if i not in reasons]
        picked, why, gaps = diverse_paths([rows[i]["program"] for i in pool], self.cfg)
        reasons |= {pool[j]: reason for j, reason in why.items()}
        self.stats.samples += len(rows)
        self.stats.distinct += len({tuple(t) for i in correct if (t := canonical_tokens(rows[i]["program"])) is not None})
        self.stats.distances.extend(gaps[j] for n, j in enumerate(picked) if n)
        return [pool[j] for j in picked], {pool[j]: gaps[j] for j in picked}

    def _judged(self, row: dict, question: dict) -> dict:
        """A fresh path with the question it was asked (the model's copy of it may differ), checked against the answer."""
        return {**row, "question": question["text"], "reference_answer": question["reference_answer"],
                "difficulty": question["difficulty"],
                "correct": row["valid"] and self._same(row["cot_answer"], question["reference_answer"]),
                "program_correct": self._same(row["program_answer"], question["reference_answer"])}


def _wrong(row: dict) -> str | None:
    """Why a fresh path is not a correct one (None: it is)."""
    if not row["valid"]:
        return "invalid_response"
    if not row["correct"]:
        return "wrong_answer"
    if row["program"] and not row["program_correct"]:
        return "program_disagrees"
    return None


def _sft_fields(row: dict, sft: SftCfg) -> dict:
    """The VERIFIED_SCHEMA fields of a scored path (`share`: its question's share of correct samples; no vote)."""
    return {
        "item_id": row["item_id"], "messages": sft_messages(row, sft), "question_id": row["question_id"],
        "knowledge_points": row["knowledge_points"], "answer": row["cot_answer"], "model": row["model"],
        "prompt_version": row["prompt_version"], "votes": None, "share": row["correct_share"],
    }


# ---- DPO ----------------------------------------------------------------------------------------
def make_pairs(paths: pl.DataFrame, cfg: DpoCfg, sft: SftCfg, types: Counter) -> Split:
    """Per question: up to `max_pairs` (chosen, rejected) pairs as chat messages; a question without one is dropped."""
    kept, dropped = [], []
    for qid, group in paths.group_by("question_id", maintain_order=True):
        rows = group.to_dicts()
        pairs, why = pair_paths(rows, cfg)
        if why:
            dropped.append({"question_id": qid[0], "paths": len(rows), "correct_paths": sum(bool(r["correct"]) for r in rows),
                            REASON: why})
        for c, r, kind in pairs:
            chosen, rejected = rows[c], rows[r]
            types[kind] += 1
            prompt = prompt_messages(chosen["question"], chosen["item_id"], sft, chosen.get("context"))
            kept.append({
                "pair_id": hashlib.sha1(f"{chosen['item_id']}|{rejected['item_id']}".encode()).hexdigest()[:16],
                "question_id": qid[0], "prompt": prompt,
                "chosen": [{"role": "assistant", "content": _solution(chosen)}],
                "rejected": [{"role": "assistant", "content": _solution(rejected)}],
                "pair_type": kind, "chosen_item_id": chosen["item_id"], "rejected_item_id": rejected["item_id"],
                "chosen_score": chosen["critique_score"], "rejected_score": rejected["critique_score"],
                "reference_answer": chosen["reference_answer"], "difficulty": chosen["difficulty"],
                "model": chosen["model"], "judge_model": chosen["judge_model"],
            })
    return _split(kept, dropped, DPO_SCHEMA, DPO_DROPPED_SCHEMA)


# ---- self-instruct ------------------------------------------------------------------------------
@dataclass
class SelfInstructStats:
    generated: Counter = field(default_factory=Counter)  # area -> new instructions parsed
    kept: Counter = field(default_factory=Counter)  # area -> kept (not similar, verified)
    seeds: Counter = field(default_factory=Counter)  # area -> seed tasks
    llm: RebuildStats = field(default_factory=RebuildStats)

    def table(self) -> pl.DataFrame:
        areas = sorted(set(self.seeds) | set(self.generated))
        return pl.DataFrame({"area": areas, "seeds": [self.seeds[a] for a in areas],
                             "generated": [self.generated[a] for a in areas], "kept": [self.kept[a] for a in areas]},
                            schema={"area": pl.String, "seeds": pl.Int64, "generated": pl.Int64, "kept": pl.Int64})


def seed_tasks(verified: pl.DataFrame) -> pl.DataFrame:
    """Seed tasks from verified SFT records: item id, the user turn, knowledge points, area."""
    rows = []
    for r in verified.select("item_id", "messages", "knowledge_points").iter_rows(named=True):
        question = next((m["content"] for m in reversed(r["messages"]) if m["role"] == "user"), "")
        rows.append({"item_id": r["item_id"], "question": question, "area": area_of(r["knowledge_points"], question)})
    return pl.DataFrame(rows, schema={"item_id": pl.String, "question": pl.String, "area": pl.String})


class SelfInstructor:
    """Writes new problems per area from k seed tasks (generator engine, cached), filters near copies,
    and solves the rest through `Rebuilder` + `select_verified` (the rebuild path, its own cache)."""

    def __init__(self, engine: Engine, cache: ResponseCache, solver: Rebuilder, cfg: SelfInstructCfg, sft: SftCfg,
                 sampling: Sampling):
        self.engine, self.cache, self.solver, self.cfg, self.sft = engine, cache, solver, cfg, sft
        self.prompt = load_prompt("self_instruct")
        self.sampling = Sampling(sampling.temperature, sampling.top_p, sampling.max_tokens, sampling.seed,
                                 problems_schema(cfg.problems_per_prompt) if sampling.json_schema is not None else None)
        self.stats = SelfInstructStats()

    def generate(self, seeds: pl.DataFrame) -> list[dict]:
        """New instructions, in a fixed order (area, prompt, position), each with the seeds it came from."""
        questions = dict(zip(seeds["item_id"], seeds["question"]))
        plan = []
        for area in sorted(set(seeds["area"])):
            ids = seeds.filter(pl.col("area") == area)["item_id"].sort().to_list()
            self.stats.seeds[area] += len(ids)
            for n, chosen in enumerate(seed_sets(ids, self.cfg, area)):
                fragment = generation_fragment(area, [questions[i] for i in chosen], self.cfg.problems_per_prompt)
                plan.append((area, chosen, plan_job(self.engine.model, self.prompt, fragment, self.sampling.fingerprint(), n)))
        done = complete_cached(self.engine, self.cache, self.prompt.version, [p[2] for p in plan], self.sampling, self.stats.llm)
        out = []
        for (area, chosen, _), c in zip(plan, done):
            for text in parse_problems(c.text, self.cfg.problems_per_prompt):
                self.stats.generated[area] += 1
                out.append({"area": area, "instruction": text, "seed_item_ids": chosen})
        return [{**ins, "instruction_id": instruction_id(ins["area"], n, len(out), ins["instruction"])} for n, ins in enumerate(out)]

    def run(self, seeds: pl.DataFrame) -> Split:
        """Generate, filter by similarity against the seeds and earlier instructions, solve and verify."""
        similar = SimilarityFilter(self.cfg)
        similar.add(seeds["item_id"].to_list(), seeds["question"].to_list())
        fresh, dropped = [], []
        for ins in self.generate(seeds):
            v = similar.judge(ins["instruction_id"], ins["instruction"])
            if v.keep:
                fresh.append(ins)
            else:
                dropped.append({**ins, "similar_to": v.similar_to, "similarity": round(v.similarity, 4), REASON: v.reason})
        kept = []
        if fresh:
            rebuilt = self.solver.rebuild(pl.DataFrame({"question_id": [i["instruction_id"] for i in fresh],
                                                        "text": [i["instruction"] for i in fresh]}))
            verdict = select_verified(rebuilt, self.solver.judge, self.solver.cfg.consistency, self.sft)
            solved = {r["question_id"]: r for r in verdict.kept.unique("question_id", keep="first", maintain_order=True).to_dicts()}
            why = dict(verdict.dropped.group_by("question_id").agg(pl.col(REASON).unique().sort().str.join("; ")).iter_rows())
            for ins in fresh:
                if ins["instruction_id"] in solved:
                    self.stats.kept[ins["area"]] += 1
                    kept.append({**solved[ins["instruction_id"]], "area": ins["area"], "instruction": ins["instruction"],
                                 "seed_item_ids": ins["seed_item_ids"]})
                else:
                    dropped.append({**ins, "similar_to": None, "similarity": None,
                                    REASON: f"not_verified — {why.get(ins['instruction_id'], 'no sample')}"})
        return _split(kept, dropped, SELF_INSTRUCT_SCHEMA, SELF_INSTRUCT_DROPPED_SCHEMA)
