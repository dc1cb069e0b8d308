"""The same assets against a real S3-compatible server (moto on 127.0.0.1), switched by CORPUS_ROOT alone."""
import os
from pathlib import Path

import boto3
import dagster as dg
import pytest

from assets.definitions import defs
from corpus_dag.storage import CorpusStore, seed_raw_library
from tests.helpers import BAD_RECORDS, write_jsonl

pytestmark = pytest.mark.slow
DIMS = {"date": "2026-11-20", "source": "wenku"}


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
    version = store.version(CorpusStore.partition_path("raw_documents", DIMS))
    # one commit: both outputs under its version, one manifest each; the kept rows are the reading task's part
    # (its first batch's), the rejected rows the step's own file
    for asset, part in (("raw_documents", f"part-{version}-000000000000.parquet"), ("rejected_documents", f"part-{version}.parquet")):
        folder = CorpusStore.partition_path(asset, DIMS).rsplit("/", 1)[0]
        assert store.exists(CorpusStore.partition_path(asset, DIMS))
        assert sorted(k for k in keys if k.startswith(f"lab/{folder}/")) == [f"lab/{folder}/_manifest.json", f"lab/{folder}/{part}"]
    assert not [k for k in keys if ".inflight-" in k]
    raw = store.read(CorpusStore.partition_path("raw_documents", DIMS))
    assert raw.height == 30 and raw["doc_id"][0] == "d0"
    mat = dagster_instance.get_latest_materialization_event(dg.AssetKey("raw_documents")).asset_materialization
    assert mat.metadata["path"].value.startswith("s3://")
    # the secret never reaches metadata, the run's event log, or any file of the instance (its
    # SQLite storage and captured compute logs)
    assert "testing-secret" not in str(mat.metadata)
    events = dagster_instance.all_logs(result.run_id)
    assert events and not [e for e in events if "testing-secret" in str(e)]
    home = Path(os.environ["DAGSTER_HOME"])
    stored = [p for p in home.rglob("*") if p.is_file()]
    assert stored and not [p for p in stored if b"testing-secret" in p.read_bytes()]


def test_failed_write_on_s3_publishes_nothing(s3_server, s3_root):
    store = CorpusStore()
    with pytest.raises(RuntimeError):
        with store.atomic_open("x/data.parquet") as f:
            f.write(b"partial")
            raise RuntimeError("crash")
    assert objects(s3_server, s3_root) == []


def test_a_failed_multipart_write_on_s3_publishes_nothing_and_aborts_the_upload(s3_server, s3_root, monkeypatch):
    """A partition written on S3 goes straight to its key (an object appears only when its upload
    completes); an error after parts were uploaded aborts the multipart upload."""
    import boto3

    store = CorpusStore()
    monkeypatch.setattr(store.fs, "default_block_size", 5 * 2**20)  # S3's smallest part: two parts below
    with pytest.raises(RuntimeError):
        with store.atomic_open("x/part-1.parquet") as f:
            f.write(os.urandom(11 * 2**20))
            assert f.mpu is not None  # the upload is under way
            raise RuntimeError("crash")
    assert objects(s3_server, s3_root) == []
    bucket = s3_root.split("/")[2]
    uploads = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").list_multipart_uploads(Bucket=bucket)
    assert uploads.get("Uploads", []) == []
    with store.atomic_open("x/part-1.parquet") as f:
        f.write(b"whole")
    assert objects(s3_server, s3_root) == ["lab/x/part-1.parquet"] and store.read_bytes("x/part-1.parquet") == b"whole"
