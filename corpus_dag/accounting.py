"""Row accounting: every stage answers, per batch, which rows it kept and why it dropped the rest.

A stage never loses a row silently: `rows in = kept + dropped`, and every dropped row carries a
`reason`. `Tally` sums those answers over the batches of a partition for metadata and checks.
A reason may carry the row's own evidence after DETAIL (`not_exam: weak structure — 6 numbered
questions, 0 options`); rows are counted by the part before it, so the tally stays a short table.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import polars as pl

REASON = "reason"
DETAIL = " — "


@dataclass(frozen=True)
class Split:
    """One batch through one stage: kept rows, and dropped rows with a `reason` column.

    `kept_in` is the number of input rows behind `kept` when a row gives several (chunking: a
    document gives many fragments), so the accounting counts input rows, not rows written."""

    kept: pl.DataFrame
    dropped: pl.DataFrame
    kept_in: int | None = None  # None: one kept row per input row

    @property
    def n_kept_in(self) -> int:
        return self.kept.height if self.kept_in is None else self.kept_in

    @property
    def n_in(self) -> int:
        return self.n_kept_in + self.dropped.height


def split_by_reason(df: pl.DataFrame, reason: pl.Expr) -> Split:
    """Split `df` on an expression that yields a drop reason, or null to keep the row."""
    tagged = df.with_columns(reason.cast(pl.String).alias(REASON))
    return Split(
        kept=tagged.filter(pl.col(REASON).is_null()).drop(REASON),
        dropped=tagged.filter(pl.col(REASON).is_not_null()),
    )


@dataclass
class Tally:
    """Running counts for one stage over many batches, in input rows (`n_out`: rows written to the
    kept output, which differs only for stages that give several rows per input row)."""

    n_in: int = 0
    n_kept: int = 0
    n_out: int = 0
    dropped: Counter = field(default_factory=Counter)

    def add(self, split: Split) -> Split:
        self.n_in += split.n_in
        self.n_kept += split.n_kept_in
        self.n_out += split.kept.height
        if split.dropped.height:
            heads = split.dropped.select(pl.col(REASON).str.split(DETAIL).list.first())
            for reason, n in heads.group_by(REASON).len().iter_rows():
                self.dropped[reason] += n
        return split

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def balanced(self) -> bool:
        return self.n_in == self.n_kept + self.n_dropped
