"""Quality: heuristic filters, reference-model perplexity, per-length-bucket cut-offs, and the cut."""
import dagster as dg

from assets.quality.assets import (
    heuristic_filter,
    perplexity_scores,
    ppl_thresholds,
    quality_filter,
)
from assets.quality.checks import checks

defs = dg.Definitions(assets=[heuristic_filter, perplexity_scores, ppl_thresholds, quality_filter], asset_checks=checks)
