"""Dedup: raw_documents -> minhash_signatures -> dedup_clusters -> deduplicated_documents + duplicate_documents;
verified_math_items -> math_minhash_signatures -> math_dedup_clusters -> math_deduplicated_items + math_duplicate_items."""
import dagster as dg
import polars as pl

from assets.dedup.factory import dedup_assets
from corpus_dag.ingest import RAW_DOCUMENTS_SCHEMA
from corpus_dag.rebuild.stage import VERIFIED_SCHEMA

CHAT_TEXT = pl.col("messages").list.eval(pl.element().struct.field("content")).list.join("\n")  # every turn of an item

documents = dedup_assets("raw_documents", RAW_DOCUMENTS_SCHEMA)
math_items = dedup_assets("verified_math_items", VERIFIED_SCHEMA, prefix="math_", noun="items", id_col="item_id", text=CHAT_TEXT)
defs = dg.Definitions.merge(documents.defs, math_items.defs)
