"""Attach great_expectations suites to partitioned assets as Dagster asset checks.

`gx_check` builds one check: it streams the columns a suite needs from the checked partition, runs
the GX expectations on a bounded seeded sample (GX goes through pandas, which would hold the whole
partition), judges the per-value expectations (unique, not null, lengths, regex, set, range) exactly
over every row in streamed polars batches, adds whole-partition metrics computed in polars, and
reports every outcome (expectation, observed value, unexpected count) as check metadata. Blocking checks fail with
ERROR severity so downstream steps of the same run do not consume bad data.

Memory (a check must peak below the stage it checks): GX is imported without altair, the streamed
pass allocates its Arrow buffers so that they go back to the OS, and the GX sample is bounded in
bytes as well as rows, since GX's own memory grows with the sample's bytes.
"""

import ctypes
import importlib.util
import re
import sys
import types
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import dagster as dg
import polars as pl
import pyarrow as pa

from assets.common.metadata import outcomes_table
from assets.common.partitions import DATE_SOURCE, dims_for
from assets.common.storage import CorpusStorage
from corpus_dag.storage import CorpusStore, PartitionData, StorageError
from corpus_dag.validation import (
    ExpectationOutcome,
    SeededSample,
    SuiteOutcome,
    run_suite,
    whole_partition_outcomes,
)

SAMPLE_ROWS = 5_000  # rows GX sees (via pandas); every row is judged exactly in polars anyway, so a small sample is enough
SAMPLE_BYTES = 2_000_000  # and at most about this many bytes of the sampled columns: GX peaks at ~8x the sample's bytes
BATCH_ROWS = 500  # rows per streamed batch (sample and whole-partition passes): small, so is the transient memory
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MetricsFn = Callable[[dg.AssetCheckExecutionContext, CorpusStore, dict[str, str]], list[ExpectationOutcome]]


def gx_check(
    *,
    asset: str,
    name: str,
    description: str,
    columns: list[str] | None = None,
    expectations: Callable[[], list] | None = None,
    metrics: MetricsFn | None = None,
    blocking: bool = True,
    partitions_def: dg.PartitionsDefinition | None = DATE_SOURCE,
) -> dg.AssetChecksDefinition:
    """A check on `asset`: GX `expectations()` over `columns`, plus polars `metrics` judged in code."""

    @dg.asset_check(
        asset=asset,
        name=name,
        description=description,
        blocking=blocking,
        partitions_def=partitions_def,
    )
    def _check(context: dg.AssetCheckExecutionContext, storage: CorpusStorage) -> dg.AssetCheckResult:
        key = context.partition_key if partitions_def is not None else None
        dims = dims_for(partitions_def, key)
        store = pinned_to_own_version(storage.store(), asset, dims, version_of_run(context, asset, key))
        data = PartitionData(store, CorpusStore.partition_path(asset, dims)).require(f"asset {asset} partition {key}")
        outcome = SuiteOutcome()
        if expectations is not None:
            _import_gx()
            outcome.outcomes.extend(_suite_outcomes(data, columns, expectations(), name, seed=zlib.crc32(f"{name}|{key}".encode())))
        if metrics is not None:
            outcome.outcomes.extend(metrics(context, store, dims))
        return dg.AssetCheckResult(
            passed=outcome.success,
            severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
            metadata={
                "outcomes": outcomes_table(outcome),
                "failed": [o.expectation for o in outcome.outcomes if not o.success],
                "failed_count": sum(not o.success for o in outcome.outcomes),
                **_numbers(outcome),
            },
        )

    return _check


def _numbers(outcome: SuiteOutcome) -> dict[str, float]:
    """Each outcome's numeric observation (unexpected rows, a rate, a difference) as a number, so the
    check's page plots it across partitions and runs. The key is the expectation without its numbers
    (counts, the bounds, the GX sample's size and seed differ by partition): one series per outcome."""
    numbers = {}
    for o in outcome.outcomes:
        value = o.unexpected_count if o.unexpected_count is not None else o.observed
        if isinstance(value, int | float) and not isinstance(value, bool):
            words = re.sub(r" within \[.*?\]$", "", o.expectation)
            words = re.sub(r"\d[\d,.]*|\bseed\b|\bsample of\b|\brows\b", " ", f"{words} {o.column or ''}".lower())
            key = re.sub(r"[^a-z0-9]+", "_", words).strip("_")[:60]
            while key in numbers:  # two outcomes that differ only by their numbers: keep both
                key += "_"
            numbers[key] = round(float(value), 6)
    return numbers


def pinned_to_own_version(store: CorpusStore, asset: str, dims: dict[str, str], version: str | None) -> CorpusStore:
    """`store` reading the version of `asset` its run wrote (and the current version of anything else). When a newer
    run has replaced that version, the check fails saying so, rather than validating the other run's data."""
    if version is not None:
        rel = CorpusStore.partition_path(asset, dims)
        if not store.exists(rel, version):
            raise StorageError(f"{store.url(rel)}: version {version}, which this run wrote, was replaced by version "
                               f"{store.version(rel)} of a newer run before this check read it; that run checks its own version")
    return store.pinned(version)


def version_of_run(context: dg.AssetCheckExecutionContext, asset: str, key: str | None) -> str | None:
    """The partition version this run materialized (a concurrent run may have committed a newer one
    since): the check validates what its own run wrote. None when this run wrote none."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key] if key else None), limit=5
    ).records
    for record in records:
        if record.run_id == context.run.run_id:
            version = record.asset_materialization.metadata.get("version")
            return version.value if version is not None else None
    return None


def _suite_outcomes(data: PartitionData, columns: list[str] | None, suite: list, name: str, seed: int) -> list[ExpectationOutcome]:
    """The GX suite over a seeded sample (`_sample_rows`), then the per-value expectations judged
    exactly over every row. One read of the partition serves both: its first streamed pass feeds
    the exact rules and the sample (a second read of the text columns cost ~40 MB of RSS)."""
    sample = SeededSample(data.num_rows, _sample_rows(data, columns), seed)
    fed = False

    def batches(cols: list[str]):
        nonlocal fed
        wanted = None if columns is None else sorted({*columns, *cols})
        for batch in _stream(data, wanted):
            if not fed:
                sample.add(batch if columns is None else batch.select(columns))
            yield batch.select(cols)
        fed = True

    with _returned_to_the_os():
        exact = whole_partition_outcomes(suite, batches)
        if not fed:  # a suite without per-value expectations: the pass is for the sample alone
            for _ in batches([]):
                pass
    frame = sample.frame()
    if not frame.height:
        return exact
    label = f"(GX, sample of {frame.height:,} rows, seed {seed})"
    return [replace(o, expectation=f"{o.expectation} {label}") for o in run_suite(frame, suite, name=name).outcomes] + exact


def _stream(data: PartitionData, columns: list[str] | None) -> Iterator[pl.DataFrame]:
    """The partition in BATCH_ROWS batches, one row group's reader at a time: pyarrow's reader over
    all row groups held on to memory outside its pool until closed (+96 MB over a 400 MB input's
    partition, +24 MB one group at a time)."""
    for pf in data.open_files(columns):
        for group in range(pf.num_row_groups):
            for batch in pf.iter_batches(BATCH_ROWS, row_groups=[group], columns=columns):
                yield pl.from_arrow(batch)


def _sample_rows(data: PartitionData, columns: list[str] | None) -> int:
    """SAMPLE_ROWS, or fewer when the sampled columns' rows are long (uncompressed bytes per row from
    the Parquet footer): GX keeps a sampled text several times over (pandas objects, their UTF-8
    copies for its batch fingerprint, per-expectation series), ~110 MB for 5,000 rows of 2.6 KB."""
    size = rows = 0
    for pf in data.open_files(columns):
        meta = pf.metadata
        wanted = set(pf.schema_arrow.names if columns is None else columns)
        rows += meta.num_rows
        size += sum(
            rg.column(i).total_uncompressed_size
            for rg in map(meta.row_group, range(meta.num_row_groups))
            for i in range(rg.num_columns)
            if rg.column(i).path_in_schema.split(".")[0] in wanted
        )
    per_row = size / rows if rows else 0
    return max(1, min(SAMPLE_ROWS, int(SAMPLE_BYTES / per_row))) if per_row else SAMPLE_ROWS


@contextmanager
def _returned_to_the_os() -> Iterator[None]:
    """Arrow buffers of the streamed pass come from glibc malloc with a fixed 128 KiB mmap threshold,
    so each freed page buffer goes back to the OS at once (Arrow's default pool, mimalloc, kept ~50 MB
    of freed batches; glibc's dynamic threshold would keep them on its heap). On leaving, what the
    allocators still hold is handed back, so GX starts from the memory the pass began with. The fixed
    threshold stays for the rest of the process (glibc has no way back to its dynamic one)."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)
    pool = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(pool)
        pool.release_unused()
        if libc is not None:
            libc.malloc_trim(0)


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (mallopt, malloc_trim); None elsewhere (musl, macOS)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


class _Deferred(types.ModuleType):
    """Stands in for a module until one of its attributes is used, then imports it for real and
    takes its contents. Unlike importlib's LazyLoader, a plain `import x` (which reads `__spec__`)
    does not load it."""

    def __getattr__(self, attr: str):
        del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        self.__dict__.update(real.__dict__)
        return getattr(real, attr)


def _import_gx() -> None:
    """Import great_expectations with altair deferred: GX imports it (~30 MB of chart schema classes)
    only to draw KL-divergence charts, which no check renders; a later real use of altair loads it."""
    if "great_expectations" in sys.modules:
        return
    if "altair" not in sys.modules and (spec := importlib.util.find_spec("altair")) is not None:
        sys.modules["altair"] = _Deferred("altair")
        sys.modules["altair"].__spec__ = spec
    importlib.import_module("great_expectations")
