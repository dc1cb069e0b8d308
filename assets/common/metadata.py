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


def tally_metadata(tally: Tally) -> dict:
    """Rows in / kept / dropped and a reason table: the accounting every stage reports."""
    reasons = pl.DataFrame(
        {"reason": list(tally.dropped), "rows": list(tally.dropped.values())}, schema={"reason": pl.String, "rows": pl.Int64}
    ).sort("rows", descending=True)
    return {
        "rows_in": tally.n_in,
        "rows_kept": tally.n_kept,
        "rows_dropped": tally.n_dropped,
        "dropped_by_reason": dg.MetadataValue.md(markdown_table(reasons, max_rows=30, width=100)),
        "dropped_reasons": dg.MetadataValue.json(dict(tally.dropped.most_common())),
    }
