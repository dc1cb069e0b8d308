"""Ingest: raw files -> raw_documents + rejected_documents, with their checks."""
import dagster as dg

from assets.ingest.assets import ingest
from assets.ingest.checks import checks

defs = dg.Definitions(assets=[ingest], asset_checks=checks)
