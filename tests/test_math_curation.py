"""Math items through dedup and decontamination on a real Dagster instance: verified_math_items ->
math_minhash_signatures -> math_dedup_clusters -> math_deduplicated_items -> decontaminated_math_items."""
import json
import random
from pathlib import Path

import dagster as dg
import polars as pl

import assets.curate
import assets.dedup
from assets.common.partitions import DATE_SOURCE
from assets.common.storage import CorpusIOManager, CorpusStorage
from assets.curate.assets import decontaminate_math
from assets.definitions import corpus_resources
from corpus_dag.rebuild.stage import VERIFIED_SCHEMA
from corpus_dag.storage import CorpusStore

REPO = Path(__file__).resolve().parent.parent
DATE, SOURCE = "2026-11-21", "wenku"
PARTITION = f"{DATE}|{SOURCE}"
DIMS = {"date": DATE, "source": SOURCE}
ALPHABET = "已知集合函数定义域实数求下列说法正确是选择题分析解答物理化学生物地理历史政治语文英语数学"


def item(item_id: str, question: str, solution: str) -> dict:
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": solution}]
    return {"item_id": item_id, "messages": messages, "question_id": f"q-{item_id}", "knowledge_points": ["算术"],
            "answer": "18", "model": "tiny", "prompt_version": "kp_cot_pot.v1", "votes": 2, "share": 1.0}


def crafted_items() -> tuple[pl.DataFrame, str]:
    """Eight distinct questions, an exact copy of one of them under another id, and a GSM8K test question."""
    rnd = random.Random(7)

    def text(n: int) -> str:
        return "".join(rnd.choice(ALPHABET) for _ in range(n))

    rows = [item(f"m{i}", text(120), text(200)) for i in range(8)]
    rows.append({**rows[3], "item_id": "m9", "question_id": "q-m9"})
    gsm = json.loads((REPO / "data" / "benchmarks" / "gsm8k.jsonl").read_text().splitlines()[0])
    rows.append(item("m10", gsm["text"], "16 - 3 - 4 = 9 eggs, 9 * 2 = 18 dollars."))
    return pl.DataFrame(rows, schema=VERIFIED_SCHEMA), gsm["id"]


def run(instance, selection: list[str], partition: str) -> dg.ExecuteInProcessResult:
    storage = CorpusStorage()
    upstream = dg.AssetSpec("verified_math_items", partitions_def=DATE_SOURCE)
    dedup = assets.dedup.math_items
    decontam_checks = [c for c in assets.curate.defs.asset_checks if "decontaminated_math_items" in str(c.check_keys)]
    result = dg.materialize(
        [upstream, dedup.signatures, dedup.clusters, dedup.apply, decontaminate_math, *dedup.checks, *decontam_checks],
        selection=selection,
        partition_key=partition,
        instance=instance,
        resources={**corpus_resources(), "storage": storage, "io_manager": CorpusIOManager(storage=storage)},
    )
    assert result.success
    return result


def checks_of(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed for e in result.get_asset_check_evaluations()}


def test_math_items_deduplicated_and_decontaminated(corpus_root, dagster_instance):
    store = CorpusStore(corpus_root)
    items, gsm_id = crafted_items()
    store.write_frame(CorpusStore.partition_path("verified_math_items", DIMS), items)

    run(dagster_instance, ["math_minhash_signatures"], PARTITION)
    sigs = store.read(CorpusStore.partition_path("math_minhash_signatures", DIMS))
    assert sigs.height == items.height and sigs["doc_id"].to_list() == items["item_id"].to_list()
    assert set(sigs["source"]) == {SOURCE} and sigs["date"].cast(pl.String).unique().to_list() == [DATE]

    clustered = run(dagster_instance, ["math_dedup_clusters"], SOURCE)
    assert checks_of(clustered) == {"math_dedup_clusters:trail_points_to_kept_representative": True}
    clusters = store.read(CorpusStore.partition_path("math_dedup_clusters", {"source": SOURCE}))
    dups = clusters.filter(pl.col("duplicate_of").is_not_null()).select("doc_id", "duplicate_of", "kind")
    assert dups.rows() == [("m9", "m3", "exact")]

    deduped = run(dagster_instance, ["math_deduplicated_items", "math_duplicate_items"], PARTITION)
    assert checks_of(deduped) == {"math_deduplicated_items:dedup_rate_in_range": True}
    kept = store.read(CorpusStore.partition_path("math_deduplicated_items", DIMS))
    dropped = store.read(CorpusStore.partition_path("math_duplicate_items", DIMS))
    assert kept.columns == list(VERIFIED_SCHEMA) and kept["item_id"].to_list() == [f"m{i}" for i in (0, 1, 2, 3, 4, 5, 6, 7, 10)]
    assert dropped.select("item_id", "reason", "duplicate_of").rows() == [("m9", "exact_duplicate", "m3")]

    clean = run(dagster_instance, ["decontaminated_math_items", "contaminated_math_items"], PARTITION)
    assert checks_of(clean) == {
        "decontaminated_math_items:every_row_accounted": True,
        "decontaminated_math_items:contaminated_share": False,  # 1 of 9 planted: the warning fires
    }
    decontaminated = store.read(CorpusStore.partition_path("decontaminated_math_items", DIMS))
    removed = store.read(CorpusStore.partition_path("contaminated_math_items", DIMS))
    assert decontaminated.columns == list(VERIFIED_SCHEMA) and decontaminated.height == 8
    assert removed.select("item_id", "reason", "benchmark", "benchmark_item_id").rows() == [("m10", "contaminated", "gsm8k", gsm_id)]
    assert removed["matched_ngram"][0].lower() in removed["messages"][0][0]["content"].lower()
    meta = clean.asset_materializations_for_node("decontaminate_math")[0].metadata
    assert [r.data for r in meta["contaminated_by_benchmark"].records] == [{"benchmark": "gsm8k", "rows": 1, "share": 1.0}]
