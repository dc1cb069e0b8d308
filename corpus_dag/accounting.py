"""Row accounting: every stage answers, per batch, which rows it kept and why it dropped the rest.

A stage never loses a row silently: `rows in = kept + dropped`, and every dropped row carries a
`reason`. `Tally` sums those answers over the batches of a partition for metadata and checks.
A reason may carry the row's own evidence after DETAIL (`not_exam: weak structure — 6 numbered
questions, 0 options`); rows are counted by the part before it, so the tally stays a short table.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import polars as pl

from corpus_dag.storage import part_sink

REASON = "reason"
DETAIL = " — "


@dataclass(frozen=True)
class Split:
    """One batch through one stage: kept rows, and dropped rows with a `reason` column (none for a
    stage that only adds columns or scores: one kept row per input row).

    `kept_in` is the number of input rows behind `kept` when a row gives several (chunking: a
    document gives many fragments; a classifier: a row per model), so the accounting counts input
    rows, not rows written. `facts`: what the step measured of the batch that its rows do not show
    (text bytes read, prompts sent), for the stage's `summarize`."""

    kept: pl.DataFrame
    dropped: pl.DataFrame = field(default_factory=pl.DataFrame)
    kept_in: int | None = None  # None: one kept row per input row
    facts: Any = None

    @property
    def n_kept_in(self) -> int:
        return self.kept.height if self.kept_in is None else self.kept_in

    @property
    def n_in(self) -> int:
        return self.n_kept_in + self.dropped.height

    @property
    def n_out(self) -> int:
        return self.kept.height

    def reasons(self) -> Counter:
        return reason_counts(self.dropped)


def reason_counts(dropped: pl.DataFrame) -> Counter:
    """Dropped rows by reason (the part before DETAIL)."""
    if not dropped.height:
        return Counter()
    heads = dropped.select(pl.col(REASON).str.split(DETAIL).list.first())
    return Counter(dict(heads.group_by(REASON).len().iter_rows()))


@dataclass(frozen=True)
class WrittenSplit:
    """A Split whose rows the process that computed it wrote to storage (`write_split`): what comes back
    to the stage is its accounting, the part it wrote per output and a few rows to preview."""

    key: int  # the part's key: the first input row of its batch
    n_in: int
    n_kept_in: int
    n_out: int
    dropped: Counter
    rows: dict[str, int]  # rows written, by output
    heads: dict[str, pl.DataFrame]  # the first PREVIEW_ROWS rows written, by output
    summary: Any = None  # what the stage's `summarize` said of the split (its own metadata), where it has one

    def reasons(self) -> Counter:
        return self.dropped

    def adopt_into(self, outputs) -> None:
        """Name this split's parts in the commit's outputs (`storage.CommitOutput`s, keyed as the sink's)."""
        for name, rows in self.rows.items():
            outputs[name].adopt(self.key, rows)


PREVIEW_ROWS = 5


def write_split(sink, kept: str, dropped: str | None, summarize: Callable[[Split], Any] | None, key: int,
                split: Split) -> WrittenSplit:
    """Write `split` as part `key` of the `kept` and `dropped` outputs of `sink` (a `storage.PartSink`);
    with no dropped output its dropped rows are only counted (the stage then fails, naming them).
    `summarize(split)`: the small facts the stage reports beyond the accounting (PII found, bytes)."""
    frames = {kept: split.kept} | ({dropped: split.dropped} if dropped else {})
    rows = sink.write(key, frames)
    return WrittenSplit(key, split.n_in, split.n_kept_in, split.n_out, split.reasons(), rows,
                        {name: df.head(PREVIEW_ROWS) for name, df in frames.items()}, summarize(split) if summarize else None)


def map_and_write(engine, data, step, outputs, kept: str, dropped: str | None = None,
                  summarize: Callable[[Split], Any] | None = None, **map_options) -> Iterator[WrittenSplit]:
    """`step` (batch -> Split) over `data` on `engine`, each slice's rows written where it ran as parts of
    `outputs` (a commit's `storage.CommitOutput`s, keyed by name; `kept` and `dropped` name two of them)
    and adopted into them in input order; yields what came back. `map_options`: `Engine.map_batches`'s."""
    write = partial(write_split, part_sink(outputs), kept, dropped, summarize)
    for split in engine.map_batches(data, step, sink=write, **map_options):
        split.adopt_into(outputs)
        yield split


def split_facts(split: Split) -> Any:
    """A stage's `summarize` when its step measured what it reports (`Split.facts`)."""
    return split.facts


def text_bytes(split: Split) -> int:
    """UTF-8 bytes of the `text` of every row the split judged, kept or dropped (a stage's MB/s)."""
    return int(split.kept["text"].str.len_bytes().sum() + split.dropped["text"].str.len_bytes().sum())


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
    summaries: list = field(default_factory=list)  # the written splits' summaries, in input order

    def add(self, split: Split | WrittenSplit) -> Split | WrittenSplit:
        self.n_in += split.n_in
        self.n_kept += split.n_kept_in
        self.n_out += split.n_out
        self.dropped.update(split.reasons())
        if isinstance(split, WrittenSplit) and split.summary is not None:
            self.summaries.append(split.summary)
        return split

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def balanced(self) -> bool:
        return self.n_in == self.n_kept + self.n_dropped
