"""Which scored paths of a question are kept for SFT, and which questions are hard.

Selection as in the seed recipe: among a question's correct paths, keep the top M by reward (by
critique score when no reward model is configured), then drop those whose critique score is
below an absolute cut (either step can be off: None). A question is hard when fewer than `hard_share` of its N sampled paths
are judged correct; hard questions are tagged (`difficulty`), never dropped for it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HARD, NORMAL = "hard", "normal"


@dataclass(frozen=True)
class SelectCfg:
    top_m: int | None = 4  # paths kept per question before the critique cut; None: no top-M cut
    min_critique: float | None = 6.0  # absolute cut on the 0-10 critique score; None: no cut (nor for unparsed critiques)
    hard_share: float = 0.5  # hard: fewer than this share of the N samples judged correct

    def __post_init__(self):
        if self.top_m is not None and self.top_m < 1:
            raise ValueError(f"selection top_m must be at least 1 (or empty: no top-M cut), got {self.top_m}")
        if self.min_critique is not None and not 0 <= self.min_critique <= 10:
            raise ValueError(f"selection min_critique must be within the 0-10 critique scale (or empty: no cut), got {self.min_critique}")


def difficulty(correct: Sequence[bool], hard_share: float) -> tuple[str, float]:
    """(`hard` | `normal`, share of correct paths) over all N samples of one question."""
    share = sum(bool(c) for c in correct) / len(correct) if correct else 0.0
    return (HARD if share < hard_share else NORMAL), share


def rank_key(row: dict) -> tuple:
    """Best first: reward when present, then critique score, then item id (stable)."""
    reward = row.get("reward")
    score = row.get("critique_score")
    return (-(reward if reward is not None else float("-inf")), -(score if score is not None else -1.0), row["item_id"])


def select_paths(rows: Sequence[dict], cfg: SelectCfg) -> dict[int, str]:
    """Drop reason per index of `rows` (one question's paths); indexes without one are kept.

    Rows need `valid`, `reference_answer`, `correct`, `critique_score`, `reward`, `item_id`.
    """
    reasons: dict[int, str] = {}
    for i, r in enumerate(rows):
        if r["reference_answer"] is None:
            reasons[i] = "no_reference"
        elif not r["valid"]:
            reasons[i] = "invalid_response"
        elif not r["correct"]:
            reasons[i] = "wrong_answer"
    candidates = sorted((i for i in range(len(rows)) if i not in reasons), key=lambda i: rank_key(rows[i]))
    for rank, i in enumerate(candidates):
        score = rows[i]["critique_score"]
        if cfg.top_m is not None and rank >= cfg.top_m:
            reasons[i] = f"below_top_m — rank {rank + 1} > {cfg.top_m}"
        elif cfg.min_critique is None:
            continue
        elif score is None:
            reasons[i] = "critique_unparsed"
        elif score < cfg.min_critique:
            reasons[i] = f"critique_below_min — {score:g} < {cfg.min_critique:g}"
    return reasons
