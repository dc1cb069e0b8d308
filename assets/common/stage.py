"""The one way a stage writes: stream results into its outputs and publish them together.

A stage asset says which partition it reads (an `ins=` handle), which batch step it applies
(a corpus_dag function, run by the `engine` resource: locally or on Ray), and where its outputs go;
this module streams, commits every output of the partition in one step (`CorpusStore.commit`:
the kept and dropped halves appear together or not at all), logs progress, and reports the row
accounting (rows in = kept + dropped with a reason) as metadata.
"""

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
import polars as pl

from assets.common.engine import CorpusEngine
from assets.common.metadata import frame_table, stored, tally_metadata
from assets.common.partitions import dims_for
from corpus_dag.accounting import PREVIEW_ROWS, Split, Tally, WrittenSplit, map_and_write
from corpus_dag.engine import Step
from corpus_dag.storage import CommitOutput, CorpusStore, PartitionData, arrow_schema


@dataclass(frozen=True)
class Out:
    """One output of a stage: its asset key and the polars schema every batch is cast to."""

    asset: str
    schema: Mapping[str, pl.DataType]


def context_dims(context) -> dict[str, str]:
    """Storage folders of the partition this step writes ({} for an unpartitioned asset)."""
    key = context.partition_key if context.has_partition_key else None
    return dims_for(context.assets_def.partitions_def, key)


def write_outputs(context, store: CorpusStore, outs: list[Out], fill: Callable[[dict[str, CommitOutput]], dict | None],
                  dims: dict[str, str] | None = None, per_asset: Callable[[str], dict] | None = None) -> list[dg.MaterializeResult]:
    """Commit the outputs of one partition together: `fill(writers)` writes into them (keyed by asset)
    and may return metadata shared by all outputs; each output then reports where it lies, its
    version, its files (one, or a part per slice of a map stage) and columns, plus `per_asset(asset)`."""
    dims = context_dims(context) if dims is None else dims
    paths = {o.asset: CorpusStore.partition_path(o.asset, dims) for o in outs}
    with store.commit({paths[o.asset]: arrow_schema(o.schema) for o in outs}, run_id=context.run_id) as writers:
        by_asset = {o.asset: writers[paths[o.asset]] for o in outs}
        extra = fill(by_asset) or {}
    version = store.version(paths[outs[0].asset])
    return [
        dg.MaterializeResult(
            asset_key=o.asset,
            metadata=extra | stored(store, paths[o.asset], by_asset[o.asset].rows, o.schema)
            | {"version": version, "files": len(by_asset[o.asset].layout())}
            | (per_asset(o.asset) if per_asset else {}),
        )
        for o in outs
    ]


def stream_split(
    context: dg.AssetExecutionContext,
    store: CorpusStore,
    splits: Iterable[Split] | Callable[[dict[str, CommitOutput]], Iterable[WrittenSplit]],
    kept: Out,
    dropped: Out | None = None,
    extra_metadata: Callable[[Tally], dict] | None = None,
    *,
    dims: dict[str, str] | None = None,
    progress: Callable[[Tally], str] | None = None,
) -> list[dg.MaterializeResult]:
    """Write every Split's kept rows to `kept` (and dropped rows to `dropped`) for this partition
    (`dims`: another one, for a run of several partitions). `splits` given as a function of the
    commit's outputs: the splits were written where they were computed and adopted into the outputs
    (`map_and_write`); only their accounting comes back. `progress(tally)`: a line logged after every
    split (default: rows so far, every 10th split)."""
    outs = [o for o in (kept, dropped) if o is not None]
    tally, started, previews = Tally(), time.monotonic(), {o.asset: [] for o in outs}
    dims = context_dims(context) if dims is None else dims
    where = "|".join(dims.values()) or kept.asset

    def fill(writers: dict[str, CommitOutput]) -> dict:
        for n, split in enumerate(splits(writers) if callable(splits) else splits, start=1):
            tally.add(split)
            if isinstance(split, WrittenSplit):
                frames = split.heads
            else:
                frames = {kept.asset: split.kept} | ({dropped.asset: split.dropped} if dropped else {})
                for asset, df in frames.items():
                    writers[asset].write(df)
            for asset, df in frames.items():
                if sum(p.height for p in previews[asset]) < PREVIEW_ROWS and df.height:
                    previews[asset].append(df.head(PREVIEW_ROWS))
            if progress is not None:
                context.log.info(f"{where}: {progress(tally)}")
            elif n % 10 == 0:
                context.log.info(f"{where}: {tally.n_in:,} rows in, {tally.n_kept:,} kept so far")
        if dropped is None and tally.n_dropped:
            raise RuntimeError(f"{kept.asset}: {tally.n_dropped} rows dropped but the stage has no dropped-rows output")
        seconds = round(time.monotonic() - started, 3)
        context.log.info(f"{where}: {tally.n_in:,} in, {tally.n_kept:,} kept, {tally.n_dropped:,} dropped, {seconds}s")
        return tally_metadata(tally) | {"seconds": seconds} | (extra_metadata(tally) if extra_metadata else {})

    def preview(asset: str) -> dict:
        frame = pl.concat(previews[asset]) if previews[asset] else pl.DataFrame()
        return {"preview": frame_table(frame, max_rows=5)}

    return write_outputs(context, store, outs, fill, dims=dims, per_asset=preview)


def map_split(
    context: dg.AssetExecutionContext,
    store: CorpusStore,
    engine: CorpusEngine,
    data: PartitionData | None,
    step: Step,
    kept: Out,
    dropped: Out | None = None,
    *,
    stage: str,
    batch_rows: int,
    columns: list[str] | None = None,
    whole: str | None = None,
    summarize: Callable[[Split], Any] | None = None,
    extra_metadata: Callable[[Tally], dict] | None = None,
    dims: dict[str, str] | None = None,
    progress: Callable[[Tally], str] | None = None,
) -> list[dg.MaterializeResult]:
    """A map stage: `step` (batch -> Split) over every batch of `data`, run by the engine (local or
    Ray, same output). Each batch's rows are written as one part of each output by the process that
    computed them (a Ray worker: no row passes through this step), and committed with `stream_split`.
    `data` None: the stage does not apply here. `whole`: a column whose runs of equal values no batch
    cuts (see `Engine.map_batches`). `summarize(split)`, run beside the step, says what the stage reports
    beyond the accounting; `extra_metadata` finds those summaries in `Tally.summaries`. A stage that
    only scores or adds columns keeps every row and has no `dropped` output. `dims`, `progress`: as
    `stream_split`'s."""
    def splits(writers: dict[str, CommitOutput]) -> Iterable[WrittenSplit]:
        if data is None:
            return ()
        return map_and_write(engine.engine, data.pinned(), step, writers, kept.asset, dropped.asset if dropped else None,
                             summarize, columns=columns, batch_rows=batch_rows, resources=engine.stage(stage), whole=whole)

    engine_md = {"engine": engine.kind}
    return stream_split(context, store, splits, kept, dropped,
                        extra_metadata=lambda t: engine_md | (extra_metadata(t) if extra_metadata else {}), dims=dims, progress=progress)


def split_specs(
    kept: str,
    dropped: str,
    *,
    kept_doc: str,
    dropped_doc: str,
    deps: list,
    stage: str,
    kinds: frozenset = frozenset({"polars", "parquet"}),
    **common,
) -> list[dg.AssetSpec]:
    """The two specs of a filter-like stage: the rows it keeps and the rows it drops with a reason."""
    return [
        dg.AssetSpec(name, description=doc, kinds=set(kinds), tags={"stage": stage}, deps=deps, **common)
        for name, doc in ((kept, kept_doc), (dropped, dropped_doc))
    ]
