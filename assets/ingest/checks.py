"""Checks on `raw_documents`: schema and types, non-empty text, unique ids, rejected rate, accounting."""

import posixpath

import dagster as dg
import polars as pl

from assets.common.checks import gx_check
from assets.common.partitions import SOURCES
from corpus_dag.ingest import RAW_DOCUMENTS_SCHEMA, DamagedFileError, count_records
from corpus_dag.storage import CorpusStore, PartitionData
from corpus_dag.validation import metric_outcome


def _schema_expectations() -> list:
    import great_expectations.expectations as gxe

    types = {"doc_id": "str", "source": "str", "title": "str", "text": "str", "url": "str", "hash": "str", "meta": "str"}
    return [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=list(RAW_DOCUMENTS_SCHEMA)),
        *(gxe.ExpectColumnValuesToBeOfType(column=c, type_=t) for c, t in types.items() if c not in ("title", "url", "meta")),
        gxe.ExpectColumnValuesToNotBeNull(column="text"),
        gxe.ExpectColumnValueLengthsToBeBetween(column="text", min_value=1),
        gxe.ExpectColumnValuesToMatchRegex(column="hash", regex=r"^sha1:[0-9a-f]{40}$"),
        gxe.ExpectColumnValuesToBeUnique(column="doc_id"),
    ]


def _count_independently(store: CorpusStore, files) -> tuple[int, list[str]]:
    """Records in the raw files by the independent counter, and the files it finds damaged (each
    one is expected as a single `damaged_file` rejected row, as quarantine writes it)."""
    read, damaged = 0, []
    for f in files:
        try:
            read += count_records(store.fs, f.path)
        except DamagedFileError:
            damaged.append(posixpath.basename(f.path))
    return read + len(damaged), damaged


def _quarantined(rejected: PartitionData) -> list[str]:
    """Files the ingest set aside as damaged, from the rejected rows (streamed: two columns)."""
    names = []
    for batch in rejected.iter_batches(["file", "reason"]):
        names += batch.filter(pl.col("reason").str.starts_with("damaged_file"))["file"].to_list()
    return names


def _accounting(context, store: CorpusStore, dims: dict[str, str]):
    """Records in the raw files (counted independently) = kept + rejected; damaged files found by
    the counter = files quarantined by the ingest; rejected rate bounded."""
    files = store.raw_files(dims["source"], dims["date"]).get((dims["source"], dims["date"]), [])
    read, damaged = _count_independently(store, files)
    kept = PartitionData(store, CorpusStore.partition_path("raw_documents", dims)).num_rows
    rejected_data = PartitionData(store, CorpusStore.partition_path("rejected_documents", dims))
    rejected = rejected_data.num_rows
    quarantined = _quarantined(rejected_data)
    unmatched = sorted(set(damaged) ^ set(quarantined))
    rate = rejected / read if read else 0.0
    bound = SOURCES.get(dims["source"]).max_rejected_rate
    return [
        metric_outcome(f"records read {read} (a damaged file: 1, its quarantine row) - kept {kept} - rejected {rejected}", read - kept - rejected, 0, 0),
        metric_outcome(f"damaged files not quarantined or quarantined but intact: {unmatched}", len(unmatched), 0, 0),
        metric_outcome("rejected rate", rate, None, bound),
    ]


raw_documents_schema = gx_check(
    asset="raw_documents",
    name="schema_text_and_ids",
    description="Columns and types as documented, non-empty text, sha1 hash format, unique doc_id.",
    columns=list(RAW_DOCUMENTS_SCHEMA),
    expectations=_schema_expectations,
)
raw_documents_accounting = gx_check(
    asset="raw_documents",
    name="every_record_accounted",
    description=(
        "Records read (counted by a second decoder that fails on truncated or corrupt streams) = kept + rejected; "
        "every damaged file quarantined; rejected share <= max_rejected_rate (config/sources.yaml)."
    ),
    metrics=_accounting,
)

checks: list[dg.AssetChecksDefinition] = [raw_documents_schema, raw_documents_accounting]
