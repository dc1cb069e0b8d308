"""Clusters: planted duplicates found, deterministic, across partitions, same out of core, same on
engine local and ray, resumed from shard markers, same components by propagation."""
import datetime as dt
import io
import random
from dataclasses import replace

import dagster as dg
import numpy as np
import polars as pl
import pytest

from assets.common.partitions import SOURCES
from tests.helpers import partition_bytes
from corpus_dag.dedup import (
    CLUSTER_ROWS,
    DedupCfg,
    Scratch,
    apply,
    broken_trails,
    cluster_pipeline,
    exact_jaccard,
    find_clusters,
    sample_pairs_markdown,
    scratch_prefix,
    signatures,
)
from corpus_dag.dedup.clusters import CLUSTER_SCHEMA, ClusterRun, _shard_task
from corpus_dag.engine import LocalEngine, RayEngine, even_slices
from corpus_dag.storage import CorpusStore, PartitionData, arrow_schema, part_sink

ALPHABET = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所"
    "民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日"
    "那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想"
    "已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指"
    "几九区强放决西被干做必战先回则任取据处府研"
)
CFG = DedupCfg(threshold=0.8, n_shards=4, min_shard_rows=1)  # these small corpora still use every shard


def planted_corpus(seed: int = 0):
    """Unrelated random documents plus planted groups: an exact copy (re-spaced) on an earlier
    date, a truncated copy and a copy with a few character edits."""
    rnd = random.Random(seed)
    rows, groups = [], []
    for i in range(150):
        chars = "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(300, 600)))
        lines = [chars[k : k + 50] for k in range(0, len(chars), 50)]
        text = " ".join(lines)
        rows.append((f"base{i:03d}", dt.date(2026, 11, 21), text))
        if i % 5 == 0:
            edited = list(text)
            for _ in range(2):
                edited[rnd.randrange(len(edited))] = rnd.choice(ALPHABET)
            copies = [
                (f"copy{i:03d}", dt.date(2026, 11, 20), "\n\t".join(lines) + "\n"),
                (f"trunc{i:03d}", dt.date(2026, 11, 22), text[: int(len(text) * 0.95)]),
                (f"edit{i:03d}", dt.date(2026, 11, 21), "".join(edited)),
            ]
            rows += copies
            groups.append(frozenset([f"base{i:03d}"] + [c[0] for c in copies]))
    df = pl.DataFrame(rows, schema=["doc_id", "date", "text"], orient="row").with_columns(source=pl.lit("wenku"))
    return df, set(groups)


@pytest.fixture(scope="module")
def corpus():
    df, groups = planted_corpus()
    texts = dict(zip(df["doc_id"], df["text"]))
    for group in groups:  # the planted copies really are >= 0.8 similar to their base
        base = next(d for d in group if d.startswith("base"))
        assert all(exact_jaccard(texts[base], texts[d], CFG) >= 0.92 for d in group)
    return df, groups, signatures(df, CFG)


def as_groups(clusters: pl.DataFrame) -> set[frozenset]:
    return {frozenset(g) for g in clusters.group_by("cluster_id").agg("doc_id")["doc_id"].to_list()}


def clusters_of(*args) -> tuple[pl.DataFrame, ClusterRun]:
    """cluster_pipeline, its clusters read back as one frame."""
    clusters, run = cluster_pipeline(*args)
    return clusters.frame(), run


def test_planted_duplicates_found_with_deterministic_representative(corpus, tmp_path):
    _, groups, sig = corpus
    clusters = find_clusters([sig], CFG, tmp_path / "work")
    assert as_groups(clusters) == groups
    reps = clusters.filter(pl.col("duplicate_of").is_null())
    assert reps["doc_id"].str.starts_with("copy").all()  # earliest date wins
    copy_rows = clusters.filter(pl.col("doc_id").str.starts_with("base"))
    assert copy_rows["kind"].eq("exact").all()  # re-spaced copy: same exact key
    assert clusters.filter(pl.col("doc_id").str.starts_with("trunc"))["kind"].eq("near").all()
    assert clusters.filter(pl.col("kind") == "near")["est_jaccard"].min() >= CFG.threshold - 0.1


def test_same_clusters_for_any_input_order_batching_and_sharding(corpus, tmp_path):
    _, _, sig = corpus
    in_memory = find_clusters([sig], DedupCfg(n_shards=1, batch_rows=1_000_000), tmp_path / "a")
    shuffled = sig.sample(fraction=1.0, shuffle=True, seed=3)
    out_of_core = find_clusters(
        [shuffled.slice(0, 100), shuffled.slice(100)], DedupCfg(n_shards=7, batch_rows=13, window=2), tmp_path / "b"
    )
    assert out_of_core.equals(in_memory)
    assert not any((tmp_path / "b").iterdir())  # scratch files removed


def test_scatter_slices_are_as_few_and_as_even_as_the_batch_size_allows():
    assert even_slices(100_000, 65_536) == [(0, 50_000), (50_000, 100_000)]  # not 65,536 + a 34,464 tail
    for rows, most in [(0, 5), (1, 1), (13, 13), (14, 13), (200, 13), (100_001, 16_384)]:
        slices = even_slices(rows, most)
        sizes = [stop - start for start, stop in slices]
        assert len(slices) == -(-rows // most) and sum(sizes) == rows
        assert all(a[1] == b[0] for a, b in zip(slices, slices[1:])) and (not slices or slices[0][0] == 0)
        assert not sizes or (max(sizes) <= most and max(sizes) - min(sizes) <= 1)


def test_cross_partition_files(corpus, tmp_path):
    _, groups, sig = corpus
    files = []
    for (date,), part in sorted(sig.partition_by("date", as_dict=True).items()):
        files.append(tmp_path / f"{date}.parquet")
        part.write_parquet(files[-1])
    assert len(files) == 3
    from_files = find_clusters(files, CFG, tmp_path / "work")
    assert as_groups(from_files) == groups
    assert from_files.equals(find_clusters([sig], CFG, tmp_path / "work2"))


def test_unrelated_documents_form_no_cluster(tmp_path):
    df, _ = planted_corpus(seed=5)
    unrelated = df.filter(pl.col("doc_id").str.starts_with("base"))
    assert find_clusters([signatures(unrelated, CFG)], CFG, tmp_path / "w").is_empty()


def test_apply_drops_duplicates_with_reason_and_trail(corpus, tmp_path):
    df, groups, sig = corpus
    clusters = find_clusters([sig], CFG, tmp_path / "work")
    split = apply(df, clusters)
    assert split.n_in == df.height
    assert split.dropped.height == sum(len(g) - 1 for g in groups)
    assert set(split.dropped["reason"]) == {"exact_duplicate", "near_duplicate"}
    assert split.kept.columns == df.columns
    kept = set(split.kept["doc_id"])
    assert set(split.dropped["duplicate_of"]) <= kept
    assert not kept & set(split.dropped["doc_id"])


def test_broken_trails_streams_the_partition_and_counts_each_kind_of_break(corpus, tmp_path):
    """A found clusters partition has no broken trail; each way of breaking one is counted, also when a
    cluster's kept row and its members fall in different batches (3-row batches here)."""
    _, _, sig = corpus
    store = CorpusStore(str(tmp_path / "root"))
    found = find_clusters([sig], CFG, tmp_path / "work").sort("date", "doc_id")  # members apart from their kept row

    def stored(frame: pl.DataFrame) -> PartitionData:
        rel = CorpusStore.partition_path("clusters", {"source": f"s{stored.n}"})
        stored.n += 1
        store.write_frame(rel, frame)
        return PartitionData(store, rel)

    stored.n = 0

    def broken(frame: pl.DataFrame) -> int:
        return broken_trails(stored(frame), batch_rows=3)

    kept = found.filter(pl.col("duplicate_of").is_null())
    first, other = kept["cluster_id"][0], kept["cluster_id"][1]
    a_member = (pl.col("duplicate_of").is_not_null()) & (pl.col("cluster_id") == first)
    one_member = a_member & (pl.int_range(pl.len()) == pl.int_range(pl.len()).filter(a_member).first())
    other_rep = kept.filter(pl.col("cluster_id") == other)["doc_id"][0]
    member_of_first = found.filter(a_member)["doc_id"][0]
    assert broken(found) == 0
    # a member naming another member of its cluster (a dropped row): the trail the blocking check was written for
    assert broken(found.with_columns(duplicate_of=pl.when(one_member).then(pl.lit("nobody")).otherwise("duplicate_of"))) == 1
    # a member naming the kept row of another cluster: a kept row, but not its cluster's
    assert broken(found.with_columns(duplicate_of=pl.when(one_member).then(pl.lit(other_rep)).otherwise("duplicate_of"))) == 1
    # a second kept row in a cluster
    assert broken(found.with_columns(duplicate_of=pl.when(pl.col("doc_id") == member_of_first).then(None).otherwise("duplicate_of"))) == 1
    # a cluster whose kept row is gone: each of its members is broken
    members = found.filter(a_member).height
    assert broken(found.filter(~((pl.col("cluster_id") == first) & pl.col("duplicate_of").is_null()))) == members
    assert broken(found.head(0)) == 0


def test_metadata_helpers(corpus, tmp_path):
    """The run's summary (cluster sizes, duplicates by kind, the pairs nearest the threshold with
    their representatives) agrees with its rows, and the sample renders as a table."""
    df, groups, sig = corpus
    found, _ = cluster_pipeline([sig], CFG, Scratch.local(tmp_path), LocalEngine())
    clusters = found.frame()
    assert found.sizes.rows() == [(4, len(groups))] and found.clusters == len(groups) and found.rows == clusters.height
    dups = clusters.filter(pl.col("duplicate_of").is_not_null())
    assert found.by_kind == dict(dups.group_by("kind").len().iter_rows())
    nearest = dups.sort("est_jaccard", "doc_id").head(5)
    assert found.sample.filter(pl.col("duplicate_of").is_not_null()).equals(nearest)
    assert set(found.sample.filter(pl.col("duplicate_of").is_null())["doc_id"]) == set(nearest["duplicate_of"])
    table = sample_pairs_markdown(clusters, df, CFG, k=3)
    lines = table.splitlines()
    assert len(lines) == 2 + 3 and lines[0].startswith("| kind")
    assert "near" in lines[2] and "copy" in lines[2]


def test_rows_are_assembled_in_chunks_as_a_reference_orders_them(corpus, tmp_path, monkeypatch):
    """Representatives (earliest date, nulls first, then smallest doc_id), cluster ids (their rank)
    and the row order (date, doc_id) match a reference computed here from the memberships, with
    each date's members ordered in doc_id ranges of about 10 and the rows assembled by tasks of 7
    members (chunks that cross ranges, dates and clusters), over three
    inputs, one of them with null dates; the default chunk size gives the same frame, and each
    chunk's task was sent the rows of its own members' representatives only."""
    from corpus_dag.dedup import clusters as clusters_module

    _, groups, sig = corpus
    sig = sig.sample(fraction=1.0, shuffle=True, seed=3)  # input order is not the output order
    is_undated = pl.col("doc_id").str.contains("^edit..0$")  # half the groups' edited copies
    inputs = [sig.filter(pl.col("date") < dt.date(2026, 11, 21)), sig.filter(is_undated).with_columns(date=pl.lit(None, pl.Date)),
              sig.filter((pl.col("date") >= dt.date(2026, 11, 21)) & ~is_undated)]
    whole, _ = clusters_of(inputs, CFG, Scratch.local(tmp_path / "whole"), LocalEngine())
    monkeypatch.setattr(clusters_module, "MEMBER_PAIRS_PER_TASK", 7)
    monkeypatch.setattr(clusters_module, "SAMPLE_EVERY", 3)
    scratch = Scratch.local(tmp_path / "chunked")
    chunked, _ = clusters_of(inputs, replace(CFG, max_sort_rows=10), scratch, LocalEngine())
    assert len(scratch.glob("clusters/sorted/*.parquet")) > 8  # dates cut into doc_id ranges: more units than dates
    assert chunked.equals(whole) and as_groups(chunked) == groups
    for k in range(-(-chunked.height // 7)):  # each chunk was sent the rows of its representatives, no others
        sent = pl.read_parquet(scratch.glob(f"clusters/reps/{k:05d}/*.parquet"))["doc_id"]
        assert sorted(sent) == sorted(set(chunked.slice(7 * k, 7)["representative"]))

    rows = pl.concat(inputs).select("doc_id", "date", "exact_key")
    key = {d: (date is not None, date or dt.date.min, d) for d, date in zip(rows["doc_id"], rows["date"])}
    rep = {d: min(g, key=key.get) for g in groups for d in g}
    rank = {r: i for i, r in enumerate(sorted(set(rep.values()), key=key.get))}
    exact_key = dict(zip(rows["doc_id"], rows["exact_key"]))
    expected = [(d, rank[rep[d]], rep[d], None if d == rep[d] else rep[d],
                 None if d == rep[d] else ("exact" if exact_key[d] == exact_key[rep[d]] else "near")) for d in sorted(rep, key=key.get)]
    assert chunked.select("doc_id", "cluster_id", "representative", "duplicate_of", "kind").rows() == expected
    assert chunked["date"].head(len(groups) // 2).null_count() == len(groups) // 2  # the undated edits come first


def test_empty_and_bad_inputs(tmp_path):
    empty = signatures(pl.DataFrame({"doc_id": [], "text": []}, schema={"doc_id": pl.String, "text": pl.String}), CFG)
    assert find_clusters([empty], CFG, tmp_path / "w").is_empty()
    with pytest.raises(ValueError, match="Array\\[UInt32, 64\\]"):
        find_clusters([signatures(pl.DataFrame({"doc_id": ["a"], "text": ["x"]}), CFG)], DedupCfg(num_perm=64), tmp_path / "v")


# ---- the pipeline as engine tasks over a scratch folder (engine local and ray) ---------------------
def chain_corpus(n_chains: int = 4, length: int = 8, seed: int = 1) -> pl.DataFrame:
    """Chains: each document a few character edits away from the one before, so neighbours are
    near duplicates while a chain's ends are not (only transitivity joins them)."""
    rnd = random.Random(seed)
    rows = []
    for c in range(n_chains):
        text = [rnd.choice(ALPHABET) for _ in range(500)]
        for k in range(length):
            rows.append((f"chain{c}-{k}", dt.date(2026, 11, 21), "".join(text)))
            for _ in range(3):
                text[rnd.randrange(len(text))] = rnd.choice(ALPHABET)
    return pl.DataFrame(rows, schema=["doc_id", "date", "text"], orient="row").with_columns(source=pl.lit("wenku"))


@pytest.fixture(scope="module")
def stars_and_chains(corpus):
    stars, groups, _ = corpus
    chains = chain_corpus()
    texts = dict(zip(chains["doc_id"], chains["text"]))
    for c in range(4):  # a chain's ends are far apart: one cluster only through the chain
        assert exact_jaccard(texts[f"chain{c}-0"], texts[f"chain{c}-7"], CFG) < 0.7
    df = pl.concat([stars, chains])
    return df, groups, signatures(df, CFG)


def stored_signatures(store: CorpusStore, sig: pl.DataFrame) -> list[PartitionData]:
    """The signatures as one stored partition per date, as minhash_signatures writes them."""
    handles = []
    for (date,), part in sorted(sig.partition_by("date", as_dict=True).items()):
        rel = CorpusStore.partition_path("minhash_signatures", {"source": "wenku", "date": date.isoformat()})
        store.write_frame(rel, part)
        handles.append(PartitionData(store, rel).pinned())
    return handles


def test_propagation_gives_the_single_task_components(stars_and_chains, tmp_path, s3_root):
    """Components by min-label propagation (forced by a limit of 0 edges) equal one scipy task's,
    on stars and chains; the propagation run keeps its scratch on S3 (the moto server: byte-range
    signature reads, shingle sets uploaded) and verifies exactly, so that path agrees too."""
    df, groups, sig = stars_and_chains
    cfg = replace(CFG, verify="exact")
    single, one = clusters_of([sig], cfg, Scratch.local(tmp_path), LocalEngine(), [lambda wanted: [df]])
    store = CorpusStore(s3_root)
    remote = Scratch(store.fs, store.abs("_scratch/dedup/test"))
    spread, many = clusters_of([sig], replace(cfg, max_edges_in_one_task=0), remote, LocalEngine(), [lambda wanted: [df]])
    assert store.fs.exists(store.abs("_scratch/dedup/test/cand/0000-000.done"))
    for v in range(many.shards):  # a propagation task is handed the labels of its own edge file's nodes only
        with remote.open(f"edges/range-{v:04d}.parquet") as f:
            edges = pl.read_parquet(f)
        labels = np.load(io.BytesIO(remote.read_bytes(f"cc/labels-{v:04d}.npy")))
        assert len(labels) == pl.concat([edges["a"], edges["b"]]).n_unique() < len(spread)
    remote.remove()
    assert store.fs.find(store.abs("_scratch")) == []
    assert (one.cc_mode, many.cc_mode) == ("single", "propagation") and many.cc_rounds >= 2
    assert spread.equals(single)
    assert one.edges == many.edges > 0
    chains = {frozenset(f"chain{c}-{k}" for k in range(8)) for c in range(4)}
    assert as_groups(single) == groups | chains


class LosesAShard(LocalEngine):
    """The local engine, recording every task (with its shard, for shard tasks); the task of shard
    `fail_at` raises (a worker lost)."""

    def __init__(self, fail_at: int | None = None):
        self.fail_at, self.calls = fail_at, []

    def map_tasks(self, fn, items, *, resources=None):
        for item in items:
            shard = item[1][0] if fn is _shard_task else None
            if shard is not None and shard == self.fail_at:
                raise RuntimeError("worker lost")
            self.calls.append((fn.__name__, shard))
            yield fn(item)


def test_rerun_redoes_only_shards_without_a_marker(corpus, tmp_path):
    _, _, sig = corpus
    cfg = replace(CFG, n_shards=6)
    scratch = Scratch.local(tmp_path / "scratch")
    failing = LosesAShard(fail_at=4)
    with pytest.raises(RuntimeError, match="worker lost"):
        cluster_pipeline([sig], cfg, scratch, failing)
    assert [s for name, s in failing.calls if name == "_shard_task"] == [0, 1, 2, 3]
    again = LosesAShard()
    clusters, run = clusters_of([sig], cfg, scratch, again)
    assert [s for name, s in again.calls if name == "_shard_task"] == [4, 5]
    assert not any(name == "_scatter_task" for name, _ in again.calls)  # scattered by the first try
    assert (run.shards, run.shard_tasks_run, run.shard_tasks_skipped) == (6, 2, 4)
    assert clusters.equals(find_clusters([sig], cfg, tmp_path / "fresh"))


def test_large_shards_split_by_key_hash(corpus, tmp_path):
    _, _, sig = corpus
    whole, one = clusters_of([sig], CFG, Scratch.local(tmp_path / "whole"), LocalEngine())
    split, many = clusters_of([sig], replace(CFG, max_shard_rows=300), Scratch.local(tmp_path / "split"), LocalEngine())
    assert one.shard_tasks_run == CFG.n_shards < many.shard_tasks_run
    assert split.equals(whole) and whole.height > 0


def boilerplate_pages(n: int = 240, seed: int = 2) -> pl.DataFrame:
    """Hot buckets: n pages of one template (a long shared body, a short page-specific tail) and
    every fifth page an exact copy of the template, on two dates: many documents share a band value."""
    rnd = random.Random(seed)
    body = "".join(rnd.choice(ALPHABET) for _ in range(900))
    rows = []
    for i in range(n):
        tail = "" if i % 5 == 0 else "".join(rnd.choice(ALPHABET) for _ in range(25))
        rows.append((f"page{i:04d}", dt.date(2026, 11, 20 + i % 2), body + tail))
    return pl.DataFrame(rows, schema=["doc_id", "date", "text"], orient="row").with_columns(source=pl.lit("wenku"))


@pytest.fixture(scope="module")
def hot_corpus(corpus):
    stars, _, _ = corpus
    return signatures(pl.concat([stars, boilerplate_pages()]), CFG)


def test_hot_buckets_split_into_slices_give_the_same_clusters(hot_corpus, tmp_path):
    """A bucket over hot_bucket_rows members is paired in slices (each reading the `window`
    members after it): the clusters equal one task's, byte for byte, also with shard pieces."""
    whole, one = clusters_of([hot_corpus], CFG, Scratch.local(tmp_path / "whole"), LocalEngine())
    assert (one.hot_buckets, one.hot_bucket_tasks) == (0, 0)
    assert whole.filter(pl.col("doc_id").str.starts_with("page"))["cluster_id"].n_unique() == 1
    for size in (37, 50, 100):
        cfg = replace(CFG, hot_bucket_rows=size)
        split, run = clusters_of([hot_corpus], cfg, Scratch.local(tmp_path / f"split{size}"), LocalEngine())
        assert run.hot_buckets >= CFG.bands[0] and run.hot_bucket_tasks >= 2 * run.hot_buckets
        assert run.pairs == one.pairs  # the same candidate pairs, none lost at a slice's edge
        assert split.equals(whole)
    pieces, run = clusters_of([hot_corpus], replace(CFG, hot_bucket_rows=37, max_shard_rows=500),
                                   Scratch.local(tmp_path / "pieces"), LocalEngine())
    assert run.shard_tasks_run > CFG.n_shards and run.hot_buckets > 0
    assert run.pairs == one.pairs and pieces.equals(whole)


def test_hot_slices_and_key_range_pieces_on_s3(hot_corpus, tmp_path, s3_root):
    """The scratch on S3 (the moto server): shard pieces read with their key range as a streaming
    filter, hot bucket slices read as byte ranges; the clusters equal a local single-task run."""
    local, _ = clusters_of([hot_corpus], CFG, Scratch.local(tmp_path), LocalEngine())
    store = CorpusStore(s3_root)
    remote = Scratch(store.fs, store.abs("_scratch/dedup/hot"))
    spread, run = clusters_of([hot_corpus], replace(CFG, hot_bucket_rows=50, max_shard_rows=500), remote, LocalEngine())
    assert run.shard_tasks_run > CFG.n_shards and run.hot_bucket_tasks > run.hot_buckets > 0
    assert spread.equals(local)
    remote.remove()


def test_a_shard_piece_reads_only_its_key_range(hot_corpus, tmp_path, s3_root):
    """Scratch.read with a filter: the rows of the key range, on a local folder and on S3."""
    store = CorpusStore(s3_root)
    for scratch in (Scratch.local(tmp_path), Scratch(store.fs, store.abs("_scratch/dedup/read"))):
        cluster_pipeline([hot_corpus], CFG, scratch, LocalEngine())
        files = scratch.glob("shards/0001/*.parquet")
        every = scratch.read(files)
        lo, hi = 2**62, 2**63 + 7
        part = scratch.read(files, [("key", ">=", lo), ("key", "<", hi)])
        assert 0 < part.height < every.height
        assert part.sort("gid", "band").equals(every.filter(pl.col("key").is_between(lo, hi, closed="left")).sort("gid", "band"))


@pytest.fixture(scope="module")
def ray_engine(one_ray_at_a_time):
    engine = RayEngine(num_cpus=2, object_store_memory=128 * 1024**2)
    engine.connect()
    yield engine
    engine.shutdown()


def test_ray_writes_the_local_bytes(stars_and_chains, ray_engine, tmp_path, monkeypatch):
    """Engine ray (scratch on the store, tasks on a local Ray instance, components by propagation
    rounds) and engine local give byte-identical clusters partitions (exact verification on Ray:
    the asset test below). The row tasks write the rows as parts of the commit, in output order;
    a scratch run without a sink holds the same rows."""
    _, _, sig = stars_and_chains
    store = CorpusStore(str(tmp_path / "root"))
    inputs = stored_signatures(store, sig)
    cfg = replace(CFG, max_edges_in_one_task=0)
    monkeypatch.setattr("corpus_dag.dedup.clusters.MEMBER_PAIRS_PER_TASK", 50)  # several row tasks, so several parts
    outputs = {}
    for kind, engine in (("local", LocalEngine()), ("ray", ray_engine)):
        scratch = (Scratch.local(tmp_path / "local") if kind == "local"
                   else Scratch(store.fs, store.abs(scratch_prefix("dedup_clusters", "wenku", inputs, cfg))))
        rel = CorpusStore.partition_path(f"clusters_{kind}", {"source": "wenku"})
        with store.commit({rel: arrow_schema(CLUSTER_SCHEMA)}) as writers:
            clusters, run = cluster_pipeline(inputs, cfg, scratch, engine, sink=part_sink({CLUSTER_ROWS: writers[rel]}))
            clusters.adopt_into(writers[rel])
        assert clusters.files == [] and len(PartitionData(store, rel).files) == len(clusters.parts) > 1
        outputs[kind] = partition_bytes(store, rel)
    assert run.shard_tasks_run == cfg.n_shards and run.cc_mode == "propagation" and clusters.rows > 0
    assert outputs["ray"] == outputs["local"]
    in_scratch, _ = cluster_pipeline(inputs, cfg, Scratch.local(tmp_path / "no_sink"), LocalEngine())
    assert in_scratch.frame().equals(store.read(CorpusStore.partition_path("clusters_local", {"source": "wenku"})))


def test_dedup_clusters_asset_on_ray(ray_engine, corpus_root, dagster_instance):
    """The dedup_clusters asset with engine ray: the same bytes as engine local, the scratch on
    CORPUS_ROOT removed after the commit, the run in the metadata."""
    from assets.common.engine import CorpusEngine
    from tests.test_dedup_dagster import signed_library

    d = signed_library(dagster_instance, corpus_root)
    store = CorpusStore(corpus_root)
    rel = CorpusStore.partition_path("dedup_clusters", {"source": "wenku"})
    written = {}
    for kind in ("local", "ray"):
        result = dg.materialize(d.assets, instance=dagster_instance, resources={**d.resources, "engine": CorpusEngine(kind=kind)},
                                selection=["dedup_clusters"], partition_key="wenku")
        written[kind] = partition_bytes(store, rel)
    assert written["ray"] == written["local"] and store.read(rel).height == 4
    meta = {k: v.value for k, v in result.asset_materializations_for_node("dedup_clusters")[0].metadata.items()}
    assert SOURCES.get("wenku").dedup.n_shards > 1  # a handful of documents: one shard, not n_shards tasks of nothing
    assert (meta["engine"], meta["shards"], meta["shard_tasks_run"], meta["shard_tasks_skipped"]) == ("ray", 1, 1, 0)
    assert meta["edges"] == 2 and meta["cc_mode"] == "single" and meta["verify"] == "exact"
    assert store.fs.isdir(store.abs("_scratch/dedup/dedup_clusters/source=wenku"))  # the scratch was on the root...
    assert store.fs.find(store.abs("_scratch")) == []  # ...and is gone


def test_a_small_input_uses_fewer_shards_with_the_same_clusters(corpus, tmp_path):
    """min_shard_rows: below it a shard is not worth a task; the shard count follows the input's band
    rows, and the clusters do not depend on it."""
    _, _, sig = corpus
    cfg = replace(CFG, n_shards=16, min_shard_rows=1_000)
    per_doc = cfg.bands[0] + 1  # band rows of a document: one per band and its exact key
    assert [cfg.shards_for(n) for n in (0, 1, 1_000 // per_doc, 1_000 // per_doc + 1, 10**9)] == [1, 1, 1, 2, 16]
    few, few_run = clusters_of([sig], cfg, Scratch.local(tmp_path / "few"), LocalEngine())
    every, every_run = clusters_of([sig], replace(cfg, min_shard_rows=1), Scratch.local(tmp_path / "every"), LocalEngine())
    assert few_run.shards == few_run.shard_tasks_run == -(-sig.height * per_doc // 1_000) < every_run.shards == 16
    assert few.equals(every) and few.height > 0
