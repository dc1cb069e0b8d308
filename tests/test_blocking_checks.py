"""Every blocking check, seen failing: a deliberately broken partition, the check run through Dagster
with the repo's definitions and resources, an ERROR-severity failure, and the downstream step never
started.

One pattern for all: a case writes what is broken (CorpusStore.write_frame at
CorpusStore.partition_path, never a path of its own), then one run holds the check, the stage
itself where it computes the fault from a broken input (dedup), and the stage downstream of the
checked asset. A stage that cannot produce the fault (it accounts for every row by construction)
gets a partition written as a stale or corrupted one would look. Blocking acts inside one run
only, so a check whose consumers are partitioned differently (or that nothing consumes) has no
`downstream`; the comments in CASES say which.
"""
import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import polars as pl
import pytest

from assets.dedup.factory import source_cfg
from assets.definitions import defs
from corpus_dag.chunking import CHUNK_SCHEMA
from corpus_dag.classify.apply import SCORE_SCHEMA
from corpus_dag.dedup.clusters import CLUSTER_SCHEMA
from corpus_dag.exam.questions import EXAM_QUESTION_SCHEMA
from corpus_dag.ingest import RAW_DOCUMENTS_SCHEMA
from corpus_dag.posttrain.select import NORMAL
from corpus_dag.posttrain.self_instruct import instruction_id
from corpus_dag.posttrain.stage import (
    DPO_DROPPED_SCHEMA,
    DPO_SCHEMA,
    RFT_SCHEMA,
    SCORED_DROPPED_SCHEMA,
    SCORED_SCHEMA,
    SELF_INSTRUCT_DROPPED_SCHEMA,
    SELF_INSTRUCT_SCHEMA,
)
from corpus_dag.quality.thresholds import THRESHOLD_SCHEMA
from corpus_dag.rebuild.stage import DROPPED_SCHEMA, REBUILT_SCHEMA, VERIFIED_SCHEMA
from corpus_dag.storage import CorpusStore

pytestmark = pytest.mark.slow

DATE = "2026-11-20"
EVERYTHING = [*defs.assets, *defs.asset_checks]


def dims(source: str) -> dict[str, str]:
    return {"date": DATE, "source": source}


def write(store: CorpusStore, asset: str, partition: dict, rows: list[dict], schema: dict) -> None:
    store.write_frame(CorpusStore.partition_path(asset, partition), pl.DataFrame(rows, schema=schema))


def sha1(text: str) -> str:
    return "sha1:" + hashlib.sha1(text.encode()).hexdigest()


def documents(source: str, texts: list[str], ids: list[str] | None = None) -> list[dict]:
    """raw_documents rows for `texts` (valid unless the caller passes broken ids)."""
    ids = ids or [f"{source}-{i}" for i in range(len(texts))]
    return [
        {"doc_id": i, "source": source, "date": dt.date.fromisoformat(DATE), "title": "t", "text": t, "url": None,
         "hash": sha1(t), "n_chars": len(t), "meta": "{}"}
        for i, t in zip(ids, texts)
    ]


TEXTS = [
    "春天来了，公园里的桃花和樱花都开了，许多家庭带着孩子去散步，湖边的柳树也发了新芽。",
    "The library opens at nine in the morning and closes at six in the evening on weekdays.",
    "老人们在湖边下棋聊天，年轻人在草地上放风筝，孩子们追着鸽子跑来跑去，笑声不断。",
    "A small bakery on the corner sells fresh bread every morning and closes when it runs out.",
]


def questions(n: int, **override) -> list[dict]:
    return [
        {"question_id": f"w1-q{i}", "doc_id": "w1", "question_no": i, "section": "选择题", "text": f"解方程 x+{i}=7。",
         "subject": "数学", "is_valid": True, "valid_score": 0.9} | override
        for i in range(1, n + 1)
    ]


def samples(question_ids: list[str], **override) -> list[dict]:
    return [
        {"item_id": f"{q}-s0", "question_id": q, "prompt_version": "kp_cot_pot.v1", "model": "tiny", "sample_idx": 0,
         "valid": False, "knowledge_points": [], "exec_status": None, "agree": False, "equivalence_tier": "none",
         "tokens_in": 10, "tokens_out": 5, "latency_s": 0.1} | override
        for q in question_ids
    ]


# ---- the broken partitions ---------------------------------------------------------------------
def duplicate_ids_and_bad_hash(store):
    rows = documents("wenku", TEXTS[:3], ids=["w1", "w1", "w2"])
    rows[2]["hash"] = "md5:0"
    write(store, "raw_documents", dims("wenku"), rows, RAW_DOCUMENTS_SCHEMA)


def unknown_subject_and_score_out_of_range(store):
    rows = questions(3)
    rows[1] |= {"subject": "天文"}
    rows[2] |= {"valid_score": 1.7}
    write(store, "exam_questions", dims("wenku"), rows, EXAM_QUESTION_SCHEMA)


def unknown_exec_status(store):
    write(store, "math_questions", dims("wenku"), questions(2), EXAM_QUESTION_SCHEMA)
    write(store, "rebuilt_math_items", dims("wenku"), samples(["w1-q1", "w1-q2"], exec_status="exploded"), REBUILT_SCHEMA)


def question_without_sample(store):
    write(store, "math_questions", dims("wenku"), questions(3), EXAM_QUESTION_SCHEMA)
    write(store, "rebuilt_math_items", dims("wenku"), samples(["w1-q1", "w1-q2"]), REBUILT_SCHEMA)


def sample_lost_in_verification(store):
    write(store, "rebuilt_math_items", dims("wenku"), samples(["w1-q1", "w1-q2", "w1-q3"]), REBUILT_SCHEMA)
    unverified = [r | {"reason": "no valid sample"} for r in samples(["w1-q1"])]
    write(store, "verified_math_items", dims("wenku"), [], VERIFIED_SCHEMA)
    write(store, "unverified_math_items", dims("wenku"), unverified, DROPPED_SCHEMA)


def mostly_copies(prefix: str, source: str) -> Callable[[CorpusStore], None]:
    """More exact copies of one row than the source's max dedup rate allows; the real signatures,
    clusters and dedup stage compute the rate. `prefix` "" dedups raw_documents, "math_" the verified items."""

    def broken(store):
        _, (_, high) = source_cfg(source)
        n = 10
        copies = int(high * n) + 1  # dropped share copies / n > high
        texts = [TEXTS[0]] * (copies + 1) + (TEXTS[1:] * n)[: n - copies - 1]
        if prefix:
            rows = [
                {"item_id": f"w1-q{i}-v", "messages": [{"role": "user", "content": "解方程 x+1=3。"}, {"role": "assistant", "content": t}],
                 "question_id": f"w1-q{i}", "knowledge_points": [], "answer": "2", "model": "tiny", "prompt_version": "kp_cot_pot.v1",
                 "votes": 2, "share": 1.0}
                for i, t in enumerate(texts)
            ]
            write(store, "verified_math_items", dims(source), rows, VERIFIED_SCHEMA)
        else:
            write(store, "raw_documents", dims(source), documents(source, texts), RAW_DOCUMENTS_SCHEMA)
        for asset, pk in ((f"{prefix}minhash_signatures", f"{DATE}|{source}"), (f"{prefix}dedup_clusters", source)):
            assert dg.materialize(EVERYTHING, resources=defs.resources, selection=[asset], partition_key=pk).success

    return broken


def trail_to_a_dropped_row(asset: str, source: str) -> Callable[[CorpusStore], None]:
    """b is a duplicate of a, yet c's duplicate_of names b: c would point at a row that is not kept."""

    def broken(store):
        day = dt.date.fromisoformat(DATE)
        rows = [
            {"doc_id": d, "date": day, "source": source, "cluster_id": 0, "representative": "a", "duplicate_of": dup, "kind": "exact", "est_jaccard": 1.0}
            for d, dup in (("a", None), ("b", "a"), ("c", "b"))
        ]
        write(store, asset, {"source": source}, rows, CLUSTER_SCHEMA)

    return broken


def drop_without_rule_version_or_reason(store):
    rows = [r | {"lang": "zh", "rule": r_, "value": 0.0, "reason": why} for r, r_, why in
            zip(documents("web", TEXTS[:2]), ["min_chars", "min_chars@1"], ["too short", None])]
    write(store, "filter_drops", dims("web"), rows, RAW_DOCUMENTS_SCHEMA | {"lang": pl.String, "rule": pl.String, "value": pl.Float64, "reason": pl.String})


def ppl_outside_stale_thresholds(store):
    """quality_documents kept under thresholds that were re-fit since: one row now lies above its bucket's high."""
    write(store, "ppl_thresholds", {}, [{"token_bucket": "0-64", "n_ref": 100, "low": 5.0, "high": 50.0, "fit": "bucket"}], THRESHOLD_SCHEMA)
    rows = [r | {"lang": "zh", "ppl": p, "n_tokens": 30, "token_bucket": "0-64"} for r, p in zip(documents("web", TEXTS[:2]), [20.0, 80.0])]
    write(store, "quality_documents", dims("web"), rows, RAW_DOCUMENTS_SCHEMA | {"lang": pl.String, "ppl": pl.Float64, "n_tokens": pl.Int64, "token_bucket": pl.String})


def fragment_id_twice(store):
    """The chunker never repeats an id within a partition (it drops a repeated patent), so the broken partition is written."""
    day = dt.date.fromisoformat(DATE)
    rows = [
        {"id": "CN1-step1-0-0", "patent": "CN1", "jurisdiction": "CN", "title": "t", "step": 1, "paragraph": 0, "fragment": 0,
         "text": t, "lang": "zh", "pub_date": day, "source": "patents", "page": None, "hash": sha1(t)}
        for t in TEXTS[:2]
    ]
    write(store, "chunked_documents", dims("patents"), rows, CHUNK_SCHEMA)


def patent_lost_in_chunking(store):
    """Three patents in, one chunked (two fragments), one unchunked: a document was lost, whatever the
    fragment count says."""
    docs = documents("patents", TEXTS[:3], ids=["CN1", "CN2", "CN3"])
    write(store, "deduplicated_documents", dims("patents"), docs, RAW_DOCUMENTS_SCHEMA)
    day = dt.date.fromisoformat(DATE)
    fragments = [
        {"id": f"CN1-step1-0-{i}", "patent": "CN1", "jurisdiction": "CN", "title": "t", "step": 1, "paragraph": 0, "fragment": i,
         "text": t, "lang": "zh", "pub_date": day, "source": "patents", "page": None, "hash": sha1(t)}
        for i, t in enumerate(TEXTS[:2])
    ]
    write(store, "chunked_documents", dims("patents"), fragments, CHUNK_SCHEMA)
    write(store, "unchunked_documents", dims("patents"), [docs[1] | {"reason": "no_claims"}], RAW_DOCUMENTS_SCHEMA | {"reason": pl.String})


def papers_without_questions(store):
    """Four exam papers, questions split from one: the splitter no longer fits the library."""
    write(store, "exam_documents", dims("wenku"), documents("wenku", TEXTS, ids=["w1", "w2", "w3", "w4"]), RAW_DOCUMENTS_SCHEMA)
    write(store, "exam_questions", dims("wenku"), questions(3), EXAM_QUESTION_SCHEMA)


def one_row_lost(source_asset: str, kept: str, removed: str, **drop) -> Callable[[CorpusStore], None]:
    """A split that lost a row: 4 in, 2 kept, 1 removed (with the `drop` columns, e.g. its reason)."""

    def broken(store):
        docs = documents("web", TEXTS)
        write(store, source_asset, dims("web"), docs, RAW_DOCUMENTS_SCHEMA)
        write(store, kept, dims("web"), docs[:2], RAW_DOCUMENTS_SCHEMA)
        write(store, removed, dims("web"), [r | drop for r in docs[2:3]], RAW_DOCUMENTS_SCHEMA | {k: pl.String for k in drop})

    return broken


def unclassified_row_and_drop_without_reason(store):
    """quality_scores is read too (for the histogram): one score per input document."""
    one_row_lost("safety_documents", "classified_documents", "classifier_drops", reason="")(store)
    scores = [{"doc_id": f"web-{i}", "model": "fasttext_quality", "label": "hq", "score": 0.5} for i in range(len(TEXTS))]
    write(store, "quality_scores", dims("web"), scores, SCORE_SCHEMA)


# post-training rows: per row i, question w1-q{i}, its sample w1-q{i}-s0 (override any column; a tuple gives one value per row)
def rows(schema: dict, n: int, **cols) -> list[dict]:
    cols = {"item_id": tuple(f"w1-q{i}-s0" for i in range(1, n + 1)), "question_id": tuple(f"w1-q{i}" for i in range(1, n + 1))} | cols
    return [{c: v[i] if isinstance(v := cols.get(c), tuple) else v for c in schema} for i in range(n)]


def posttrain(*parts: tuple[str, list[dict], dict]) -> Callable[[CorpusStore], None]:
    """Write each (asset, rows, schema) at the wenku partition."""
    return lambda store: [write(store, asset, dims("wenku"), r, schema) for asset, r, schema in parts]


def sid(n: int, total: int) -> str:
    """The id the self-instruct stage gives the n-th of `total` generated instructions."""
    return instruction_id("equations", n, total, f"解方程 x+{n}=5。")


def instructions_kept(*ids: str) -> list[dict]:
    return rows(SELF_INSTRUCT_SCHEMA, len(ids), item_id=tuple(f"{i}-s0" for i in ids), question_id=ids, instruction="解方程 x+2=5。")


def instructions_dropped(*ids_and_reasons: tuple[str, str | None]) -> list[dict]:
    return [{"instruction_id": i, "area": "equations", "instruction": "解方程 x+2=5。", "seed_item_ids": [], "similar_to": None,
             "similarity": None, "reason": reason} for i, reason in ids_and_reasons]


SCORED_OK = {"critique_score": 8.0, "difficulty": NORMAL}
SCORED_DROP = SCORED_OK | {"reason": "wrong_answer"}


@dataclass(frozen=True)
class Case:
    check: str
    asset: str  # the checked asset
    partition: str
    broken: Callable[[CorpusStore], None]
    fails: tuple[str, ...]  # what the check must name as failed (substrings of its `failed` metadata)
    stage: tuple[str, ...] = ()  # the stage's own assets, run when it computes the failure itself
    downstream: tuple[str, ...] = ()  # assets of the same partitioning that must not start
    variant: str = ""  # tells apart two cases of one check (their jobs)

    @property
    def key(self) -> dg.AssetCheckKey:
        return dg.AssetCheckKey(dg.AssetKey(self.asset), self.check)


WEB, WENKU = f"{DATE}|web", f"{DATE}|wenku"
POSTTRAIN_DOWNSTREAM = ("rft_math_items", "rft_math_drops", "dpo_pairs", "dpo_unpaired_questions")
CASES = [
    Case("schema_text_and_ids", "raw_documents", WENKU, duplicate_ids_and_bad_hash, ("expect_column_values_to_be_unique", "expect_column_values_to_match_regex"),
         downstream=("minhash_signatures",)),
    Case("question_columns", "exam_questions", WENKU, unknown_subject_and_score_out_of_range, ("expect_column_values_to_be_in_set", "expect_column_values_to_be_between"), downstream=("math_questions", "math_question_drops")),
    Case("questions_per_exam_document", "exam_questions", WENKU, papers_without_questions, ("median questions per exam document", "exam documents with no question"), downstream=("math_questions", "math_question_drops")),
    Case("sample_rows", "rebuilt_math_items", WENKU, unknown_exec_status, ("expect_column_values_to_be_in_set",), downstream=("verified_math_items", "unverified_math_items")),
    Case("every_question_sampled", "rebuilt_math_items", WENKU, question_without_sample, ("math questions without a sample (of 3)",), downstream=("verified_math_items", "unverified_math_items")),
    Case("every_sample_accounted", "verified_math_items", WENKU, sample_lost_in_verification, ("rebuilt 3 - verified 0 - unverified 1",), downstream=("math_minhash_signatures",)),
    Case("dedup_rate_in_range", "deduplicated_documents", WEB, mostly_copies("", "web"), ("dedup rate",),
         stage=("deduplicated_documents", "duplicate_documents"), downstream=("filtered_documents", "filter_drops")),
    Case("dedup_rate_in_range", "math_deduplicated_items", WENKU, mostly_copies("math_", "wenku"), ("dedup rate",),
         stage=("math_deduplicated_items", "math_duplicate_items"), downstream=("decontaminated_math_items", "contaminated_math_items")),
    # downstream (deduplicate) is partitioned date x source, the clusters per source: not in one run
    Case("trail_points_to_kept_representative", "dedup_clusters", "web", trail_to_a_dropped_row("dedup_clusters", "web"), ("duplicate_of is not a kept representative",)),
    Case("trail_points_to_kept_representative", "math_dedup_clusters", "wenku", trail_to_a_dropped_row("math_dedup_clusters", "wenku"), ("duplicate_of is not a kept representative",)),
    # nothing consumes filter_drops, so this check blocks nothing (reported to the lead)
    Case("every_drop_explained", "filter_drops", WEB, drop_without_rule_version_or_reason, ("expect_column_values_to_match_regex", "expect_column_values_to_not_be_null")),
    Case("ppl_within_bucket_range", "quality_documents", WEB, ppl_outside_stale_thresholds, ("kept rows outside their bucket's [low, high] (of 2)",),
         downstream=("decontaminated_documents", "contaminated_items")),
    # consumers of chunks and decontaminated rows (training_mixture) are partitioned per recipe
    Case("fragment_schema_and_ids", "chunked_documents", f"{DATE}|patents", fragment_id_twice, ("expect_column_values_to_be_unique",)),
    Case("every_document_accounted", "chunked_documents", f"{DATE}|patents", patent_lost_in_chunking, ("documents in 3 - chunked 1 - unchunked 1",)),
    Case("every_row_accounted", "decontaminated_documents", WEB, one_row_lost("quality_documents", "decontaminated_documents", "contaminated_items", reason="contaminated: gsm8k"),
         ("quality_documents 4 - kept 2 - contaminated 1",)),
    Case("every_row_accounted", "decontaminated_math_items", WEB, one_row_lost("math_deduplicated_items", "decontaminated_math_items", "contaminated_math_items", reason="contaminated: gsm8k"),
         ("math_deduplicated_items 4 - kept 2 - contaminated 1",)),
    # safety -> classifiers -> coherence, all date x source
    Case("every_row_accounted", "safety_documents", WEB, one_row_lost("filtered_documents", "safety_documents", "safety_drops", rule="word_blocklist", reason=None),
         ("filtered_documents 4 - kept 2 - dropped 1", "drops without rule or reason"), downstream=("quality_scores", "classified_documents", "classifier_drops")),
    Case("every_row_accounted", "classified_documents", WEB, unclassified_row_and_drop_without_reason,
         ("safety_documents 4 - kept 2 - dropped 1", "drops without a reason"), downstream=("coherence_scores", "coherence_documents", "coherence_drops")),
    Case("every_row_accounted", "coherence_documents", WEB, one_row_lost("classified_documents", "coherence_documents", "coherence_drops", reason=""),
         ("classified_documents 4 - kept 2 - dropped 1", "drops without a reason"), downstream=("perplexity_scores",)),
    # post-training: rft and dpo read scored_math_items (both outputs); nothing of date x source reads rft, dpo or self-instruct
    Case("scored_rows", "scored_math_items", WENKU,
         posttrain(("scored_math_items", rows(SCORED_SCHEMA, 2, item_id=("w1-q1-s0",) * 2, critique_score=(8.0, 12.0), difficulty=NORMAL), SCORED_SCHEMA)),
         ("expect_column_values_to_be_unique", "expect_column_values_to_be_between"), downstream=POSTTRAIN_DOWNSTREAM),
    Case("every_path_accounted", "scored_math_items", WENKU,
         posttrain(("rebuilt_math_items", samples(["w1-q1", "w1-q2", "w1-q3"]), REBUILT_SCHEMA), ("scored_math_items", rows(SCORED_SCHEMA, 1, **SCORED_OK), SCORED_SCHEMA),
                   ("scored_math_drops", rows(SCORED_DROPPED_SCHEMA, 1, question_id="w1-q2", item_id="w1-q2-s0", **SCORED_DROP | {"reason": None}), SCORED_DROPPED_SCHEMA)),
         ("rebuilt 3 - scored_math_items 1 - scored_math_drops 1", "drops without a reason"), downstream=POSTTRAIN_DOWNSTREAM),
    Case("rft_rows", "rft_math_items", WENKU,
         posttrain(("rft_math_items", rows(RFT_SCHEMA, 2, item_id=("w1-q1-s0",) * 2, min_distance=(0.4, 1.5)), RFT_SCHEMA)),
         ("expect_column_values_to_be_unique", "expect_column_values_to_be_between")),
    # w1-q1, w1-q2 verified (sampled; fresh sample s1 written, so N = 2), w1-q3 not: 1 + 2 x 2 rows expected, 2 written
    Case("every_scored_path_accounted", "rft_math_items", WENKU,
         posttrain(("scored_math_items", rows(SCORED_SCHEMA, 2, reference_answer="4", question="2 加 2 等于几？", **SCORED_OK), SCORED_SCHEMA),
                   ("scored_math_drops", rows(SCORED_DROPPED_SCHEMA, 1, question_id="w1-q3", item_id="w1-q3-s0", **SCORED_DROP), SCORED_DROPPED_SCHEMA),
                   ("rft_math_items", rows(RFT_SCHEMA, 1, item_id="w1-q1-r-s1", min_distance=1.0), RFT_SCHEMA),
                   ("rft_math_drops", rows(SCORED_DROPPED_SCHEMA, 1, question_id="w1-q3", item_id="w1-q3-s0", **SCORED_DROP | {"reason": ""}), SCORED_DROPPED_SCHEMA)),
         ("rft input (scored paths of questions not sampled 1 + 2 fresh paths x 2 questions) 5 - rft_math_items 1 - rft_math_drops 1", "drops without a reason")),
    Case("pair_rows", "dpo_pairs", WENKU,
         posttrain(("dpo_pairs", rows(DPO_SCHEMA, 2, pair_id=("p1", "p2"), pair_type=("easy", "lucky_guess"), chosen_item_id="w1-q1-s0",
                                      rejected_item_id=("w1-q1-s1", None)), DPO_SCHEMA)),
         ("expect_column_values_to_be_in_set", "expect_column_values_to_not_be_null")),
    Case("every_question_accounted", "dpo_pairs", WENKU,  # 3 scored questions; w1-q1 both paired and unpaired, w1-q3 neither
         posttrain(("scored_math_items", rows(SCORED_SCHEMA, 2, **SCORED_OK), SCORED_SCHEMA),
                   ("scored_math_drops", rows(SCORED_DROPPED_SCHEMA, 1, question_id="w1-q3", item_id="w1-q3-s0", **SCORED_DROP), SCORED_DROPPED_SCHEMA),
                   ("dpo_pairs", rows(DPO_SCHEMA, 1, pair_id="p1", pair_type="easy", chosen_item_id="w1-q1-s0", rejected_item_id="w1-q1-s1"), DPO_SCHEMA),
                   ("dpo_unpaired_questions", rows(DPO_DROPPED_SCHEMA, 1, reason=None), DPO_DROPPED_SCHEMA)),
         ("scored questions 3 - paired 1 - unpaired 1", "questions both paired and unpaired", "drops without a reason")),
    Case("instruction_rows", "self_instruct_math_items", WENKU,
         posttrain(("self_instruct_math_items", rows(SELF_INSTRUCT_SCHEMA, 2, item_id=("si-1-s0", "si-2-s0"), question_id="si-1", instruction=("解方程 x+2=5。", None)),
                    SELF_INSTRUCT_SCHEMA)),
         ("expect_column_values_to_be_unique", "expect_column_values_to_not_be_null")),
    Case("every_instruction_accounted", "self_instruct_math_items", WENKU,  # the second of 2 instructions kept and dropped
         posttrain(("self_instruct_math_items", instructions_kept(sid(0, 2), sid(1, 2)), SELF_INSTRUCT_SCHEMA),
                   ("self_instruct_drops", instructions_dropped((sid(1, 2), "too_similar_rouge_l")), SELF_INSTRUCT_DROPPED_SCHEMA)),
         ("instructions accounted twice (of 3)",)),
    Case("every_instruction_accounted", "self_instruct_math_items", WENKU,  # of 4: the second neither kept nor dropped, the fourth dropped without a reason
         posttrain(("self_instruct_math_items", instructions_kept(sid(0, 4)), SELF_INSTRUCT_SCHEMA),
                   ("self_instruct_drops", instructions_dropped((sid(2, 4), "too_similar_rouge_l"), (sid(3, 4), None)), SELF_INSTRUCT_DROPPED_SCHEMA)),
         ("generated instructions neither kept nor dropped (of 4)", "drops without a reason"), variant="lost"),
]


def step_keys(result, event_type: str) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type_value == event_type}


def job_name(case: Case) -> str:
    return f"blocking__{case.asset}__{case.check}" + (f"__{case.variant}" if case.variant else "")


def case_job(case: Case) -> dg.JobDefinition:
    """The case's check, the stage's own assets (when it computes the fault) and the downstream
    assets, in one job of the checked asset's partitioning (a check alone cannot tell
    dg.materialize which partitioning the run has)."""
    selection = dg.AssetSelection.checks(case.key)
    if case.stage or case.downstream:
        selection |= dg.AssetSelection.assets(*case.stage, *case.downstream).without_checks()
    pdef = defs.resolve_assets_def(case.asset).partitions_def
    return dg.define_asset_job(job_name(case), selection=selection, partitions_def=pdef)


WARNING_CASE = Case("invalid_share_and_subjects", "exam_questions", WENKU, lambda _: None, ("invalid fragment share",), downstream=("math_questions", "math_question_drops"))
JOBS = dg.Definitions.merge(defs, dg.Definitions(jobs=[case_job(c) for c in [*CASES, WARNING_CASE]]))


def run_case(case: Case) -> dg.ExecuteInProcessResult:
    job = JOBS.resolve_job_def(job_name(case))
    # the partition as a run tag: Dagster validates a partition_key= against the selected assets'
    # partitioning, and a run that selects a check alone has no asset to take it from
    return job.execute_in_process(tags={"dagster/partition": case.partition}, raise_on_error=False)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.asset}:{c.check}")
def test_blocking_check_fails_and_stops_downstream(case, corpus_root):
    case.broken(CorpusStore(corpus_root))
    result = run_case(case)

    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.asset_check_key == case.key]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    failed = evaluation.metadata["failed"].value  # the expectations that failed, by name
    # each expected expectation failed, and nothing else did (GX on the sample and the whole-partition
    # pass name the same expectation in snake_case and CamelCase)
    same = lambda a, b: re.sub(r"[^a-z]", "", a.lower()) in re.sub(r"[^a-z]", "", b.lower())  # noqa: E731
    assert all(any(same(x, f) for f in failed) for x in case.fails), failed
    assert all(any(same(x, f) for x in case.fails) for f in failed), failed
    assert not result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == set(case.stage)  # the stage may write its (inspectable) output; nothing after it
    started = step_keys(result, "STEP_START")
    for asset in case.downstream:
        step = defs.resolve_assets_def(asset).node_def.name
        assert step not in started, (asset, started)
        assert not CorpusStore(corpus_root).exists(CorpusStore.partition_path(asset, dict(zip(("date", "source"), case.partition.split("|")))))


def test_a_warning_does_not_stop_downstream(corpus_root):
    """The control: the same run shape with a failing non-blocking check starts and writes downstream,
    so the blocking cases above see the block, not a run that stops at any failure."""
    rows = questions(4, is_valid=False, valid_score=0.1)  # invalid share 1.0 > MAX_INVALID_SHARE
    write(CorpusStore(corpus_root), "exam_questions", dims("wenku"), rows, EXAM_QUESTION_SCHEMA)
    case = WARNING_CASE
    result = run_case(case)
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.asset_check_key == case.key]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert result.success
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} == set(case.downstream)
    assert CorpusStore(corpus_root).num_rows(CorpusStore.partition_path("math_question_drops", dims("wenku"))) == 4


def test_every_blocking_check_has_a_case():
    """A blocking check added later must get a case here (or this test names it)."""
    blocking = {
        (spec.key.asset_key.to_user_string(), spec.key.name)
        for checks_def in defs.asset_checks
        for spec in checks_def.check_specs
        if spec.blocking
    }
    covered = {(c.asset, c.check) for c in CASES} | {("raw_documents", "every_record_accounted")}  # test_ingest_dagster
    assert blocking - covered == set()
