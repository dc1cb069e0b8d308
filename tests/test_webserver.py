"""The real `dagster dev` (webserver + daemon) on 127.0.0.1: asset graph, a launched run, a backfill."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from corpus_dag.storage import CorpusStore
from tests.conftest import REPO, free_port
from tests.helpers import stop_process_group, write_jsonl

pytestmark = pytest.mark.slow

LOCATION = "corpus_dag"  # workspace.yaml location_name
ASSET_JOB = "__ASSET_JOB"
INGEST = [{"path": ["raw_documents"]}, {"path": ["rejected_documents"]}]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dagster_dev")
    home, root = tmp / "home", tmp / "corpus"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    for date in ("2026-11-20", "2026-11-21"):
        write_jsonl(Path(root / "raw" / "wenku" / date / "a.jsonl"), [{"id": f"{date}-{i}", "text": f"期中考试 {i}"} for i in range(20)])
    port = free_port()
    env = os.environ | {"DAGSTER_HOME": str(home), "CORPUS_ROOT": str(root)}
    log = open(tmp / "dagster_dev.log", "wb")
    proc = subprocess.Popen(
        [Path(sys.executable).parent / "dagster", "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.post(url, json={"query": "{ version }"}, timeout=5).ok:
                break
        except requests.ConnectionError:
            pass
        assert proc.poll() is None, (tmp / "dagster_dev.log").read_text()[-3000:]
        time.sleep(1)
    else:
        pytest.fail("dagster dev did not answer within 120 s")
    yield url, root
    stop_process_group(proc)
    log.close()


def gql(url: str, query: str, **variables) -> dict:
    response = requests.post(url, json={"query": query, "variables": variables}, timeout=60)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def wait_for_run(url: str, run_id: str, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = gql(url, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", id=run_id)["runOrError"]["status"]
        if status in ("FAILURE", "CANCELED"):
            logs = gql(
                url,
                "query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events { ... on MessageEvent { message } } } } }",
                id=run_id,
            )
            messages = [e.get("message") for e in logs["logsForRun"]["events"] if e.get("message")]
            return status + ": " + " | ".join(messages[-8:])
        if status == "SUCCESS":
            return status
        time.sleep(1)
    return "TIMEOUT"


def test_asset_graph_over_graphql(webserver):
    url, _ = webserver
    nodes = gql(url, "{ assetNodes { assetKey { path } dependencyKeys { path } groupName } }")["assetNodes"]
    deps = {"/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]} for n in nodes}
    assert {"raw_documents", "rejected_documents", "exam_documents", "minhash_signatures"} <= set(deps)
    assert "raw_documents" in deps["exam_documents"] and "raw_documents" in deps["minhash_signatures"]
    assert deps["raw_documents"] == set()  # the source asset: nothing upstream


def test_launch_materialization_through_graphql(webserver):
    url, root = webserver
    data = gql(
        url,
        """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
             __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
        params={
            "selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "jobName": ASSET_JOB, "assetSelection": INGEST},
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "2026-11-20|wenku"}]},
        },
    )["launchRun"]
    assert data["__typename"] == "LaunchRunSuccess", data
    assert wait_for_run(url, data["run"]["runId"]) == "SUCCESS"
    assert CorpusStore(str(root)).read(CorpusStore.partition_path("raw_documents", {"date": "2026-11-20", "source": "wenku"})).height == 20


def test_partition_backfill_through_graphql(webserver):
    url, root = webserver
    data = gql(
        url,
        """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
             __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
        params={"partitionNames": ["2026-11-20|wenku", "2026-11-21|wenku"], "assetSelection": INGEST},
    )["launchPartitionBackfill"]
    assert data["__typename"] == "LaunchBackfillSuccess", data
    deadline, status = time.monotonic() + 240, None
    while time.monotonic() < deadline:
        status = gql(
            url, "query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }", id=data["backfillId"]
        )["partitionBackfillOrError"]["status"]
        if status in ("COMPLETED", "COMPLETED_SUCCESS", "FAILED", "CANCELED", "COMPLETED_FAILED"):
            break
        time.sleep(2)
    assert status in ("COMPLETED", "COMPLETED_SUCCESS"), status
    store = CorpusStore(str(root))
    for date in ("2026-11-20", "2026-11-21"):
        assert store.read(CorpusStore.partition_path("raw_documents", {"date": date, "source": "wenku"}))["doc_id"][0].startswith(date)
