"""The response cache on a local folder and on S3: keys, append-only shards, atomic publication."""
import pyarrow as pa
import pytest

from corpus_dag.llm.cache import ResponseCache, cache_key
from corpus_dag.storage import CorpusStore


def _row(key, text="hello", idx=0):
    return {"key": key, "model": "m", "prompt_version": "kp_cot_pot.v1", "prompt_hash": "h", "sampling": "{}",
            "sample_idx": idx, "text": text, "tokens_in": 3, "tokens_out": 5, "latency_s": 0.25}


def test_key_changes_with_every_part():
    base = cache_key("m", "kp_cot_pot.v1", "h", '{"t": 0.7}', 0)
    variants = [
        cache_key("m2", "kp_cot_pot.v1", "h", '{"t": 0.7}', 0),
        cache_key("m", "kp_cot_pot.v2", "h", '{"t": 0.7}', 0),
        cache_key("m", "kp_cot_pot.v1", "h2", '{"t": 0.7}', 0),
        cache_key("m", "kp_cot_pot.v1", "h", '{"t": 0.8}', 0),
        cache_key("m", "kp_cot_pot.v1", "h", '{"t": 0.7}', 1),
    ]
    assert len({base, *variants}) == 6
    assert base == cache_key("m", "kp_cot_pot.v1", "h", '{"t": 0.7}', 0)


@pytest.mark.parametrize("where", ["local", "s3"])
def test_put_and_get_across_shards(where, tmp_path, request):
    root = str(tmp_path / "corpus") if where == "local" else request.getfixturevalue("s3_root")
    cache = ResponseCache(CorpusStore(root), "m/kp_cot_pot.v1/2026-11-21|wenku")
    assert cache.get_many(["a"]) == {}
    cache.put_many([_row("a", "first"), _row("b")])
    cache.put_many([_row("c", idx=1)])
    cache.put_many([])
    assert len(cache.shards()) == 2
    got = ResponseCache(CorpusStore(root), "m/kp_cot_pot.v1/2026-11-21|wenku").get_many(["a", "c", "zz"])
    assert set(got) == {"a", "c"} and got["a"]["text"] == "first" and got["c"]["sample_idx"] == 1
    assert ResponseCache(CorpusStore(root), "other").get_many(["a"]) == {}


def test_a_malformed_flush_is_refused_and_publishes_nothing(tmp_path):
    store = CorpusStore(str(tmp_path / "corpus"))
    cache = ResponseCache(store, "ns")
    with pytest.raises(pa.ArrowException):
        cache.put_many([{"key": "a", "tokens_in": "not a number"}])
    assert cache.shards() == [] and store.fs.glob(store.abs("llm_cache/ns/*")) == []
