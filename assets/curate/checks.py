"""Checks on curate assets: fragment schema and ids, chunking accounting (in documents); decontamination accounting and
hit rate (documents, math items)."""

import dagster as dg

from assets.common.checks import gx_check
from assets.common.partitions import SOURCES
from assets.curate.assets import (
    CHUNK_INPUT,
    CHUNKS,
    DECONTAM_INPUT,
    MATH_DECONTAM_INPUT,
    UNCHUNKED,
)
from corpus_dag.chunking import CHUNK_SCHEMA
from corpus_dag.storage import CorpusStore, PartitionData
from corpus_dag.validation import metric_outcome

MAX_CONTAMINATED_SHARE = 0.05


def _chunk_expectations() -> list:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=list(CHUNK_SCHEMA)),
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectColumnValuesToMatchRegex(column="id", regex=r"^.+-step\d+-\d+-\d+$"),
        gxe.ExpectColumnValuesToMatchRegex(column="hash", regex=r"^sha1:[0-9a-f]{40}$"),
        gxe.ExpectColumnValueLengthsToBeBetween(column="text", min_value=1),
        *(gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0) for c in ("step", "paragraph", "fragment")),
    ]


def _rows(store: CorpusStore, asset: str, dims: dict) -> int:
    return PartitionData(store, CorpusStore.partition_path(asset, dims)).require(f"asset {asset} {dims}").num_rows


def _chunk_accounting(context, store: CorpusStore, dims: dict[str, str]):
    """Documents in = documents chunked + documents unchunked. Counted in documents: a document gives
    many fragments, so the fragment count says nothing about lost documents. Chunked documents are
    the distinct `patent` ids among the fragments (one per document, repeats are unchunked)."""
    applies = SOURCES.get(dims["source"]).applies("chunk")
    docs_in = _rows(store, CHUNK_INPUT, dims) if applies else 0  # other kinds: an empty partition
    fragments = PartitionData(store, CorpusStore.partition_path(CHUNKS.asset, dims)).require(f"asset {CHUNKS.asset} {dims}")
    chunked = fragments.read(["patent"])["patent"].n_unique()
    unchunked = _rows(store, UNCHUNKED, dims)
    return [metric_outcome("documents in - chunked - unchunked", docs_in - chunked - unchunked, 0, 0)]


def decontam_checks(source_asset: str, kept: str, removed: str) -> list[dg.AssetChecksDefinition]:
    """Accounting (blocking) and contaminated share (a warning) of one decontamination stage."""

    def accounting(context, store: CorpusStore, dims: dict[str, str]):
        """Input rows = kept + contaminated: decontamination loses no row silently."""
        rows_in = _rows(store, source_asset, dims)
        n_kept, n_removed = _rows(store, kept, dims), _rows(store, removed, dims)
        return [metric_outcome(f"{source_asset} {rows_in} - kept {n_kept} - contaminated {n_removed}", rows_in - n_kept - n_removed, 0, 0)]

    def share(context, store: CorpusStore, dims: dict[str, str]):
        """A spike in the contaminated share means benchmark copies leak in upstream: worth a look."""
        rows_in = _rows(store, source_asset, dims)
        n_removed = _rows(store, removed, dims)
        return [metric_outcome("contaminated share", n_removed / rows_in if rows_in else 0.0, None, MAX_CONTAMINATED_SHARE)]

    return [
        gx_check(
            asset=kept,
            name="every_row_accounted",
            description=f"Rows of {source_asset} = {kept} + {removed}.",
            metrics=accounting,
        ),
        gx_check(
            asset=kept,
            name="contaminated_share",
            description=f"Contaminated share of the partition <= {MAX_CONTAMINATED_SHARE:.0%} (a warning, not a stop).",
            metrics=share,
            blocking=False,
        ),
    ]


checks: list[dg.AssetChecksDefinition] = [
    gx_check(
        asset="chunked_documents",
        name="fragment_schema_and_ids",
        description="Seed schema in order, unique {patent}-step{s}-{p}-{f} ids, sha1 hashes, non-empty text.",
        columns=list(CHUNK_SCHEMA),
        expectations=_chunk_expectations,
    ),
    gx_check(
        asset=CHUNKS.asset,
        name="every_document_accounted",
        description=f"Documents of {CHUNK_INPUT} (patent/book sources) = documents chunked (distinct patent ids of the "
        f"fragments) + {UNCHUNKED}: counted in documents, not fragments.",
        metrics=_chunk_accounting,
    ),
    *decontam_checks(DECONTAM_INPUT, "decontaminated_documents", "contaminated_items"),
    *decontam_checks(MATH_DECONTAM_INPUT, "decontaminated_math_items", "contaminated_math_items"),
]
