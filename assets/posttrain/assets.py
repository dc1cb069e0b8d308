"""`scored_math_items`, `rft_math_items`, `dpo_pairs`, `self_instruct_math_items`: post-training data from the math branch."""

from collections import Counter
from collections.abc import Callable

import dagster as dg
import polars as pl
from pydantic import Field

from assets.common.engine import MODEL_POOL
from assets.common.metadata import counts_table, frame_table
from assets.common.partitions import DATE_SOURCE, source_and_date
from assets.common.stage import Out, split_specs, stream_split
from assets.common.storage import CorpusStorage
from assets.rebuild.assets import RebuildConfig, SftOptions, rebuild_cfg, sft_cfg
from assets.rebuild.resources import JudgeEngine, LLMEngine
from corpus_dag.llm.cache import ResponseCache
from corpus_dag.llm.engines import Engine, VllmEngine
from corpus_dag.llm.tiny_model import NOISE_NOTE, is_random_tiny_model
from corpus_dag.posttrain.dpo import DpoCfg
from corpus_dag.posttrain.reward import BACKENDS, RewardCfg, RewardModel
from corpus_dag.posttrain.rft import RftCfg, histogram
from corpus_dag.posttrain.select import HARD, SelectCfg
from corpus_dag.posttrain.self_instruct import SelfInstructCfg
from corpus_dag.posttrain.stage import (
    DPO_DROPPED_SCHEMA,
    DPO_SCHEMA,
    RFT_SCHEMA,
    SCORED_DROPPED_SCHEMA,
    SCORED_SCHEMA,
    SELF_INSTRUCT_DROPPED_SCHEMA,
    SELF_INSTRUCT_SCHEMA,
    RftSampler,
    ScoreCfg,
    Scorer,
    SelfInstructor,
    llm_metadata,
    make_pairs,
    question_batches,
    seed_tasks,
    stream_scored_paths,
)
from corpus_dag.rebuild.equivalence import AnswerJudge
from corpus_dag.rebuild.stage import REBUILT_SCHEMA, Rebuilder, whole_questions
from corpus_dag.storage import PartitionData

COMMON = {"owners": ["team:corpus"], "group_name": "posttrain"}
LLM_KINDS = frozenset({"vllm", "polars", "parquet"})
SCORED = Out("scored_math_items", SCORED_SCHEMA)
SCORED_DROPS = Out("scored_math_drops", SCORED_DROPPED_SCHEMA)
RFT = Out("rft_math_items", RFT_SCHEMA)
RFT_DROPS = Out("rft_math_drops", SCORED_DROPPED_SCHEMA)
DPO = Out("dpo_pairs", DPO_SCHEMA)
DPO_DROPS = Out("dpo_unpaired_questions", DPO_DROPPED_SCHEMA)
SELF_INSTRUCT = Out("self_instruct_math_items", SELF_INSTRUCT_SCHEMA)
SELF_INSTRUCT_DROPS = Out("self_instruct_drops", SELF_INSTRUCT_DROPPED_SCHEMA)


def posttrain_stage(kept: Out, dropped: Out, *, kept_doc: str, dropped_doc: str, ins: dict[str, str], llm: bool = False) -> Callable:
    """The shape every post-training asset shares: a kept/dropped pair per date x source partition whose
    upstream comes through `ins=` (PartitionData handles); a stage that calls a model is in the `gpu` pool."""
    return dg.multi_asset(
        specs=split_specs(kept.asset, dropped.asset, kept_doc=kept_doc, dropped_doc=dropped_doc, deps=list(ins.values()),
                          stage="posttrain", kinds=LLM_KINDS if llm else frozenset({"polars", "parquet"}), **COMMON),
        ins={name: dg.AssetIn(asset) for name, asset in ins.items()},
        partitions_def=DATE_SOURCE,
        can_subset=False,
        pool=MODEL_POOL if llm else None,
    )


class RewardOptions(dg.Config):
    reward_model: str = Field(default="", description="Local sequence-classification folder scoring (question, answer); empty: none")
    reward_backend: str = Field(default=RewardCfg.backend, description=f"{' | '.join(BACKENDS)}; auto: vllm (pooling, classify) "
                                "where a CUDA device is there, else transformers")
    reward_device: str = Field(default=RewardCfg.device, description="torch device of the transformers reward backend")


def reward_model(config: RewardOptions) -> RewardModel | None:
    return RewardModel(RewardCfg(config.reward_model, backend=config.reward_backend, device=config.reward_device)) \
        if config.reward_model else None


class ScoreConfig(RewardOptions):
    top_m: int = Field(default=SelectCfg.top_m, description="Paths kept per question by reward (critique score without a reward model)")
    min_critique: float = Field(default=SelectCfg.min_critique, description="Absolute cut on the 0-10 critique score after the top-M")
    hard_share: float = Field(default=SelectCfg.hard_share, description="A question is hard when fewer than this share of its samples are judged correct")
    max_tokens: int = Field(default=ScoreCfg.max_tokens, description="Critique length limit (tokens)")
    temperature: float = Field(default=ScoreCfg.temperature, description="Judge sampling temperature")
    guided_json: bool = Field(default=ScoreCfg.guided_json, description="Ask the judge for the critique JSON schema (guided decoding)")
    batch_rows: int = Field(default=2_000, description="Rebuilt rows per batch (whole questions are kept together)")


class RftConfig(RebuildConfig, SftOptions, RewardOptions):
    """The rebuild's generation settings (prompt, samples = N, sampling, sandbox) for the fresh paths, the judge and
    reward model of the scoring stage with the seed's selection (off by default: the demo's tiny random judge is noise),
    plus the diversity cut."""

    prompt: str = Field(default="cot_pot", description="Prompt the fresh paths are sampled with (solve the question as written)")
    samples: int = Field(default=8, description="N: fresh paths sampled per verified question (e.g. 16-100 on a GPU)")
    max_paths: int = Field(default=RftCfg.max_paths, description="Diverse correct paths kept per question")
    min_distance: float = Field(default=RftCfg.min_distance, description="A path closer than this to a kept one is dropped (0-1)")
    metric: str = Field(default=RftCfg.metric, description="Distance over canonical tokens: levenshtein | lcs")
    top_m: int | None = Field(default=None, description="Correct fresh paths kept per question by reward (critique score "
                              "without a reward model) before the diversity cut; empty: no top-M cut")
    min_critique: float | None = Field(default=None, description="Absolute cut on the 0-10 critique score after the top-M; "
                                       "empty: no cut (unparsed critiques kept too)")
    critique_max_tokens: int = Field(default=ScoreCfg.max_tokens, description="Critique length limit (tokens)")
    batch_rows: int = Field(default=20_000, description="Scored rows read per batch (whole questions are kept together)")


class DpoConfig(SftOptions):
    max_pairs: int = Field(default=DpoCfg.max_pairs, description="Pairs per question")
    min_chosen_score: float = Field(default=DpoCfg.min_chosen_score, description="Critique score a chosen path needs")
    close_margin: float = Field(default=DpoCfg.close_margin, description="Scores this close make a close_scores pair")
    precision_rel: float = Field(default=DpoCfg.precision_rel, description="Relative error of a precision pair")
    batch_rows: int = Field(default=20_000, description="Rows per batch (whole questions are kept together)")


class SelfInstructConfig(RebuildConfig, SftOptions):
    seeds_per_prompt: int = Field(default=SelfInstructCfg.seeds_per_prompt, description="k seed tasks shown per generation prompt")
    prompts_per_area: int = Field(default=SelfInstructCfg.prompts_per_area, description="Generation prompts per area")
    problems_per_prompt: int = Field(default=SelfInstructCfg.problems_per_prompt, description="New problems asked for per prompt")
    max_rouge_l: float = Field(default=SelfInstructCfg.max_rouge_l, description="Drop a new instruction at or above this ROUGE-L to any seed or earlier one")
    max_jaccard: float = Field(default=SelfInstructCfg.max_jaccard, description="Drop it at or above this estimated MinHash Jaccard")
    solve_prompt: str = Field(default="cot_pot", description="Prompt the new problems are solved with (rebuild + verification path)")


def noise_note(context: dg.AssetExecutionContext, *engines: Engine) -> dict:
    """A plain statement in metadata and the event log when a model is the tiny random demo model
    (not a terminal warning per partition: `make demo` says it once)."""
    if any(isinstance(e, VllmEngine) and is_random_tiny_model(e.cfg.model) for e in engines):
        context.log.info(NOISE_NOTE)
        return {"model_warning": NOISE_NOTE}
    return {}


def upstream_noise_note(context: dg.AssetExecutionContext, asset: str) -> dict:
    """The `model_warning` of the partition of `asset` a model-free stage reads: pairs of noise scores are noise."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[context.partition_key]), limit=1).records
    note = records[0].asset_materialization.metadata.get("model_warning") if records else None
    if note is None:
        return {}
    context.log.info(note.value)
    return {"model_warning": note.value}


@posttrain_stage(
    SCORED, SCORED_DROPS, llm=True, ins={"rebuilt": "rebuilt_math_items", "verified": "verified_math_items"},
    kept_doc="Rebuilt paths kept for SFT after LLM-as-judge critique (per-step verdicts, 0-10 score) and the optional "
    "reward model: per question the top M by reward, then an absolute critique cut; `difficulty` tags hard questions.",
    dropped_doc="Every other rebuilt path with its scores and reason (no_reference, invalid_response, wrong_answer, "
    "below_top_m, critique_unparsed, critique_below_min).",
)
def scored_math_items(context: dg.AssetExecutionContext, config: ScoreConfig, storage: CorpusStorage, judge: JudgeEngine,
                      rebuilt: PartitionData, verified: PartitionData):
    """Critique every valid path of a verified question against its verified answer (judge resource, cached)."""
    store = storage.store()
    source, date = source_and_date(context)
    references = dict(verified.read(["question_id", "answer"]).unique("question_id", keep="first").iter_rows())
    engine = judge.engine()
    cfg = ScoreCfg(select=SelectCfg(config.top_m, config.min_critique, config.hard_share), temperature=config.temperature,
                   max_tokens=config.max_tokens, guided_json=config.guided_json)
    cache = ResponseCache(store, f"{engine.model}/critique.v{cfg.prompt_rev}/source={source}/date={date}")
    reward = reward_model(config)
    hard: set[str] = set()
    with AnswerJudge() as answers:
        scorer = Scorer(engine, cache, answers, cfg, reward)

        def score(group: pl.DataFrame):
            split = scorer.score(group, references)
            hard.update(split.kept.filter(pl.col("difficulty") == HARD)["question_id"])
            return split

        splits = (score(g) for g in whole_questions(rebuilt.iter_batches(batch_rows=config.batch_rows), REBUILT_SCHEMA))

        def extra(tally):
            judged = sum(scorer.scores.values())
            mean = sum(s * n for s, n in scorer.scores.items()) / judged if judged else 0.0
            return {
                **llm_metadata([scorer.stats], engine), **noise_note(context, engine),
                "judge_model": engine.model, "reward_model": reward.name if reward else "none",
                "reward_backend": reward.backend if reward else "none",
                "critique_score_histogram": counts_table({f"{s:g}": scorer.scores.get(float(s), 0) for s in range(11)}, "score", "count", ordered=True),
                "paths_judged": judged, "critique_score_mean": round(mean, 3),
                "kept_share": round(tally.n_kept / tally.n_in, 4) if tally.n_in else 0.0,
                "hard_questions_kept": len(hard),
                "cache": dg.MetadataValue.path(store.url(cache.folder)),
            }

        yield from stream_split(context, store, splits, SCORED, SCORED_DROPS, extra_metadata=extra)


@posttrain_stage(
    RFT, RFT_DROPS, llm=True, ins={"scored": SCORED.asset, "scored_drops": SCORED_DROPS.asset},
    kept_doc="RFT records: per verified question, N fresh paths sampled with the `llm` resource (cached), the correct "
    "ones (answer equal to the verified answer) judged like the scoring stage's paths (`judge` resource, cached; optional "
    "reward model) and selected as in the seed when configured (top M by reward, then a critique cut), then a diverse "
    "subset in rank order (canonical PoT, greedy max-min edit distance over canonical tokens) as SFT messages with "
    "`critique_score`, `reward` and `min_distance` to the paths kept before it; `share` is the question's share of "
    "correct fresh paths, `difficulty` its scored tag.",
    dropped_doc="Every other fresh path with its scores and reason (invalid_response, wrong_answer, program_disagrees, "
    "below_top_m, critique_below_min, duplicate_path, too_close, beyond_max_paths, ...), plus the scored paths of "
    "questions not sampled (no verified answer) with their scoring reason.",
)
def rft_math_items(context: dg.AssetExecutionContext, config: RftConfig, storage: CorpusStorage, llm: LLMEngine,
                   judge: JudgeEngine, scored: PartitionData, scored_drops: PartitionData):
    """Distinct correct reasoning paths per question from N fresh samples; reports distinct paths per 100 samples."""
    store = storage.store()
    source, date = source_and_date(context)
    cfg = RftCfg(max_paths=config.max_paths, min_distance=config.min_distance, metric=config.metric)
    solve = rebuild_cfg(config)
    engine, judge_engine = llm.engine(), judge.engine()  # vLLM loads on the first prompt the cache lacks, not here
    cache = ResponseCache(store, f"{engine.model}/rft/{solve.prompt}.v{solve.prompt_rev}/source={source}/date={date}")
    score_cfg = ScoreCfg(select=SelectCfg(config.top_m, config.min_critique), max_tokens=config.critique_max_tokens)
    judge_cache = ResponseCache(store, f"{judge_engine.model}/rft/critique.v{score_cfg.prompt_rev}/source={source}/date={date}")
    reward = reward_model(config)
    batches = question_batches(stream_scored_paths(scored, scored_drops, config.batch_rows), config.batch_questions)
    with AnswerJudge() as answers, RftSampler(engine, cache, solve, cfg, sft_cfg(config),
                                              Scorer(judge_engine, judge_cache, answers, score_cfg, reward)) as sampler:

        def extra(tally):
            stats, llm_stats, scorer = sampler.stats, sampler.llm_stats, sampler.scorer
            judged = sum(scorer.scores.values())
            return {**llm_metadata([llm_stats], engine), **noise_note(context, engine, judge_engine),
                    "samples_per_question": solve.samples, "questions_sampled": llm_stats.questions,
                    "samples": stats.samples, "distinct_paths": stats.distinct,
                    "distinct_paths_per_100_samples": stats.per_100(),
                    "distance_histogram": counts_table(dict(histogram(stats.distances)), "min_distance", "count", ordered=True),
                    "judge_model": judge_engine.model, "paths_judged": judged,
                    **{f"judge_{k}": v for k, v in llm_metadata([scorer.stats], judge_engine).items()},
                    "critique_score_mean": round(sum(s * n for s, n in scorer.scores.items()) / judged, 3) if judged else 0.0,
                    "reward_model": reward.name if reward else "none",
                    "selection": dg.MetadataValue.json({"top_m": config.top_m, "min_critique": config.min_critique}),
                    "rft": dg.MetadataValue.json(vars(cfg)), "cache": dg.MetadataValue.path(store.url(cache.folder)),
                    "judge_cache": dg.MetadataValue.path(store.url(judge_cache.folder))}

        yield from stream_split(context, store, (sampler.select(b) for b in batches), RFT, RFT_DROPS, extra_metadata=extra)


@posttrain_stage(
    DPO, DPO_DROPS, ins={"scored": SCORED.asset, "scored_drops": SCORED_DROPS.asset},
    kept_doc="Preference pairs: `prompt`, `chosen`, `rejected` as chat messages; chosen a correct high-scoring path, "
    "rejected an incorrect one, hard contrasts first; `pair_type` and provenance (item ids, scores, models).",
    dropped_doc="Questions without a pair, with the reason (no_chosen, no_rejected).",
)
def dpo_pairs(context: dg.AssetExecutionContext, config: DpoConfig, storage: CorpusStorage, scored: PartitionData,
              scored_drops: PartitionData):
    """One row per pair; rows in = pairs + unpaired questions. Pair-type counts in metadata."""
    store, types = storage.store(), Counter()
    cfg = DpoCfg(max_pairs=config.max_pairs, min_chosen_score=config.min_chosen_score, close_margin=config.close_margin,
                 precision_rel=config.precision_rel)
    splits = (make_pairs(g, cfg, sft_cfg(config), types) for g in stream_scored_paths(scored, scored_drops, config.batch_rows))

    def extra(tally):
        pairs = sum(types.values())
        return {**upstream_noise_note(context, SCORED.asset), "pair_type_counts": counts_table(dict(types), "pair_type", "count"), "pairs": pairs,
                "hard_pair_share": round(1 - types["easy"] / pairs, 4) if pairs else 0.0,
                "dpo": dg.MetadataValue.json(vars(cfg))}

    yield from stream_split(context, store, splits, DPO, DPO_DROPS, extra_metadata=extra)


@posttrain_stage(
    SELF_INSTRUCT, SELF_INSTRUCT_DROPS, llm=True, ins={"verified": "verified_math_items"},
    kept_doc="New problems written per area from k verified seed tasks, kept when not too similar to any seed or "
    "earlier instruction (ROUGE-L, MinHash) and verified through the rebuild path; SFT messages plus area and seeds.",
    dropped_doc="Generated instructions not kept, with the reason (too_similar_rouge_l, near_duplicate_minhash, not_verified).",
)
def self_instruct_math_items(context: dg.AssetExecutionContext, config: SelfInstructConfig, storage: CorpusStorage,
                             llm: LLMEngine, verified: PartitionData):
    """Self-instruct over the partition's verified items; generation and solving both go through the response cache."""
    store = storage.store()
    source, date = source_and_date(context)
    seeds = seed_tasks(verified.read())
    engine = llm.engine()
    solve = rebuild_cfg(config.model_copy(update={"prompt": config.solve_prompt}))
    cfg = SelfInstructCfg(seeds_per_prompt=config.seeds_per_prompt, prompts_per_area=config.prompts_per_area,
                          problems_per_prompt=config.problems_per_prompt, max_rouge_l=config.max_rouge_l,
                          max_jaccard=config.max_jaccard, seed=config.seed)
    gen_cache = ResponseCache(store, f"{engine.model}/self_instruct.v1/source={source}/date={date}")
    solve_cache = ResponseCache(store, f"{engine.model}/{solve.prompt}.v{solve.prompt_rev}/source={source}/date={date}")
    with Rebuilder(engine, solve_cache, solve) as solver:
        si = SelfInstructor(engine, gen_cache, solver, cfg, sft_cfg(config), solve.sampling)

        def extra(tally):
            generated, kept = sum(si.stats.generated.values()), sum(si.stats.kept.values())
            return {**llm_metadata([si.stats.llm, solver.stats], engine), **noise_note(context, engine),
                    "per_area": frame_table(si.stats.table()), "generated": generated, "kept": kept,
                    "kept_share": round(kept / generated, 4) if generated else 0.0,
                    "kept_per_area": dg.MetadataValue.json(dict(si.stats.kept)),
                    "generated_per_area": dg.MetadataValue.json(dict(si.stats.generated))}

        yield from stream_split(context, store, [si.run(seeds)], SELF_INSTRUCT, SELF_INSTRUCT_DROPS, extra_metadata=extra)
