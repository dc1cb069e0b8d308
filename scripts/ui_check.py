"""`make ui-check`: the Dagster UI on the demo's instance, seen by a real headless Chromium.

Starts `dagster dev` on 127.0.0.1 (DAGSTER_HOME as `make` sets it: the demo's instance), asks
GraphQL what a newcomer should see (the code location's name, the named jobs and their runs, filled
partitions, check results), then screenshots the asset lineage, a partitions page, a check page and
the runs into `.ui_check/` (gitignored). Everything started here is stopped by process group.
Run `make demo` first; Chromium comes from `make sysdeps` (Debian's `chromium`).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.conftest import free_port
from tests.helpers import stop_process_group

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / ".ui_check"
LOCATION = "corpus_dag"
# (file name, UI path): what a newcomer opens first.
PAGES = [
    ("lineage.png", "/asset-groups"),
    ("asset_raw_documents.png", "/assets/raw_documents"),  # columns with their descriptions
    ("events_raw_documents.png", "/assets/raw_documents?view=events"),  # typed metadata tables: preview, drop reasons
    ("partitions_raw_documents.png", "/assets/raw_documents?view=partitions"),
    ("checks_raw_documents.png", "/assets/raw_documents?view=checks"),
    ("check_every_record_accounted.png", "/assets/raw_documents?view=checks&checkDetail=every_record_accounted"),
    ("runs.png", "/runs"),
    ("job_corpus_daily.png", f"/locations/{LOCATION}/jobs/corpus_daily"),
]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--hide-scrollbars", "--window-size=1600,1000",
    "--virtual-time-budget=20000",  # let the single-page app fetch its GraphQL data before the shot
]
STATUS_QUERY = """
query {
  workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } }
  runsOrError { ... on Runs { results { jobName status } } }
  assetNodes(assetKeys: [{path: ["raw_documents"]}]) {
    partitionStats { numMaterialized numPartitions numFailed }
    assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } }
  }
}
"""


def start_dagster_dev(port: int, log_path: Path) -> subprocess.Popen:
    dagster = Path(sys.executable).parent / "dagster"
    log = open(log_path, "wb")
    return subprocess.Popen(
        [dagster, "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def gql(url: str, query: str) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query}, timeout=60)
    response.raise_for_status()
    body = response.json()
    if "errors" in body:
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return body["data"]


def wait_until_loaded(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 300) -> dict:
    """Poll until the webserver answers and the code location has loaded; return the status query."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited ({proc.returncode}); see {log_path}")
        try:
            data = gql(url, STATUS_QUERY)
            entries = data["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return data
        except (requests.ConnectionError, requests.Timeout, RuntimeError):
            pass
        time.sleep(2)
    raise RuntimeError(f"the UI did not load its code location within {timeout:.0f} s; see {log_path}")


def screenshot(chromium: str, url: str, path: Path, timeout: float = 120) -> None:
    with tempfile.TemporaryDirectory(prefix="ui_check_chromium_") as profile:
        proc = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={path}", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                stop_process_group(proc)
    if not path.is_file() or path.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot for {url}")


def report(data: dict) -> list[str]:
    """What the page data says, and what is wrong with it for a newcomer (the returned problems)."""
    names = [e["name"] for e in data["workspaceOrError"]["locationEntries"]]
    runs = data["runsOrError"]["results"]
    jobs = sorted({r["jobName"] for r in runs})
    stats = data["assetNodes"][0]["partitionStats"] if data["assetNodes"] else None
    checks = data["assetNodes"][0]["assetChecksOrError"].get("checks", []) if data["assetNodes"] else []
    print(f"code location: {', '.join(names)}")
    print(f"runs: {len(runs)} in jobs {', '.join(jobs) or '-'}")
    if stats:
        print(f"raw_documents partitions: {stats['numMaterialized']} of {stats['numPartitions']} materialized, {stats['numFailed']} failed")
    for c in checks:
        print(f"check raw_documents:{c['name']}: {(c['executionForLatestMaterialization'] or {}).get('status', 'never run')}")
    problems = []
    if LOCATION not in names:
        problems.append(f"code location is {names}, expected {LOCATION!r} (workspace.yaml location_name)")
    if not runs:
        problems.append("no runs in this instance: run `make demo` first")
    elif any(j.startswith("__") for j in jobs):
        problems.append(f"runs outside named jobs: {jobs}")
    if stats and stats["numMaterialized"] == 0:
        problems.append("raw_documents has no materialized partition")
    return problems


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("chromium not found: run `make sysdeps` (apt-get install -y chromium)")
    if not os.environ.get("DAGSTER_HOME"):
        sys.exit("DAGSTER_HOME is not set: run through `make ui-check` (the demo's instance)")
    OUT.mkdir(exist_ok=True)
    port, log_path = free_port(), OUT / "dagster_dev.log"
    url = f"http://127.0.0.1:{port}"
    proc = start_dagster_dev(port, log_path)
    try:
        problems = report(wait_until_loaded(url, proc, log_path))
        gql(url, "mutation { setNuxSeen }")  # the community pop-up a first visitor skips; it would hide the pages
        for name, page in PAGES:
            screenshot(chromium, url + page, OUT / name)
            print(f"screenshot {OUT / name}  ({page})")
    finally:
        stop_process_group(proc)
    for p in problems:
        print(f"PROBLEM: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
