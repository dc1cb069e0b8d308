"""Dedup: raw_documents -> minhash_signatures -> dedup_clusters -> deduplicated_documents + duplicate_documents."""
from assets.dedup.factory import dedup_assets
from corpus_dag.ingest import RAW_DOCUMENTS_SCHEMA

documents = dedup_assets("raw_documents", RAW_DOCUMENTS_SCHEMA)
defs = documents.defs
