"""Per-bucket perplexity cut-offs: quantiles, pooled fallback, pinning, the quality split and its chart."""
import numpy as np
import polars as pl
import pytest

from corpus_dag.accounting import Tally
from corpus_dag.quality.perplexity import PplConfig, bucket_labels, token_bucket
from corpus_dag.quality.thresholds import (
    CutConfig,
    check_thresholds,
    compute_thresholds,
    histogram_markdown,
    quality_split,
    read_pinned,
)

EDGES = (100, 200)


def _reference(seed=0) -> pl.DataFrame:
    """Short documents have higher perplexity: log-normal ppl per bucket, and a nearly empty long bucket."""
    rng = np.random.default_rng(seed)
    parts = [("0-100", 400, 200.0), ("100-200", 300, 50.0), ("200+", 5, 20.0)]
    return pl.concat(
        pl.DataFrame({"ppl": rng.lognormal(np.log(mu), 0.5, n), "token_bucket": [b] * n}) for b, n, mu in parts
    )


def test_buckets_cut_token_counts_left_closed():
    n = pl.DataFrame({"n": [0, 99, 100, 199, 200, 10_000]})
    assert bucket_labels(EDGES) == ["0-100", "100-200", "200+"]
    got = n.select(token_bucket(pl.col("n"), EDGES))["n"].to_list()
    assert got == ["0-100", "0-100", "100-200", "100-200", "200+", "200+"]


def test_thresholds_are_bucket_quantiles_with_a_pooled_fallback():
    ref = _reference()
    cfg = CutConfig(low_quantile=0.1, high_quantile=0.9, min_bucket_docs=50, bucket_edges=EDGES)
    th = compute_thresholds(ref, cfg)
    assert th["token_bucket"].to_list() == ["0-100", "100-200", "200+"]
    for row in th.iter_rows(named=True):
        vals = ref.filter(pl.col("token_bucket") == row["token_bucket"])["ppl"].to_numpy()
        pool = ref["ppl"].to_numpy() if row["fit"] == "pooled" else vals
        assert row["n_ref"] == len(vals)
        assert row["low"] == pytest.approx(np.quantile(pool, 0.1))
        assert row["high"] == pytest.approx(np.quantile(pool, 0.9))
    assert th["fit"].to_list() == ["bucket", "bucket", "pooled"]
    assert th["low"][0] > th["high"][1] * 0.5  # short documents really get their own, higher cut


def test_no_scored_reference_is_an_error():
    with pytest.raises(ValueError, match="no scored documents"):
        compute_thresholds(pl.DataFrame({"ppl": [None], "token_bucket": ["0-100"]}, schema={"ppl": pl.Float64, "token_bucket": pl.String}), CutConfig())


def test_pinned_thresholds_roundtrip_and_are_validated(tmp_path):
    th = compute_thresholds(_reference(), CutConfig(bucket_edges=EDGES))
    path = tmp_path / "pinned.csv"
    th.select("token_bucket", "low", "high").write_csv(path)
    pinned = read_pinned(path, EDGES)
    assert pinned.select("token_bucket", "low", "high").equals(th.select("token_bucket", "low", "high"))
    assert pinned["fit"].unique().to_list() == ["pinned"]
    with pytest.raises(ValueError, match="lack buckets \\['200\\+'\\]"):
        check_thresholds(th.head(2), EDGES)
    with pytest.raises(ValueError, match="low <= high"):
        check_thresholds(th.with_columns(pl.col("low") * 1000), EDGES)
    with pytest.raises(ValueError, match="missing \\['high'\\]"):
        check_thresholds(th.drop("high"), EDGES)


def test_quality_split_drops_outside_the_bucket_range_with_reasons():
    th = pl.DataFrame({"token_bucket": ["0-100", "100-200", "200+"], "low": [100.0, 20.0, 10.0], "high": [500.0, 90.0, 40.0]})
    th = check_thresholds(th, EDGES)
    docs = pl.DataFrame({"doc_id": list("abcdefg"), "text": list("abcdefg")})
    scores = pl.DataFrame(
        {
            "doc_id": list("abcdef"),
            "ppl": [300.0, 600.0, 50.0, 95.0, 25.0, None],
            "n_tokens": [50, 60, 150, 150, 150, 1],
            "token_bucket": ["0-100", "0-100", "0-100", "100-200", "100-200", "0-100"],
        }
    )
    tally = Tally()
    split = tally.add(quality_split(docs, scores, th))
    assert tally.balanced and tally.n_in == 7
    assert split.kept["doc_id"].to_list() == ["a", "e"]
    got = {r["doc_id"]: (r["reason"], r["ppl"], r["low"], r["high"]) for r in split.dropped.iter_rows(named=True)}
    assert got == {
        "b": ("ppl_above_bucket_high", 600.0, 100.0, 500.0),
        "c": ("ppl_below_bucket_low", 50.0, 100.0, 500.0),
        "d": ("ppl_above_bucket_high", 95.0, 20.0, 90.0),
        "f": ("ppl_unscored", None, 100.0, 500.0),
        "g": ("ppl_missing", None, None, None),
    }
    assert split.kept.columns == ["doc_id", "text", "ppl", "n_tokens", "token_bucket"]


def test_histogram_marks_the_cut():
    ref = _reference()
    th = compute_thresholds(ref, CutConfig(bucket_edges=EDGES))
    md = histogram_markdown(ref, th)
    assert md.count("tokens**:") == 3 and "400 scored" in md
    assert "░" in md and "█" in md and "(cut)" in md


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="backend"):
        PplConfig("m", backend="onnx")
    with pytest.raises(ValueError, match="increasing"):
        PplConfig("m", bucket_edges=(200, 100))
    with pytest.raises(ValueError, match="low_quantile < high_quantile"):
        CutConfig(low_quantile=0.9, high_quantile=0.1)
