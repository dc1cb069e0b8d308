"""Quality assets end to end on the shipped web samples: filter, score with the tiny model, fit the cut, apply it.

The dedup stage upstream is stood in for by copying `raw_documents` partitions to the
`deduplicated_documents` paths (same columns), so this test exercises only the quality layer.
"""
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.common.storage import CorpusIOManager, CorpusStorage
from assets.definitions import corpus_resources
from assets.ingest import defs as ingest_defs
from assets.quality import defs as quality_defs
from assets.quality.assets import FILTER_INPUT, PPL_INPUT
from corpus_dag.storage import CorpusStore, seed_raw_library
from tests.helpers import with_stand_ins

REPO = Path(__file__).resolve().parent.parent
DATES = ("2026-11-20", "2026-11-21")


def run(selection, partition, instance, config=None) -> dg.ExecuteInProcessResult:
    storage = CorpusStorage()
    return dg.materialize(
        with_stand_ins([*ingest_defs.assets, *quality_defs.assets, *quality_defs.asset_checks]),
        selection=selection,
        partition_key=partition,
        instance=instance,
        run_config=config or {},
        resources={**corpus_resources(), "storage": storage, "io_manager": CorpusIOManager(storage=storage)},
    )


@pytest.mark.slow
def test_quality_stages_on_the_web_samples(corpus_root, dagster_instance, tiny_model_path):
    store = CorpusStore(corpus_root)
    seed_raw_library(store, REPO / "samples" / "library")
    ppl_cfg = {"ops": {"perplexity_scores": {"config": {"model": str(tiny_model_path), "backend": "transformers", "bucket_edges": [64, 256]}}}}
    for date in DATES:
        key = f"{date}|web"
        assert run(["raw_documents", "rejected_documents"], key, dagster_instance).success
        dims = {"source": "web", "date": date}
        raw_docs = store.read(CorpusStore.partition_path("raw_documents", dims))
        store.write_frame(CorpusStore.partition_path(FILTER_INPUT, dims), raw_docs)
        filtered = run(["filtered_documents", "filter_drops"], key, dagster_instance)
        assert filtered.success and all(c.passed for c in filtered.get_asset_check_evaluations())
        raw = raw_docs.height
        kept = store.read(CorpusStore.partition_path("filtered_documents", dims))
        drops = store.read(CorpusStore.partition_path("filter_drops", dims))
        assert kept.height + drops.height == raw and kept.height > 0
        screened = {e.materialization.asset_key.path[-1]: e.materialization.metadata for e in filtered.get_asset_materialization_events()}
        assert screened["filtered_documents"]["filter_mb_per_s"].value > 0  # the bytes the slices' summaries counted
        assert set(kept["lang"].unique()) <= {"zh", "en"}
        store.write_frame(CorpusStore.partition_path(PPL_INPUT, dims), kept)  # stands in for safety, classifiers, coherence
        few_rows = {"ops": {"perplexity_scores": {"config": ppl_cfg["ops"]["perplexity_scores"]["config"] | {"batch_rows": 7}}}}
        scored = run(["perplexity_scores"], key, dagster_instance, few_rows)
        assert scored.success
        scores = store.read(CorpusStore.partition_path("perplexity_scores", dims))
        assert scores["doc_id"].to_list() == kept["doc_id"].to_list() and scores["ppl"].null_count() == 0
        meta = scored.get_asset_materialization_events()[0].materialization.metadata  # summed from the slices' summaries
        assert meta["files"].value == -(-kept.height // 7) and meta["tokens_scored"].value == scores["n_scored"].sum()
        per_bucket = {r.data["token_bucket"]: r.data for r in meta["per_bucket"].records}
        for (bucket,), rows in scores.group_by("token_bucket"):
            assert (per_bucket[bucket]["rows"], per_bucket[bucket]["median_ppl"]) == pytest.approx((rows.height, rows["ppl"].median()), rel=1e-3)  # the table rounds

    th_cfg = {"ops": {"ppl_thresholds": {"config": {"bucket_edges": [64, 256], "min_bucket_docs": 10, "low_quantile": 0.1, "high_quantile": 0.9}}}}
    fitted = run(["ppl_thresholds"], None, dagster_instance, th_cfg)
    assert fitted.success
    meta = fitted.get_asset_materialization_events()[0].materialization.metadata
    assert "keep ppl in [" in meta["histogram"].value
    thresholds = store.read(CorpusStore.partition_path("ppl_thresholds", {}))
    assert thresholds["token_bucket"].to_list() == ["0-64", "64-256", "256+"]

    cut = run(["quality_documents", "quality_drops"], f"{DATES[1]}|web", dagster_instance)
    assert cut.success and all(c.passed for c in cut.get_asset_check_evaluations())
    dims = {"source": "web", "date": DATES[1]}
    good = store.read(CorpusStore.partition_path("quality_documents", dims))
    bad = store.read(CorpusStore.partition_path("quality_drops", dims))
    assert good.height + bad.height == store.num_rows(CorpusStore.partition_path("filtered_documents", dims))
    assert set(bad["reason"]) <= {"ppl_above_bucket_high", "ppl_below_bucket_low"} and bad.height > 0
    meta = {e.materialization.asset_key.path[-1]: e.materialization.metadata for e in cut.get_asset_materialization_events()}
    shares = [r.data for r in meta["quality_documents"]["dropped_share_by_bucket"].records]  # summed from the slices' summaries
    assert sum(r["n_dropped"] for r in shares) == bad.height and sum(r["n"] for r in shares) == good.height + bad.height
    assert meta["quality_drops"]["files"].value == len(store.files(CorpusStore.partition_path("quality_drops", dims)))
    joined = good.join(thresholds, on="token_bucket")
    assert joined.filter(~pl.col("ppl").is_between(pl.col("low"), pl.col("high"))).height == 0
