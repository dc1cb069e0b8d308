"""Run great_expectations 1.x suites over a frame and summarise the outcome.

GX has no polars source: callers pass only the columns a suite needs (converted to pandas), and
compute cheap whole-partition metrics (rates, quantiles) in polars themselves. A partition can be
larger than memory in pandas, so checks run GX on a seeded sample (`seeded_sample`) and judge the
per-value expectations exactly over the whole partition in streamed polars batches
(`whole_partition_outcomes`).
"""
from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    observed: Any = None
    unexpected_count: int | None = None
    detail: str = ""


@dataclass
class SuiteOutcome:
    outcomes: list[ExpectationOutcome] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    def add(self, outcome: ExpectationOutcome) -> None:
        self.outcomes.append(outcome)


def run_suite(df: pl.DataFrame, expectations: list, name: str = "suite") -> SuiteOutcome:
    """Validate `df` with GX expectation objects (ephemeral context, whole-dataframe batch)."""
    import great_expectations as gx  # ~4 s import: only when a check runs
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX leaves the pandas frame in reference cycles: collect them. The objects that existed before
    # are frozen meanwhile, so the collection scans only what GX made (a full one took ~1 s a check in
    # a process that has loaded torch, transformers and vLLM).
    gc.freeze()
    try:
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = context.data_sources.add_pandas(f"{name}_source")
        asset = source.add_dataframe_asset(name=f"{name}_frame")
        batch_def = asset.add_batch_definition_whole_dataframe(f"{name}_batch")
        batch = batch_def.get_batch(batch_parameters={"dataframe": df.to_pandas()})
        result = batch.validate(gx.ExpectationSuite(name=name, expectations=expectations))
        context.data_sources.delete(source.name)  # the project context GX keeps would hold the pandas frame
        del batch, batch_def, asset, source
        gc.collect()
    finally:
        gc.unfreeze()
    summary = SuiteOutcome()
    for r in result.results:
        cfg = r.expectation_config
        res = r.result or {}
        summary.add(
            ExpectationOutcome(
                expectation=cfg.type,
                column=cfg.kwargs.get("column"),
                success=bool(r.success),
                observed=res.get("observed_value"),
                unexpected_count=res.get("unexpected_count"),
                detail=str(r.exception_info.get("exception_message") or "") if not r.success else "",
            )
        )
    return summary


def metric_outcome(name: str, value: float, low: float | None = None, high: float | None = None) -> ExpectationOutcome:
    """A whole-partition metric computed in polars, judged against a configured range."""
    ok = (low is None or value >= low) and (high is None or value <= high)
    bounds = f"[{'' if low is None else low}, {'' if high is None else high}]"
    return ExpectationOutcome(f"{name} within {bounds}", None, ok, observed=round(value, 6))


# ---- bounded checks: GX on a seeded sample, exact whole-partition twins in polars ---------------
class SeededSample:
    """Up to `k` rows drawn uniformly without replacement (seeded) from a partition of `n_rows`, fed
    one batch at a time (`add`), so the pass that feeds it can serve other consumers too: memory is
    the sample, whatever the partition's size."""

    def __init__(self, n_rows: int, k: int, seed: int):
        self.take = np.sort(np.random.default_rng(seed).choice(n_rows, size=k, replace=False)) if n_rows > k else None
        self.picked: list[pl.DataFrame] = []
        self.offset = 0

    def add(self, batch: pl.DataFrame) -> None:
        if self.take is None:
            self.picked.append(batch)
        else:
            lo, hi = np.searchsorted(self.take, [self.offset, self.offset + batch.height])
            if hi > lo:  # copied out: a gather of string views would keep the whole batch's buffers alive
                self.picked.append(pl.from_arrow(batch[self.take[lo:hi] - self.offset].to_arrow(compat_level=pl.CompatLevel.oldest())))
        self.offset += batch.height

    def frame(self) -> pl.DataFrame:
        return pl.concat(self.picked) if self.picked else pl.DataFrame()


def seeded_sample(batches: Iterable[pl.DataFrame], n_rows: int, k: int, seed: int) -> pl.DataFrame:
    """`SeededSample` over a stream of batches."""
    sample = SeededSample(n_rows, k, seed)
    for batch in batches:
        sample.add(batch)
    return sample.frame()


class _RowRule:
    """Counts, batch by batch, the values of one column that break one GX expectation. Like GX,
    nulls are ignored except by the not-null rule; `bad` marks the values that break a value rule."""

    def __init__(self, expectation, kind: str, bad: Callable[[pl.Expr], pl.Expr] | None = None):
        self.expectation, self.column, self.kind, self.bad = expectation, expectation.column, kind, bad
        self.checked = self.unexpected = 0
        self.hashes: list[pl.Series] = []

    def add(self, batch: pl.DataFrame) -> None:
        if self.kind == "unique":
            col = batch.get_column(self.column).drop_nulls()
            self.checked += col.len()
            self.hashes.append(col.hash(seed=0))
            return
        c = pl.col(self.column)
        counted, unexpected = (c.len(), c.is_null().sum()) if self.kind == "not_null" else (c.count(), self.bad(c).sum())
        checked, bad = batch.select(counted.alias("checked"), unexpected.alias("bad")).row(0)  # no copy of the column
        self.checked += checked
        self.unexpected += int(bad or 0)

    def duplicates(self, batches: Callable[[list[str]], Iterable[pl.DataFrame]]) -> int:
        """Rows whose value occurs more than once: 8-byte hashes first, then a second pass over the
        exact values of the few hashes seen twice (a hash collision is never reported)."""
        hashes = pl.concat(self.hashes) if self.hashes else pl.Series(dtype=pl.UInt64)
        self.hashes = []
        repeated = hashes.filter(hashes.is_duplicated()).unique()
        if repeated.is_empty():
            return 0
        suspects: list = []
        for batch in batches([self.column]):
            col = batch.get_column(self.column).drop_nulls()
            suspects += col.filter(col.hash(seed=0).is_in(repeated)).to_list()
        return int(pl.Series(suspects).is_duplicated().sum())

    def outcome(self, batches: Callable[[list[str]], Iterable[pl.DataFrame]]) -> ExpectationOutcome:
        if self.kind == "unique":
            self.unexpected = self.duplicates(batches)
        mostly = getattr(self.expectation, "mostly", 1) or 1
        ok = self.unexpected <= (1 - mostly) * self.checked
        name = f"{type(self.expectation).__name__} (whole partition, {self.checked:,} values)"
        return ExpectationOutcome(name, self.column, ok, observed=f"{self.unexpected:,} unexpected", unexpected_count=self.unexpected)


def _row_rule(e) -> _RowRule | None:
    """The polars twin of a per-value GX expectation, or None for expectations GX alone judges."""
    kind = type(e).__name__
    lo, hi = getattr(e, "min_value", None), getattr(e, "max_value", None)

    def outside(c: pl.Expr) -> pl.Expr:
        low = (c <= lo if getattr(e, "strict_min", False) else c < lo) if lo is not None else pl.lit(False)
        high = (c >= hi if getattr(e, "strict_max", False) else c > hi) if hi is not None else pl.lit(False)
        return low | high

    if kind == "ExpectColumnValuesToBeUnique":
        return _RowRule(e, "unique")
    if kind == "ExpectColumnValuesToNotBeNull":
        return _RowRule(e, "not_null")
    value_rules = {
        "ExpectColumnValuesToBeBetween": outside,
        "ExpectColumnValueLengthsToBeBetween": lambda c: outside(c.str.len_chars()),
        "ExpectColumnValuesToMatchRegex": lambda c: ~c.str.contains(e.regex),
        "ExpectColumnValuesToBeInSet": lambda c: ~c.is_in(list(e.value_set or [])),
    }
    return _RowRule(e, "values", value_rules[kind]) if kind in value_rules else None


def whole_partition_outcomes(
    expectations: list, batches: Callable[[list[str]], Iterable[pl.DataFrame]]
) -> list[ExpectationOutcome]:
    """Exact results of the per-value expectations over every row, streamed batch by batch.

    `batches(columns)` streams the partition's columns. Memory: one batch, plus 8 bytes per value
    of a column that must be unique."""
    rules = [r for r in map(_row_rule, expectations) if r is not None]
    if not rules:
        return []
    for batch in batches(sorted({r.column for r in rules})):
        for rule in rules:
            rule.add(batch)
    return [rule.outcome(batches) for rule in rules]
