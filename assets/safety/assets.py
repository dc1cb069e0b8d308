"""`safety_documents` + `safety_drops`: domain and word blocklists, PII redaction (after `filtered_documents`)."""

import dataclasses
import time
from pathlib import Path

import dagster as dg
import fsspec
import polars as pl
from pydantic import Field

from assets.common.engine import CorpusEngine
from assets.common.metadata import frame_table
from assets.common.partitions import DATE_SOURCE, SOURCES, partition_dims
from assets.common.stage import Out, map_split, split_specs
from assets.common.storage import CorpusStorage
from corpus_dag.safety import pii
from corpus_dag.safety.lists import ListError, ListFile
from corpus_dag.safety.stage import (
    DROP_COLUMNS,
    Blocklists,
    SafetyConfigError,
    SafetyStep,
    SafetySummary,
    summarize_safety,
)
from corpus_dag.storage import CorpusStore, PartitionData

SAFETY_INPUT = "filtered_documents"
LISTS_DIR = "lists"  # under CORPUS_ROOT
LIST_SUFFIXES = (".txt", ".gz")
DEMO_LISTS = Path(__file__).resolve().parents[2] / "config" / "lists"
COMMON = {"owners": ["team:corpus"], "group_name": "safety"}


class SafetyRunConfig(dg.Config):
    lists_dir: str = Field(
        default="",
        description="Folder with domains/*.txt[.gz] and words/{lang}/*.txt[.gz]; empty: {CORPUS_ROOT}/lists, "
        "or the demo lists in config/lists when that folder does not exist (said in `lists_origin`).",
    )
    domain_lists: list[str] = Field(default=[], description="More domain list files (local paths or s3:// URLs), read besides lists_dir.")
    word_lists: dict[str, list[str]] = Field(
        default={}, description="More word list files per language, e.g. {zh: [a.txt]}; zh lists match on jieba token boundaries."
    )
    max_word_hits_per_1k: float | None = Field(
        default=None, description="Override of the word-hit threshold (hits per 1,000 characters); None: config/safety.yaml per kind."
    )
    pii_action: str = Field(default="", description="Override of redact | drop | keep; empty: config/safety.yaml per kind, or the source's `safety:`.")
    batch_rows: int = Field(default=20_000, description="Rows per batch through the stage.")


def _files(fs, folder: str) -> list[str]:
    """The list files under `folder`. Any other visible file there is an error naming it: a list saved
    under another name (`hosts`, `words.csv`) would otherwise block nothing, and say nothing."""
    found = sorted(p for p in fs.find(folder) if not Path(p).name.startswith("."))
    other = [p for p in found if not p.endswith(LIST_SUFFIXES)]
    if other:
        raise ListError(f"{other[0]}: not a list file (expected *{' or *'.join(LIST_SUFFIXES)}; hidden files are ignored)")
    return found


def _word_folders(fs, words: str) -> list[str]:
    """The per-language folders under `words`; a file there is an error (its language is unknown)."""
    entries = sorted(p for p in fs.ls(words, detail=False) if not Path(p).name.startswith("."))
    loose = [p for p in entries if not fs.isdir(p)]
    if loose:
        raise ListError(f"{loose[0]}: word lists go in a folder per language, words/{{lang}}/ (zh: jieba boundaries)")
    return entries


def _read(path: str, fs=None) -> ListFile:
    """One list file by path or URL; a missing one is an error that names it."""
    try:
        if fs is not None:
            with fs.open(path, "rb") as f:
                return ListFile(path, f.read())
        with fsspec.open(path, "rb") as f:
            return ListFile(path, f.read())
    except FileNotFoundError as e:
        raise ListError(f"list file not found: {path}") from e


def read_lists(store: CorpusStore, config: SafetyRunConfig) -> tuple[list[ListFile], dict[str, list[ListFile]], str]:
    """The list files of this run (domains, words per language) and where they came from."""
    if config.lists_dir:
        fs, folder = fsspec.core.url_to_fs(config.lists_dir)
        if not fs.exists(folder):
            raise ListError(f"lists_dir not found: {config.lists_dir}")
        origin = config.lists_dir
    elif store.exists(LISTS_DIR):
        fs, folder, origin = store.fs, store.abs(LISTS_DIR), store.url(LISTS_DIR)
    else:
        fs, folder, origin = fsspec.filesystem("file"), str(DEMO_LISTS), f"demo lists in {DEMO_LISTS} (no {store.url(LISTS_DIR)})"
    domains = [_read(p, fs) for p in _files(fs, f"{folder}/domains")] + [_read(p) for p in config.domain_lists]
    words: dict[str, list[ListFile]] = {}
    for lang_dir in _word_folders(fs, f"{folder}/words") if fs.exists(f"{folder}/words") else []:
        words.setdefault(Path(lang_dir).name, []).extend(_read(p, fs) for p in _files(fs, lang_dir))
    for lang, paths in config.word_lists.items():
        words.setdefault(lang, []).extend(_read(p) for p in paths)
    return domains, words, origin


@dg.multi_asset(
    specs=split_specs(
        "safety_documents",
        "safety_drops",
        kept_doc=f"Rows of {SAFETY_INPUT} from no listed domain, under the word-hit threshold, with PII replaced by typed "
        "placeholders (<EMAIL> <PHONE> <ID_CARD> <BANK_CARD> <IP>) where the source's action is redact; `pii` counts per type.",
        dropped_doc="Rows the safety stage dropped: `rule` (domain_blocklist@1 | word_blocklist@1 | pii@1), `value` "
        "(hits per 1k characters, PII found), `pii`, and a `reason` naming the matched domain and list, or the first matched words.",
        deps=[SAFETY_INPUT],  # loaded through `ins` (a PartitionData handle from CorpusIOManager)
        stage="safety",
        kinds=frozenset({"polars", "parquet"}),
        **COMMON,
    ),
    ins={"docs": dg.AssetIn(SAFETY_INPUT)},
    partitions_def=DATE_SOURCE,
    can_subset=False,
)
def safety(context: dg.AssetExecutionContext, config: SafetyRunConfig, storage: CorpusStorage, engine: CorpusEngine,
           docs: PartitionData):
    """Domain blocklist, per-language word blocklists (Aho-Corasick; jieba boundaries for Chinese), PII."""
    dims = partition_dims(context)
    store = storage.store()
    source = SOURCES.get(dims["source"])
    overrides = {k: v for k, v in (("max_word_hits_per_1k", config.max_word_hits_per_1k), ("pii_action", config.pii_action)) if v not in (None, "")}
    cfg = dataclasses.replace(source.safety, **overrides)
    if cfg.pii_action not in ("redact", "drop", "keep"):
        raise SafetyConfigError(f"safety config pii_action {cfg.pii_action!r}; expected redact | drop | keep")
    started = time.monotonic()
    domain_files, word_files, origin = read_lists(store, config)
    lists = Blocklists.load(domain_files, word_files)
    load_seconds = time.monotonic() - started
    # Said in metadata and the event log, not as a terminal warning per partition: `make demo` says it once.
    lists_warning = f"safety: using the {origin}; put production lists there" if origin.startswith("demo") else None
    if lists_warning:
        context.log.info(lists_warning)
    schema = docs.schema | {"pii": pii.COUNTS}
    started = time.monotonic()

    def extra(tally):
        seen: list[SafetySummary] = tally.summaries
        summary = lists.summary()
        return {
            "safety_config": dg.MetadataValue.json({"kind": source.kind, **vars(cfg)}),
            "lists_origin": origin,
            **({"lists_warning": lists_warning} if lists_warning else {}),
            "lists": frame_table(summary, width=200),  # the file paths whole
            "empty_lists": summary.filter(pl.col("entries") == 0)["file"].to_list(),
            "blocked_domains": len(lists.domains),
            "blocked_words": len(lists.words),
            "lists_load_seconds": round(load_seconds, 2),
            "pii": frame_table(pii_table([s.found for s in seen], [s.kept_found for s in seen], cfg.pii_action)),
            "safety_mb_per_s": round(sum(s.text_bytes for s in seen) / 1e6 / (time.monotonic() - started), 2),
        }

    kept = Out("safety_documents", schema)
    dropped = Out("safety_drops", docs.schema | DROP_COLUMNS)
    yield from map_split(context, store, engine, docs, SafetyStep(domain_files, word_files, cfg, lists), kept, dropped,
                         stage="safety", batch_rows=config.batch_rows, summarize=summarize_safety, extra_metadata=extra)


def pii_table(found: list[pl.DataFrame], kept_found: list[pl.DataFrame], action: str) -> pl.DataFrame:
    """PII found per type in the partition, and in the kept rows (redacted there when the action is redact)."""
    def total(frames):
        return pl.concat(frames).sum().row(0, named=True) if frames else dict.fromkeys(pii.TYPES, 0)

    everywhere, kept = total(found), total(kept_found)
    return pl.DataFrame(
        {
            "type": list(pii.TYPES),
            "placeholder": [pii.PLACEHOLDERS[t] for t in pii.TYPES],
            "found": [int(everywhere[t] or 0) for t in pii.TYPES],
            "in_kept_rows": [int(kept[t] or 0) for t in pii.TYPES],
            "action": [action] * len(pii.TYPES),
        }
    )
