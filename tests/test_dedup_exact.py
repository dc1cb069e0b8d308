"""verify: exact: band candidates checked on their shingle sets, not on the signature estimate."""
import random
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import polars as pl
import pytest

from corpus_dag.dedup import (
    DedupCfg,
    PartitionTexts,
    RowView,
    cfg_for,
    exact_jaccard,
    find_clusters,
    find_clusters_with_counts,
    shingles,
    signatures,
)
from corpus_dag.dedup.exact import SetIndex, ShingleSets, mapped_fetch, ranged_fetch, shingle_sets, write_shingle_sets
from corpus_dag.dedup.minhash import band_keys
from corpus_dag.storage import CorpusStore, PartitionData
from tests.test_dedup_clusters import ALPHABET, CFG, as_groups, planted_corpus, stored_signatures
from tests.test_dedup_signatures import random_docs

EXACT = replace(CFG, verify="exact")


def edited(text: str, rnd: random.Random, share: float) -> str:
    """`text` with about `share` of its characters replaced (a near copy of tunable similarity)."""
    chars = list(text)
    for _ in range(max(1, int(len(chars) * share))):
        chars[rnd.randrange(len(chars))] = rnd.choice(ALPHABET)
    return "".join(chars)


def texts_of(df: pl.DataFrame, parts: int = 1):
    """find_clusters' `texts`: `parts` read tasks, each yielding a slice of df's rows."""
    size = -(-df.height // parts)
    return [lambda wanted, k=k: [df.slice(k * size, size)] for k in range(parts)]


@pytest.mark.parametrize("shingle", ["char", "word"])
def test_kernel_equals_python_set_jaccard(shingle, tmp_path, s3_root):
    """Sets written by three read tasks (part files, gids out of order), gathered per chunk of pairs
    from memory-mapped files and as byte ranges from the moto S3 server: Python's set Jaccard."""
    cfg = DedupCfg(shingle=shingle, n=3 if shingle == "word" else 5)
    rnd = random.Random(1)
    docs = [t or "" for t in random_docs(seed=5, n=40)]
    docs += [edited(d, rnd, 0.05) if len(d) > 3 else d for d in docs]  # doc i + half is a near copy of doc i
    half = len(docs) // 2
    order = np.array(rnd.sample(range(len(docs)), len(docs)))
    paths, written = [tmp_path / f"part-{k}.u32" for k in range(3)], []
    for k, path in enumerate(paths):  # part k: every third gid of the shuffled order, in 2 batches
        gids = order[k::3]
        with open(path, "wb") as out:
            written.append(write_shingle_sets([(g, pl.Series([docs[i] for i in g])) for g in np.array_split(gids, 2)], cfg, out))
    index = SetIndex.of(written)
    assert index.gids.tolist() == list(range(len(docs)))
    a = np.array(list(range(half)) + rnd.choices(range(len(docs)), k=200))
    b = np.array([i + half for i in range(half)] + rnd.choices(range(len(docs)), k=200))
    want = [exact_jaccard(docs[i], docs[j], cfg) for i, j in zip(a, b)]
    local = ShingleSets(index, mapped_fetch(paths))
    assert np.allclose(local.jaccard(a, b), want, rtol=0, atol=1e-12)
    assert np.array_equal(local.jaccard(a, b, chunk=7), local.jaccard(a, b))  # chunks gather only their own sets
    store = CorpusStore(s3_root)
    remote_paths = [store.abs(f"_scratch/sets/{p.name}") for p in paths]
    for p, r in zip(paths, remote_paths):
        store.fs.put_file(str(p), r)
    remote = ShingleSets(index, ranged_fetch(store.fs, remote_paths))
    assert np.array_equal(remote.jaccard(a, b, chunk=50), local.jaccard(a, b))
    assert sum(0.3 < w < 1.0 for w in want) >= 20  # the near copies exercise real partial overlaps
    _, lengths = shingle_sets(pl.Series(docs), cfg)
    assert lengths.tolist() == [len(set(shingles(d, cfg))) for d in docs]
    with pytest.raises(ValueError, match="not computed"):
        ShingleSets(SetIndex.of(written[:1]), mapped_fetch(paths)).jaccard(a, b)
    assert len(SetIndex.of([]).gids) == len(SetIndex.of([(np.empty(0, np.int64), np.empty(0, np.int64))]).gids) == 0
    again = SetIndex.of([*written, (np.array([5]), np.array([0]))])  # gid 5 found again, by a later part: its set there
    assert again.part[5] == 3 and again.length[5] == 0 and len(again.gids) == len(docs)


def pair_where(wrong_side: str) -> tuple[list[str], float]:
    """Two texts that are band candidates under 128 permutations, and a threshold between their
    estimated and exact Jaccard such that the estimate is on the `wrong_side` ("accepts": est >=
    threshold > exact; "rejects": exact >= threshold > est). Searched deterministically."""
    rnd = random.Random(11)
    for _ in range(400):
        base = "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(300, 600)))
        pair = [base, edited(base, rnd, rnd.uniform(0.01, 0.03))]
        exact = exact_jaccard(*pair, CFG)
        sig = signatures(pl.DataFrame({"text": pair}), CFG)["signature"].to_numpy()
        est = float((sig[0] == sig[1]).mean())
        threshold = round((est + exact) / 2, 4)
        gap = est - exact if wrong_side == "accepts" else exact - est
        if gap > 0.03 and 0.5 < threshold < 0.95:
            keys = band_keys(sig, *replace(CFG, threshold=threshold).bands)
            if (keys[0] == keys[1]).any():
                return pair, threshold
    raise AssertionError(f"no pair whose estimate wrongly {wrong_side} found")


@pytest.mark.parametrize("wrong_side", ["accepts", "rejects"])
def test_exact_mode_overrules_a_wrong_estimate(wrong_side, tmp_path):
    pair, threshold = pair_where(wrong_side)
    noise = planted_corpus(seed=2)[0].filter(pl.col("doc_id").str.starts_with("base")).head(20)
    df = pl.concat([pl.DataFrame({"doc_id": ["p0", "p1"], "date": noise["date"][:2], "text": pair, "source": "wenku"}), noise])
    cfg = replace(CFG, threshold=threshold)
    sig = signatures(df, cfg)
    by_estimate, est_counts = find_clusters_with_counts([sig], cfg, tmp_path / "e")
    by_exact, counts = find_clusters_with_counts([sig], replace(cfg, verify="exact"), tmp_path / "x", texts_of(df))
    merged = {"accepts": (True, False), "rejects": (False, True)}[wrong_side]
    assert (as_groups(by_estimate) == {frozenset(["p0", "p1"])}, as_groups(by_exact) == {frozenset(["p0", "p1"])}) == merged
    assert counts.candidates == est_counts.candidates == 1  # the pair, counted once over all the bands it shares
    assert (counts.est_only, counts.exact_only) == ((1, 0) if wrong_side == "accepts" else (0, 1))
    assert by_estimate["exact_jaccard"].is_null().all()
    if wrong_side == "rejects":
        assert by_exact.filter(pl.col("doc_id") == "p1")["exact_jaccard"].item() == pytest.approx(exact_jaccard(*pair, cfg))


def test_exact_mode_finds_planted_groups_and_reports_exact_jaccard(tmp_path):
    df, groups = planted_corpus()
    clusters = find_clusters([signatures(df, EXACT)], EXACT, tmp_path / "w", texts_of(df))
    assert as_groups(clusters) == groups
    text = dict(zip(df["doc_id"], df["text"]))
    for row in clusters.iter_rows(named=True):
        rep = row["duplicate_of"] or row["doc_id"]
        assert row["exact_jaccard"] == pytest.approx(exact_jaccard(text[row["doc_id"]], text[rep], EXACT))
    assert clusters.filter(pl.col("kind") == "exact")["exact_jaccard"].eq(1.0).all()
    assert clusters.filter(pl.col("kind") == "near")["exact_jaccard"].min() >= EXACT.threshold


def test_exact_mode_same_for_any_input_order_batching_sharding_and_text_order(tmp_path):
    df, _ = planted_corpus()
    sig = signatures(df, EXACT)
    in_memory = find_clusters([sig], replace(EXACT, n_shards=1, batch_rows=1_000_000), tmp_path / "a", texts_of(df))
    shuffled, shuffled_texts = sig.sample(fraction=1.0, shuffle=True, seed=3), df.sample(fraction=1.0, shuffle=True, seed=4)
    calls = []

    def part(start: int, wanted: pl.DataFrame):  # a read task: 90 rows of the texts, in batches of 37
        calls.append(wanted.height)
        rows = shuffled_texts.slice(start, 90)
        return [rows.slice(k, 37).drop("source") for k in range(0, rows.height, 37)]

    texts = [partial(part, start) for start in range(0, df.height, 90)]
    out_of_core = find_clusters(
        [shuffled.slice(0, 100), shuffled.slice(100)], replace(EXACT, n_shards=7, batch_rows=13, window=2), tmp_path / "b", texts
    )
    assert out_of_core.equals(in_memory)
    assert out_of_core["exact_jaccard"].is_not_null().all()
    assert len(texts) > 2 and len(calls) == len(texts)  # each part read once,
    assert len(set(calls)) == 1 and calls[0] < df.height  # for the candidate documents only
    assert not any((tmp_path / "b").iterdir())


def test_verify_setting_and_clear_errors(tmp_path):
    assert DedupCfg().verify == "estimate"
    assert cfg_for("web", verify="exact").verify == "exact"
    with pytest.raises(ValueError, match="verify must be one of \\('estimate', 'exact'\\), got 'fuzzy'"):
        DedupCfg(verify="fuzzy")
    df, _ = planted_corpus()
    sig = signatures(df, EXACT)
    with pytest.raises(ValueError, match="needs `texts`"):
        find_clusters([sig], EXACT, tmp_path / "w")
    with pytest.raises(ValueError, match="no text for 1 candidate documents, e.g. \\['trunc000'\\]"):
        find_clusters([sig], EXACT, tmp_path / "w", texts_of(df.filter(pl.col("doc_id") != "trunc000")))
    assert not any((tmp_path / "w").iterdir())  # scratch removed on error too
    empty = sig.clear()
    assert find_clusters([empty], EXACT, tmp_path / "w", texts_of(df)).is_empty()
    unrelated = df.filter(pl.col("doc_id").str.starts_with("base"))  # documents, but no candidate pair: no set to compute
    assert find_clusters([signatures(unrelated, EXACT)], EXACT, tmp_path / "u", texts_of(unrelated, parts=2)).is_empty()


SEEN: list[tuple[str, set[str]]] = []


@dataclass(frozen=True)
class RecordingTexts(PartitionTexts):
    """PartitionTexts that notes which dates' wanted rows it was handed."""

    def __call__(self, wanted: pl.DataFrame):
        SEEN.append((self.date, {d.isoformat() for d in wanted["date"]}))
        return super().__call__(wanted)


def test_partition_texts_are_handed_only_their_own_dates_wanted_rows(tmp_path):
    """Text parts read from stored date partitions (as dedup_clusters builds them, 40-row slices)
    give the clusters of in-memory texts, and each part gets only the candidates of its date."""
    df, groups = planted_corpus()
    store = CorpusStore(str(tmp_path / "root"))
    view = RowView("doc_id", pl.col("text"), has_date=True, has_source=True)
    parts, sigs = [], stored_signatures(store, signatures(df, EXACT))
    for (date,), rows in sorted(df.partition_by("date", as_dict=True).items()):
        rel = CorpusStore.partition_path("documents", {"source": "wenku", "date": date.isoformat()})
        store.write_frame(rel, rows)
        parts += RecordingTexts.parts(PartitionData(store, rel), view, "wenku", date.isoformat(), 40)
    SEEN.clear()
    stored = find_clusters(sigs, EXACT, tmp_path / "a", parts)
    assert stored.equals(find_clusters(sigs, EXACT, tmp_path / "b", texts_of(df)))
    assert as_groups(stored) == groups and stored["exact_jaccard"].is_not_null().all()
    assert len(SEEN) == len(parts) > 3 and len({date for date, _ in SEEN}) == 3
    assert all(dates == {date} for date, dates in SEEN)  # never another date's candidates
