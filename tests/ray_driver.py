"""Drivers for the Ray cluster tests, run inside the cluster's network namespace
(`python -m tests.ray_driver SCENARIO ...`); each prints one JSON line for the test to read.

pipeline ROOT_LOCAL ROOT_RAY [S3]: the sample library through every stage that runs on the engine,
    once with engine local and once with engine ray on the cluster; reports, per stored partition,
    whether the two files are byte-identical. With S3, the ray run of the web source through the
    safety stage writes to a moto S3 server started here (inside the namespace) and is compared
    with the local folder run.
worker_kill ROOT: a slow map over a partition on the cluster; one Ray worker process is killed
    with SIGKILL mid-stage; the result is compared with the local engine's.
driver_kill ROOT: a Dagster run of `filtered_documents` on the cluster is killed with SIGKILL
    mid-stage, once its workers have written some parts; reports what is visible afterwards, then
    re-runs it.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import partition_bytes, stop_process_group

REPO = Path(__file__).resolve().parent.parent
DATE = "2026-11-21"
SOURCES = ("wenku", "web")
# Every stage that runs its batches on the engine, in dependency order, in as few runs as the
# partitionings allow (one run per wave and partition). `quality_classifiers` (training, in the step
# on either engine) runs in the local root only; the ray root gets a copy of its model files.
WAVES = [
    (["question_classifier"], [None]),
    (["raw_documents", "rejected_documents", "exam_documents", "non_exam_documents", "exam_questions",
      "math_questions", "math_question_drops", "minhash_signatures"], "date_source"),
    (["dedup_clusters"], "source"),
    (["deduplicated_documents", "duplicate_documents", "filtered_documents", "filter_drops", "safety_documents",
      "safety_drops"], "date_source"),
    (["quality_classifiers"], [None]),
    (["quality_scores", "classified_documents", "classifier_drops", "coherence_scores"], "date_source"),
    (["coherence_thresholds"], [None]),
    (["coherence_documents", "coherence_drops", "perplexity_scores"], "date_source"),
    (["ppl_thresholds"], [None]),
    (["quality_documents", "quality_drops", "decontaminated_documents", "contaminated_items"], "date_source"),
    (["rebuilt_math_items"], "date_source"),  # the vLLM model loads in one actor on Ray
    (["verified_math_items", "unverified_math_items"], "date_source"),
    # patents: the chunking source kind, through dedup (a wave names its sources after the keys)
    (["raw_documents", "rejected_documents", "minhash_signatures"], "date_source", ("patents",)),
    (["dedup_clusters"], "source", ("patents",)),
    (["deduplicated_documents", "duplicate_documents", "chunked_documents", "unchunked_documents"], "date_source", ("patents",)),
]
ALL_SOURCES = (*SOURCES, "patents")
TRAINED = "quality_classifiers"
MODELS = "models/classifiers"
# The S3 run: the web source through the safety stage (time): ingest, dedup (its shard scratch on S3),
# filters and safety; the exam waves' batches are the wenku source's only.
S3_WAVES, S3_SOURCES = WAVES[:4], ("web",)
# float scores of a model: compared with a tolerance (same model; the batches are the same too)
SCORED = {"perplexity_scores": "ppl", "coherence_scores": "coherence"}
# a wall-clock column: every other column must be equal
TIMED = {"rebuilt_math_items": "latency_s", "unverified_math_items": "latency_s"}


RESULT = "RESULT "  # Ray's raylet may print to the driver's stdout too: the result line is marked


def out(doc: dict) -> None:
    print(RESULT + json.dumps(doc), flush=True)


def _classifiers(folder: Path) -> str:
    """config/classifiers.yaml with short training (every model kind still runs on the engine)."""
    import yaml

    cfg = yaml.safe_load((REPO / "config" / "classifiers.yaml").read_text())
    for m in cfg["models"]:
        m.setdefault("train", {})["epochs"] = 1 if m["kind"] == "transformers" else 5
    path = folder / "corpus-ray-classifiers.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _run_config(model: str) -> dict:
    classifiers = {"config_file": _classifiers(Path(model).parent)}
    ppl = {"model": model, "backend": "transformers", "bucket_edges": [64, 256], "batch_rows": 40}
    coherence = {"model": model, "backend": "transformers", "min_tokens": 96, "segment_tokens": 32, "batch_rows": 40}
    return {"ops": {"perplexity_scores": {"config": ppl}, "coherence_scores": {"config": coherence},
                    "quality_classifiers": {"config": classifiers}, "quality_scores": {"config": classifiers | {"batch_rows": 40}},
                    "classified_documents": {"config": classifiers}, "question_classifier": {"config": {"hash_dim": 4096}},
                    "heuristic_filter": {"config": {"batch_rows": 40}}, "exam_documents": {"config": {"batch_rows": 20}},
                    "ingest": {"config": {"split_bytes": 32_768}},  # web and patents files read in parts
                    "safety": {"config": {"batch_rows": 40}}, "chunk": {"config": {"batch_rows": 3}},
                    "rebuilt_math_items": {"config": {"samples": 1, "max_tokens": 16, "batch_questions": 40}},
                    "verified_math_items": {"config": {"batch_rows": 30}}}}


def materialize_waves(root: str, engine_kind: str, waves, model: str, address: str = "", trained_in: str = "", times=None,
                      sources=SOURCES) -> list[str]:
    """Materialize `waves` into `root` with the given engine; returns the failures (empty = all passed).
    `trained_in`: a root whose trained classifier models are copied instead of training them again."""
    import dagster as dg

    from assets.common.engine import CorpusEngine, StageSettings
    from assets.definitions import corpus_resources, defs
    from assets.rebuild.resources import LLMEngine
    from corpus_dag.storage import CorpusStore, seed_raw_library

    seed_raw_library(CorpusStore(root), REPO / "samples" / "library")
    half = StageSettings(num_cpus=0.5)
    engine = CorpusEngine(kind=engine_kind, address=address,
                          stages={"filter": StageSettings(num_cpus=0.5, concurrency=2), "dedup": StageSettings(num_cpus=0.5, concurrency=2),
                                  "exam": half, "decontaminate": half, "safety": half, "perplexity": half, "classify": half,
                                  "coherence": half, "chunk": half, "verify": half})
    resources = {**(defs.resources or {}), **corpus_resources(root=root, engine=engine), "llm": LLMEngine(model=model)}
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    failures = []
    with dg.DagsterInstance.ephemeral() as instance:
        for selection, keys, *wave_sources in waves:
            if selection == [TRAINED] and trained_in:
                shutil.copytree(Path(trained_in) / MODELS, Path(root) / MODELS)
                continue
            t0 = time.monotonic()
            srcs = wave_sources[0] if wave_sources else sources
            keys = [f"{DATE}|{s}" for s in srcs] if keys == "date_source" else list(srcs) if keys == "source" else keys
            for key in keys:
                wanted = [dg.AssetKey(a) for a in selection]
                ops = {a.op.name for a in assets if set(a.keys) & set(wanted)}
                config = {"ops": {op: c for op, c in _run_config(model)["ops"].items() if op in ops}}
                # checks are left out here: this compares the engines' outputs (checks are tested elsewhere)
                result = dg.materialize(assets, selection=dg.AssetSelection.assets(*wanted), partition_key=key, instance=instance,
                                        resources=resources, run_config=config, raise_on_error=False)
                if not result.success:
                    errors = [e.event_specific_data.error for e in result.get_step_failure_events() if e.event_specific_data.error]
                    failures.append(f"{selection} {key}: " + " | ".join(err.to_string()[-1500:] for err in errors))
            if times is not None:
                times[f"{selection[0]}{'/' + srcs[0] if wave_sources else ''}"] = round(time.monotonic() - t0, 1)
    return failures


def stored_files(root: str, assets: list[str], sources=SOURCES) -> dict[str, list[bytes]]:
    from corpus_dag.storage import CorpusStore

    store = CorpusStore(root)
    return {rel: partition_bytes(store, rel) for a in assets for dims, rel in store.partitions(a) if dims.get("source") in sources}


def compare(a: dict[str, bytes], b: dict[str, bytes]) -> dict:
    return {"partitions": len(a), "missing": sorted(set(a) ^ set(b)),
            "different": sorted(k for k in set(a) & set(b) if a[k] != b[k])}


def tiny_model() -> str:
    from corpus_dag.llm.tiny_model import build_tiny_model

    path = Path(os.environ.get("CORPUS_TEST_TINY_MODEL", "/tmp/corpus-ray-tiny-model"))
    return str(path if (path / "config.json").exists() else build_tiny_model(path))


def scenario_nodes() -> None:
    import ray

    ray.init(address=os.environ.get("RAY_ADDRESS", "127.0.0.1:6394"), log_to_driver=False)
    alive = [n for n in ray.nodes() if n["Alive"]]
    out({"alive": len(alive), "addresses": sorted(n["NodeManagerAddress"] for n in alive),
         "cpus": ray.cluster_resources().get("CPU", 0)})


def scenario_pipeline(root_local: str, root_ray: str, s3: str = "") -> None:
    model = tiny_model()
    waves, sources = (S3_WAVES, S3_SOURCES) if s3 else (WAVES, SOURCES)
    assets = sorted({a for sel, *_ in waves for a in sel} - {"question_classifier", TRAINED})
    times = {}
    started = time.monotonic()
    if not (Path(root_local) / "filtered_documents").exists():
        times["local_waves"] = {}
        failures = materialize_waves(root_local, "local", WAVES, model, times=times["local_waves"])
        assert not failures, failures
    times["local"] = round(time.monotonic() - started, 1)
    if s3:
        root_ray = start_moto_root()
    started = time.monotonic()
    times["ray_waves"] = {}
    failures = materialize_waves(root_ray, "ray", waves, model, address="127.0.0.1:6394", trained_in=root_local,
                                 times=times["ray_waves"], sources=sources)
    times["ray"] = round(time.monotonic() - started, 1)
    compared = S3_SOURCES if s3 else ALL_SOURCES
    exact = [a for a in assets if a not in SCORED and a not in TIMED]
    result = compare(stored_files(root_local, exact, compared), stored_files(root_ray, exact, compared)) | {"failures": failures, "seconds": times}
    result["max_rel_diff"] = {a: score_difference(root_local, root_ray, a, col) for a, col in SCORED.items() if a in assets}
    result["timed_rows"] = {a: same_but(root_local, root_ray, a, col) for a, col in TIMED.items() if a in assets}
    out(result)


def same_but(root_a: str, root_b: str, asset: str, col: str) -> int:
    """Rows of `asset` in both roots, asserting that every column but `col` (wall-clock) is equal."""
    from corpus_dag.storage import CorpusStore

    a, b = CorpusStore(root_a), CorpusStore(root_b)
    rows = 0
    for _dims, rel in a.partitions(asset):
        x, y = a.read(rel), b.read(rel)
        assert x.drop(col).equals(y.drop(col)), rel
        rows += x.height
    return rows


def score_difference(root_a: str, root_b: str, asset: str, col: str) -> float:
    """The largest relative difference of a float score column; every other column must be equal."""
    import polars as pl

    from corpus_dag.storage import CorpusStore

    a, b = CorpusStore(root_a), CorpusStore(root_b)
    worst = 0.0
    for _dims, rel in a.partitions(asset):
        x, y = a.read(rel), b.read(rel)
        assert x["doc_id"].to_list() == y["doc_id"].to_list()
        rel_diff = ((x[col] - y[col]).abs() / x[col].abs()).fill_nan(0.0).fill_null(0.0)
        worst = max(worst, float(rel_diff.max() or 0.0))
        other = [c for c in x.columns if c != col and x[c].dtype != pl.List(pl.Float64)]  # segment_gains: floats too
        assert x.select(other).equals(y.select(other)), rel
    return worst


def start_moto_root() -> str:
    """A moto S3 server on 127.0.0.1 in this namespace, in a process of its own (it dies with this
    driver's namespace); CORPUS_ROOT-style URL of a fresh bucket."""
    import boto3
    import fsspec

    from tests.conftest import free_port
    from tests.helpers import moto_server_process

    port = free_port()
    server = moto_server_process(port)
    atexit.register(stop_process_group, server)
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret",
                       "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1"})
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="corpus")
    fsspec.filesystem("s3").clear_instance_cache()
    return "s3://corpus/lab"


@dataclass(frozen=True)
class SlowUpper:
    """A row-wise step slow enough (`seconds` a batch) that a worker can be killed while it works."""

    seconds: float = 0.5

    def __call__(self, batch):
        import polars as pl

        time.sleep(self.seconds)
        return batch.with_columns(pl.col("text").str.to_uppercase())


def _same_netns_workers() -> list[int]:
    import psutil

    mine = os.stat("/proc/self/ns/net").st_ino
    pids = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            # a worker running a SlowUpper batch, its Ray Data task `ray::ReadPartitionSlices->MapBatches(SlowUpper)`
            # (never the node's agents, GCS or raylet)
            if cmd.startswith("ray::") and "SlowUpper" in cmd and os.stat(f"/proc/{p.pid}/ns/net").st_ino == mine:
                pids.append(p.pid)
        except (OSError, psutil.Error):
            continue
    return pids


def scenario_worker_kill(root: str) -> None:
    import polars as pl

    from corpus_dag.engine import LocalEngine, RayEngine
    from corpus_dag.storage import CorpusStore, PartitionData

    store = CorpusStore(root)
    rel = CorpusStore.partition_path("docs", {"source": "s"})
    store.write_frame(rel, pl.DataFrame({"doc_id": [f"d{i}" for i in range(600)], "text": [f"doc {i} text" for i in range(600)]}))
    data = PartitionData(store, rel)
    expected = pl.concat(list(LocalEngine().map_batches(data, SlowUpper(seconds=0), batch_rows=20)))  # the same rows, unhurried
    engine = RayEngine(address="127.0.0.1:6394")
    killed: list[int] = []

    def killer():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            busy = _same_netns_workers()
            if busy:
                time.sleep(0.5)  # let it be mid-batch
                os.kill(busy[0], signal.SIGKILL)
                killed.append(busy[0])
            time.sleep(0.1)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    got = pl.concat(list(engine.map_batches(data, SlowUpper(), batch_rows=20)))
    thread.join(5)
    out({"killed": killed, "rows": got.height, "identical": got.equals(expected)})


def scenario_driver_kill(root: str) -> None:
    """Kill -9 a Dagster run mid-stage on Ray; report what is visible, then re-run."""
    from corpus_dag.storage import CorpusStore

    import polars as pl

    store = CorpusStore(root)
    upstream = CorpusStore.partition_path("deduplicated_documents", {"source": "web", "date": DATE})
    if not store.exists(upstream):  # run alone: a stand-in for the upstream stages
        texts = [f"This is web page number {i}. It talks about rivers, hills and the weather in some detail." for i in range(400)]
        store.write_frame(upstream, pl.DataFrame({"doc_id": [f"w{i}" for i in range(400)], "text": texts}))
    rel = CorpusStore.partition_path("filtered_documents", {"source": "web", "date": DATE})
    if store.version(rel) is None:
        first = subprocess.run([sys.executable, "-m", "tests.ray_driver", "filter_once", root, "40"], cwd=REPO, capture_output=True, text=True)
        assert first.returncode == 0, first.stderr[-3000:]
    before, before_files = store.version(rel), store.files(rel)
    child = subprocess.Popen([sys.executable, "-m", "tests.ray_driver", "filter_once", root, "2"], cwd=REPO)
    folder = Path(root) / "filtered_documents" / "source=web" / f"date={DATE}"

    def new_parts() -> list[str]:
        return [n for n in os.listdir(folder) if n.startswith("part-") and n.endswith(".parquet") and before not in n]

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if len(new_parts()) >= 3:  # mid-stage: the workers have written some slices' parts, not all 200
            child.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    code = child.wait(60)
    time.sleep(2)  # the dead driver's job: Ray stops its workers
    after_kill = {"exit": code, "version_unchanged": store.version(rel) == before, "files_unchanged": store.files(rel) == before_files,
                  "orphan_parts": len(new_parts())}
    rerun = subprocess.run([sys.executable, "-m", "tests.ray_driver", "filter_once", root, "40"], cwd=REPO, capture_output=True, text=True)
    out(after_kill | {"rerun_exit": rerun.returncode, "rerun_tail": rerun.stderr[-2000:] if rerun.returncode else "",
                      "new_version": store.version(rel) not in (None, before),
                      "visible_after_rerun": sorted(n for n in os.listdir(folder) if n.endswith(".parquet")),
                      "committed_after_rerun": sorted(f.rsplit("/", 1)[1] for f in store.files(rel))})


def scenario_filter_once(root: str, batch_rows: str) -> None:
    """Materialize filtered_documents of the web partition on the cluster (the driver_kill child)."""
    import dagster as dg

    from assets.common.engine import CorpusEngine
    from assets.definitions import corpus_resources, defs

    engine = CorpusEngine(kind="ray", address="127.0.0.1:6394")
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    result = dg.materialize(assets, selection=["filtered_documents", "filter_drops"], partition_key=f"{DATE}|web",
                            resources={**(defs.resources or {}), **corpus_resources(root=root, engine=engine)},
                            run_config={"ops": {"heuristic_filter": {"config": {"batch_rows": int(batch_rows)}}}})
    out({"success": result.success})


if __name__ == "__main__":
    name, *args = sys.argv[1:]
    globals()[f"scenario_{name}"](*args)
