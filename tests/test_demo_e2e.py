"""End to end: the shipped sample library through every asset on the real Dagster instance (local
folder), then a subset of its sources on a real S3 server, compared partition by partition.

When a stage is added or changed, the expected figures live in the tables right below: one edit.
"""
import gzip
from pathlib import Path

import dagster as dg
import pytest

from assets.common.partitions import SOURCES, dims_for
from assets.definitions import defs
from assets.runner import RunSummary, materialize_all, plan_waves
from corpus_dag.sources import load_kinds
from corpus_dag.storage import CorpusStore, seed_raw_library
from scripts.demo import DEMO_CONFIG, SAMPLE_LIBRARY

# The whole-library run is one module fixture; on a 2-core machine shared with other jobs it has
# taken 740 s (the project's 900 s per-test limit was hit under load before), so it gets more room.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

# ---- expected figures for the shipped sample library (samples/library) -----------------------
def raw_records(partition: str | None = None, source: str = "*", name: str = "*.jsonl*") -> int:
    """Non-blank lines of the library's raw files (JSONL, gzip) named `name`, of one `date|source`
    partition or every date of `source`, counted without the ingest code."""
    pattern = f"{source}/*/{name}" if partition is None else "{1}/{0}/{2}".format(*partition.split("|"), name)
    total = 0
    for path in sorted(SAMPLE_LIBRARY.glob(pattern)):
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        total += sum(1 for line in data.splitlines() if line.strip())
    return total


# Rows each asset writes, summed over its partitions; every asset of the graph is listed (a new
# one fails the test until it is added). Counted from the input files where they follow from
# them; the others were read off a run (the tiny random LLM is seeded, so they are stable) and
# are held together by the accounting asserts below (in = kept + dropped; a stage's rows in =
# what its input asset wrote for the partition).
REJECTED = raw_records(name="*broken-export*")  # every record of that file is broken on purpose
MATH_QUESTIONS = 424
SAMPLES = MATH_QUESTIONS * DEMO_CONFIG["rebuilt_math_items"]["samples"]
CLASSIFIER_MODELS = 4  # config/classifiers.yaml: toxicity, pornography, advertisement, incoherent
EXPECTED_ROWS = {
    "question_classifier": 0,  # a model file, no rows
    "quality_classifiers": 0,  # model files, no rows
    "raw_documents": raw_records() - REJECTED,
    "rejected_documents": REJECTED,
    "exam_documents": 150,
    "non_exam_documents": raw_records(source="wenku") - REJECTED - 150,  # only wenku is an exam library
    "exam_questions": 2140,
    "math_questions": MATH_QUESTIONS,
    "math_question_drops": 2140 - MATH_QUESTIONS,
    "rebuilt_math_items": SAMPLES,
    "verified_math_items": 0,  # the tiny random model never answers twice alike
    "unverified_math_items": SAMPLES,
    "scored_math_items": 0,  # nothing verified: every sample is dropped with its reason
    "scored_math_drops": SAMPLES,
    "rft_math_items": 0,
    "rft_math_drops": SAMPLES,
    "dpo_pairs": 0,
    "dpo_unpaired_questions": MATH_QUESTIONS,
    "self_instruct_math_items": 0,
    "self_instruct_drops": 0,
    "minhash_signatures": raw_records() - REJECTED,
    "dedup_clusters": 49,
    "deduplicated_documents": 350,
    "duplicate_documents": raw_records() - REJECTED - 350,
    "math_minhash_signatures": 0,
    "math_dedup_clusters": 0,
    "math_deduplicated_items": 0,
    "math_duplicate_items": 0,
    "filtered_documents": 342,
    "filter_drops": 350 - 342,
    "safety_documents": 342,
    "safety_drops": 0,
    "quality_scores": 342 * CLASSIFIER_MODELS,
    "classified_documents": 342,
    "classifier_drops": 0,  # the demo labels are paired: no sample document is toxic or pornographic
    "coherence_scores": 342,
    "coherence_thresholds": 5,  # one row per source kind
    "coherence_documents": 337,
    "coherence_drops": 342 - 337,
    "perplexity_scores": 337,
    "ppl_thresholds": 13,  # one row per length bucket, up to 128K tokens
    "quality_documents": 303,
    "quality_drops": 337 - 303,
    "decontaminated_documents": 165,
    "contaminated_items": 303 - 165,
    "chunked_documents": 1838,
    "unchunked_documents": 0,
    "decontaminated_math_items": 0,
    "contaminated_math_items": 0,
    "training_mixture": 809,
}
CHECKS_PASSED = 183  # every check of every partition but the 3 planted contaminated_share warnings
# planted benchmark items (README)
CHECKS_WARNED = {"decontaminated_documents:contaminated_share"}
# Stages that keep and drop rows: kept asset -> (the asset its rows come from, its dropped-rows asset).
# None: raw files. Each pair's metadata must say rows_in = kept + dropped-by-reason.
STAGES = {
    "raw_documents": (None, "rejected_documents"),
    "exam_documents": ("raw_documents", "non_exam_documents"),
    "math_questions": ("exam_questions", "math_question_drops"),
    "verified_math_items": ("rebuilt_math_items", "unverified_math_items"),
    "scored_math_items": ("verified_math_items", "scored_math_drops"),
    "rft_math_items": ("scored_math_items", "rft_math_drops"),
    "deduplicated_documents": ("raw_documents", "duplicate_documents"),
    "math_deduplicated_items": ("verified_math_items", "math_duplicate_items"),
    "filtered_documents": ("deduplicated_documents", "filter_drops"),
    "safety_documents": ("filtered_documents", "safety_drops"),
    "classified_documents": ("safety_documents", "classifier_drops"),
    "coherence_documents": ("classified_documents", "coherence_drops"),
    "quality_documents": ("coherence_documents", "quality_drops"),
    "chunked_documents": ("deduplicated_documents", "unchunked_documents"),
    "decontaminated_documents": ("quality_documents", "contaminated_items"),
    "decontaminated_math_items": ("math_deduplicated_items", "contaminated_math_items"),
}
# Stages that read only sources of some kinds (others get an empty partition, rows_in 0).
ONLY_KINDS = {stage_asset: tuple(k for k, d in load_kinds().items() if stage in d.stages)
              for stage_asset, stage in (("exam_documents", "exam"), ("chunked_documents", "chunk"))}
# Stages whose rows_in is not the input's row count, and why (their in = kept + dropped still holds).
IN_IS_NOT_INPUT_ROWS = {
    "scored_math_items": "reads the rebuilt samples of verified and unverified items",
    "rft_math_items": "reads the scored paths and their drops",
}
# Stages that write several rows per kept input row: their rows in/kept/dropped count input rows.
KEPT_IS_NOT_ROWS_OUT = {"chunked_documents": "rows_kept counts the documents chunked; rows out are their fragments"}
# Assets that write one row per input row, without dropping: asset -> its input.
ONE_TO_ONE = {"minhash_signatures": "raw_documents", "math_minhash_signatures": "verified_math_items",
              "perplexity_scores": "coherence_documents", "coherence_scores": "classified_documents"}
SAMPLES_PER_QUESTION = {"rebuilt_math_items": ("math_questions", DEMO_CONFIG["rebuilt_math_items"]["samples"])}
# Assets with no row accounting, and why.
UNACCOUNTED = {
    "question_classifier": "a model, not rows",
    "quality_classifiers": "models, not rows",
    "quality_scores": "one row per document and model",
    "exam_questions": "questions split out of papers: many rows per input row",
    "dedup_clusters": "one row per document that has a duplicate, over all dates",
    "math_dedup_clusters": "as dedup_clusters",
    "ppl_thresholds": "one row per length bucket",
    "coherence_thresholds": "one row per source kind",
    "dpo_pairs": "pairs per question (dpo_unpaired_questions: questions without a pair)",
    "dpo_unpaired_questions": "see dpo_pairs",
    "self_instruct_math_items": "generated instructions (self_instruct_drops: dropped ones)",
    "self_instruct_drops": "see self_instruct_math_items",
    "training_mixture": "the mixture's shards, sampled by recipe",
}
# The S3 run: these sources only (all their dates, so per-source dedup sees the same rows), the
# perplexity and coherence cuts pinned to the local run's (a kind with few documents falls back to
# the cut pooled over every source), so every partition of these sources must be identical.
S3_SOURCES = ("web", "patents")
NOT_COMPARED = {"ppl_thresholds": "pinned from the local run", "training_mixture": "mixes every source", "question_classifier": "a model file",
                "quality_classifiers": "model files", "coherence_thresholds": "pinned from the local run"}
# ------------------------------------------------------------------------------------------------


def run_library(store: CorpusStore, instance, sources=None, asset_config=None) -> RunSummary:
    seed_raw_library(store, SAMPLE_LIBRARY)
    partitions = sorted(f"{d}|{s}" for s, d in store.raw_files() if sources is None or s in sources)
    return materialize_all(defs, instance, partitions, log=lambda _m: None, asset_config=DEMO_CONFIG | (asset_config or {}), log_level="WARNING")


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, vllm_installed, tiny_model_path, vllm_cpu_env):
    """The whole library through the whole graph once on a local folder; the tests below read it."""
    tmp = tmp_path_factory.mktemp("e2e_local")
    home = tmp / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((Path(__file__).resolve().parent.parent / "dagster.yaml").read_text())
    with pytest.MonkeyPatch.context() as mp:
        for k, v in {"CORPUS_ROOT": tmp / "corpus", "DAGSTER_HOME": home, "CORPUS_PPL_MODEL": tiny_model_path, "CORPUS_REBUILD_MODEL": tiny_model_path}.items():
            mp.setenv(k, str(v))
        store = CorpusStore()
        with dg.DagsterInstance.get() as instance:
            yield store, instance, run_library(store, instance)


def rows_by_asset(summary: RunSummary) -> dict[str, int]:
    totals: dict[str, int] = {}
    for r in summary.rows:
        totals[r.asset] = totals.get(r.asset, 0) + (r.rows_out or 0)
    return totals


def test_waves_respect_dependencies():
    graph = defs.resolve_asset_graph()
    done = set()
    for _, wave in plan_waves(defs):
        for key in wave:
            assert set(graph.get(key).parent_keys) <= done | set(wave)
        done |= set(wave)
    assert done == set(graph.materializable_asset_keys)


def test_every_asset_materialized_with_the_expected_rows(local_run):
    store, instance, summary = local_run
    assert {r.asset for r in summary.rows} == {k.to_user_string() for k in defs.resolve_asset_graph().materializable_asset_keys}
    assert rows_by_asset(summary) == EXPECTED_ROWS
    model = instance.get_latest_materialization_event(dg.AssetKey("question_classifier")).asset_materialization
    assert model.metadata["validity_precision"].value >= 0.9 and model.metadata["validity_recall"].value >= 0.9


def test_checks_pass_and_only_the_planted_contamination_warns(local_run):
    _, _, summary = local_run
    assert summary.checks_failed == []
    assert {w.split(" ")[0] for w in summary.checks_warned} == CHECKS_WARNED
    assert summary.checks_passed == CHECKS_PASSED


def test_every_stage_accounts_for_its_rows(local_run):
    """Every asset is a stage with accounting, a 1:1 step, or named in UNACCOUNTED: a new asset
    cannot slip by. Per partition: in = kept + dropped by reason, both outputs wrote what the
    metadata says, and a stage's rows in are what its input asset wrote for that partition."""
    _, _, summary = local_run
    out = {(r.asset, r.partition): r.rows_out for r in summary.rows}
    dropped_assets = {d: kept for kept, (_, d) in STAGES.items()}
    known = set(STAGES) | set(dropped_assets) | set(ONE_TO_ONE) | set(SAMPLES_PER_QUESTION) | set(UNACCOUNTED)
    assert {r.asset for r in summary.rows} - known == set(), "a new asset: add it to a table at the top of this file"
    for r in summary.rows:
        if r.asset in STAGES:
            source, dropped = STAGES[r.asset]
            assert r.rows_in is not None and r.rows_kept is not None, r
            assert r.rows_in == r.rows_kept + sum(r.dropped.values()), r
            assert out[(dropped, r.partition)] == sum(r.dropped.values()), r
            assert r.rows_out >= r.rows_kept if r.asset in KEPT_IS_NOT_ROWS_OUT else r.rows_out == r.rows_kept, r
            kind = SOURCES.get(r.partition.split("|")[1]).kind
            if source is None:
                assert r.rows_in == raw_records(r.partition), r
            elif kind not in ONLY_KINDS.get(r.asset, (kind,)):
                assert r.rows_in == 0 and r.rows_out == 0, r
            elif r.asset not in IN_IS_NOT_INPUT_ROWS:
                assert r.rows_in == out[(source, r.partition)], r
        elif r.asset in ONE_TO_ONE:
            assert r.rows_out == out[(ONE_TO_ONE[r.asset], r.partition)], r
        elif r.asset in SAMPLES_PER_QUESTION:
            source, k = SAMPLES_PER_QUESTION[r.asset]
            assert r.rows_out == k * out[(source, r.partition)], r


def test_s3_subset_matches_the_local_run(local_run, s3_root, dagster_instance, tmp_path):
    """Only CORPUS_ROOT changes: every partition of the S3_SOURCES is identical on S3 and locally."""
    local, _, _ = local_run
    pinned, coherence = tmp_path / "thresholds.parquet", tmp_path / "coherence.parquet"
    local.read(CorpusStore.partition_path("ppl_thresholds")).write_parquet(pinned)
    local.read(CorpusStore.partition_path("coherence_thresholds")).write_parquet(coherence)
    s3 = CorpusStore(s3_root)
    assert s3.protocol == "s3"
    models = [p for p in Path(local.abs("models")).rglob("*") if p.is_file()]
    for path in models:  # with their training records: the S3 run reuses them instead of training again
        s3.write_bytes(path.relative_to(local.abs("")).as_posix(), path.read_bytes())
    summary = run_library(s3, dagster_instance, S3_SOURCES, {"ppl_thresholds": {"pinned": str(pinned)},
                                                             "coherence_thresholds": {"pinned": str(coherence)}})
    assert summary.checks_failed == []
    for asset in ("question_classifier", "quality_classifiers"):
        meta = dagster_instance.get_latest_materialization_event(dg.AssetKey(asset)).asset_materialization.metadata
        reused = [meta["reused"].value] if "reused" in meta else [r.data["reused"] for r in meta["models"].value.records]
        assert reused and all(reused), (asset, reused)
    graph = defs.resolve_asset_graph()
    compared = []
    for r in summary.rows:
        dims = dims_for(graph.get(dg.AssetKey(r.asset)).partitions_def, None if r.partition == "-" else r.partition)
        if r.asset in NOT_COMPARED or dims.get("source") not in S3_SOURCES:
            continue
        path = CorpusStore.partition_path(r.asset, dims)
        on_s3, here = s3.read(path), local.read(path)
        assert on_s3.equals(here), (path, on_s3.join(here, on=on_s3.columns, how="anti"), here.join(on_s3, on=here.columns, how="anti"))
        compared.append(path)
    assert {p.split("/")[0] for p in compared} >= set(STAGES) | set(ONE_TO_ONE)
