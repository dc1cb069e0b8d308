"""The one storage setting (`CORPUS_ROOT`) as a Dagster resource, and the IO manager over it.

Assets that stream write their partitions themselves through `CorpusStorage.store()` and return a
`MaterializeResult`; small assets return a polars DataFrame and the IO manager writes it. Either
way downstream assets receive `PartitionData` handles that stream batches on demand.
"""

import dagster as dg
import polars as pl
from pydantic import Field

from assets.common.metadata import stored
from assets.common.partitions import dims_for
from corpus_dag.storage import CorpusStore, PartitionData, corpus_root


class CorpusStorage(dg.ConfigurableResource):
    """Where every partition lives: a local folder (default `.corpus/`) or `s3://bucket/prefix`.

    Credentials and endpoint come from the standard AWS environment variables, never from here.
    """

    root: str | None = Field(default=None, description="Defaults to $CORPUS_ROOT, else .corpus/ in the repo.")

    def store(self) -> CorpusStore:
        return CorpusStore(self.root or corpus_root())


def asset_name(key: dg.AssetKey) -> str:
    return "/".join(key.path)


class CorpusIOManager(dg.ConfigurableIOManager):
    """Parquet partitions under the corpus root; loads return streaming `PartitionData` handles."""

    storage: dg.ResourceDependency[CorpusStorage]

    def _path(self, key: dg.AssetKey, pdef, partition: str | None) -> str:
        return CorpusStore.partition_path(asset_name(key), dims_for(pdef, partition))

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        if obj is None:
            return
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected a polars DataFrame, got {type(obj).__name__}")
        store = self.storage.store()
        partition = context.partition_key if context.has_partition_key else None
        rel = self._path(context.asset_key, context.asset_partitions_def if partition else None, partition)
        store.write_frame(rel, obj)
        context.add_output_metadata(stored(store, rel, obj.height, obj.schema) | {"version": store.version(rel)})

    def load_input(self, context: dg.InputContext):
        """A `PartitionData` handle for the one upstream partition; an input annotated `dict` gets
        {partition_key: PartitionData} of every materialized upstream partition it maps to."""
        store = self.storage.store()
        key = context.asset_key
        if not context.has_asset_partitions:
            return PartitionData(store, self._path(key, None, None)).require(f"asset {key.to_user_string()}")
        pdef = context.asset_partitions_def
        keys = list(context.asset_partition_keys)
        if getattr(context.dagster_type, "typing_type", None) is not dict:
            if len(keys) != 1:
                raise dg.Failure(f"input {context.name}: expected one partition of {key.to_user_string()}, got {len(keys)}")
            return PartitionData(store, self._path(key, pdef, keys[0])).require(f"asset {key.to_user_string()} partition {keys[0]}")
        handles = {k: PartitionData(store, self._path(key, pdef, k)) for k in keys}
        present = {k: h for k, h in handles.items() if h.exists()}
        if len(present) < len(handles):
            context.log.info(
                f"{key.to_user_string()}: {len(handles) - len(present)} of {len(handles)} partitions "
                "not materialized; using the rest"
            )
        return present
