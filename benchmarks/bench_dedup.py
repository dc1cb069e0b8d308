"""Exact + near dedup: this project vs datasketch's own path (MinHash.bulk + MinHashLSH), side by side.

    python -m benchmarks.bench_dedup            # 100k documents
    python -m benchmarks.bench_dedup --quick    # 10k documents
    python -m benchmarks.bench_dedup --docs 1000000 --only ours   # the memory run
    python -m benchmarks.bench_dedup --only ours-exact   # our path with exact shingle-set verification

Paths: `ours` (candidates verified by estimated Jaccard, the default), `ours-exact` (verify: exact,
shingle sets of the candidate documents compared) and `datasketch`.

Corpus: about half Chinese exam-like text and half English prose, 100-2000 characters, built by
chaining random phrases of real text (Chinese: questions and analyses of
/work/shared/data/public/zh_exam_questions.jsonl, from OpenLMLab/GAOKAO-Bench, OpenMOSS/GAOKAO-MM,
microsoft/AGIEval, XiaoMi/cmath, math-eval/TAL-SCQ5K, QwenLM/Qwen2.5-Math (Apache-2.0/MIT, see that
file's SOURCES.md); English: GSM8K test questions and answers (openai/grade-school-math, MIT) and
MATH500 problems and solutions (MIT), same folder). Planted clusters: exact copies (some with
re-spaced whitespace), character edits, block reorders, boilerplate header/footer, truncation.

Ground truth is exact, not sampled: every pair of documents whose character-5-gram Jaccard is >=
0.8 (5-grams of the normalised text defined in corpus_dag/dedup/shingles.py). It comes from an
all-pairs similarity join with prefix filtering (Bayardo et al., "Scaling up all pairs similarity
search", WWW 2007): order 5-grams by global frequency; two sets with Jaccard >= t must share one
of the first |x| - ceil(t|x|) + 1 5-grams of each, so candidates from shared prefix 5-grams miss
no pair, and each candidate is then checked by an exact set intersection. 5-grams are identified
by a 64-bit hash of their code points (a collision between two distinct 5-grams of this corpus
has probability ~1e-5 and would shift one Jaccard value by ~1/1000).

Scores, per connected component C of the truth graph (edges = pairs with J >= 0.8): a perfect
dedup removes |C| - 1 members. Recall = sum min(removed_C, |C|-1) / sum (|C|-1). False removal =
sum max(0, removed_C - (|C|-1)) / number of components (= documents a perfect dedup keeps).

Each path runs in its own subprocess (read Parquet -> signatures -> candidates -> verify ->
clusters -> keep list), so its peak RSS (VmHWM) is its own; the clock starts after imports.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import string
import subprocess
import sys
import tempfile
import time
import unicodedata
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl

DATA = Path("/work/shared/data/public")
THRESHOLD = 0.8
DATES = ["2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21"]
BOILERPLATE = [
    "本资料由教育网整理发布，仅供学习参考，请勿用于商业用途。",
    "【来源：历年高考真题汇编】扫码关注获取更多资料",
    "Copyright (c) 2026 Example Learning. All rights reserved. Share this page:",
    "Subscribe to our newsletter for more practice problems and solutions.",
]


# ---------------------------------------------------------------------------------------- corpus
def _phrases(path: Path, fields: list[str], split: str, lo: int, hi: int) -> list[str]:
    out = set()
    for line in path.open(encoding="utf-8"):
        rec = json.loads(line)
        for f in fields:
            for p in re.split(split, rec.get(f) or ""):
                p = p.strip()
                if lo <= len(p) <= hi:
                    out.add(p)
    return sorted(out)


def make_corpus(n_docs: int, seed: int = 0) -> pl.DataFrame:
    rng = random.Random(seed)
    zh = _phrases(DATA / "zh_exam_questions.jsonl", ["question", "analysis"], r"[，。；！？：\n]", 3, 40)
    en = _phrases(DATA / "gsm8k_test_sample.jsonl", ["question", "answer"], r"[.,;!?\n]", 8, 80)
    en += _phrases(DATA / "math500.jsonl", ["problem", "solution"], r"[.,;!?\n]", 8, 80)

    zh_chars, en_words = sorted(set("".join(zh))), sorted({w for p in en for w in p.split()})

    def base_doc(i: int) -> str:
        """Random phrases with every ~8th character (Chinese) or ~5th word (English) replaced, so
        that two base documents share phrases but not long runs of 5-grams, as real pages do."""
        if i % 2 == 0:
            target, parts, size = rng.randint(100, 2000), [], 0
            while size < target:
                parts.append(rng.choice(zh) + rng.choice("，。；"))
                size += len(parts[-1])
            chars = list("".join(parts)[:target])
            for _ in range(len(chars) // 8):
                chars[rng.randrange(len(chars))] = rng.choice(zh_chars)
            return "".join(chars)
        target, words, size = rng.randint(100, 2000), [], 0
        while size < target:
            phrase = rng.choice(en).split()
            words += [w if rng.random() > 0.2 else rng.choice(en_words) for w in phrase]
            words[-1] += rng.choice(",.;")
            size += sum(len(w) + 1 for w in phrase)
        return " ".join(words)[:target]

    def variant(text: str) -> str:
        kind = rng.choice(["exact", "exact_ws", "edit", "reorder", "boilerplate", "truncate"])
        if kind == "exact":
            return text
        if kind == "exact_ws":
            return "  ".join(text.split(" ")) + "\n"
        if kind == "edit":
            chars = list(text)
            for _ in range(max(1, int(len(chars) * rng.uniform(0.002, 0.02)))):
                chars[rng.randrange(len(chars))] = rng.choice(chars)
            return "".join(chars)
        if kind == "reorder":
            cut = sorted(rng.sample(range(1, len(text)), 2))
            blocks = [text[: cut[0]], text[cut[0] : cut[1]], text[cut[1] :]]
            rng.shuffle(blocks)
            return "".join(blocks)
        if kind == "boilerplate":
            bp = rng.choice(BOILERPLATE)
            return bp + "\n" + text if rng.random() < 0.5 else text + "\n" + bp
        return text[: int(len(text) * rng.uniform(0.8, 0.97))]

    n_seeds = int(n_docs * 0.12)
    docs: list[str] = []
    while len(docs) < n_docs:
        i = len(docs)
        docs.append(base_doc(i))
        if i < n_seeds * 3 and i % 3 == 0:
            for _ in range(rng.randint(1, 4)):
                if len(docs) < n_docs:
                    docs.append(variant(docs[i]))
    order = list(range(n_docs))
    rng.shuffle(order)
    return pl.DataFrame(
        {
            "doc_id": [f"doc{j:08d}" for j in range(n_docs)],
            "source": "bench",
            "date": [DATES[rng.randrange(len(DATES))] for _ in range(n_docs)],
            "text": [docs[o] for o in order],
        }
    ).with_columns(pl.col("date").str.to_date())


def write_corpus(df: pl.DataFrame, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for (date,), part in sorted(df.partition_by("date", as_dict=True).items()):
        paths.append(folder / f"{date}.parquet")
        part.write_parquet(paths[-1])
    return paths


# ---------------------------------------------------------------------------------- ground truth
_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _units(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).translate(_LOWER).split())


def truth_pairs(texts: list[str], n: int = 5, threshold: float = THRESHOLD) -> np.ndarray:
    """Every pair (i, j), i < j, with exact character-n-gram Jaccard >= threshold (prefix filtering)."""
    from numba import njit, prange

    @njit(parallel=True)
    def doc_tokens(cps, offs, n, out, out_len):
        for d in prange(offs.shape[0] - 1):
            s, e = offs[d], offs[d + 1]
            m = max(e - s - n + 1, 1) if e > s else 0
            t = np.empty(m, np.uint64)
            for i in range(m):
                h = np.uint64(e - s if e - s < n else n)
                for j in range(s + i, min(s + i + n, e)):
                    h = (h ^ np.uint64(cps[j])) * np.uint64(0x100000001B3)
                    h ^= h >> np.uint64(29)
                h *= np.uint64(0xBF58476D1CE4E5B9)
                h ^= h >> np.uint64(32)
                t[i] = h
            u = np.unique(t)
            out[s : s + u.shape[0]] = u
            out_len[d] = u.shape[0]

    @njit
    def prefix_pairs(docs, starts, sizes, threshold, out):
        """Pairs of documents sharing a prefix 5-gram that pass the size filter; returns the count."""
        n = 0
        for g in range(starts.shape[0] - 1):
            for x in range(starts[g], starts[g + 1]):
                for y in range(x + 1, starts[g + 1]):
                    a, b = min(docs[x], docs[y]), max(docs[x], docs[y])
                    if min(sizes[a], sizes[b]) >= threshold * max(sizes[a], sizes[b]) - 1e-9:
                        out[n, 0], out[n, 1] = a, b
                        n += 1
        return n

    @njit(parallel=True)
    def intersect(rids, offs, pa, pb, out):
        for k in prange(pa.shape[0]):
            i, ie, j, je, inter = offs[pa[k]], offs[pa[k] + 1], offs[pb[k]], offs[pb[k] + 1], 0
            while i < ie and j < je:
                if rids[i] == rids[j]:
                    inter += 1
                    i += 1
                    j += 1
                elif rids[i] < rids[j]:
                    i += 1
                else:
                    j += 1
            out[k] = inter / (offs[pa[k] + 1] - offs[pa[k]] + offs[pb[k] + 1] - offs[pb[k]] - inter)

    norm = [_units(t) for t in texts]
    cps = np.frombuffer("".join(norm).encode("utf-32-le"), dtype=np.uint32)
    offs = np.zeros(len(norm) + 1, np.int64)
    np.cumsum([len(s) for s in norm], out=offs[1:])
    buf, sizes = np.empty(len(cps) + len(norm), np.uint64), np.zeros(len(norm), np.int64)
    doc_tokens(cps, offs, n, buf, sizes)
    doc_of = np.repeat(np.arange(len(norm), dtype=np.int32), sizes)
    rank_in_doc = np.arange(len(doc_of)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    toks = pl.DataFrame({"doc": doc_of, "tok": buf[offs[doc_of] + rank_in_doc]})
    del buf, doc_of
    # global order: rarest first; rid = rank in that order
    order = toks.group_by("tok").len().sort("len", "tok").with_row_index("rid")
    toks = toks.join(order.select("tok", "rid"), on="tok").sort("doc", "rid")
    doc_of, rids = toks["doc"].to_numpy(), toks["rid"].to_numpy().astype(np.int64)
    toff = np.zeros(len(norm) + 1, np.int64)
    np.cumsum(sizes, out=toff[1:])
    plen = sizes - np.ceil(threshold * sizes - 1e-9).astype(np.int64) + 1
    in_prefix = (np.arange(len(rids)) - toff[doc_of]) < plen[doc_of]
    pref = pl.DataFrame({"rid": rids[in_prefix], "doc": doc_of[in_prefix]}).sort("rid", "doc")
    pr = pref["rid"].to_numpy()
    starts = np.flatnonzero(np.r_[True, pr[1:] != pr[:-1], True])
    group = np.diff(starts)
    n_pairs = int((group * (group - 1) // 2).sum())
    if n_pairs > 300_000_000:
        raise MemoryError(f"prefix filter yields {n_pairs:,} candidate pairs; this corpus shares too many rare 5-grams")
    cand = np.empty((n_pairs, 2), np.int64)
    cand = cand[: prefix_pairs(pref["doc"].to_numpy().astype(np.int64), starts, sizes, threshold, cand)]
    key = np.unique(cand[:, 0] * len(norm) + cand[:, 1])
    cand = np.stack([key // len(norm), key % len(norm)], axis=1)
    jac = np.empty(len(cand))
    intersect(rids, toff, cand[:, 0], cand[:, 1], jac)
    return cand[jac >= threshold - 1e-12]


def score(n_docs: int, truth: np.ndarray, removed: np.ndarray) -> dict:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    g = coo_matrix((np.ones(len(truth)), (truth[:, 0], truth[:, 1])), shape=(n_docs, n_docs))
    n_comp, label = connected_components(g, directed=False)
    size = np.bincount(label, minlength=n_comp)
    removed_per = np.bincount(label[removed], minlength=n_comp)
    need = size - 1
    return {
        "true_duplicates": int(need.sum()),
        "recall": float(np.minimum(removed_per, need).sum() / max(need.sum(), 1)),
        "false_removal": float(np.maximum(0, removed_per - need).sum() / n_comp),
        "wrongly_removed": int(np.maximum(0, removed_per - need).sum()),
    }


# ----------------------------------------------------------------------------------------- paths
def corpus_texts(files: list[Path]) -> list:
    """find_clusters' `texts` for verify="exact": one read task per corpus file, streaming the wanted
    documents' rows (a second read, as the dedup_clusters asset does from its input asset)."""
    return [partial(_file_texts, f) for f in files]


def _file_texts(file: Path, wanted: pl.DataFrame):
    import pyarrow.parquet as pq

    ids = wanted["doc_id"].implode()
    for rb in pq.ParquetFile(file).iter_batches(10_000, columns=["doc_id", "date", "source", "text"]):
        yield pl.from_arrow(rb).filter(pl.col("doc_id").is_in(ids))


def run_ours(files: list[Path], work: Path, verify: str = "estimate") -> list[str]:
    """read -> signatures (one Parquet file per partition, as the minhash_signatures asset stores
    them) -> find_clusters (verify="exact": re-reads candidate texts) -> ids of the removed documents."""
    import pyarrow.parquet as pq

    from corpus_dag.dedup import DedupCfg, find_clusters, signatures_stream

    cfg = DedupCfg(threshold=THRESHOLD, verify=verify)
    sig_files = []
    for f in files:
        out = work / "signatures" / f.name
        out.parent.mkdir(parents=True, exist_ok=True)
        batches = (pl.from_arrow(rb) for rb in pq.ParquetFile(f).iter_batches(10_000))
        pl.concat(signatures_stream(batches, cfg)).write_parquet(out)
        sig_files.append(out)
    clusters = find_clusters(sig_files, cfg, work / "clusters", corpus_texts(files))
    return clusters.filter(pl.col("duplicate_of").is_not_null())["doc_id"].to_list()


def run_datasketch(files: list[Path], work: Path) -> list[str]:
    """datasketch's own path: MinHash.bulk over the same 5-gram sets (its default sha1 hash),
    MinHashLSH with the same threshold and weights, verify with MinHash.jaccard, components,
    keep the earliest (date, doc_id) of each."""
    from datasketch import MinHash, MinHashLSH
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from corpus_dag.dedup import DedupCfg

    cfg = DedupCfg(threshold=THRESHOLD)
    df = pl.read_parquet(files, columns=["doc_id", "date", "text"]).sort("date", "doc_id")
    sets = []
    for text in df["text"]:
        u = _units(text)
        sets.append([s.encode("utf-8") for s in {u[i : i + 5] for i in range(max(len(u) - 4, 1))}] if u else [])
    mhs = MinHash.bulk(sets, num_perm=cfg.num_perm, seed=cfg.seed)
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=cfg.num_perm, weights=(cfg.fp_weight, cfg.fn_weight))
    for i, m in enumerate(mhs):
        lsh.insert(i, m)
    a, b = [], []
    for i, m in enumerate(mhs):
        for j in lsh.query(m):
            if j > i and m.jaccard(mhs[j]) >= THRESHOLD:
                a.append(i)
                b.append(j)
    _, label = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(len(mhs),) * 2), directed=False)
    first = np.full(label.max() + 1, -1)
    removed = [i for i in range(len(label)) if first[label[i]] >= 0 or first.__setitem__(label[i], i)]
    return df["doc_id"].gather(removed).to_list()


def _peak_rss_mb() -> float:
    """VmHWM: this process's own peak RSS (ru_maxrss would carry the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(path: str, corpus: str, out: str, verify: str) -> None:
    import datasketch  # noqa: F401
    import scipy.sparse.csgraph  # noqa: F401

    import corpus_dag.dedup  # noqa: F401  (imports are not part of the timed work)

    files = sorted(Path(corpus).glob("*.parquet"))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        removed = run_ours(files, Path(work), verify) if path == "ours" else run_datasketch(files, Path(work))
    seconds = time.perf_counter() - t0
    rss_mb = _peak_rss_mb()
    Path(out).write_text(json.dumps({"seconds": seconds, "peak_rss_mb": rss_mb, "removed": removed}))


PATHS = {"ours": ("ours", "estimate"), "ours-exact": ("ours", "exact"), "datasketch": ("datasketch", "-")}


def measure(path: str, verify: str, corpus: Path) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [sys.executable, "-m", "benchmarks.bench_dedup", "--child", path, str(corpus), out.name, verify]
        subprocess.run(cmd, check=True)
        return json.loads(Path(out.name).read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10k documents")
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--only", choices=list(PATHS), help="run one path (no ground truth)")
    ap.add_argument("--child", nargs=4, metavar=("PATH", "CORPUS", "OUT", "VERIFY"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return _child(*args.child)
    n_docs = 10_000 if args.quick else args.docs
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        corpus = make_corpus(n_docs)
        write_corpus(corpus, Path(tmp) / "corpus")
        chars = corpus["text"].str.len_chars().sum()
        print(f"corpus: {n_docs:,} documents, {chars:,} characters ({time.perf_counter() - t:.0f} s to build)")
        truth = None
        if not args.only:
            t = time.perf_counter()
            truth = truth_pairs(corpus["text"].to_list())
            print(f"ground truth: {len(truth):,} pairs with char-5-gram Jaccard >= {THRESHOLD} ({time.perf_counter() - t:.0f} s)")
        index = {d: i for i, d in enumerate(corpus["doc_id"].to_list())}
        paths = [args.only] if args.only else list(PATHS)
        results = {}
        for p in paths:
            r = measure(*PATHS[p], Path(tmp) / "corpus")
            r["docs_per_s"] = n_docs / r["seconds"]
            if truth is not None:
                r.update(score(n_docs, truth, np.array([index[d] for d in r["removed"]], dtype=np.int64)))
            results[p] = r
        print()
        print(f"{'path':<12}{'docs/s':>10}{'seconds':>10}{'peak RSS MB':>13}{'removed':>10}{'recall':>9}{'false rm':>10}")
        for p, r in results.items():
            rec = f"{r['recall']:.4f}" if "recall" in r else "-"
            fr = f"{r['false_removal']:.4%}" if "false_removal" in r else "-"
            print(f"{p:<12}{r['docs_per_s']:>10,.0f}{r['seconds']:>10.1f}{r['peak_rss_mb']:>13,.0f}{len(r['removed']):>10,}{rec:>9}{fr:>10}")
        if truth is not None:
            print(f"\ntrue duplicates to remove: {results['ours']['true_duplicates']:,}")
        for ours in ("ours", "ours-exact"):
            if ours in results and "datasketch" in results:
                print(f"speed ratio {ours} / datasketch: {results[ours]['docs_per_s'] / results['datasketch']['docs_per_s']:.1f}x")
        print(
            "targets: >= 25,000 docs/s on 2 cores; recall >= 0.95; false removal <= 0.5%; peak RSS <= 2 GB at 1M docs "
            f"(cores here: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f})"
        )


if __name__ == "__main__":
    main()
