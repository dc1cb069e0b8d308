"""Curate: chunk long sources, remove benchmark contamination, assemble training mixtures."""
import dagster as dg

from assets.curate.assets import (
    chunk,
    decontaminate,
    decontaminate_math,
    training_mixture,
)
from assets.curate.checks import checks

defs = dg.Definitions(assets=[chunk, decontaminate, decontaminate_math, training_mixture], asset_checks=checks)
