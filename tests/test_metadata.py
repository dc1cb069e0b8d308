"""Metadata the UI shows: typed tables (cut, rounded), and a description for every declared column."""
import ast
import datetime as dt
import sys
from pathlib import Path

import dagster as dg
import polars as pl

import assets.definitions  # noqa: F401 - imports every asset module
from assets.common.columns import COLUMNS
from assets.common.metadata import (
    TEXT_WIDTH,
    counts_table,
    frame_table,
    rounded,
    stored,
)
from assets.common.stage import Out
from corpus_dag.storage import CorpusStore


def _is_schema(value) -> bool:
    return (isinstance(value, dict) and bool(value) and all(isinstance(k, str) for k in value)
            and all(isinstance(v, pl.DataType) or (isinstance(v, type) and issubclass(v, pl.DataType)) for v in value.values()))


def declared_columns() -> dict[str, str]:
    """Column name -> where it is declared, over every asset module: module-level `Out`s and schemas
    (imported ones included), and dict literals of polars types in the modules' code (the columns a
    stage adds inline, e.g. `docs.schema | {"lang": pl.String}`), except `schema=` arguments of
    metadata frames. Keys that are names (REASON, TAGS) are resolved in the module."""
    found = {}
    modules = [m for name, m in sys.modules.items() if name == "assets" or name.startswith("assets.")]
    for module in modules:
        for attr, value in vars(module).items():
            schema = value.schema if isinstance(value, Out) else value
            if _is_schema(schema):
                found.update({c: f"{module.__name__}.{attr}" for c in schema})
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        metadata_frames = {id(k.value) for call in ast.walk(tree) if isinstance(call, ast.Call) for k in call.keywords if k.arg == "schema"}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Dict) and node.keys and id(node) not in metadata_frames):
                continue
            if not all(ast.unparse(v).startswith("pl.") for v in node.values):
                continue
            for key in node.keys:
                name = key.value if isinstance(key, ast.Constant) else vars(module).get(key.id) if isinstance(key, ast.Name) else None
                if isinstance(name, str):
                    found[name] = f"{module.__file__}:{node.lineno}"
    return found


def test_every_declared_column_has_a_description():
    declared = declared_columns()
    assert {"doc_id", "text", "reason", "ppl", "score", "lang", "tags", "patent"} <= set(declared)  # the scan sees inline ones too
    missing = {c: where for c, where in declared.items() if not COLUMNS.get(c)}
    assert missing == {}, f"add these columns to assets/common/columns.py: {missing}"


def test_stored_schema_carries_the_descriptions(tmp_path):
    meta = stored(CorpusStore(str(tmp_path)), "x/part.parquet", 3, {"doc_id": pl.String, "user_field": pl.Int64})
    columns = {c.name: c for c in meta["dagster/column_schema"].columns}
    assert columns["doc_id"].description == COLUMNS["doc_id"] and columns["doc_id"].type == "String"
    assert columns["user_field"].description is None  # a column no stage declares: no made-up text


def test_frame_table_is_typed_cut_and_rounded():
    long = "第一段\n" + "字" * 300
    df = pl.DataFrame({"text": [long, None], "n": [3, 4], "share": [1 / 3, 2.0e-7], "ok": [True, False],
                       "day": [dt.date(2026, 11, 20), None], "tags": [["a", "b"], []]})
    table = frame_table(df)
    types = {c.name: c.type for c in table.schema.columns}
    assert types == {"text": "string", "n": "int", "share": "float", "ok": "bool", "day": "string", "tags": "string"}
    first, second = (r.data for r in table.records)
    assert len(first["text"]) == TEXT_WIDTH and first["text"].endswith("…") and "\n" not in first["text"]
    assert first["share"] == 0.3333 and second["share"] == 2.0e-7 and first["n"] == 3 and first["ok"] is True
    assert first["day"] == "2026-11-20" and second["text"] is None and second["day"] is None


def test_rounded_keeps_integer_digits_and_small_values():
    assert (rounded(123456.789), rounded(0.98765), rounded(0.000123456), rounded(0.0)) == (123457.0, 0.9877, 0.0001235, 0.0)


def test_counts_table_largest_first_with_shares():
    table = counts_table({"b": 1, "a": 6, "c": 1}, "reason")
    assert [r.data for r in table.records] == [{"reason": "a", "rows": 6, "share": 0.75}, {"reason": "b", "rows": 1, "share": 0.125},
                                               {"reason": "c", "rows": 1, "share": 0.125}]
    assert isinstance(table, dg.TableMetadataValue)


def test_a_histogram_keeps_its_bin_order():
    table = counts_table({"0": 2, "5": 0, "10": 6}, "score", "count", ordered=True)
    assert [(r.data["score"], r.data["count"]) for r in table.records] == [("0", 2), ("5", 0), ("10", 6)]


def test_check_plot_keys_do_not_change_with_the_partition():
    """The check page plots one series per key: counts, bounds and the GX sample's seed must not be in it."""
    from assets.common.checks import _numbers
    from corpus_dag.validation import ExpectationOutcome, SuiteOutcome, metric_outcome

    def keys(n: int, seed: int) -> list[str]:
        return list(_numbers(SuiteOutcome([
            metric_outcome(f"raw_documents {n} - kept {n - 1} - dropped 1", 0, 0, 0),
            ExpectationOutcome(f"expect_column_values_to_be_unique (GX, sample of {n:,} rows, seed {seed})", "doc_id", True, None, 0),
            ExpectationOutcome(f"ExpectColumnValuesToBeUnique (whole partition, {n:,} values)", "doc_id", True, None, 0),
        ])))

    assert keys(120, 7) == keys(3000, 123456) and len(set(keys(120, 7))) == 3
