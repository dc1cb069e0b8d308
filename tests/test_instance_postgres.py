"""Instance storage on a real PostgreSQL server: `make instance CORPUS_DAGSTER_STORAGE=postgres`.

The server is Debian's `postgresql` package (`make sysdeps`), started here on 127.0.0.1 in a temp
folder; PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
"""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import dagster as dg
import pytest

from assets.definitions import defs
from corpus_dag.storage import CorpusStore
from tests.conftest import REPO, free_port
from tests.helpers import write_jsonl

pytestmark = pytest.mark.slow
PK = "2026-11-20|wenku"


def _pg_bin() -> Path:
    """The server binaries' folder (Debian keeps them out of PATH under /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb")]
    if not found[-1]:
        pytest.fail("PostgreSQL server binaries not found: run `make sysdeps` (apt-get install -y postgresql)")
    return Path(found[-1]).parent


def _as_server_user(folder: Path) -> list[str]:
    """Command prefix that runs the server binaries as a non-root user (and hands it `folder`)."""
    if os.geteuid() != 0:
        return []
    user = pwd.getpwnam("postgres")
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)
    return ["runuser", "-u", "postgres", "--"]


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL server on 127.0.0.1 (trust auth), stopped and removed afterwards."""
    bin_dir, port = _pg_bin(), free_port()
    folder = Path(tempfile.mkdtemp(prefix="corpus_pg_"))
    os.chmod(folder, 0o755)
    data = folder / "data"
    run_as = _as_server_user(folder)
    subprocess.run([*run_as, bin_dir / "initdb", "-D", data, "-U", "corpus", "-A", "trust", "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True)
    server_opts = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off"
    subprocess.run([*run_as, bin_dir / "pg_ctl", "-D", data, "-o", server_opts, "-l", folder / "server.log", "-w", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg2://corpus@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def make_instance(home: Path, **env) -> subprocess.CompletedProcess:
    """`make instance` exactly as a developer runs it, into `home`."""
    args = [f"{k}={v}" for k, v in env.items()]
    return subprocess.run(["make", "-s", "instance", f"DAGSTER_HOME={home}", *args], cwd=REPO, capture_output=True, text=True)


def test_postgres_storage_needs_its_url(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    missing = make_instance(tmp_path, CORPUS_DAGSTER_STORAGE="postgres")
    assert missing.returncode != 0 and "DAGSTER_PG_URL=postgresql+psycopg2://" in missing.stdout + missing.stderr
    driverless = make_instance(tmp_path, CORPUS_DAGSTER_STORAGE="postgres", DAGSTER_PG_URL="postgresql://u@h/db")
    assert driverless.returncode != 0 and "got 'postgresql://u@h/db'" in driverless.stdout + driverless.stderr
    unknown = make_instance(tmp_path, CORPUS_DAGSTER_STORAGE="mysql")
    assert unknown.returncode != 0 and "must be sqlite or postgres" in unknown.stdout + unknown.stderr
    sqlite = make_instance(tmp_path)
    assert sqlite.returncode == 0 and (tmp_path / "dagster.yaml").read_text() == (REPO / "dagster.yaml").read_text()


def test_runs_events_and_checks_live_in_postgres(postgres_url, corpus_root, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    made = make_instance(home, CORPUS_DAGSTER_STORAGE="postgres", DAGSTER_PG_URL=postgres_url)
    assert made.returncode == 0, made.stderr
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_url)
    records = [{"id": f"w{i}", "text": f"2026年期末试卷 第{i}题"} for i in range(30)] + ["not json"]
    write_jsonl(Path(CorpusStore(corpus_root).abs("raw/wenku/2026-11-20/a.jsonl")), records)

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        result = dg.materialize(
            [*defs.assets, *defs.asset_checks],
            instance=instance,
            resources=defs.resources,
            selection=["raw_documents", "rejected_documents"],
            partition_key=PK,
        )
        assert result.success
        run_id = result.run_id

    # A second instance (as the webserver or daemon would open it) reads the records back.
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        for key, kept in [("raw_documents", 30), ("rejected_documents", 1)]:
            event = instance.get_latest_materialization_event(dg.AssetKey(key))
            assert event.run_id == run_id and event.asset_materialization.partition == PK
            assert event.asset_materialization.metadata["dagster/row_count"].value == kept
        evaluations = [e.dagster_event.event_specific_data for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)]
        assert {e.check_name: e.passed for e in evaluations} == {"schema_text_and_ids": True, "every_record_accounted": True}

    import psycopg2  # the rows are in the server's tables, not in a SQLite file under DAGSTER_HOME

    with psycopg2.connect(postgres_url.replace("+psycopg2", "")) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM runs WHERE run_id = %s", (run_id,))
        assert cur.fetchone()[0] == 1
        cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'", (run_id,))
        assert cur.fetchone()[0] == 2
    assert not list(home.rglob("*.db"))
