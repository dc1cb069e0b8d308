"""Post-training data: scored paths (judge + reward), RFT paths, DPO pairs, self-instruct items."""
import dagster as dg

from assets.posttrain.assets import dpo_pairs, rft_math_items, scored_math_items, self_instruct_math_items
from assets.posttrain.checks import checks
from assets.rebuild.resources import JudgeEngine

defs = dg.Definitions(
    assets=[scored_math_items, rft_math_items, dpo_pairs, self_instruct_math_items],
    asset_checks=checks,
    resources={"judge": JudgeEngine()},
)
