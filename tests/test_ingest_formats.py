"""The raw reader on real-world files: damaged compressed streams, every accepted suffix, a BOM,
web pages as html, script conversion and mojibake repair."""
import bz2
import datetime as dt
import gzip
import json
import lzma
from pathlib import Path

import fsspec
import polars as pl
import pytest
import zstandard

from corpus_dag.ingest import (
    DamagedFileError,
    IngestCfg,
    PartitionReader,
    count_records,
)
from corpus_dag.storage import CorpusStore

FS = fsspec.filesystem("file")
DAY = dt.date(2026, 11, 21)
COMPRESS = {
    "gz": gzip.compress,
    "zst": lambda b: zstandard.ZstdCompressor(write_checksum=True).compress(b),
    "bz2": bz2.compress,
    "xz": lzma.compress,
}


def jsonl(n: int, start: int = 0) -> bytes:
    return b"".join(json.dumps({"id": f"d{i}", "text": f"document {i} " * 40}).encode() + b"\n" for i in range(start, start + n))


def read_all(path, cfg=None):
    splits = list(PartitionReader(FS, "web", DAY, cfg or IngestCfg()).read(str(path)))
    return pl.concat([s.kept for s in splits]), pl.concat([s.dropped for s in splits])


@pytest.mark.parametrize("codec", sorted(COMPRESS))
@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_file_is_an_error_naming_it_or_one_quarantine_row(tmp_path, codec, damage):
    blob = bytearray(COMPRESS[codec](jsonl(3000)))
    if damage == "truncated":
        blob = blob[: len(blob) // 2]
    else:
        blob[len(blob) // 2 : len(blob) // 2 + 8] = b"\x00\xff" * 4
    path = tmp_path / f"dump.jsonl.{codec}"
    path.write_bytes(bytes(blob))
    with pytest.raises(DamagedFileError, match=f"dump.jsonl.{codec}"):
        read_all(path)
    with pytest.raises(DamagedFileError, match=f"dump.jsonl.{codec}"):  # the independent counter agrees
        count_records(FS, str(path))
    kept, rejected = read_all(path, IngestCfg(on_damaged_file="quarantine"))
    assert kept.height == 0 and rejected.height == 1
    row = rejected.row(0, named=True)
    assert row["file"] == f"dump.jsonl.{codec}" and row["line"] is None
    assert row["reason"].startswith("damaged_file: ")


@pytest.mark.parametrize("codec", sorted(COMPRESS))
def test_concatenated_streams_are_read_whole(tmp_path, codec):
    path = tmp_path / f"multi.jsonl.{codec}"
    path.write_bytes(COMPRESS[codec](jsonl(10)) + COMPRESS[codec](jsonl(15, start=10)))
    kept, rejected = read_all(path)
    assert kept.height == 25 and rejected.height == 0
    assert count_records(FS, str(path)) == 25
    kept_q, _ = read_all(path, IngestCfg(on_damaged_file="quarantine"))  # intact: quarantine reads it normally
    assert kept_q.height == 25


def test_unknown_damage_mode_is_a_clear_error():
    with pytest.raises(ValueError, match="on_damaged_file.*'skip'"):
        IngestCfg(on_damaged_file="skip")


NAMES = ["a.jsonl", "b.JSONL", "c.ndjson", "d.json", "e.jsonl.bz2", "f.jsonl.xz", "g.NDJSON.GZ", "h.json.zst", "i.Parquet"]


def write_raw(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.lower().endswith(".parquet"):
        pl.DataFrame(records).write_parquet(path)
        return
    data = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)
    codec = path.name.lower().rsplit(".", 1)[-1]
    path.write_bytes(COMPRESS[codec](data) if codec in COMPRESS else data)


@pytest.mark.parametrize("name", NAMES)
def test_each_accepted_suffix_is_read_and_counted(tmp_path, name):
    path = tmp_path / name
    write_raw(path, [{"id": f"{name}-{i}", "text": f"文档 {i}"} for i in range(7)])
    kept, rejected = read_all(path)
    assert kept.height == 7 and rejected.height == 0
    assert count_records(FS, str(path)) == 7


def test_listing_takes_every_suffix_and_names_what_it_skips(tmp_path):
    store = CorpusStore(str(tmp_path))
    folder = tmp_path / "raw" / "web" / "2026-11-21"
    for name in NAMES:
        write_raw(folder / name, [{"text": "x"}])
    for other in ["notes.txt", "dump.csv", ".hidden.jsonl", "sub/nested.jsonl"]:
        (folder / other).parent.mkdir(parents=True, exist_ok=True)
        (folder / other).write_text('{"text": "x"}\n')
    skipped: list[str] = []
    files = store.raw_files("web", "2026-11-21", skipped=skipped)[("web", "2026-11-21")]
    assert sorted(Path(f.path).name for f in files) == sorted(NAMES)
    assert sorted(Path(p).relative_to(folder).as_posix() for p in skipped) == [".hidden.jsonl", "dump.csv", "notes.txt", "sub/nested.jsonl"]


def test_utf8_bom_does_not_cost_the_first_record(tmp_path):
    path = tmp_path / "windows.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + jsonl(3))
    kept, rejected = read_all(path)
    assert kept["doc_id"].to_list() == ["d0", "d1", "d2"] and rejected.height == 0
    assert count_records(FS, str(path)) == 3
    gz = tmp_path / "windows.jsonl.gz"
    gz.write_bytes(gzip.compress(b"\xef\xbb\xbf" + jsonl(3)))
    assert read_all(gz)[0].height == 3 and count_records(FS, str(gz)) == 3


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Spring rainfall rises in the north | Example News</title></head>
<body>
<nav><a href="/">Home</a> | <a href="/weather">Weather</a> | <a href="/sport">Sport</a></nav>
<div class="ad">Buy one umbrella, get one free!</div>
<article>
<h1>Spring rainfall rises in the north</h1>
<p>Spring rainfall in the northern plains rose by twelve percent this year, according to the regional
weather office, which measured precipitation at forty stations between March and May.</p>
<p>Farmers said the wetter weeks delayed the planting of wheat and maize, but the reservoirs are
fuller than at any time in the last decade and irrigation limits have been lifted.</p>
</article>
<footer>Copyright 2026 Example News. All rights reserved. Privacy policy.</footer>
</body></html>"""


def test_html_records_get_their_main_text_title_and_url(tmp_path):
    url = "https://news.example.org/2026/rain"
    path = tmp_path / "pages.jsonl"
    path.write_text(json.dumps({"id": "p1", "html": PAGE, "url": url, "crawl": "cc-2026-48"}) + "\n")
    kept, rejected = read_all(path)
    assert rejected.height == 0
    doc = kept.row(0, named=True)
    assert "twelve percent" in doc["text"] and "reservoirs are" in doc["text"]
    assert "Home" not in doc["text"] and "Copyright" not in doc["text"]
    assert doc["title"].startswith("Spring rainfall rises in the north")
    assert doc["url"] == url
    assert json.loads(doc["meta"]) == {"crawl": "cc-2026-48"}  # the page itself is not copied into meta


def test_bad_pages_are_rejected_rows_not_failures(tmp_path):
    pages = [
        {"id": "empty", "html": "   "},
        {"id": "no_text", "html": "<html><body><div><span></span></div></body></html>"},
        {"id": "wrong", "html": 42},
        {"id": "garbage", "html": "\x00\x01"},
        {"id": "surrogate", "html": "<html><body><p>ab\ud800cd</p></body></html>"},
        {"id": "good", "html": PAGE},
    ]
    path = tmp_path / "pages.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in pages))
    kept, rejected = read_all(path)
    assert kept["doc_id"].to_list() == ["good"]
    assert rejected["reason"].to_list() == [
        "html_empty",
        "html_no_main_text",
        "wrong_type: html is int",
        "html_unparsable",
        "invalid_characters: lone surrogate in html",
    ]
    assert kept.height + rejected.height == count_records(FS, str(path))


def test_traditional_to_simplified_per_source(tmp_path):
    path = tmp_path / "tw.jsonl"
    path.write_text(json.dumps({"id": "t", "title": "數學試題", "text": "這是一份關於資料庫的測驗"}, ensure_ascii=False) + "\n")
    as_is, _ = read_all(path)
    assert as_is["text"][0] == "這是一份關於資料庫的測驗"
    kept, _ = read_all(path, IngestCfg(t2s=True))
    assert kept["text"][0] == "这是一份关于资料库的测验" and kept["title"][0] == "数学试题"
    assert kept["hash"][0] != as_is["hash"][0]  # the hash is of the text that is kept


def test_mojibake_is_repaired_when_asked(tmp_path):
    broken = "The cafÃ©â€™s menu â€” æ–‡æ¡£"
    path = tmp_path / "moji.jsonl"
    path.write_text(json.dumps({"id": "m", "text": broken}, ensure_ascii=False) + "\n")
    assert read_all(path)[0]["text"][0] == broken
    assert read_all(path, IngestCfg(fix_mojibake=True))[0]["text"][0] == "The café’s menu — 文档"


def test_mojibake_repair_leaves_sound_text_alone(tmp_path):
    sound = "你好，世界！（测试）ＡＢＣ “quoted” &amp; ﬁne"
    path = tmp_path / "sound.jsonl"
    path.write_text(json.dumps({"id": "s", "text": sound}, ensure_ascii=False) + "\n")
    assert read_all(path, IngestCfg(fix_mojibake=True, t2s=True))[0]["text"][0] == sound


@pytest.mark.slow
def test_compressed_and_damaged_files_on_s3(s3_root):
    store = CorpusStore()
    blob = COMPRESS["zst"](jsonl(500))
    store.write_bytes("raw/web/2026-11-21/ok.jsonl.zst", blob)
    store.write_bytes("raw/web/2026-11-21/cut.jsonl.zst", blob[: len(blob) // 2])
    store.write_bytes("raw/web/2026-11-21/notes.txt", b"hello")
    skipped: list[str] = []
    files = {Path(f.path).name: f.path for f in store.raw_files("web", "2026-11-21", skipped=skipped)[("web", "2026-11-21")]}
    assert sorted(files) == ["cut.jsonl.zst", "ok.jsonl.zst"] and [Path(p).name for p in skipped] == ["notes.txt"]
    reader = PartitionReader(store.fs, "web", DAY, IngestCfg(on_damaged_file="quarantine"))
    assert sum(s.kept.height for s in reader.read(files["ok.jsonl.zst"])) == 500
    assert count_records(store.fs, files["ok.jsonl.zst"]) == 500
    dropped = pl.concat([s.dropped for s in reader.read(files["cut.jsonl.zst"])])
    assert dropped["reason"][0].startswith("damaged_file: EOFError")
    with pytest.raises(DamagedFileError, match="cut.jsonl.zst"):
        count_records(store.fs, files["cut.jsonl.zst"])
