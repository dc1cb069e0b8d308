"""Clusters: planted duplicates found, deterministic, across partitions, same out of core."""
import datetime as dt
import random

import polars as pl
import pytest

from corpus_dag.dedup import (
    DedupCfg,
    apply,
    cluster_sizes,
    exact_jaccard,
    find_clusters,
    sample_pairs_markdown,
    signatures,
)

ALPHABET = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所"
    "民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日"
    "那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想"
    "已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指"
    "几九区强放决西被干做必战先回则任取据处府研"
)
CFG = DedupCfg(threshold=0.8, n_shards=4)


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


def test_metadata_helpers(corpus, tmp_path):
    df, groups, sig = corpus
    clusters = find_clusters([sig], CFG, tmp_path / "work")
    assert cluster_sizes(clusters).rows() == [(4, len(groups))]
    table = sample_pairs_markdown(clusters, df, CFG, k=3)
    lines = table.splitlines()
    assert len(lines) == 2 + 3 and lines[0].startswith("| kind")
    assert "near" in lines[2] and "copy" in lines[2]


def test_empty_and_bad_inputs(tmp_path):
    empty = signatures(pl.DataFrame({"doc_id": [], "text": []}, schema={"doc_id": pl.String, "text": pl.String}), CFG)
    assert find_clusters([empty], CFG, tmp_path / "w").is_empty()
    with pytest.raises(ValueError, match="Array\\[UInt32, 64\\]"):
        find_clusters([signatures(pl.DataFrame({"doc_id": ["a"], "text": ["x"]}), CFG)], DedupCfg(num_perm=64), tmp_path / "v")
