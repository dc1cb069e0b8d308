"""Dedup assets through a real Dagster instance: two dates of one source, duplicates across them."""
import dataclasses
import random
from pathlib import Path

import dagster as dg
import polars as pl

import assets.dedup
import assets.ingest
from assets.common.partitions import SOURCES
from assets.common.storage import CorpusIOManager, CorpusStorage
from assets.definitions import corpus_resources
from corpus_dag.storage import CorpusStore
from tests.helpers import write_jsonl

ALPHABET = "已知集合函数定义域实数求下列说法正确是选择题分析解答物理化学生物地理历史政治语文英语数学"


def defs() -> dg.Definitions:
    storage = CorpusStorage()
    return dg.Definitions.merge(
        assets.ingest.defs,
        assets.dedup.documents.defs,  # the math-items dedup is tested in test_math_curation.py
        dg.Definitions(resources={**corpus_resources(), "storage": storage, "io_manager": CorpusIOManager(storage=storage)}),
    )


def seed(root: str) -> None:
    rnd = random.Random(0)
    texts = ["".join(rnd.choice(ALPHABET) for _ in range(400)) for _ in range(30)]
    day1 = [{"id": f"a{i}", "text": t} for i, t in enumerate(texts)]
    day2 = [{"id": "b0", "text": texts[0]}, {"id": "b1", "text": texts[1][:380] + "（完）"}]
    day2 += [{"id": f"b{i}", "text": "".join(rnd.choice(ALPHABET) for _ in range(400))} for i in range(2, 10)]
    store = CorpusStore(root)
    write_jsonl(Path(store.abs("raw/wenku/2026-11-20/a.jsonl")), day1)
    write_jsonl(Path(store.abs("raw/wenku/2026-11-21/b.jsonl")), day2)


def run(instance, d, selection, pk):
    result = dg.materialize(
        [*d.assets, *d.asset_checks], instance=instance, resources=d.resources, selection=selection, partition_key=pk
    )
    assert result.success
    return result


def signed_library(instance, root: str) -> dg.Definitions:
    """The seeded library ingested and signed on both dates: what dedup_clusters reads."""
    seed(root)
    d = defs()
    for pk in ("2026-11-20|wenku", "2026-11-21|wenku"):
        run(instance, d, ["raw_documents", "rejected_documents", "minhash_signatures"], pk)
    return d


def test_dedup_assets_across_dates(corpus_root, dagster_instance):
    seed(corpus_root)
    d = defs()
    per_date = ["raw_documents", "rejected_documents", "minhash_signatures"]
    for pk in ("2026-11-20|wenku", "2026-11-21|wenku"):
        run(dagster_instance, d, per_date, pk)
    result = run(dagster_instance, d, ["dedup_clusters"], "wenku")
    store = CorpusStore(corpus_root)
    clusters = store.read(CorpusStore.partition_path("dedup_clusters", {"source": "wenku"}))
    dups = clusters.filter(pl.col("duplicate_of").is_not_null()).select("doc_id", "duplicate_of", "kind")
    assert dups.sort("doc_id").rows() == [("b0", "a0", "exact"), ("b1", "a1", "near")]
    assert clusters.select("date", "doc_id").equals(clusters.select("date", "doc_id").sort("date", "doc_id"))  # a date's rows together
    meta = result.asset_materializations_for_node("dedup_clusters")[0].metadata
    assert meta["duplicates"].value == 2 and "| kind |" in meta["sample_pairs"].value
    checks = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}
    assert checks["trail_points_to_kept_representative"].passed

    result = run(dagster_instance, d, ["deduplicated_documents", "duplicate_documents"], "2026-11-21|wenku")
    dims = {"date": "2026-11-21", "source": "wenku"}
    kept = store.read(CorpusStore.partition_path("deduplicated_documents", dims))
    dropped = store.read(CorpusStore.partition_path("duplicate_documents", dims))
    assert kept.height == 8 and sorted(dropped["doc_id"]) == ["b0", "b1"]
    assert set(dropped["reason"]) == {"exact_duplicate", "near_duplicate"}
    checks = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}
    assert checks["dedup_rate_in_range"].passed

    run(dagster_instance, d, ["deduplicated_documents", "duplicate_documents"], "2026-11-20|wenku")
    first_day = store.read(CorpusStore.partition_path("duplicate_documents", {"date": "2026-11-20", "source": "wenku"}))
    assert first_day.is_empty()  # the earlier date holds the representatives


def test_dedup_clusters_with_exact_verification(corpus_root, dagster_instance, monkeypatch):
    """`verify: exact` in a source's dedup settings: dedup_clusters reads the candidate documents'
    texts from raw_documents and reports the exact Jaccard of every member with its representative."""
    monkeypatch.setattr(SOURCES, "sources", SOURCES.sources)  # restored after the test
    SOURCES.replace("wenku", dedup=dataclasses.replace(SOURCES.get("wenku").dedup, verify="exact"))
    seed(corpus_root)
    d = defs()
    for pk in ("2026-11-20|wenku", "2026-11-21|wenku"):
        run(dagster_instance, d, ["raw_documents", "rejected_documents", "minhash_signatures"], pk)
    result = run(dagster_instance, d, ["dedup_clusters"], "wenku")
    store = CorpusStore(corpus_root)
    clusters = store.read(CorpusStore.partition_path("dedup_clusters", {"source": "wenku"}))
    dups = clusters.filter(pl.col("duplicate_of").is_not_null())
    assert dups.sort("doc_id").select("doc_id", "duplicate_of", "kind").rows() == [("b0", "a0", "exact"), ("b1", "a1", "near")]
    assert clusters["exact_jaccard"].is_not_null().all()
    assert dups.sort("doc_id")["exact_jaccard"].to_list()[0] == 1.0
    assert 0.8 <= dups.sort("doc_id")["exact_jaccard"].to_list()[1] < 1.0
    meta = {k: v.value for k, v in result.asset_materializations_for_node("dedup_clusters")[0].metadata.items()}
    assert meta["verify"] == "exact" and meta["candidate_pairs"] == 2 and meta["pairs_accepted"] == 2  # each pair once, however many bands it shares
    assert meta["pairs_rejected_by_exact"] == 0

    run(dagster_instance, d, ["deduplicated_documents", "duplicate_documents"], "2026-11-21|wenku")
    dropped = store.read(CorpusStore.partition_path("duplicate_documents", {"date": "2026-11-21", "source": "wenku"}))
    assert dropped.sort("doc_id")["exact_jaccard"].to_list() == dups.sort("doc_id")["exact_jaccard"].to_list()


def test_dedup_clusters_removes_stale_scratch_and_reports_hot_buckets(corpus_root, dagster_instance, monkeypatch):
    """A crashed run's scratch (lease 7 h old) is removed when dedup_clusters starts, a live run's
    (fresh lease) stays; with hot_bucket_rows 1 every bucket is split into slices and the
    clusters are those of the default settings."""
    import json
    import time

    d = signed_library(dagster_instance, corpus_root)
    store = CorpusStore(corpus_root)
    rel = CorpusStore.partition_path("dedup_clusters", {"source": "wenku"})
    run(dagster_instance, d, ["dedup_clusters"], "wenku")
    default = store.read(rel)

    folder = "_scratch/dedup/dedup_clusters/source=wenku"
    for name, age in (("crashed", 7 * 3600), ("running", 60)):
        store.write_bytes(f"{folder}/{name}/scatter.json", b"{}")
        store.write_bytes(f"{folder}/{name}/_lease.json", json.dumps({"written_at": time.time() - age}).encode())
    monkeypatch.setattr(SOURCES, "sources", SOURCES.sources)  # restored after the test
    SOURCES.replace("wenku", dedup=dataclasses.replace(SOURCES.get("wenku").dedup, hot_bucket_rows=1))
    result = run(dagster_instance, d, ["dedup_clusters"], "wenku")
    meta = {k: v.value for k, v in result.asset_materializations_for_node("dedup_clusters")[0].metadata.items()}
    assert meta["stale_scratch_removed"] == 1
    assert sorted(p.rsplit("/", 1)[1] for p in store.fs.ls(store.abs(folder), detail=False)) == ["running"]
    assert meta["hot_buckets"] > 0 and meta["hot_bucket_tasks"] >= 2 * meta["hot_buckets"]
    assert store.read(rel).equals(default)
