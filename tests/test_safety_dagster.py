"""`safety_documents` / `safety_drops` materialized on the shipped web samples, with a real Dagster instance.

`filtered_documents` is stood in for by the web partition of `raw_documents` (copied to its path),
so this test exercises only the safety layer; the demo lists of config/lists apply (no lists
folder under CORPUS_ROOT), then a lists folder under CORPUS_ROOT replaces them.
"""
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.common.storage import CorpusIOManager, CorpusStorage
from assets.definitions import corpus_resources
from assets.ingest import defs as ingest_defs
from assets.quality import defs as quality_defs
from assets.safety import defs as safety_defs
from assets.safety.assets import SAFETY_INPUT, SafetyRunConfig, read_lists
from corpus_dag.safety.lists import ListError
from corpus_dag.storage import CorpusStore, seed_raw_library
from tests.helpers import table_rows, with_stand_ins

REPO = Path(__file__).resolve().parent.parent
DATE = "2026-11-21"
PARTITION = f"{DATE}|web"
SAFETY = ["safety_documents", "safety_drops"]


def run(selection: list[str], instance, config: dict | None = None) -> dg.ExecuteInProcessResult:
    storage = CorpusStorage()
    defs = (ingest_defs, quality_defs, safety_defs)
    return dg.materialize(
        with_stand_ins([a for d in defs for a in d.assets] + [c for d in (ingest_defs, safety_defs) for c in d.asset_checks]),
        selection=selection,
        partition_key=PARTITION,
        instance=instance,
        resources={**corpus_resources(), "storage": storage, "io_manager": CorpusIOManager(storage=storage)},
        run_config={"ops": {"safety": {"config": config}}} if config else None,
        raise_on_error=False,
    )


@pytest.mark.slow
def test_safety_stage_on_the_web_samples(corpus_root, dagster_instance):
    store = CorpusStore(corpus_root)
    seed_raw_library(store, REPO / "samples" / "library")
    assert run(["raw_documents", "rejected_documents"], dagster_instance).success
    dims = {"source": "web", "date": DATE}
    raw = store.read(CorpusStore.partition_path("raw_documents", dims))
    planted = raw.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.col("text") + "\n联系我：zhang.san@mail.example.cn，13812345678。").otherwise(pl.col("text")).alias("text")
    ).with_columns(pl.lit("zh").alias("lang"))
    store.write_frame(CorpusStore.partition_path(SAFETY_INPUT, dims), planted)

    result = run(SAFETY, dagster_instance)
    assert result.success and [c.check_name for c in result.get_asset_check_evaluations() if c.passed] == ["every_row_accounted"]
    kept = store.read(CorpusStore.partition_path("safety_documents", dims))
    drops = store.read(CorpusStore.partition_path("safety_drops", dims))
    assert kept.height + drops.height == planted.height
    spam = planted.filter(pl.col("url").str.contains("example.biz"))["doc_id"].sort().to_list()
    assert spam and drops.filter(pl.col("rule") == "domain_blocklist@1")["doc_id"].sort().to_list() == spam
    assert drops["reason"].str.contains("matched example.biz in .*config/lists/domains/demo_domains.txt").all()
    first = kept.filter(pl.col("doc_id") == planted["doc_id"][0]).row(0, named=True)
    assert first["text"].endswith("联系我：<EMAIL>，<PHONE>。") and first["pii"]["email"] == 1 and first["pii"]["phone"] == 1
    meta = {e.materialization.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert meta["safety_documents"]["lists_origin"].value.startswith("demo lists")
    pii_rows = {r["type"]: r for r in table_rows(meta["safety_documents"]["pii"])}
    assert pii_rows["email"] == {"type": "email", "placeholder": "<EMAIL>", "found": 1, "in_kept_rows": 1, "action": "redact"}
    reasons = {r.data["reason"]: r.data["rows"] for r in meta["safety_drops"]["dropped_by_reason"].records}
    assert reasons["domain_blocklist@1: listed domain"] == len(spam)

    # A lists folder under CORPUS_ROOT replaces the demo lists; an empty word list is allowed and said so.
    store.write_bytes("lists/domains/mine.txt", b"# nothing blocked\n")
    store.write_bytes("lists/words/zh/empty.txt", b"")
    again = run(SAFETY, dagster_instance, {"pii_action": "drop"})
    meta = again.get_asset_materialization_events()[0].materialization.metadata
    assert again.success and meta["empty_lists"].value == [f"{store.abs('lists/domains/mine.txt')}", f"{store.abs('lists/words/zh/empty.txt')}"]
    assert meta["dropped_by_reason"].records[-1].data == {"reason": "pii@1: contains PII (action drop)", "rows": 1, "share": 1.0}

    # A malformed list fails the step with the file and line.
    store.write_bytes("lists/domains/mine.txt", b"ok.com\nhttp://not a domain\n")
    failed = run(SAFETY, dagster_instance)
    assert not failed.success
    error = failed.get_step_failure_events()[0].event_specific_data.error
    assert "mine.txt:2: 'http://not a domain' is not a domain" in error.to_string()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("lists/domains/hosts", r"lists/domains/hosts: not a list file \(expected \*.txt or \*.gz"),
        ("lists/words/zh/words.csv", r"lists/words/zh/words.csv: not a list file"),
        ("lists/words/en.txt", r"lists/words/en.txt: word lists go in a folder per language"),
    ],
)
def test_a_file_the_lists_folder_cannot_take_is_an_error_naming_it(tmp_path, name, message):
    """A list saved under another name would otherwise block nothing, silently."""
    store = CorpusStore(str(tmp_path))
    store.write_bytes("lists/domains/mine.txt", b"example.biz\n")
    store.write_bytes("lists/words/zh/.hidden", b"ignored")
    assert [f.name for f in read_lists(store, SafetyRunConfig())[0]] == [store.abs("lists/domains/mine.txt")]
    store.write_bytes(name, b"example.org\n")
    with pytest.raises(ListError, match=message):
        read_lists(store, SafetyRunConfig())
