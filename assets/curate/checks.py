"""Checks on curate assets: fragment schema and ids; decontamination accounting and hit rate (documents, math items)."""

import dagster as dg

from assets.common.checks import gx_check
from assets.curate.assets import DECONTAM_INPUT, MATH_DECONTAM_INPUT
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
    *decontam_checks(DECONTAM_INPUT, "decontaminated_documents", "contaminated_items"),
    *decontam_checks(MATH_DECONTAM_INPUT, "decontaminated_math_items", "contaminated_math_items"),
]
