"""Checks on curate assets: fragment schema and ids; decontamination accounting and hit rate."""

import dagster as dg

from assets.common.checks import gx_check
from assets.curate.assets import DECONTAM_INPUT
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


def _decontam_accounting(context, store: CorpusStore, dims: dict[str, str]):
    """Input rows = kept + contaminated: decontamination loses no row silently."""
    rows_in = _rows(store, DECONTAM_INPUT, dims)
    kept, removed = _rows(store, "decontaminated_documents", dims), _rows(store, "contaminated_items", dims)
    return [metric_outcome(f"{DECONTAM_INPUT} {rows_in} - kept {kept} - contaminated {removed}", rows_in - kept - removed, 0, 0)]


def _contaminated_share(context, store: CorpusStore, dims: dict[str, str]):
    """A spike in the contaminated share means benchmark copies leak in upstream: worth a look."""
    rows_in = _rows(store, DECONTAM_INPUT, dims)
    removed = _rows(store, "contaminated_items", dims)
    return [metric_outcome("contaminated share", removed / rows_in if rows_in else 0.0, None, MAX_CONTAMINATED_SHARE)]


checks: list[dg.AssetChecksDefinition] = [
    gx_check(
        asset="chunked_documents",
        name="fragment_schema_and_ids",
        description="Seed schema in order, unique {patent}-step{s}-{p}-{f} ids, sha1 hashes, non-empty text.",
        columns=list(CHUNK_SCHEMA),
        expectations=_chunk_expectations,
    ),
    gx_check(
        asset="decontaminated_documents",
        name="every_row_accounted",
        description=f"Rows of {DECONTAM_INPUT} = decontaminated_documents + contaminated_items.",
        metrics=_decontam_accounting,
    ),
    gx_check(
        asset="decontaminated_documents",
        name="contaminated_share",
        description=f"Contaminated share of the partition <= {MAX_CONTAMINATED_SHARE:.0%} (a warning, not a stop).",
        metrics=_contaminated_share,
        blocking=False,
    ),
]
