"""Engine `ray`'s data plane for row batches: a Ray Data pipeline over one stored partition.

`read_datasource(PartitionSlices)` -> `map_batches(step)`: one fused read-and-map task per slice of
the partition's rows (each reads only the row groups that hold its slice, from the folder or s3://,
so input never passes through the driver). With a sink the task also writes the slice's rows as
parts of the stage's outputs, and only their accounting comes back; the results come back to the
driver in input order and the stage commits them. Imported only by engine `ray`.

A step returns any picklable value (a `Split` of kept and dropped frames, scores and byte counts),
not a table, so each result travels as one Ray Data block: its pickle and, out of band, the Arrow
buffers of its frames (`pack` / `unpack`), one copy on the worker and none on the driver.
"""
from __future__ import annotations

import copyreg
import io
import pickle
import warnings
from functools import partial
from typing import Any

import polars as pl
import pyarrow as pa
import ray.data
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from corpus_dag.engine import _frame_from_payload, _frame_payload, _sunk
from corpus_dag.storage import PartitionData

PAYLOAD = "payload"


def _frame_as_arrow(df: pl.DataFrame):
    return _frame_from_payload, (_frame_payload(df),)


def _binary(buffer) -> pa.Array:
    """A one-row large_binary array over `buffer`, without copying it."""
    buffer = pa.py_buffer(buffer)
    offsets = pa.array([0, buffer.size], pa.int64()).buffers()[1]
    return pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, buffer])


def pack(result: Any) -> pa.Table:
    """`result` as a one-column table: row 0 its pickle (protocol 5), then one row per out-of-band
    buffer (polars frames pickle as Arrow tables, whose buffers go out of band: no copy of the texts)."""
    buffers, head = [], io.BytesIO()
    pickler = pickle.Pickler(head, protocol=5, buffer_callback=buffers.append)
    pickler.dispatch_table = copyreg.dispatch_table | {pl.DataFrame: _frame_as_arrow}
    pickler.dump(result)
    chunks = [_binary(head.getbuffer())] + [_binary(b.raw()) for b in buffers]
    return pa.table({PAYLOAD: pa.chunked_array(chunks, pa.large_binary())})


def unpack(table: pa.Table) -> Any:
    column = table.column(PAYLOAD)
    parts = [column[i].as_buffer() for i in range(len(column))]
    return pickle.loads(parts[0], buffers=parts[1:])


START = b"corpus_dag.start"  # schema metadata of a read block: the slice's first row (what a sink names its part by)


def _read_slice(data: PartitionData, rows: tuple[int, int], columns: list[str] | None) -> list[pa.Table]:
    table = data.read_rows(*rows, columns).to_arrow()
    return [table.replace_schema_metadata({**(table.schema.metadata or {}), START: str(rows[0]).encode()})]


class PartitionSlices(Datasource):
    """A stored partition as a Ray Data source: one read task per [start, stop) slice (the local engine's
    batches), so a slice is one block and one step call, on either engine."""

    def __init__(self, data: PartitionData, slices: list[tuple[int, int]], columns: list[str] | None):
        self.data, self.slices, self.columns = data, slices, columns

    def get_name(self) -> str:
        return "PartitionSlices"

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def get_read_tasks(self, parallelism, per_task_row_limit=None, data_context=None) -> list[ReadTask]:
        return [ReadTask(partial(_read_slice, self.data, rows, self.columns),
                         BlockMetadata(num_rows=rows[1] - rows[0], size_bytes=None, exec_stats=None, input_files=None))
                for rows in self.slices]


def map_slices(data: PartitionData, step, slices: list[tuple[int, int]], columns: list[str] | None, sink, *, name: str,
               num_cpus: float, num_gpus: float, concurrency: int | None, max_retries: int):
    """step(rows) for every slice, as a Ray Data pipeline (with a sink: sink(first row, result), on the
    worker); yields the results in input order."""
    def run(table: pa.Table) -> pa.Table:
        return pack(_sunk(sink, int(table.schema.metadata[START]), step(pl.from_arrow(table))))

    run.__name__ = run.__qualname__ = name  # the operator in Ray's dashboard: ReadPartitionSlices->MapBatches(apply_filters)
    # the read and the map ask for the same resources, pool and retries, so Ray Data fuses them into one task per slice
    remote = {"num_cpus": num_cpus, "num_gpus": num_gpus or None, "compute": ray.data.TaskPoolStrategy(size=concurrency)}
    with warnings.catch_warnings():
        # Ray Data retries a task whose worker died without end unless told otherwise, and in 2.60 (pinned)
        # `max_retries` has no home but the remote args it has marked deprecated for 2.64
        warnings.filterwarnings("ignore", "`ray_remote_args` is deprecated", DeprecationWarning)
        pipeline = ray.data.read_datasource(PartitionSlices(data, slices, columns), override_num_blocks=len(slices),
                                            ray_remote_args={"max_retries": max_retries}, **remote)
        ctx = pipeline.context  # this pipeline's own copy of the DataContext
        ctx.execution_options.preserve_order = True
        ctx.target_max_block_size = None  # a slice's rows stay one block, however large (one step call per slice)
        ctx.enable_progress_bars = False  # the Dagster step logs its own progress
        # one fused operator: no share of the budget to hold back for others (with the reservation, the filters
        # over 100k documents took 4.9-6.7 s on 2 CPUs, without it 3.8-4.2 s, as plain tasks; bench_ray)
        ctx.op_resource_reservation_enabled = False
        pipeline = pipeline.map_batches(run, batch_size=None, batch_format="pyarrow", zero_copy_batch=True,
                                        max_retries=max_retries, **remote)
    for block in pipeline.iter_batches(batch_size=None, batch_format="pyarrow"):
        yield unpack(block)
