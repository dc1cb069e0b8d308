"""DPO pairs from the scored paths of one question: a correct, high-scoring path against an incorrect one.

Hard contrasts teach more than easy ones, so rejected paths are taken in this order of pair type:
1. `cot_wrong_pot_right`: the CoT answer is wrong while the path's own program printed the right one;
2. `precision`: the wrong answer is a number within `precision_rel` of the reference (rounding, units);
3. `close_scores`: chosen and rejected critique scores differ by at most `close_margin`;
4. `easy`: anything else (the best path against the worst).
Within a type, closer scores first. Chosen paths are the correct ones by score, used in turn.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from corpus_dag.rebuild.equivalence import to_number

PAIR_TYPES = ("cot_wrong_pot_right", "precision", "close_scores", "easy")


@dataclass(frozen=True)
class DpoCfg:
    max_pairs: int = 2  # per question
    min_chosen_score: float = 6.0  # critique score a chosen path needs
    close_margin: float = 2.0
    precision_rel: float = 0.01


def _score(row: dict) -> float:
    return row["critique_score"] if row["critique_score"] is not None else -1.0


def pair_type(chosen: dict, rejected: dict, cfg: DpoCfg) -> str:
    """The contrast a (chosen, rejected) pair shows; rows need `program_correct`, `cot_answer`, `reference_answer`."""
    if rejected["program_correct"]:
        return "cot_wrong_pot_right"
    got, want = to_number(rejected["cot_answer"]), to_number(rejected["reference_answer"])
    if got is not None and want is not None and got != want and abs(got - want) <= cfg.precision_rel * max(abs(want), 1e-12):
        return "precision"
    if abs(_score(chosen) - _score(rejected)) <= cfg.close_margin:
        return "close_scores"
    return "easy"


def pair_paths(rows: Sequence[dict], cfg: DpoCfg) -> tuple[list[tuple[int, int, str]], str | None]:
    """(chosen index, rejected index, pair type) for one question's paths, or ([], why none).

    Only scored paths take part (`valid` and a reference); correct = `correct`.
    """
    scored = [i for i, r in enumerate(rows) if r["valid"] and r["reference_answer"] is not None]
    chosen = sorted(
        (i for i in scored if rows[i]["correct"] and _score(rows[i]) >= cfg.min_chosen_score),
        key=lambda i: (-_score(rows[i]), rows[i]["item_id"]),
    )
    rejected = [i for i in scored if not rows[i]["correct"]]
    if not chosen:
        return [], "no_chosen — no correct path scoring >= min_chosen_score"
    if not rejected:
        return [], "no_rejected — every scored path is correct"
    best = rows[chosen[0]]
    typed = {i: pair_type(best, rows[i], cfg) for i in rejected}

    def order(i: int) -> tuple:  # hard types first; within a hard type the closest scores, for easy the widest gap
        gap = abs(_score(best) - _score(rows[i]))
        return PAIR_TYPES.index(typed[i]), gap if typed[i] != "easy" else -gap, rows[i]["item_id"]

    pairs = []
    for n, r in enumerate(sorted(rejected, key=order)[: cfg.max_pairs]):
        c = chosen[n % len(chosen)]
        pairs.append((c, r, pair_type(rows[c], rows[r], cfg)))
    return pairs, None
