"""`chunked_documents`, `decontaminated_documents` + `contaminated_items` (and `decontaminated_math_items` +
`contaminated_math_items`), `training_mixture`."""

import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from assets.common.engine import CorpusEngine
from assets.common.metadata import counts_table, frame_table
from assets.common.partitions import DATE_SOURCE, SOURCES, named_static, source_and_date
from assets.common.stage import Out, map_split, split_specs
from assets.common.storage import CorpusStorage
from corpus_dag.accounting import REASON
from corpus_dag.chunking import CHUNK_SCHEMA, ChunkCfg, Chunker, later_copies
from corpus_dag.decontam import DecontamCfg, DecontamStep, contaminated_counts
from corpus_dag.mixture import (
    RECIPES_DIR,
    InputPart,
    build_mixture,
    load_recipe,
    recipe_names,
    token_table,
)
from corpus_dag.storage import CorpusStore, PartitionData

# Upstream of each stage: patents are chunked after dedup; every source is decontaminated after
# the quality (perplexity) stage, the last filter before training data; math items after their dedup.
CHUNK_INPUT = "deduplicated_documents"
DECONTAM_INPUT = "quality_documents"
MATH_DECONTAM_INPUT = "math_deduplicated_items"
QUESTION = (  # a math item's user turn(s): the question a benchmark item could leak into
    pl.col("messages").list.eval(pl.element().filter(pl.element().struct.field("role") == "user").struct.field("content")).list.join("\n")
)
CHECKED = "__decontam_text"
CHUNKS = Out("chunked_documents", CHUNK_SCHEMA)
UNCHUNKED = "unchunked_documents"
RECIPES = named_static("recipe", recipe_names())
RECIPE_ASSETS = sorted({i.asset for name in recipe_names() for i in load_recipe(RECIPES_DIR / f"{name}.yaml").inputs})


def check_recipe_assets(known: Sequence[str]) -> None:
    """At definitions load: every recipe input names an asset of the graph (a misspelt one would
    otherwise become an external dependency and fail only when the mixture runs)."""
    for name in recipe_names():
        load_recipe(RECIPES_DIR / f"{name}.yaml", known_assets=known)
COMMON = {"owners": ["team:corpus"], "group_name": "curate"}


class ChunkConfig(dg.Config):
    max_tokens: int = Field(default=ChunkCfg.max_tokens, description="Tokens a fragment holds at most.")
    overlap_tokens: int = Field(default=ChunkCfg.overlap_tokens, description="Tokens of the previous fragment's tail repeated (<= max_tokens / 2).")
    tokenizer: str | None = Field(default=None, description="A transformers tokenizer folder; empty: an estimate of 1.6 tokens per CJK character.")
    batch_rows: int = Field(default=2_000, description="Documents per batch.")


@dg.multi_asset(
    specs=split_specs(
        CHUNKS.asset,
        UNCHUNKED,
        kept_doc="One row per fragment of a patent/book document: id {patent}-step{s}-{p}-{f}, "
        "step/paragraph/fragment indices, text bounded in tokens with overlap, page, sha1 hash.",
        dropped_doc="Documents that gave no fragments, with the reason (blank text, patent number seen before).",
        deps=[CHUNK_INPUT],
        stage="chunk",
        **COMMON,
    ),
    ins={"docs": dg.AssetIn(CHUNK_INPUT)},
    partitions_def=DATE_SOURCE,
    can_subset=False,
)
def chunk(context: dg.AssetExecutionContext, config: ChunkConfig, storage: CorpusStorage, engine: CorpusEngine,
          docs: PartitionData):
    """Split each document into steps/sections, paragraphs and token-bounded overlapping fragments.
    A first pass over doc_id, meta and text finds the later copies of a patent, so the batches are
    independent and run on the engine."""
    source, _date = source_and_date(context)
    profile = SOURCES.get(source)
    cfg = ChunkCfg(max_tokens=config.max_tokens, overlap_tokens=config.overlap_tokens, tokenizer=config.tokenizer)
    applies = profile.applies("chunk")
    chunker = Chunker(cfg, later_copies(docs.iter_batches(["doc_id", "meta", "text"], config.batch_rows)) if applies else {})

    def extra(tally):
        if not applies:
            return {"skipped": f"source {source} is of kind {profile.kind}; chunking applies to kinds whose "
                               "config/kinds.yaml entry lists stage `chunk`"}
        return {"fragments_out": tally.n_out, "duplicate_patents": len(chunker.copies), "chunk_cfg": dg.MetadataValue.json(vars(cfg))}

    yield from map_split(context, storage.store(), engine, docs if applies else None, chunker, CHUNKS,
                         Out(UNCHUNKED, {**docs.schema, REASON: pl.String}), stage="chunk", batch_rows=config.batch_rows,
                         extra_metadata=extra)


class DecontamConfig(dg.Config):
    n_words: int = Field(default=DecontamCfg.n_words, description="Word n-gram size (text with spaces between words).")
    n_chars: int = Field(default=DecontamCfg.n_chars, description="Character n-gram size (Chinese and other text without spaces).")
    min_matches: int = Field(default=DecontamCfg.min_matches, description="N-grams a row must share with one benchmark item to be removed.")
    max_items_per_ngram: int = Field(default=DecontamCfg.max_items_per_ngram, description="An n-gram shared by more benchmark items is boilerplate and not indexed.")
    benchmarks_dir: str | None = Field(default=None, description="Folder of {benchmark}.jsonl[.gz] files (id, text); empty: data/benchmarks in the repo.")
    batch_rows: int = Field(default=20_000, description="Rows per batch.")


def decontamination(name: str, source_asset: str, kept: str, removed: str, text: pl.Expr, what: str) -> dg.AssetsDefinition:
    """The decontamination multi-asset over `source_asset`: `text` computes what is checked
    against the benchmarks (a document's text, a math item's question); `what` names a row."""

    @dg.multi_asset(
        specs=split_specs(
            kept,
            removed,
            kept_doc=f"Rows of {source_asset} ({what}) that share no n-gram with a benchmark test item "
            "(GSM8K, MATH500, GAOKAO).",
            dropped_doc=f"Removed {what} with reason 'contaminated', benchmark, benchmark_item_id, the matched "
            "n-gram and n_matched.",
            deps=[source_asset],
            stage="decontaminate",
            kinds=frozenset({"polars", "parquet", "numpy"}),
            **COMMON,
        ),
        ins={"docs": dg.AssetIn(source_asset)},
        partitions_def=DATE_SOURCE,
        can_subset=False,
        name=name,
    )
    def decontaminate(context: dg.AssetExecutionContext, config: DecontamConfig, storage: CorpusStorage,
                      engine: CorpusEngine, docs: PartitionData):
        """Build the benchmark n-gram index once per worker, then check the partition batch by batch."""
        cfg = DecontamCfg(
            n_words=config.n_words, n_chars=config.n_chars, min_matches=config.min_matches,
            max_items_per_ngram=config.max_items_per_ngram, column=CHECKED,
        )
        schema = docs.schema
        extra_cols = {REASON: pl.String, "benchmark": pl.String, "benchmark_item_id": pl.String, "matched_ngram": pl.String, "n_matched": pl.Int64}
        started = time.monotonic()

        def extra(tally):
            return {
                "contaminated_by_benchmark": counts_table(sum(tally.summaries, Counter()), "benchmark"),
                "seconds_with_index": round(time.monotonic() - started, 2),
            }

        yield from map_split(context, storage.store(), engine, docs, DecontamStep(cfg, text, config.benchmarks_dir), Out(kept, schema),
                             Out(removed, schema | extra_cols), stage="decontaminate", batch_rows=config.batch_rows,
                             summarize=contaminated_counts, extra_metadata=extra)

    return decontaminate


decontaminate = decontamination("decontaminate", DECONTAM_INPUT, "decontaminated_documents", "contaminated_items", pl.col("text"), "documents")
decontaminate_math = decontamination("decontaminate_math", MATH_DECONTAM_INPUT, "decontaminated_math_items", "contaminated_math_items", QUESTION, "math items")


@dg.asset(
    partitions_def=RECIPES,
    deps=[dg.AssetDep(asset, partition_mapping=dg.AllPartitionMapping()) for asset in RECIPE_ASSETS],
    description="Training shards of one recipe (config/recipes/{name}.yaml): Parquet (and JSONL) files, "
    "manifest.json with rows/tokens per input, input partitions with data versions, and the recipe hash.",
    kinds={"polars", "parquet"},
    tags={"stage": "mixture"},
    **COMMON,
)
def training_mixture(context: dg.AssetExecutionContext, storage: CorpusStorage) -> dg.MaterializeResult:
    """Sample every recipe input by a seeded id hash; same recipe + same inputs = same bytes."""
    name = context.partition_key
    known = [k.to_user_string() for k in context.job_def.asset_layer.asset_graph.get_all_asset_keys()]
    recipe = load_recipe(RECIPES_DIR / f"{name}.yaml", known_assets=known)
    store = storage.store()
    parts = [p for asset in sorted({i.asset for i in recipe.inputs}) for p in _stored_parts(context, store, asset)]
    folder = f"training_mixture/recipe={name}"
    with tempfile.TemporaryDirectory(prefix="mixture-") as tmp:
        local = Path(tmp) / "inputs"
        manifest = build_mixture(recipe, [_localise(p, store, local) for p in parts], Path(tmp) / "out", work_dir=tmp)
        table = token_table(manifest)
        (Path(tmp) / "out" / "tokens.md").write_text(table + "\n", encoding="utf-8")
        for old in store.fs.glob(store.abs(f"{folder}/*")):
            store.fs.rm(old)
        for f in sorted((Path(tmp) / "out").iterdir()):
            store.write_bytes(f"{folder}/{f.name}", f.read_bytes())
    summary = {k: manifest[k] for k in ("recipe", "recipe_hash", "rows", "tokens")}
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": manifest["rows"],
            "tokens": manifest["tokens"],
            "recipe_hash": manifest["recipe_hash"],
            "per_source_tokens": frame_table(_inputs_frame(manifest), max_rows=len(manifest["inputs"]) or 1),
            "manifest": dg.MetadataValue.json(summary | {"inputs": manifest["inputs"], "shards": manifest["shards"]}),
            "path": dg.MetadataValue.path(store.url(folder)),
        }
    )


def _inputs_frame(manifest: dict) -> pl.DataFrame:
    """Per recipe input: tokens available, sampling rate, tokens taken and share of the mixture."""
    total = manifest["tokens"] or 1
    return pl.DataFrame(
        [{"asset": i["asset"], "source": i["source"] or "*", "partitions": len(i["partitions"]), "rows_in": i["rows_in"],
          "tokens_in": i["tokens_in"], "rate": float(i["rate"]), "capped": i["capped_at_max_repeat"], "rows_out": i["rows_out"],
          "tokens_out": i["tokens_out"], "share": i["tokens_out"] / total} for i in manifest["inputs"]],
        schema={"asset": pl.String, "source": pl.String, "partitions": pl.Int64, "rows_in": pl.Int64, "tokens_in": pl.Int64,
                "rate": pl.Float64, "capped": pl.Boolean, "rows_out": pl.Int64, "tokens_out": pl.Int64, "share": pl.Float64},
    )


def _stored_parts(context, store: CorpusStore, asset: str) -> list[InputPart]:
    """Every stored partition of `asset`, keyed as Dagster keys them, with its data version."""
    parts = []
    for dims, rel in store.partitions(asset):
        key = "|".join(dims[d] for d in sorted(dims))
        record = context.instance.get_latest_data_version_record(dg.AssetKey(asset), partition_key=key)
        mat = record.asset_materialization if record else None
        version = (mat.tags or {}).get("dagster/data_version") if mat else None
        parts.append(InputPart(asset, key, version or f"stored:{store.version(rel)}", tuple(store.abs(f) for f in store.files(rel))))
    return parts


def _localise(part: InputPart, store: CorpusStore, folder: Path) -> InputPart:
    """Local files read as they are; remote (S3) partitions are streamed to a local copy first."""
    if store.protocol == "file":
        return part
    folder.mkdir(parents=True, exist_ok=True)
    stem = part.asset + "-" + part.partition.replace("|", "_")
    targets = tuple(folder / f"{stem}-{i:05d}.parquet" for i in range(len(part.data)))
    for remote, target in zip(part.data, targets):
        store.fs.get(str(remote), str(target))
    return InputPart(part.asset, part.partition, part.data_version, targets)
