"""Run great_expectations 1.x suites over a frame and summarise the outcome.

GX has no polars source: callers pass only the columns a suite needs (converted to pandas), and
compute cheap whole-partition metrics (rates, quantiles) in polars themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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

    def markdown(self) -> str:
        lines = ["| expectation | column | ok | observed | unexpected |", "|---|---|---|---|---|"]
        for o in self.outcomes:
            obs = str(o.observed if o.observed is not None else o.detail)[:80].replace("|", "\\|")
            lines.append(f"| {o.expectation} | {o.column or ''} | {'✅' if o.success else '❌'} | {obs} | {o.unexpected_count if o.unexpected_count is not None else ''} |")
        return "\n".join(lines)


def run_suite(df: pl.DataFrame, expectations: list, name: str = "suite") -> SuiteOutcome:
    """Validate `df` with GX expectation objects (ephemeral context, whole-dataframe batch)."""
    import great_expectations as gx  # ~4 s import: only when a check runs
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(f"{name}_source")
    asset = source.add_dataframe_asset(name=f"{name}_frame")
    batch_def = asset.add_batch_definition_whole_dataframe(f"{name}_batch")
    batch = batch_def.get_batch(batch_parameters={"dataframe": df.to_pandas()})
    result = batch.validate(gx.ExpectationSuite(name=name, expectations=expectations))
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
