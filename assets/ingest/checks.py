"""Checks on `raw_documents`: schema and types, non-empty text, unique ids, rejected rate, accounting."""

import dagster as dg

from assets.common.checks import gx_check
from assets.common.partitions import SOURCES
from corpus_dag.ingest import RAW_DOCUMENTS_SCHEMA, count_records
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


def _accounting(context, store: CorpusStore, dims: dict[str, str]):
    """Records in the raw files (counted independently) = kept + rejected; rejected rate bounded."""
    files = store.raw_files(dims["source"], dims["date"]).get((dims["source"], dims["date"]), [])
    read = sum(count_records(store.fs, f.path) for f in files)
    kept = PartitionData(store, CorpusStore.partition_path("raw_documents", dims)).num_rows
    rejected = PartitionData(store, CorpusStore.partition_path("rejected_documents", dims)).num_rows
    rate = rejected / read if read else 0.0
    bound = SOURCES.get(dims["source"]).max_rejected_rate
    return [
        metric_outcome(f"records read {read} - kept {kept} - rejected {rejected}", read - kept - rejected, 0, 0),
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
    description="Records read = kept + rejected; rejected share <= max_rejected_rate (config/sources.yaml).",
    metrics=_accounting,
)

checks: list[dg.AssetChecksDefinition] = [raw_documents_schema, raw_documents_accounting]
