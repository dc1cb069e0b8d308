"""Data-Juicer's flagged_words_filter over a slice of a JSONL of texts, run by Data-Juicer's own Python.

py-data-juicer cannot be installed beside this project's pins (it wants other dill/multiprocess
versions), so it lives in a venv of its own ($CORPUS_DJ_PYTHON, `make dj-venv`: .dj-venv/bin/python) and
bench_safety starts this script there, one process per core, each on its slice. Standard library
and data_juicer only. Prints one JSON line: the seconds of the filtering alone (the op is built
before the clock starts), documents kept, Data-Juicer's version.

    $CORPUS_DJ_PYTHON benchmarks/dj_flagged_words.py TEXTS.jsonl WORDS_DIR START STOP MAX_RATIO
"""
import json
import sys
import time

BATCH = 1000


def main(texts_path: str, words_dir: str, start: int, stop: int, max_ratio: float) -> None:
    import data_juicer
    from data_juicer.ops.filter.flagged_words_filter import FlaggedWordFilter
    from data_juicer.utils.constant import Fields

    with open(texts_path, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for n, line in enumerate(f) if start <= n < stop]
    # lang "all": the zh and en lists of WORDS_DIR merged. No tokenization: Data-Juicer's tokenizers are
    # sentencepiece models it downloads, and there is no network here; words are split on whitespace.
    op = FlaggedWordFilter(lang="all", tokenization=False, flagged_words_dir=words_dir, max_ratio=max_ratio)
    started, kept = time.perf_counter(), 0
    for i in range(0, len(texts), BATCH):
        samples = {"text": texts[i : i + BATCH], Fields.stats: [{} for _ in texts[i : i + BATCH]]}
        kept += sum(op.process_batched(op.compute_stats_batched(samples)))
    print(json.dumps({"seconds": time.perf_counter() - started, "kept": kept, "version": data_juicer.__version__}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
