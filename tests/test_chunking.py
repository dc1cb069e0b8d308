"""Hierarchical chunking: exact reassembly (property test), token bounds, schema and ids."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus_dag.chunking import (
    CHUNK_SCHEMA,
    ChunkCfg,
    Chunker,
    later_copies,
    EstimateCounter,
    chunk_spans,
    estimate_tokens_expr,
    reassemble,
)

ROOT = Path(__file__).resolve().parent.parent
PIECES = ["技术领域\n", "步骤S1：", "步骤S2：采集数据。\n", "[0001] ", "本发明涉及一种方法。", "The method works well. ",
          "x=3.5", "\n", "\n\n", "  ", "，", "Chapter 2\n", "实施例1\n", "数据", "ab", "\r\n", "★"]  # fmt: skip
texts = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(min_size=1, max_size=12)), min_size=1, max_size=60
).map("".join).filter(lambda t: t.strip())


def docs_frame(texts: list[str], metas: list[dict] | None = None) -> pl.DataFrame:
    n = len(texts)
    return pl.DataFrame(
        {
            "doc_id": [f"doc{i}" for i in range(n)],
            "source": ["patents"] * n,
            "date": [dt.date(2026, 11, 21)] * n,
            "title": [f"t{i}" for i in range(n)],
            "text": texts,
            "meta": [json.dumps(m, ensure_ascii=False) for m in (metas or [{}] * n)],
        }
    )


def fragment_tokens(chunks: pl.DataFrame) -> list[float]:
    counter = EstimateCounter()
    return [counter.units(t)[1].sum() / 10 for t in chunks["text"]]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, max_tokens=st.integers(4, 40), overlap=st.integers(0, 20))
def test_fragments_minus_overlaps_give_back_the_text(text, max_tokens, overlap):
    cfg = ChunkCfg(max_tokens=max_tokens, overlap_tokens=min(overlap, max_tokens // 2))
    chunks = Chunker(cfg).chunk(docs_frame([text])).chunks
    assert reassemble(chunks.sample(fraction=1.0, shuffle=True, seed=1), cfg) == text
    assert max(fragment_tokens(chunks)) <= max_tokens


@settings(max_examples=60, deadline=None)
@given(text=texts)
def test_spans_tile_each_paragraph_with_overlap_only_inside_it(text):
    spans = chunk_spans(text, ChunkCfg(max_tokens=6, overlap_tokens=3))
    prev = None
    for s, p, f, a, b in spans:
        assert a < b
        if prev and (s, p) == prev[:2]:
            assert f == prev[2] + 1 and prev[3] < a <= prev[4] < b  # starts inside the previous, ends past it
        elif prev:
            assert f == 0 and a == prev[4]  # a new paragraph starts where the last one ended
        prev = (s, p, f, a, b)
    assert spans[0][3] == 0 and spans[-1][4] == len(text)


def test_patent_sample_structure_and_schema():
    path = ROOT / "samples/library/patents/2026-11-21/part-0.jsonl"
    recs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    metas = [{k: v for k, v in r.items() if k not in ("id", "title", "text", "url")} for r in recs]
    cfg = ChunkCfg(max_tokens=48, overlap_tokens=8)
    out = Chunker(cfg).chunk(docs_frame([r["text"] for r in recs], metas))
    chunks = out.chunks
    assert dict(chunks.schema) == CHUNK_SCHEMA and out.dropped.height == 0
    assert chunks["id"].is_unique().all()
    first = chunks.filter(pl.col("patent") == recs[0]["patent_number"])
    assert reassemble(first, cfg) == recs[0]["text"]
    # steps open at headings: 技术领域 is step 1 after the title line; every 步骤S line opens a step
    heads = first.filter((pl.col("paragraph") == 0) & (pl.col("fragment") == 0))["text"].to_list()
    assert heads[1].startswith("技术领域") and sum(h.startswith("步骤S1") for h in heads) >= 2
    row = first.row(0, named=True)
    assert row["id"] == f"{recs[0]['patent_number']}-step0-0-0" and row["jurisdiction"] == "CN"
    assert row["pub_date"] == dt.date(2026, 11, 21) and row["lang"] == "zh" and row["hash"].startswith("sha1:")
    assert first["page"].min() == 1 and first["page"].max() == len(recs[0]["page_starts"])
    assert max(fragment_tokens(chunks)) <= 48 and chunks.filter(pl.col("fragment") > 0).height > 0


def test_duplicate_patent_and_blank_text_are_dropped_with_reasons():
    meta = {"patent_number": "CN1A"}
    frame = docs_frame(["  \n ", "技术领域\n一种方法。", "技术领域\n另一种方法。", "技术领域\n第三种。"], [meta, meta, {}, meta])
    first, second = frame.slice(0, 2), frame.slice(2)  # the partition's two batches
    copies = later_copies([first, second])  # a blank first copy is no copy: the first with text counts
    assert copies == {frame["doc_id"][3]: "CN1A"}
    chunker = Chunker(ChunkCfg(max_tokens=20, overlap_tokens=4), copies)
    out = chunker.chunk(first)
    assert out.n_docs == 2 and out.dropped["reason"].to_list() == ["no_text"] and out.chunks["patent"].unique().to_list() == ["CN1A"]
    split = chunker(second)  # chunked on its own (another worker): the copy is still dropped
    assert split.dropped["reason"].to_list() == ["duplicate_patent: CN1A"]
    assert split.n_kept_in == 1 and split.kept.height >= 1 and split.n_in == 2


def test_estimate_expression_matches_the_counter():
    texts = ["本发明涉及 data 3.5 tokens。", "Hello, world!", "数据\n\n"]
    got = pl.DataFrame({"text": texts}).select(estimate_tokens_expr())["text"].to_list()
    want = [-(-EstimateCounter().units(t)[1].sum() // 10) for t in texts]
    assert got == want == [16, 5, 4]  # 5 CJK * 1.6 + 4 words * 1.3 + 2 symbols = 15.2 -> 16


@pytest.mark.parametrize("kw", [{"max_tokens": 1}, {"max_tokens": 10, "overlap_tokens": 6}, {"heading": "("}])
def test_bad_config_is_a_clear_error(kw):
    with pytest.raises(ValueError, match="ChunkCfg"):
        ChunkCfg(**kw)


def test_real_tokenizer_bounds_and_reassembly(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    corpus = [json.loads(line)["text"] for line in (ROOT / "samples/library/patents/2026-11-20/part-0.jsonl").read_text(encoding="utf-8").splitlines()]
    tok = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    tok.train_from_iterator(corpus, tokenizers.trainers.BpeTrainer(vocab_size=600, special_tokens=["[UNK]"]))
    transformers.PreTrainedTokenizerFast(tokenizer_object=tok).save_pretrained(tmp_path)

    cfg = ChunkCfg(max_tokens=32, overlap_tokens=6, tokenizer=str(tmp_path))
    chunks = Chunker(cfg).chunk(docs_frame(corpus[:3])).chunks
    for i, text in enumerate(corpus[:3]):
        assert reassemble(chunks.filter(pl.col("patent") == f"doc{i}"), cfg) == text
    fast = transformers.AutoTokenizer.from_pretrained(tmp_path)
    lengths = [len(fast(t, add_special_tokens=False)["input_ids"]) for t in chunks["text"]]
    assert max(lengths) <= 32 + 2  # counted in context; a cut can merge differently alone (documented)
    assert chunks.filter(pl.col("fragment") > 0).height > 0


@settings(max_examples=100, deadline=None)
@given(text=texts)
def test_units_of_paragraphs_in_one_pass_equal_units_of_each_paragraph(text):
    counter = EstimateCounter()
    cuts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n" and i + 1 < len(text)] + [len(text)]
    spans = [(a, b) for a, b in zip(cuts, cuts[1:]) if a < b]
    for (a, b), (starts, costs) in zip(spans, counter.span_units(text, spans)):
        want_starts, want_costs = counter.units(text[a:b])
        assert starts.tolist() == want_starts.tolist() and costs.tolist() == want_costs.tolist()
