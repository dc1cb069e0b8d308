"""The raw reader: every bad record becomes a rejected row with a reason; files stream in batches."""
import datetime as dt
import gzip
import json

import fsspec
import polars as pl
import pytest
import zstandard

from corpus_dag.ingest import RAW_DOCUMENTS_SCHEMA, FilePart, IngestCfg, PartitionReader, RawFileError, count_records, file_parts
from tests.helpers import BAD_RECORDS, EXPECTED_REASONS, write_jsonl

FS = fsspec.filesystem("file")
DAY = dt.date(2026, 11, 21)


def read_all(path, cfg=None, reader=None):
    reader = reader or PartitionReader(FS, "wenku", DAY, cfg or IngestCfg())
    splits = list(reader.read(str(path)))
    return splits, pl.concat([s.kept for s in splits]), pl.concat([s.dropped for s in splits])


def test_bad_records_are_rejected_with_reasons_and_lines(tmp_path):
    good = [{"text": "第一题 1+1=?", "id": "d1", "title": "试卷", "url": "http://x", "grade": 3}, {"text": "no id here"}]
    path = write_jsonl(tmp_path / "a.jsonl", good + BAD_RECORDS)
    _, kept, rejected = read_all(path)
    assert kept["doc_id"].to_list() == ["d1", kept["hash"][1]]
    assert kept["meta"][0] == json.dumps({"grade": 3})
    assert kept["n_chars"].to_list() == [len(good[0]["text"]), len("no id here")]
    assert kept["hash"].str.starts_with("sha1:").all()
    reasons = {r.split(":")[0] if not r.startswith("wrong_type") and not r.startswith("not_an") else r for r in rejected["reason"]}
    assert EXPECTED_REASONS <= reasons | {r for r in rejected["reason"]}
    assert rejected["line"].to_list() == list(range(3, 3 + len(BAD_RECORDS)))
    assert rejected["file"].unique().to_list() == ["a.jsonl"]
    assert kept.height + rejected.height == count_records(FS, str(path))


def test_oversized_and_repeated_ids_rejected_across_files(tmp_path):
    cfg = IngestCfg(max_chars=50)
    reader = PartitionReader(FS, "wenku", DAY, cfg)
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": "x", "text": "short"}, {"id": "big", "text": "长" * 51}])
    b = write_jsonl(tmp_path / "b.jsonl", [{"id": "x", "text": "other text, same id"}])
    _, _, rej_a = read_all(a, cfg, reader)
    _, kept_b, rej_b = read_all(b, cfg, reader)
    assert rej_a["reason"][0].startswith("over_size_limit")
    assert kept_b.height == 0 and rej_b["reason"][0] == "duplicate_doc_id: x"


def test_a_repeated_id_is_rejected_with_its_own_line_and_snippet(tmp_path):
    long = {"id": "x", "text": "重复" * 300, "tags": ["a" * 250, {"k": "v" * 250}], "n": 3}
    path = write_jsonl(tmp_path / "a.jsonl", [{"id": "x", "text": "first"}, {"text": ""}, long, {"id": "y", "text": "ok"}])
    _, kept, rejected = read_all(path, IngestCfg(batch_rows=2))  # the repeat is in the second batch
    assert kept["doc_id"].to_list() == ["x", "y"] and kept.columns == list(RAW_DOCUMENTS_SCHEMA)
    assert rejected.select("line", "reason").rows() == [(2, "empty_text"), (3, "duplicate_doc_id: x")]
    assert rejected["snippet"][1] == json.dumps(long, ensure_ascii=False)[:200]  # the record's own JSON, cut


def test_a_file_read_in_parts_gives_the_rows_of_a_whole_read(tmp_path):
    """Every split size, from one byte (a part per byte: most start inside a line) up: the same kept
    and rejected rows, line numbers and repeated-id rejections as reading the file whole, including
    a byte-order mark, CRLF endings, blank lines (which count as lines) and no final newline."""
    records = [{"id": "x", "text": "第一题"}, *BAD_RECORDS, "", {"id": "x", "text": "again"}, "  ", {"text": "三\n四"}]
    path = write_jsonl(tmp_path / "a.jsonl", records)
    data = path.read_bytes().replace(b"\n", b"\r\n", 3)
    path.write_bytes(b"\xef\xbb\xbf" + data + b'{"id": "z", "text": "no newline at the end"}')
    _, kept, rejected = read_all(path)
    assert kept["doc_id"].to_list()[-1] == "z" and "duplicate_doc_id: x" in rejected["reason"].to_list()
    size = path.stat().st_size
    for split_bytes in [1, 2, 3, 7, 16, 50, 100, size - 1, size]:
        parts = file_parts(str(path), size, split_bytes)
        assert len(parts) == -(-size // split_bytes) and parts[-1].end is None
        _, kept_p, rejected_p = read_all(path, IngestCfg(split_bytes=split_bytes, batch_rows=3))
        assert kept_p.equals(kept) and rejected_p.equals(rejected), split_bytes


def test_compressed_files_and_parquet_are_one_part(tmp_path):
    assert file_parts("a.jsonl.gz", 10**9, 100) == [FilePart("a.jsonl.gz")]
    assert file_parts("a.parquet", 10**9, 100) == [FilePart("a.parquet")]
    assert file_parts("a.jsonl", 250, 100) == [FilePart("a.jsonl", 0, 100), FilePart("a.jsonl", 100, 200), FilePart("a.jsonl", 200)]
    with pytest.raises(ValueError, match="split_bytes"):
        IngestCfg(split_bytes=0)


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst", ".parquet"])
def test_compressed_and_parquet_inputs(tmp_path, suffix):
    records = [{"text": f"文档 {i}", "id": f"d{i}", "lang": "zh"} for i in range(50)]
    path = tmp_path / f"a{suffix}"
    lines = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)
    if suffix == ".jsonl.gz":
        path.write_bytes(gzip.compress(lines))
    elif suffix == ".jsonl.zst":
        path.write_bytes(zstandard.ZstdCompressor().compress(lines))
    else:
        pl.DataFrame(records).write_parquet(path)
    _, kept, rejected = read_all(path)
    assert kept.height == 50 and rejected.height == 0
    assert json.loads(kept["meta"][0]) == {"lang": "zh"}
    assert count_records(FS, str(path)) == 50


def test_batches_are_bounded(tmp_path):
    path = write_jsonl(tmp_path / "big.jsonl", [{"text": f"doc {i}"} for i in range(1000)])
    splits, kept, _ = read_all(path, IngestCfg(batch_rows=128))
    assert max(s.n_in for s in splits) <= 128
    assert len(splits) >= 1000 // 128 and kept.height == 1000


def test_missing_and_corrupt_files_name_the_file(tmp_path):
    with pytest.raises(RawFileError, match="missing.jsonl"):
        read_all(tmp_path / "missing.jsonl")
    bad = tmp_path / "broken.jsonl.gz"
    bad.write_bytes(b"\x1f\x8b\x08 not really gzip")
    with pytest.raises(RawFileError, match="broken.jsonl.gz"):
        read_all(bad)
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"PAR1 nope")
    with pytest.raises(RawFileError, match="junk.parquet"):
        read_all(junk)
