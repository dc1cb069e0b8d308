"""Safety: URL/domain blocklists, per-language word blocklists, PII redaction."""
import dagster as dg

from assets.safety.assets import safety
from assets.safety.checks import checks

defs = dg.Definitions(assets=[safety], asset_checks=checks)
