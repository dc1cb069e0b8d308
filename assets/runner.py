"""Materialize the whole DAG in dependency order, partition by partition (`make demo`, end-to-end tests).

Assets with different partitionings (date x source, per source, per recipe, unpartitioned) cannot
share one run, so the graph is cut into waves: each wave is a set of assets with the same
partitions definition whose upstream assets are all done, run once per partition key through the
named job that holds it (`corpus_daily`, `corpus_global*`), so the runs show under those jobs.
"""
from collections.abc import Iterable
from dataclasses import dataclass, field

import dagster as dg

from assets.common.partitions import DATE_SOURCE


@dataclass
class StageRow:
    asset: str
    partition: str
    rows_in: int | None
    rows_out: int | None
    rows_kept: int | None = None
    dropped: dict = field(default_factory=dict)
    seconds: float | None = None


@dataclass
class RunSummary:
    rows: list[StageRow] = field(default_factory=list)
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)  # ERROR severity
    checks_warned: list[str] = field(default_factory=list)  # WARN severity: worth a look, not a stop
    notes: dict[str, str] = field(default_factory=dict)  # asset -> `llm_note` (why its output is empty)
    caveats: dict[str, str] = field(default_factory=dict)  # asset -> its CAVEAT_KEYS text (a random demo model, the demo lists)


# Metadata that a stage repeats on every partition (the tiny random demo model, the demo blocklists): said once per run.
CAVEAT_KEYS = ("model_warning", "lists_warning")

# What a reader follows from raw documents to training rows: (label, asset whose row count it is).
FUNNEL = [
    ("documents ingested", "raw_documents"),
    ("exam papers", "exam_documents"),
    ("questions", "exam_questions"),
    ("math questions", "math_questions"),
    ("rebuilt samples", "rebuilt_math_items"),
    ("verified math items", "verified_math_items"),
    ("math items, deduplicated", "math_deduplicated_items"),
    ("math items, decontaminated", "decontaminated_math_items"),
    ("documents, deduplicated", "deduplicated_documents"),
    ("documents, filtered", "filtered_documents"),
    ("documents, safety-kept", "safety_documents"),
    ("documents, classifier-kept", "classified_documents"),
    ("documents, coherent", "coherence_documents"),
    ("documents, perplexity-kept", "quality_documents"),
    ("documents, decontaminated", "decontaminated_documents"),
    ("patent chunks", "chunked_documents"),
    ("training rows", "training_mixture"),
]


@dataclass
class FunnelRow:
    label: str
    asset: str
    total: int
    by_source: dict[str, int]  # empty for assets not partitioned by source (training_mixture: by recipe)


def funnel(summary: RunSummary) -> list[FunnelRow]:
    """Row counts along FUNNEL, overall and per source, from the materializations of a run."""
    out = []
    for label, asset in FUNNEL:
        rows = [r for r in summary.rows if r.asset == asset and r.rows_out is not None]
        if not rows:
            continue
        by_source: dict[str, int] = {}
        for r in rows:
            if "|" in r.partition:  # `date|source`
                source = r.partition.split("|")[1]
                by_source[source] = by_source.get(source, 0) + r.rows_out
        out.append(FunnelRow(label, asset, sum(r.rows_out for r in rows), dict(sorted(by_source.items()))))
    return out


def plan_waves(defs: dg.Definitions) -> list[tuple[dg.PartitionsDefinition | None, list[dg.AssetKey]]]:
    graph = defs.resolve_asset_graph()
    keys = sorted(graph.materializable_asset_keys, key=lambda k: k.to_user_string())
    pdef = {k: graph.get(k).partitions_def for k in keys}
    parents = {k: set(graph.get(k).parent_keys) & set(keys) for k in keys}
    done: set = set()
    waves = []
    while len(done) < len(keys):
        ready = [k for k in keys if k not in done and parents[k] <= done]
        if not ready:
            raise RuntimeError("cycle in the asset graph")
        current = pdef[ready[0]]
        wave: list = []
        while ready := [k for k in keys if k not in done and k not in wave and pdef[k] == current and parents[k] <= done | set(wave)]:
            wave.extend(ready)
        done |= set(wave)
        waves.append((current, wave))
    return waves


def _job_for(defs: dg.Definitions, wave: list[dg.AssetKey]) -> dg.JobDefinition:
    """The named job whose selection holds every asset of the wave."""
    for job in defs.resolve_all_job_defs():
        if not job.name.startswith("__") and set(wave) <= job.asset_layer.executable_asset_keys:
            return job
    names = ", ".join(k.to_user_string() for k in wave)
    raise RuntimeError(f"no named job in assets/definitions.py selects all of: {names}")


def _partition_keys(pdef, date_source_keys: list[str]) -> list[str | None]:
    if pdef is None:
        return [None]
    if pdef == DATE_SOURCE:
        return date_source_keys
    return list(pdef.get_partition_keys())


def _run_config(defs: dg.Definitions, wave: list[dg.AssetKey], asset_config: dict[str, dict], log_level: str) -> dict:
    ops = {
        defs.resolve_assets_def(key).node_def.name: {"config": asset_config[key.to_user_string()]}
        for key in wave
        if key.to_user_string() in asset_config
    }
    loggers = {"console": {"config": {"log_level": log_level}}}
    return {"ops": ops, "loggers": loggers} if ops else {"loggers": loggers}


def _reasons(table) -> dict:
    """{reason: rows} from a stage's `dropped_by_reason` table."""
    return {r.data["reason"]: r.data["rows"] for r in table.records} if isinstance(table, dg.TableMetadataValue) else {}


def _value(meta: dict, key: str):
    v = meta.get(key)
    return getattr(v, "value", v)


def materialize_all(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    date_source_keys: Iterable[str],
    log=print,
    asset_config: dict[str, dict] | None = None,
    log_level: str = "INFO",
) -> RunSummary:
    """Run every asset (and its checks) for the given date x source partitions; raise on failure.

    `asset_config` maps an asset key to its config (e.g. fewer LLM samples for a demo).
    """
    date_source_keys = sorted(date_source_keys)
    summary = RunSummary()
    for pdef, wave in plan_waves(defs):
        job = _job_for(defs, wave)
        for pk in _partition_keys(pdef, date_source_keys):
            names = ", ".join(k.to_user_string() for k in wave)
            log(f"-> {job.name}: {names} [{pk or 'unpartitioned'}]")
            result = job.execute_in_process(
                run_config=_run_config(defs, wave, asset_config or {}, log_level),
                instance=instance,
                partition_key=pk,
                asset_selection=wave,
            )
            for event in result.get_asset_materialization_events():
                mat = event.materialization
                meta = dict(mat.metadata)
                for key in CAVEAT_KEYS:
                    if caveat := _value(meta, key):
                        summary.caveats[mat.asset_key.to_user_string()] = caveat
                summary.rows.append(
                    StageRow(
                        asset=mat.asset_key.to_user_string(),
                        partition=mat.partition or "-",
                        rows_in=_value(meta, "rows_in"),
                        rows_out=_value(meta, "dagster/row_count"),
                        rows_kept=_value(meta, "rows_kept"),
                        dropped=_reasons(meta.get("dropped_by_reason")),
                        seconds=_value(meta, "seconds"),
                    )
                )
                if "llm_note" in meta:
                    summary.notes[mat.asset_key.to_user_string()] = _value(meta, "llm_note")
            for evaluation in result.get_asset_check_evaluations():
                name = f"{evaluation.asset_check_key.to_user_string()} [{pk}]"
                if evaluation.passed:
                    summary.checks_passed += 1
                elif evaluation.severity == dg.AssetCheckSeverity.WARN:
                    summary.checks_warned.append(name)
                else:
                    summary.checks_failed.append(name)
    return summary

