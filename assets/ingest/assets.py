"""`raw_documents` and `rejected_documents`: one streamed pass over a partition's raw files."""

import datetime as dt
import posixpath
from functools import partial

import dagster as dg
from pydantic import Field

from assets.common.engine import CorpusEngine
from assets.common.metadata import counts_table
from assets.common.partitions import DATE_SOURCE, SOURCES, source_and_date
from assets.common.stage import Out, split_specs, stream_split
from assets.common.storage import CorpusStorage
from corpus_dag.ingest import (
    RAW_DOCUMENTS_SCHEMA,
    REJECTED_DOCUMENTS_SCHEMA,
    IngestCfg,
    file_parts,
    read_raw_file,
    write_partition,
)

RAW = Out("raw_documents", RAW_DOCUMENTS_SCHEMA)
REJECTED = Out("rejected_documents", REJECTED_DOCUMENTS_SCHEMA)


class IngestConfig(dg.Config):
    max_record_chars: int = Field(
        default=SOURCES.max_record_chars, description="Records with longer text are rejected (over_size_limit)."
    )
    batch_rows: int = Field(default=10_000, description="Rows per streamed batch: bounds memory.")
    split_bytes: int = Field(
        default=IngestCfg.split_bytes, ge=1,
        description="Uncompressed JSON-lines files over this many bytes are read in parts of this size, one engine "
        "task each (in parallel on Ray); rows, their order and line numbers stay those of a whole-file read.",
    )


@dg.multi_asset(
    specs=split_specs(
        RAW.asset,
        REJECTED.asset,
        kept_doc="Every ingestable record of raw/{source}/{date}/: doc_id, text, sha1 hash, meta (JSON).",
        dropped_doc="Records that could not be ingested, with reason, file, line and a bounded snippet.",
        deps=[],
        stage="ingest",
        owners=["team:corpus"],
        group_name="ingest",
    ),
    partitions_def=DATE_SOURCE,
    can_subset=False,
)
def ingest(context: dg.AssetExecutionContext, config: IngestConfig, storage: CorpusStorage, engine: CorpusEngine):
    """Stream JSON-lines (plain/.gz/.zst/.bz2/.xz) and Parquet raw files, one engine task per file or per
    `split_bytes` part of a large uncompressed one (on Ray, parts are read in parallel and each task writes its
    kept rows; the rejected rows and ids' digests stream back in file order); ids repeated across the
    partition are rejected here, in file order, and their parts rewritten without them. Bad
    records become rejected rows, never failures; files the reader does not take are named, never
    silently ignored."""
    source, date = source_and_date(context)
    store = storage.store()
    skipped: list[str] = []
    files = store.raw_files(source, date, skipped=skipped).get((source, date), [])
    if not files:
        context.log.warning(f"no raw files under {store.url(f'raw/{source}/{date}')}: writing empty partitions")
    raw_dir = f"raw/{source}/{date}"
    skipped_names = [posixpath.relpath(p, store.abs(raw_dir)) for p in skipped]
    for name in skipped_names:
        context.log.warning(f"skipped {store.url(f'{raw_dir}/{name}')}: not a raw file the reader takes (suffix, hidden name or subfolder)")
    cfg = IngestCfg(max_chars=config.max_record_chars, batch_rows=config.batch_rows, split_bytes=config.split_bytes,
                    **SOURCES.get(source).ingest.model_dump())
    read = partial(read_raw_file, fs=store.fs, source=source, date=dt.date.fromisoformat(date), cfg=cfg)
    parts = [part for f in files for part in file_parts(f.path, f.size, cfg.split_bytes)]

    def splits(writers):  # kept rows written where each part is read; rejected rows here, in file order
        return write_partition(engine.engine, read, parts, writers, RAW.asset, REJECTED.asset, engine.stage("ingest"),
                               on_part=lambda part: context.log.info(f"reading {part}"))

    files_md = {
        "engine": engine.kind,
        "file_parts": len(parts),
        "raw_files": counts_table({f.path.rsplit("/", 1)[-1]: f.size for f in files}, "file", "bytes"),
        "skipped_files": dg.MetadataValue.json(skipped_names),
    }
    yield from stream_split(context, store, splits, RAW, REJECTED, extra_metadata=lambda _t: files_md)
