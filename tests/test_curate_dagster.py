"""Curate assets end to end on the shipped samples: chunk patents, decontaminate web, build the demo mixture.

The upstream stages of other areas (dedup, perplexity, math rebuild) are stood in for by copying
`raw_documents` partitions to their paths, so this test exercises only the curate layer.
"""
import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.common.partitions import DATE_SOURCE
from assets.common.storage import CorpusIOManager, CorpusStorage
from assets.curate import defs as curate_defs
from assets.curate.assets import CHUNK_INPUT, DECONTAM_INPUT, MATH_DECONTAM_INPUT
from assets.definitions import corpus_resources
from assets.ingest import defs as ingest_defs
from corpus_dag.storage import CorpusStore, seed_raw_library
from tests.helpers import table_rows

REPO = Path(__file__).resolve().parent.parent
DATE = "2026-11-21"


def run(selection: list[str], partition: str, instance) -> dg.ExecuteInProcessResult:
    storage = CorpusStorage()
    stand_ins = [dg.AssetSpec(a, partitions_def=DATE_SOURCE) for a in sorted({CHUNK_INPUT, DECONTAM_INPUT, MATH_DECONTAM_INPUT})]  # written by the test
    everything = [*ingest_defs.assets, *curate_defs.assets, *ingest_defs.asset_checks, *curate_defs.asset_checks, *stand_ins]
    return dg.materialize(
        everything,
        selection=selection,
        partition_key=partition,
        instance=instance,
        resources={**corpus_resources(), "storage": storage, "io_manager": CorpusIOManager(storage=storage)},
    )


@pytest.mark.slow
def test_curate_stages_on_the_samples(corpus_root, dagster_instance):
    store = CorpusStore(corpus_root)
    seed_raw_library(store, REPO / "samples" / "library")
    for source in ("web", "patents"):
        assert run(["raw_documents", "rejected_documents"], f"{DATE}|{source}", dagster_instance).success
    raw = {s: store.read(CorpusStore.partition_path("raw_documents", {"source": s, "date": DATE})) for s in ("web", "patents")}
    for source in ("patents", "web"):  # every source has the chunking input; only patents are chunked
        store.write_frame(CorpusStore.partition_path(CHUNK_INPUT, {"source": source, "date": DATE}), raw[source])
    store.write_frame(CorpusStore.partition_path(DECONTAM_INPUT, {"source": "web", "date": DATE}), raw["web"])

    chunked = run(["chunked_documents", "unchunked_documents"], f"{DATE}|patents", dagster_instance)
    assert chunked.success and all(c.passed for c in chunked.get_asset_check_evaluations())
    chunks = store.read(CorpusStore.partition_path("chunked_documents", {"source": "patents", "date": DATE}))
    assert chunks["patent"].n_unique() == raw["patents"].height and chunks["id"].is_unique().all()
    meta = chunked.get_asset_materialization_events()[0].materialization.metadata  # counted in documents, fragments apart
    assert (meta["rows_in"].value, meta["rows_kept"].value, meta["rows_dropped"].value) == (raw["patents"].height, raw["patents"].height, 0)
    assert meta["fragments_out"].value == meta["dagster/row_count"].value == chunks.height > raw["patents"].height
    assert "every_document_accounted" in {c.asset_check_key.name for c in chunked.get_asset_check_evaluations()}

    skipped = run(["chunked_documents", "unchunked_documents"], f"{DATE}|web", dagster_instance)
    meta = skipped.get_asset_materialization_events()[0].materialization.metadata
    assert "kind web" in meta["skipped"].value and meta["dagster/row_count"].value == 0

    clean = run(["decontaminated_documents", "contaminated_items"], f"{DATE}|web", dagster_instance)
    assert clean.success and all(c.passed for c in clean.get_asset_check_evaluations())
    removed = store.read(CorpusStore.partition_path("contaminated_items", {"source": "web", "date": DATE}))
    assert sorted(removed["benchmark"].to_list()) == ["gaokao", "gsm8k"] and set(removed["reason"]) == {"contaminated"}
    meta = clean.get_asset_materialization_events()[0].materialization.metadata
    assert table_rows(meta["contaminated_by_benchmark"]) == [{"benchmark": "gaokao", "rows": 1, "share": 0.5},
                                                             {"benchmark": "gsm8k", "rows": 1, "share": 0.5}]

    math = pl.DataFrame(
        {"item_id": ["m1", "m2"], "messages": [[{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}]] * 2}
    )
    store.write_frame(CorpusStore.partition_path("decontaminated_math_items", {"source": "wenku", "date": DATE}), math)
    first = run(["training_mixture"], "demo", dagster_instance)
    folder = Path(corpus_root) / "training_mixture" / "recipe=demo"
    shards = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    assert first.success and "manifest.json" in shards and "tokens.md" in shards
    manifest = json.loads(shards["manifest.json"])
    web = next(i for i in manifest["inputs"] if i["asset"] == "decontaminated_documents")
    assert [p["partition"] for p in web["partitions"]] == [f"{DATE}|web"] and web["partitions"][0]["data_version"]
    assert run(["training_mixture"], "demo", dagster_instance).success
    assert {p.name: p.read_bytes() for p in sorted(folder.iterdir())} == shards  # same recipe + inputs: same bytes
    meta = first.get_asset_materialization_events()[0].materialization.metadata
    patents = next(i for i in manifest["inputs"] if (i["asset"], i["source"]) == ("chunked_documents", "patents"))
    row = next(r for r in table_rows(meta["per_source_tokens"]) if (r["asset"], r["source"]) == ("chunked_documents", "patents"))
    assert (row["rows_in"], row["tokens_out"]) == (patents["rows_in"], patents["tokens_out"])
