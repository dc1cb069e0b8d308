"""Safety stage throughput (MB/s of UTF-8 text) with 100k blocked domains and 30k words per language,
against datatrove's URLFilter (and Data-Juicer's flagged_words_filter where it is installed).

Ours: `corpus_dag.safety.stage.apply_safety` (domain blocklist with parent domains, one
Aho-Corasick automaton over both word lists with jieba boundaries for Chinese, PII with
validation and placeholders), batches of `--batch-rows`, best of 3 passes; the lists' load time is
printed apart. Peers, run the way they run (one process per core, a pool here):
- datatrove 0.10.1 `URLFilter` with the same 100k domains (its integrated lists off, tldextract on
  its bundled suffix list: no network here). It checks URLs only, so its figure is set against
  our domain step alone as well as against our whole stage.
- Data-Juicer `flagged_words_filter` with the same zh + en words (lang `all`): py-data-juicer 1.6.1
  would downgrade dill and multiprocess in this environment, so it lives in a venv of its own
  (`make dj-venv`) and runs when `CORPUS_DJ_PYTHON` names that Python (`.dj-venv/bin/python`):
  `benchmarks/dj_flagged_words.py`, one process per core on a slice each, the filtering alone timed.
  It splits words on whitespace (its tokenizers are sentencepiece models it downloads; no network
  here), so it finds few Chinese words inside unspaced text: a cheaper, weaker check than ours.

Input: the mixed zh/en corpus of bench_filters (public exam and math items, see its docstring),
each document given a URL (5% under a blocked domain), 3% with planted listed words and 5% with
planted PII. English words: 30k made-up words plus the demo list's phrases. Chinese words
(`--zh-words`): `madeup` (default), 30k made-up 3-4 character words plus the demo list's, so
hits are about as rare as listed words are in ordinary text; `dictionary`, 30k rare 3-4
character entries of jieba's own dictionary, real words that turn up in a third of these exam
documents (a hard case: every candidate hit is segmented by jieba). It prints the hit counts.

    python -m benchmarks.bench_safety            # about 32 MB
    python -m benchmarks.bench_safety --quick    # about 3 MB
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import string
import subprocess
import tempfile
import time
from pathlib import Path

import polars as pl

from benchmarks.bench_filters import LOAD_NOTE, build_corpus

CORES = os.cpu_count() or 2
REPEATS = 3
DEMO_EN = ["online casino", "casino bonus", "viagra", "escort service"]
DEMO_ZH = ["网络赌场", "六合彩", "代开发票", "赌博网站"]


def make_lists(rng: random.Random, n_domains: int, n_words: int, zh_words: str = "madeup") -> tuple[list[str], list[str], list[str]]:
    import jieba

    domains = sorted({f"{''.join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 12)))}.{rng.choice(['com', 'net', 'cn', 'info', 'biz'])}" for _ in range(n_domains)})
    rare = [line.split()[0] for line in (Path(jieba.__file__).parent / "dict.txt").read_text(encoding="utf-8").splitlines() if int(line.split()[1]) <= 5]
    if zh_words == "dictionary":
        zh = DEMO_ZH + rng.sample([w for w in rare if 3 <= len(w) <= 4], n_words - len(DEMO_ZH))
    else:
        chars = sorted({c for w in rare for c in w if "\u4e00" <= c <= "\u9fff"})
        zh = DEMO_ZH + sorted({"".join(rng.choices(chars, k=rng.randint(3, 4))) for _ in range(n_words)})[: n_words - len(DEMO_ZH)]
    en = DEMO_EN + sorted({"".join(rng.choices(string.ascii_lowercase, k=rng.randint(6, 10))) for _ in range(n_words)})[: n_words - len(DEMO_EN)]
    return domains, zh, en


def plant(df: pl.DataFrame, domains: list[str], rng: random.Random) -> pl.DataFrame:
    urls, texts = [], []
    for text in df["text"].to_list():
        host = f"www.{rng.choice(domains)}" if rng.random() < 0.05 else f"site{rng.randrange(10**5)}.example.org"
        urls.append(f"https://{host}/{rng.randrange(10**6)}.html")
        if rng.random() < 0.03:
            text += "\n" + rng.choice(DEMO_ZH + DEMO_EN)
        if rng.random() < 0.05:
            text += f"\n联系 user{rng.randrange(999)}@mail.example.cn 或 1{rng.choice('3589')}{rng.randrange(10**9):09d}"
        texts.append(text)
    return df.with_columns(pl.Series("text", texts), pl.Series("url", urls))


def run_ours(df: pl.DataFrame, domains, zh, en, batch_rows: int):
    from corpus_dag.safety.lists import ListFile
    from corpus_dag.safety.stage import Blocklists, SafetyConfig, apply_safety

    t = time.perf_counter()
    lists = Blocklists.load([ListFile("domains.txt", "\n".join(domains).encode())], {"zh": [ListFile("zh.txt", "\n".join(zh).encode())], "en": [ListFile("en.txt", "\n".join(en).encode())]})
    load = time.perf_counter() - t
    cfg = SafetyConfig(max_word_hits_per_1k=0.5, pii_action="redact")
    apply_safety(df.head(50), lists, cfg)  # warm-up: jieba's dictionary, numba caches
    hits = lists.words.scan(df["text"]).counts
    print(f"word hits: {int(hits.sum()):,} in {int((hits > 0).sum()):,} of {df.height:,} documents")
    best, best_domains, kept = float("inf"), float("inf"), 0
    for _ in range(REPEATS):
        t = time.perf_counter()
        kept = sum(apply_safety(df.slice(i, batch_rows), lists, cfg).kept.height for i in range(0, df.height, batch_rows))
        best = min(best, time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(0, df.height, batch_rows):
            lists.domains.matches(df["url"].slice(i, batch_rows))
        best_domains = min(best_domains, time.perf_counter() - t)
    return load, best, best_domains, kept


_PEER = {}


def _datatrove_init(domains):
    from datatrove.pipeline.filters import URLFilter
    from tldextract import TLDExtract

    _PEER["url"] = URLFilter(extra_domains=domains, use_integrated_lists=False)
    _PEER["url"].tldextractor = TLDExtract(suffix_list_urls=())  # the bundled suffix list: no network here


def _datatrove_chunk(chunk) -> int:
    from datatrove.data import Document

    return sum(_PEER["url"].filter(Document(text=text, id=i, metadata={"url": url})) is True for i, text, url in chunk)


def run_datatrove(df: pl.DataFrame, domains) -> tuple[float, int]:
    rows = list(df.select("doc_id", "text", "url").iter_rows())
    chunks = [rows[i : i + 200] for i in range(0, len(rows), 200)]
    with mp.get_context("fork").Pool(CORES, initializer=_datatrove_init, initargs=(domains,)) as pool:
        pool.map(_datatrove_chunk, [rows[:20]] * CORES)
        t = time.perf_counter()
        kept = sum(pool.map(_datatrove_chunk, chunks, chunksize=1))
        return time.perf_counter() - t, kept


def run_data_juicer(df: pl.DataFrame, zh, en, max_ratio: float = 0.01) -> tuple[float, int, str] | None:
    """(wall seconds of the slowest worker's filtering, documents kept, version) from Data-Juicer's own
    Python ($CORPUS_DJ_PYTHON), one process per core; None when that variable is unset."""
    python = os.environ.get("CORPUS_DJ_PYTHON")
    if not python:
        return None
    driver = Path(__file__).with_name("dj_flagged_words.py")
    with tempfile.TemporaryDirectory(prefix="bench-dj-") as tmp:
        texts = Path(tmp) / "texts.jsonl"
        texts.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in df["text"]), encoding="utf-8")
        (Path(tmp) / "flagged_words.json").write_text(json.dumps({"zh": zh, "en": en}, ensure_ascii=False), encoding="utf-8")
        step = -(-df.height // CORES)
        procs = [subprocess.Popen([python, str(driver), str(texts), tmp, str(i), str(i + step), str(max_ratio)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(0, df.height, step)]
        results = []
        for p in procs:
            out, err = p.communicate()
            if p.returncode:
                raise RuntimeError(f"Data-Juicer run failed ({python}): {err.strip().splitlines()[-1] if err.strip() else p.returncode}")
            results.append(json.loads(out.strip().splitlines()[-1]))
    return max(r["seconds"] for r in results), sum(r["kept"] for r in results), results[0]["version"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="about 3 MB instead of 32 MB")
    ap.add_argument("--mb", type=float, default=None)
    ap.add_argument("--batch-rows", type=int, default=5000)
    ap.add_argument("--domains", type=int, default=100_000)
    ap.add_argument("--words", type=int, default=30_000)
    ap.add_argument("--zh-words", choices=("madeup", "dictionary"), default="madeup")
    args = ap.parse_args()
    try:
        import datatrove  # noqa: F401
        import tldextract  # noqa: F401
    except ImportError:
        raise SystemExit("the peer is missing: pip install -e '.[bench]' (datatrove, tldextract, pyahocorasick)") from None
    rng = random.Random(0)
    domains, zh, en = make_lists(rng, args.domains, args.words, args.zh_words)
    df = plant(build_corpus(args.mb or (3 if args.quick else 32)), domains, rng)
    mb = df["text"].str.len_bytes().sum() / 1e6
    print(f"corpus: {df.height} documents, {mb:.1f} MB of UTF-8 text, {CORES} cores; lists: {len(domains):,} domains, {len(zh):,} zh ({args.zh_words}) + {len(en):,} en words")
    load, ours_t, dom_t, ours_kept = run_ours(df, domains, zh, en, args.batch_rows)
    dt_t, dt_kept = run_datatrove(df, domains)
    print(f"{'stage':<52}{'MB/s':>8}{'kept':>8}")
    print(f"{'corpus_dag safety (domains + words + PII)':<52}{mb / ours_t:>8.1f}{ours_kept:>8}")
    print(f"{'corpus_dag domain step alone':<52}{mb / dom_t:>8.1f}")
    print(f"{'datatrove URLFilter (domains only)':<52}{mb / dt_t:>8.1f}{dt_kept:>8}")
    dj = run_data_juicer(df, zh, en)
    if dj is None:
        print(f"{'Data-Juicer flagged_words_filter':<52}{'n/a':>8}  (set CORPUS_DJ_PYTHON to a venv with py-data-juicer: see the docstring)")
    else:
        print(f"{f'Data-Juicer flagged_words_filter {dj[2]}':<52}{mb / dj[0]:>8.1f}{dj[1]:>8}  (words split on whitespace)")
    print(f"lists loaded in {load:.2f}s")
    print(f"ratio corpus_dag whole stage / datatrove URLFilter: {dt_t / ours_t:.2f}x; domain step: {dt_t / dom_t:.1f}x (target: >= 40 MB/s for the stage)")
    if dj is not None:
        print(f"ratio corpus_dag whole stage / Data-Juicer flagged_words_filter: {dj[0] / ours_t:.2f}x")
    print(LOAD_NOTE.format(os.getloadavg()[0], CORES))


if __name__ == "__main__":
    main()
