"""The shape most stages share: stream input batches through a step, write kept and dropped rows.

A stage asset is then a few lines: say which partition to read, which step to apply, and where
the two outputs go; this module streams, writes both partitions atomically, logs progress and
reports the row accounting (rows in = kept + dropped with a reason) as metadata.
"""

import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass

import dagster as dg
import polars as pl

from assets.common.metadata import markdown_table, stored, tally_metadata
from assets.common.partitions import dims_for
from corpus_dag.accounting import Split, Tally
from corpus_dag.storage import CorpusStore, arrow_schema


@dataclass(frozen=True)
class Out:
    """One output of a stage: its asset key and the polars schema every batch is cast to."""

    asset: str
    schema: Mapping[str, pl.DataType]


def stream_split(
    context: dg.AssetExecutionContext,
    store: CorpusStore,
    splits: Iterable[Split],
    kept: Out,
    dropped: Out | None = None,
    extra_metadata: Callable[[Tally], dict] | None = None,
) -> list[dg.MaterializeResult]:
    """Write every Split's kept rows to `kept` (and dropped rows to `dropped`) for this partition."""
    dims = dims_for(context.assets_def.partitions_def, context.partition_key if context.has_partition_key else None)
    outs = [o for o in (kept, dropped) if o is not None]
    paths = {o.asset: CorpusStore.partition_path(o.asset, dims) for o in outs}
    tally, started, previews = Tally(), time.monotonic(), {o.asset: [] for o in outs}
    with ExitStack() as stack:
        writers = {o.asset: stack.enter_context(store.parquet_writer(paths[o.asset], arrow_schema(o.schema))) for o in outs}
        for n, split in enumerate(splits, start=1):
            tally.add(split)
            frames = {kept.asset: split.kept} | ({dropped.asset: split.dropped} if dropped else {})
            for asset, df in frames.items():
                writers[asset].write(df)
                if sum(p.height for p in previews[asset]) < 5 and df.height:
                    previews[asset].append(df.head(5))
            if n % 10 == 0:
                context.log.info(f"{context.partition_key}: {tally.n_in:,} rows in, {tally.n_kept:,} kept so far")
    if dropped is None and tally.n_dropped:
        raise RuntimeError(f"{kept.asset}: {tally.n_dropped} rows dropped but the stage has no dropped-rows output")
    seconds = round(time.monotonic() - started, 3)
    context.log.info(f"{context.partition_key}: {tally.n_in:,} in, {tally.n_kept:,} kept, {tally.n_dropped:,} dropped, {seconds}s")
    shared = tally_metadata(tally) | {"seconds": seconds} | (extra_metadata(tally) if extra_metadata else {})
    results = []
    for o in outs:
        rows = writers[o.asset].rows
        preview = pl.concat(previews[o.asset]) if previews[o.asset] else pl.DataFrame()
        results.append(
            dg.MaterializeResult(
                asset_key=o.asset,
                metadata=shared
                | {
                    **stored(store, paths[o.asset], rows, o.schema),
                    "preview": dg.MetadataValue.md(markdown_table(preview, width=50)),
                },
            )
        )
    return results


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
