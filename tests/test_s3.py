"""The same assets against a real S3-compatible server (moto on 127.0.0.1), switched by CORPUS_ROOT alone."""
import boto3
import dagster as dg
import pytest

from assets.definitions import defs
from corpus_dag.storage import CorpusStore, seed_raw_library
from tests.helpers import BAD_RECORDS, write_jsonl

pytestmark = pytest.mark.slow


def objects(endpoint: str, root: str) -> list[str]:
    bucket, prefix = root.removeprefix("s3://").split("/", 1)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def test_ingest_on_s3(tmp_path, s3_server, s3_root, dagster_instance):
    lib = tmp_path / "lib"
    write_jsonl(lib / "wenku/2026-11-20/a.jsonl", [{"id": f"d{i}", "text": f"高考数学试卷 第{i}题"} for i in range(30)] + BAD_RECORDS[:2])
    store = CorpusStore()
    assert store.protocol == "s3" and "testing-secret" not in repr(store)
    assert seed_raw_library(store, lib) == ["raw/wenku/2026-11-20/a.jsonl"]

    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        instance=dagster_instance,
        resources=defs.resources,
        selection=["raw_documents", "rejected_documents"],
        partition_key="2026-11-20|wenku",
    )
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    keys = objects(s3_server, s3_root)
    assert "lab/raw_documents/source=wenku/date=2026-11-20/data.parquet" in keys
    assert "lab/rejected_documents/source=wenku/date=2026-11-20/data.parquet" in keys
    assert not [k for k in keys if ".inflight-" in k]
    raw = store.read("raw_documents/source=wenku/date=2026-11-20/data.parquet")
    assert raw.height == 30 and raw["doc_id"][0] == "d0"
    mat = dagster_instance.get_latest_materialization_event(dg.AssetKey("raw_documents")).asset_materialization
    assert mat.metadata["path"].value.startswith("s3://")
    # the secret never reaches metadata or logs
    assert "testing-secret" not in str(mat.metadata)


def test_failed_write_on_s3_publishes_nothing(s3_server, s3_root):
    store = CorpusStore()
    with pytest.raises(RuntimeError):
        with store.atomic_open("x/data.parquet") as f:
            f.write(b"partial")
            raise RuntimeError("crash")
    assert objects(s3_server, s3_root) == []
