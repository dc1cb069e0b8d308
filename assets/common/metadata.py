"""Metadata that makes a partition readable in the UI: previews, drop reasons, row counts, columns."""

from collections.abc import Mapping

import dagster as dg
import polars as pl

from corpus_dag.accounting import Tally
from corpus_dag.storage import CorpusStore


def stored(store: CorpusStore, rel: str, rows: int, schema: Mapping[str, pl.DataType]) -> dict:
    """What every written partition reports: its row count, where it lies, and its columns (shown
    on the asset's page, so a reader sees the schema without opening a file)."""
    columns = [dg.TableColumn(name, str(dtype)) for name, dtype in schema.items()]
    return {
        "dagster/row_count": rows,
        "path": dg.MetadataValue.path(store.url(rel)),
        "dagster/column_schema": dg.TableSchema(columns=columns),
    }


def _cell(v, width: int) -> str:
    s = "" if v is None else str(v)
    s = s.replace("\n", " ⏎ ").replace("|", "\\|")
    return s if len(s) <= width else s[: width - 1] + "…"


def markdown_table(df: pl.DataFrame, max_rows: int = 5, width: int = 60) -> str:
    """A small markdown table (cells cut to `width` chars) for previews in the asset page."""
    if df.height == 0:
        return "_(no rows)_"
    head = df.head(max_rows)
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    for row in head.iter_rows():
        lines.append("| " + " | ".join(_cell(v, width) for v in row) + " |")
    return "\n".join(lines)


def frame_table(df: pl.DataFrame, max_rows: int = 50) -> dg.TableMetadataValue:
    """A typed table the UI renders and tooling reads back as records (not markdown)."""
    kinds = {pl.Int64: "int", pl.Int32: "int", pl.UInt32: "int", pl.Float64: "float", pl.Boolean: "bool"}
    columns = [dg.TableColumn(name, kinds.get(dtype, "string")) for name, dtype in df.schema.items()]
    records = [dg.TableRecord({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
               for row in df.head(max_rows).iter_rows(named=True)]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=columns))


def tally_metadata(tally: Tally) -> dict:
    """Rows in / kept / dropped (numbers the UI plots across partitions) and the drop reasons as a
    typed table, largest first."""
    reasons = pl.DataFrame(
        {"reason": list(tally.dropped), "rows": list(tally.dropped.values())}, schema={"reason": pl.String, "rows": pl.Int64}
    ).sort("rows", descending=True)
    return {
        "rows_in": tally.n_in,
        "rows_kept": tally.n_kept,
        "rows_dropped": tally.n_dropped,
        "dropped_by_reason": frame_table(reasons),
    }
