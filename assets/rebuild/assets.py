"""`rebuilt_math_items` (k samples per math question) and `verified_math_items` + `unverified_math_items`."""

import dagster as dg
from pydantic import Field

from assets.common.metadata import counts_table, rounded
from assets.common.partitions import DATE_SOURCE
from assets.common.engine import MODEL_POOL, CorpusEngine
from assets.common.stage import Out, map_split, split_specs, write_outputs
from assets.common.storage import CorpusStorage
from assets.rebuild.resources import LLMEngine
from corpus_dag.accounting import split_facts
from corpus_dag.llm.cache import ResponseCache
from corpus_dag.rebuild.consistency import ConsistencyCfg
from corpus_dag.rebuild.sandbox import SandboxCfg, sandbox_capabilities
from corpus_dag.rebuild.sft import SftCfg
from corpus_dag.rebuild.stage import (
    DROPPED_SCHEMA,
    REBUILT_SCHEMA,
    VERIFIED_SCHEMA,
    RebuildCfg,
    RebuildStats,
    RebuildStep,
    VerifyStep,
)
from corpus_dag.storage import CorpusStore, PartitionData

COMMON = {"owners": ["team:corpus"], "group_name": "rebuild"}
VERIFIED = Out("verified_math_items", VERIFIED_SCHEMA)
UNVERIFIED = Out("unverified_math_items", DROPPED_SCHEMA)


class RebuildConfig(dg.Config):
    prompt: str = Field(default=RebuildCfg.prompt, description="Prompt template (corpus_dag/rebuild/prompts): kp_cot_pot, "
                        "kp_cot, cot_pot, knowledge_points or direct.")
    prompt_rev: int = Field(default=RebuildCfg.prompt_rev, description="Template version (`{prompt}.v{N}.txt`); a new wording is a new version.")
    samples: int = Field(default=RebuildCfg.samples, description="Samples per question (self-consistency votes over them).")
    guided_json: bool = Field(default=RebuildCfg.guided_json, description="Ask for the response JSON schema (structured output).")
    temperature: float = Field(default=RebuildCfg.temperature, description="Sampling temperature.")
    top_p: float = Field(default=RebuildCfg.top_p, description="Nucleus sampling mass.")
    max_tokens: int = Field(default=RebuildCfg.max_tokens, description="Response length limit (tokens).")
    seed: int = Field(default=RebuildCfg.seed, description="Sampling seed (with the prompt and question, the cache key).")
    batch_questions: int = Field(default=512, description="Questions per engine call (and per cache flush).")
    program_wall_s: float = Field(default=SandboxCfg.wall_s, description="Wall-clock limit of one PoT program (seconds).")
    program_cpu_s: int = Field(default=SandboxCfg.cpu_s, description="CPU limit of one PoT program (seconds).")
    program_memory_mb: int = Field(default=SandboxCfg.memory_mb, description="Memory limit of one PoT program (MB).")
    sandbox: str = Field(
        default=SandboxCfg.mode,
        description="bwrap: each PoT program in its own bubblewrap namespaces (the stage fails when bwrap cannot "
        "isolate here); unsafe: a plain subprocess with rlimits, which model-written code can escape",
    )


class SftOptions(dg.Config):
    """The SFT message options (SftCfg) of every stage that writes SFT records: verification and post-training."""

    system_prompt: str = Field(default=SftCfg.system, description="A system turn put before the user turn of every SFT record; empty: none")
    vary_phrasing: bool = Field(default=SftCfg.vary_phrasing, description="Rephrase the user turn in one of several fixed ways, chosen by a seeded hash of the item")
    phrasing_seed: int = Field(default=SftCfg.seed, description="Seed of that hash")


class VerifyConfig(SftOptions):
    min_votes: int = Field(default=ConsistencyCfg.min_votes, description="Samples that must agree on the answer for an item to be verified.")
    min_share: float = Field(default=ConsistencyCfg.min_share, description="Share of the answered samples the majority answer needs.")
    max_paths: int = Field(default=ConsistencyCfg.max_paths, description="Agreeing solution paths kept per verified item.")
    batch_rows: int = Field(default=20_000, description="Rebuilt rows per batch (whole questions are kept together).")


def sft_cfg(config: SftOptions) -> SftCfg:
    return SftCfg(system=config.system_prompt, vary_phrasing=config.vary_phrasing, seed=config.phrasing_seed)


def rebuild_cfg(config: RebuildConfig) -> RebuildCfg:
    return RebuildCfg(
        prompt=config.prompt, prompt_rev=config.prompt_rev, samples=config.samples, guided_json=config.guided_json,
        temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_tokens, seed=config.seed,
        sandbox=SandboxCfg(wall_s=config.program_wall_s, cpu_s=config.program_cpu_s, memory_mb=config.program_memory_mb,
                           mode=config.sandbox),
    )


@dg.asset(
    partitions_def=DATE_SOURCE,
    deps=["math_questions"],
    description="One row per (math question, sample): knowledge points, a new question, CoT and its answer, "
    "the PoT program, its sandboxed answer and exec_status, whether both answers agree (and which tier decided), tokens, latency, "
    "and the question group's shared material (`context`, sent before the question in the prompt; null for most).",
    kinds={"vllm", "polars", "parquet"},
    tags={"stage": "rebuild"},
    pool=MODEL_POOL,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=4),
    **COMMON,
)
def rebuilt_math_items(context: dg.AssetExecutionContext, config: RebuildConfig, storage: CorpusStorage, llm: LLMEngine,
                       engine: CorpusEngine):
    """Rebuild every math question of the partition(s) with k samples, on the engine (on Ray, an actor pool
    with the model loaded once per actor); responses are cached in storage, so a cancelled run resumes
    where it stopped and a re-run with the same config calls no model."""
    store, cfg = storage.store(), rebuild_cfg(config)
    for key in context.partition_keys:  # a multi-run backfill hands one run several partitions
        source, date = (dict(DATE_SOURCE.get_partition_key_from_str(key).keys_by_dimension)[d] for d in ("source", "date"))
        dims = {"source": source, "date": date}
        questions = PartitionData(store, CorpusStore.partition_path("math_questions", dims))
        if not questions.exists():
            raise dg.Failure(f"rebuilt_math_items {key}: math_questions partition is not materialized")
        out = Out("rebuilt_math_items", REBUILT_SCHEMA)
        if questions.num_rows == 0:  # other source kinds, or no math in this partition: no model load
            yield from write_outputs(context, store, [out], lambda _w: {"partition": key, "note": "no math questions in this "
                                     "partition: no model call"}, dims=dims)
            continue
        sandbox = sandbox_capabilities(cfg.sandbox.mode)  # fails closed before the model loads
        llm_engine = llm.engine()  # a config and a name here: the model loads where the batches run
        cache = ResponseCache(store, f"{llm_engine.model}/{cfg.prompt}.v{cfg.prompt_rev}/source={source}/date={date}")
        total = questions.num_rows

        def progress(tally, total=total) -> str:
            s = summed_stats(tally)
            return (f"{s.questions:,}/{total:,} questions, {s.prompts_sent:,} prompts sent, {s.cache_hits:,} cache hits, "
                    f"{s.valid:,} valid, {s.agree:,} agree")

        def extra(tally, key=key, llm_engine=llm_engine, cache=cache, sandbox=sandbox) -> dict:
            return {
                "partition": key,
                "model": llm_engine.model,
                "prompt_version": f"{cfg.prompt}.v{cfg.prompt_rev}",
                "cache": dg.MetadataValue.path(store.url(cache.folder)),
                "sandbox": dg.MetadataValue.json(sandbox),
                **({"llm_note": note} if (note := llm.random_model_note()) else {}),
                **{k: _metadata_value(k, v) for k, v in summed_stats(tally).as_dict(llm_engine).items()},
            }

        # each worker writes the samples of its batches; its RebuildStats come back as the split's summary
        yield from map_split(context, store, engine, questions, RebuildStep(llm.engine_cfg(), cache, cfg), out, stage="rebuild",
                             batch_rows=config.batch_questions, columns=["question_id", "text", "context"], summarize=split_facts,
                             extra_metadata=extra, dims=dims, progress=progress)


def summed_stats(tally) -> RebuildStats:
    """The partition's statistics so far: the sum of its batches' (their splits' summaries)."""
    stats = RebuildStats()
    for batch in tally.summaries:
        stats.add(batch)
    return stats


def _metadata_value(key: str, value):
    """A rebuild statistic as metadata: a tally (samples by exec_status) as a table, floats rounded."""
    if isinstance(value, dict):
        return counts_table(value, key, "samples")
    return rounded(value) if isinstance(value, float) else value


def _upstream_llm_note(context: dg.AssetExecutionContext) -> dict:
    """rebuilt_math_items' `llm_note` for this partition (set when the LLM is the random test model)."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("rebuilt_math_items"), asset_partitions=[context.partition_key]), limit=1
    ).records
    note = records[0].asset_materialization.metadata.get("llm_note") if records else None
    return {"llm_note": note.value} if note else {}


@dg.multi_asset(
    specs=split_specs(
        VERIFIED.asset,
        UNVERIFIED.asset,
        kept_doc="Verified rebuilt items as SFT records: `messages` (user question, assistant CoT + program + answer) "
        "with provenance (source question_id, knowledge points, model, prompt version, votes).",
        dropped_doc="rebuilt_math_items rows not selected, with the reason (invalid_response, no_consensus, "
        "minority_answer, program_disagrees, duplicate_path, beyond_max_paths, ...).",
        deps=["rebuilt_math_items"],
        stage="verify",
        **COMMON,
    ),
    ins={"rebuilt": dg.AssetIn("rebuilt_math_items")},
    partitions_def=DATE_SOURCE,
    can_subset=False,
)
def verified_math_items(context: dg.AssetExecutionContext, config: VerifyConfig, storage: CorpusStorage,
                        engine: CorpusEngine, rebuilt: PartitionData):
    """Self-consistency (majority answer with min_votes / min_share), then up to max_paths distinct programs.
    Batches hold whole questions (a question's samples are stored together), so they run on the engine."""
    cfg = ConsistencyCfg(min_votes=config.min_votes, min_share=config.min_share, max_paths=config.max_paths)

    def rates(_tally):
        questions = rebuilt.read(["question_id"])["question_id"].n_unique() if rebuilt.num_rows else 0
        return {"questions_in": questions, "consistency": dg.MetadataValue.json(vars(cfg)),
                "sft": dg.MetadataValue.json(vars(sft_cfg(config))), **_upstream_llm_note(context)}

    yield from map_split(context, storage.store(), engine, rebuilt, VerifyStep(cfg, sft_cfg(config)), VERIFIED, UNVERIFIED,
                         stage="verify", batch_rows=config.batch_rows, whole="question_id", extra_metadata=rates)
