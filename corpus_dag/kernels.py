"""Compile every numba kernel into its on-disk cache (`make setup` runs this): compiled on first use,
they would cost the first `make demo` or `make test` of a fresh clone about 30 s of CPU, in every
process that meets them before the cache is written. Run: `python -m corpus_dag.kernels`."""
import time

import numpy as np
import polars as pl

from corpus_dag.dedup.config import cfg_for
from corpus_dag.dedup.exact import SetIndex, ShingleSets, in_memory_fetch, shingle_sets
from corpus_dag.dedup.minhash import band_keys, signatures
from corpus_dag.exam.detect import detect_exams
from corpus_dag.exam.features import char_ngrams
from corpus_dag.exam.split import split_questions
from corpus_dag.quality.filters import apply_filters, load_filter_config

PAPER = ("2024学年高一数学期中测验\n一、选择题（每小题5分，共10分）\n1. 计算 1+1 的值是（ ）\nA. 1 B. 2 C. 3 D. 4\n"
         "2. 下列函数中是偶函数的是（ ）\nA. y=x B. y=x² C. y=x³ D. y=2x\n阅读材料，完成3～4题。\n材料：某地气温统计。\n"
         "3. 最高气温出现在几月？\n4. 年温差约为多少？\n参考答案：1. B 2. B\n")
PAGE = "Rivers and hills. The weather was fine all week, and the walk along the river was long.\n" * 6


def compile_all() -> float:
    """Run each kernel once on a tiny input; returns the seconds it took."""
    started = time.monotonic()
    docs = pl.DataFrame({"doc_id": ["p", "w"], "title": ["期中测验", "walk"], "text": [PAPER, PAGE],
                         "source": ["wenku", "web"]})
    exams = detect_exams(docs)
    split_questions(exams.kept if exams.kept.height else docs)
    char_ngrams([PAPER, PAGE])
    apply_filters(docs, load_filter_config("web"))
    cfg = cfg_for("web")
    band_keys(signatures(docs.select("doc_id", "text"), cfg)["signature"].to_numpy(), *cfg.bands)
    values, lengths = shingle_sets(docs["text"], cfg)
    ShingleSets(SetIndex.of([(np.arange(2), lengths)]), in_memory_fetch(values)).jaccard(np.array([0]), np.array([1]))
    return time.monotonic() - started


if __name__ == "__main__":
    print(f"numba kernels compiled and cached in {compile_all():.1f} s")
