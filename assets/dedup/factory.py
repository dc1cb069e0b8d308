"""Dedup as an asset factory: apply it to any [date x source] row asset (documents, math items).

    {p}minhash_signatures     [date x source]  one signature row per input row, computed once per partition
    {p}dedup_clusters         [source]         clusters over every date of the source (out of core;
                                               a new partition adds its signatures, nothing is re-hashed)
    {p}deduplicated_{noun}    [date x source]  the input minus duplicates
    {p}duplicate_{noun}       [date x source]  the dropped duplicates, reason + duplicate_of trail

Inputs without doc_id/text columns name their id column and give a text expression (math items:
`item_id` and their chat turns joined); date and source then come from the partition key.

Settings come from the source's kind (config/kinds.yaml), overridden by a `dedup:`
mapping of the source in config/sources.yaml (e.g. `dedup: {threshold: 0.85, max_rate: 0.6}`;
`verify: exact` checks band candidates on their shingle sets, reading the texts of the documents
in candidate pairs from the input asset, instead of on the signatures' estimate).
"""

import datetime as dt
import posixpath
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import dagster as dg
import polars as pl

from assets.common.checks import gx_check
from assets.common.engine import CorpusEngine
from assets.common.metadata import counts_table, frame_table
from assets.common.partitions import (
    ALL_DATES_OF_SOURCE,
    DATE_SOURCE,
    SOURCE,
    SOURCES,
    dims_for,
    source_and_date,
)
from assets.common.stage import Out, map_split, write_outputs
from assets.common.storage import CorpusStorage
from corpus_dag.dedup import (
    CLUSTER_ROWS,
    CLUSTER_SCHEMA,
    DedupCfg,
    PairCounts,
    PartitionTexts,
    RowView,
    Scratch,
    SignStep,
    broken_trails,
    cluster_pipeline,
    sample_pairs_markdown,
    scratch_prefix,
)
from corpus_dag.engine import StageResources
from corpus_dag.storage import CorpusStore, PartitionData, part_sink
from corpus_dag.validation import metric_outcome

SIGNATURE_SCHEMA = {
    "doc_id": pl.String,
    "date": pl.Date,
    "source": pl.String,
    "exact_key": pl.String,
    "n_shingles": pl.UInt32,
    "signature": pl.Array(pl.UInt32, DedupCfg().num_perm),
}
BATCH_ROWS = 16_384  # documents per batch when signing, reading texts and applying (50k-row batches applied 2x slower)
TRAIL = {
    "duplicate_of": pl.String,
    "cluster_id": pl.Int64,
    "est_jaccard": pl.Float64,
    "exact_jaccard": pl.Float64,
    "reason": pl.String,
}
COMMON = {"owners": ["team:corpus"], "tags": {"stage": "dedup"}}
TEXT = pl.col("text")


def source_cfg(source: str) -> tuple[DedupCfg, tuple[float, float]]:
    """The dedup config of a source and the dedup-rate range its partitions must stay in."""
    src = SOURCES.get(source)
    return src.dedup, src.dedup_rate


@dataclass(frozen=True)
class DedupAssets:
    signatures: dg.AssetsDefinition
    clusters: dg.AssetsDefinition
    apply: dg.AssetsDefinition
    checks: list

    @property
    def defs(self) -> dg.Definitions:
        return dg.Definitions(assets=[self.signatures, self.clusters, self.apply], asset_checks=self.checks)


def dedup_assets(
    documents: str,
    schema: Mapping[str, pl.DataType],
    prefix: str = "",
    group: str = "dedup",
    noun: str = "documents",
    id_col: str = "doc_id",
    text: pl.Expr = TEXT,
) -> DedupAssets:
    """The four dedup assets and their checks over the row asset `documents` (columns of `schema`,
    which the outputs keep). `id_col` names the row id and `text` computes what is compared;
    date and source are read from columns of those names, else taken from the partition key."""
    sig_key, clusters_key = f"{prefix}minhash_signatures", f"{prefix}dedup_clusters"
    kept, dropped = Out(f"{prefix}deduplicated_{noun}", schema), Out(f"{prefix}duplicate_{noun}", {**schema, **TRAIL})
    view = RowView(id_col, text, "date" in schema, "source" in schema)

    @dg.asset(
        name=sig_key,
        ins={"docs": dg.AssetIn(documents)},
        partitions_def=DATE_SOURCE,
        group_name=group,
        kinds={"polars", "parquet", "numba"},
        description="One row per document: doc_id, date, source, exact_key (sha1 of NFKC, whitespace-collapsed text), "
        "n_shingles and a 128-value MinHash signature, bit-identical to datasketch MinHash(scheme='affine32', "
        "hashfunc=corpus_dag.dedup.shingle_hash); load it into LeanMinHash/MinHashLSH to query.",
        **COMMON,
    )
    def minhash_signatures(context: dg.AssetExecutionContext, docs: PartitionData, storage: CorpusStorage,
                           engine: CorpusEngine):
        source, date = source_and_date(context)
        cfg, _ = source_cfg(source)
        bands, rows = cfg.bands
        out, store = Out(sig_key, SIGNATURE_SCHEMA), storage.store()
        settings = {"shingles": f"{cfg.shingle} {cfg.n}-grams", "threshold": cfg.threshold, "bands_x_rows": f"{bands} x {rows}"}
        # each worker signs and writes its slices (the local engine: two slices at once, GIL-free kernels)
        [written] = map_split(context, store, engine, docs, SignStep(view, source, date, cfg), out, stage="dedup",
                              batch_rows=BATCH_ROWS, columns=view.columns, extra_metadata=lambda _t: settings)
        return written

    @dg.asset(
        name=clusters_key,
        ins={"sigs": dg.AssetIn(sig_key, partition_mapping=ALL_DATES_OF_SOURCE)},
        partitions_def=SOURCE,
        group_name=group,
        kinds={"polars", "parquet", "scipy"},
        description="Every document of the source that has a duplicate, one row each: cluster_id, representative "
        "(earliest date, then smallest doc_id), duplicate_of, kind (exact/near), est_jaccard, exact_jaccard (with "
        "`verify: exact`), sorted by date then doc_id (a date's dedup reads only its row groups). Built from the "
        "stored signatures of all dates through band-sharded files, so memory is bounded by one shard; `verify: "
        "exact` also reads the texts of candidate documents, partition by partition.",
        **COMMON,
    )
    def dedup_clusters(context: dg.AssetExecutionContext, sigs: dict, storage: CorpusStorage,
                       engine: CorpusEngine) -> dg.MaterializeResult:
        source = context.partition_key
        cfg, _ = source_cfg(source)
        store = storage.store()
        inputs = [sigs[key].pinned() for key in sorted(sigs)]
        texts = _text_parts(store, documents, view, source, sigs, engine.stage("dedup"))  # read only with verify: exact
        prefix = scratch_prefix(clusters_key, source, inputs, cfg)
        # crashed tries' scratch of this partition; this run's own (same inputs and config) is resumed, not removed
        stale = store.remove_stale(posixpath.dirname(prefix), keep=[prefix], max_age_s=engine.stale_scratch_hours * 3_600)

        def fill(scratch: Scratch, writers) -> dict:
            """The tasks write the clusters' rows as parts of this commit; the step adopts them."""
            output = writers[clusters_key]
            clusters, run = cluster_pipeline(inputs, cfg, scratch, engine.engine, texts, engine.stage("dedup"),
                                             sink=part_sink({CLUSTER_ROWS: output}))
            clusters.adopt_into(output)
            pairs = run.pairs
            return {
                "engine": engine.kind,
                "signature_partitions": len(sigs),
                "shards": run.shards,
                "shard_tasks_run": run.shard_tasks_run,
                "shard_tasks_skipped": run.shard_tasks_skipped,
                "hot_buckets": run.hot_buckets,
                "hot_bucket_tasks": run.hot_bucket_tasks,
                "stale_scratch_removed": len(stale),
                "edges": run.edges,
                "cc_mode": run.cc_mode if run.cc_mode == "single" else f"propagation, {run.cc_rounds} rounds",
                "verify": cfg.verify,
                "candidate_pairs": pairs.candidates,
                "pairs_accepted": pairs.accepted,
                "pairs_rejected": pairs.rejected,
                **_exact_check_metadata(cfg, pairs),
                "clusters": clusters.clusters,
                "duplicates": clusters.rows - clusters.clusters,
                "duplicates_by_kind": counts_table(clusters.by_kind, "kind"),
                "cluster_sizes": frame_table(clusters.sizes, max_rows=30),
                "sample_pairs": dg.MetadataValue.md(sample_pairs_markdown(clusters.sample, _shown_texts(texts, clusters.sample), cfg)),
            }

        with tempfile.TemporaryDirectory(prefix="dedup-") as work:
            # Ray: the scratch on CORPUS_ROOT, which every worker reads and a re-run resumes; local: a temp folder.
            scratch = Scratch.local(work) if engine.kind == "local" else Scratch(store.fs, store.abs(prefix))
            with scratch.held():
                [written] = write_outputs(context, store, [Out(clusters_key, CLUSTER_SCHEMA)], partial(fill, scratch))
        scratch.remove()  # only now that the partition is committed: a failed try leaves it to the re-run
        return written

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                out.asset,
                deps=[documents, dg.AssetDep(clusters_key, partition_mapping=ALL_DATES_OF_SOURCE)],
                description=text,
                kinds={"polars", "parquet"},
                group_name=group,
                **COMMON,
            )
            for out, text in (
                (kept, f"{documents} minus exact and near duplicates (each cluster keeps its representative)."),
                (dropped, f"Rows of {documents} dropped as duplicates: reason, duplicate_of, cluster_id, est_jaccard."),
            )
        ],
        ins={"docs": dg.AssetIn(documents), "clusters": dg.AssetIn(clusters_key)},
        partitions_def=DATE_SOURCE,
        can_subset=False,
        name=f"{prefix}deduplicate",
    )
    def deduplicate(context: dg.AssetExecutionContext, storage: CorpusStorage, engine: CorpusEngine,
                    docs: PartitionData, clusters: PartitionData):
        _source, date = source_and_date(context)
        trail = clusters.read(["doc_id", "date", "source", "cluster_id", "duplicate_of", "kind", "est_jaccard", "exact_jaccard"],
                              where=[("date", "==", dt.date.fromisoformat(date))])
        yield from map_split(context, storage.store(), engine, docs, partial(view.apply, clusters=trail), kept, dropped,
                             stage="dedup", batch_rows=BATCH_ROWS)

    def rate_and_accounting(context, store: CorpusStore, dims: dict[str, str]):
        assets = (documents, kept.asset, dropped.asset)
        rows = {a: PartitionData(store, CorpusStore.partition_path(a, dims)).num_rows for a in assets}
        n_in, n_kept, n_dropped = rows[documents], rows[kept.asset], rows[dropped.asset]
        low, high = source_cfg(dims["source"])[1]
        return [
            metric_outcome(f"rows in {n_in} - kept {n_kept} - dropped {n_dropped}", n_in - n_kept - n_dropped, 0, 0),
            metric_outcome("dedup rate", n_dropped / n_in if n_in else 0.0, low, high),
        ]

    def trail_points_to_kept(context, store: CorpusStore, dims: dict[str, str]):
        bad = broken_trails(PartitionData(store, CorpusStore.partition_path(clusters_key, dims)))
        return [metric_outcome("duplicates whose duplicate_of is not a kept representative", bad, 0, 0)]

    checks = [
        gx_check(
            asset=kept.asset,
            name="dedup_rate_in_range",
            description="Rows in = kept + dropped; dropped share within the source's dedup rate range (default [0, 0.5]).",
            metrics=rate_and_accounting,
        ),
        gx_check(
            asset=clusters_key,
            name="trail_points_to_kept_representative",
            description="Every duplicate_of names its cluster's representative, which is kept.",
            metrics=trail_points_to_kept,
            partitions_def=SOURCE,
        ),
    ]
    return DedupAssets(minhash_signatures, dedup_clusters, deduplicate, checks)


def _text_parts(store: CorpusStore, documents: str, view: RowView, source: str, sigs: dict,
                resources: StageResources) -> list[PartitionTexts]:
    """The texts of the source's documents as read tasks: slices of the date partitions that were signed."""
    parts = []
    for key in sorted(sigs):
        date = dims_for(DATE_SOURCE, key)["date"]
        data = PartitionData(store, CorpusStore.partition_path(documents, {"date": date, "source": source}))
        if data.exists():
            parts += PartitionTexts.parts(data, view, source, date, resources.batch_rows or BATCH_ROWS)
    return parts


def _shown_texts(texts: list[PartitionTexts], wanted: pl.DataFrame) -> pl.DataFrame:
    """doc_id -> text of the `wanted` rows (doc_id, date, source): the documents the metadata shows."""
    frames = [frame.select("doc_id", "text") for part in texts for frame in part(wanted)]
    return pl.concat([pl.DataFrame(schema={"doc_id": pl.String, "text": pl.String}), *frames])


def _exact_check_metadata(cfg: DedupCfg, pairs: PairCounts) -> dict:
    """With verify: exact, how often the exact check overruled the signatures' estimate."""
    if cfg.verify != "exact":
        return {}
    return {"pairs_rejected_by_exact": pairs.rejected, "rejected_despite_estimate": pairs.est_only, "accepted_despite_estimate": pairs.exact_only}
