"""Metadata that makes a partition readable in the UI: previews, drop reasons, row counts, columns."""

import math
from collections.abc import Mapping

import dagster as dg
import polars as pl

from assets.common.columns import describe
from corpus_dag.accounting import Tally
from corpus_dag.storage import CorpusStore
from corpus_dag.validation import SuiteOutcome


def stored(store: CorpusStore, rel: str, rows: int, schema: Mapping[str, pl.DataType]) -> dict:
    """What every written partition reports: its row count, where it lies, and its columns with
    what they mean (shown on the asset's page, so a reader sees the schema without opening a file)."""
    columns = [dg.TableColumn(name, str(dtype), description=describe(name)) for name, dtype in schema.items()]
    return {
        "dagster/row_count": rows,
        "path": dg.MetadataValue.path(store.url(rel)),
        "dagster/column_schema": dg.TableSchema(columns=columns),
    }


TEXT_WIDTH = 80  # characters a table cell shows: a long text is cut so each row stays one readable line
FLOAT_DIGITS = 4  # significant digits of a float: a ratio or score needs no more; 13 decimals hide the number


def _short(v, width: int) -> str:
    s = "" if v is None else str(v)
    s = s.replace("\n", " ⏎ ")
    return s if len(s) <= width else s[: width - 1] + "…"


def rounded(v: float) -> float:
    """`v` to FLOAT_DIGITS significant digits, keeping every integer digit: 0.000123456 -> 0.0001235,
    0.98765 -> 0.9877, 123456.7 -> 123457.0."""
    if v == 0 or not math.isfinite(v):
        return v
    return float(f"{v:.{max(FLOAT_DIGITS, int(math.log10(abs(v))) + 1)}g}")


def _column_type(dtype: pl.DataType) -> str:
    if dtype == pl.Boolean:
        return "bool"
    return "int" if dtype.is_integer() else "float" if dtype.is_float() else "string"


def _record_value(v, kind: str, width: int):
    """A cell as TableRecord takes it: numbers and bools as they are (floats rounded), the rest as
    text cut to `width` (dates, lists and structs included)."""
    if v is None:
        return None
    if kind == "float":
        return rounded(float(v))
    if kind in ("int", "bool"):
        return v
    return _short(v, width)


def frame_table(df: pl.DataFrame, max_rows: int = 50, width: int = TEXT_WIDTH) -> dg.TableMetadataValue:
    """A typed table the UI renders and tooling reads back as records (not markdown)."""
    kinds = {name: _column_type(dtype) for name, dtype in df.schema.items()}
    columns = [dg.TableColumn(name, kind) for name, kind in kinds.items()]
    records = [dg.TableRecord({k: _record_value(v, kinds[k], width) for k, v in row.items()})
               for row in df.head(max_rows).iter_rows(named=True)]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=columns))


def counts_table(counts: Mapping, key: str, value: str = "rows", ordered: bool = False) -> dg.TableMetadataValue:
    """A {name: count} tally (rows by reason, benchmark, status) as a typed table with each entry's
    share of the total, largest first; `ordered`: keep the given order (a histogram's bins)."""
    total = sum(counts.values())
    frame = pl.DataFrame({key: [str(k) for k in counts], value: list(counts.values()),
                          "share": [round(v / total, 4) if total else 0.0 for v in counts.values()]},
                         schema={key: pl.String, value: pl.Int64, "share": pl.Float64})
    return frame_table(frame if ordered else frame.sort([value, key], descending=[True, False]), max_rows=max(len(counts), 1))


def outcomes_table(outcome: SuiteOutcome) -> dg.TableMetadataValue:
    """A check's outcomes (expectation, column, ok, observed, unexpected rows) as a typed table."""
    frame = pl.DataFrame(
        [{"expectation": o.expectation, "column": o.column, "ok": o.success,
          "observed": str(o.observed if o.observed is not None else o.detail), "unexpected": o.unexpected_count}
         for o in outcome.outcomes],
        schema={"expectation": pl.String, "column": pl.String, "ok": pl.Boolean, "observed": pl.String, "unexpected": pl.Int64},
    )
    return frame_table(frame, max_rows=max(frame.height, 1), width=200)


def tally_metadata(tally: Tally) -> dict:
    """Rows in / kept / dropped (numbers the UI plots across partitions) and the drop reasons as a
    typed table, largest first."""
    return {
        "rows_in": tally.n_in,
        "rows_kept": tally.n_kept,
        "rows_dropped": tally.n_dropped,
        "dropped_by_reason": counts_table(tally.dropped, "reason"),
    }
