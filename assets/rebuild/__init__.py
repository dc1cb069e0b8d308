"""Rebuild: math_questions -> rebuilt_math_items (vLLM / OpenAI-compatible) -> verified_math_items."""
import dagster as dg

from assets.rebuild.assets import rebuilt_math_items, verified_math_items
from assets.rebuild.checks import checks
from assets.rebuild.resources import LLMEngine

defs = dg.Definitions(assets=[rebuilt_math_items, verified_math_items], asset_checks=checks, resources={"llm": LLMEngine()})
