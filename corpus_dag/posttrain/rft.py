"""RFT: from a question's correct sampled paths, a diverse subset.

Paths are canonicalised by `canonical_program` (names normalised, comments, docstrings and dead
code removed, one formatting), so AST-equal programs merge; then paths are kept greedily, each next one the
path whose minimum distance to those already kept is largest. Distance: normalised Levenshtein
distance over canonical tokens (`levenshtein`) or 1 - LCS similarity (`lcs`), via rapidfuzz.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein, LCSseq

from corpus_dag.rebuild.consistency import TOKEN, canonical_program

METRICS = {"levenshtein": Levenshtein.normalized_distance, "lcs": LCSseq.normalized_distance}
HIST_EDGES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass(frozen=True)
class RftCfg:
    max_paths: int = 4  # per question
    min_distance: float = 0.0  # a path closer than this to a kept one is dropped (too_close)
    metric: str = "levenshtein"

    def __post_init__(self):
        if self.metric not in METRICS:
            raise ValueError(f"rft metric must be one of {sorted(METRICS)}, got {self.metric!r}")


def canonical_tokens(program: str | None) -> list[str] | None:
    """Tokens of the canonical program; None when there is no program or it does not parse."""
    canonical = canonical_program(program) if program else None
    return TOKEN.findall(canonical) if canonical is not None else None


def diverse_paths(programs: Sequence[str | None], cfg: RftCfg) -> tuple[list[int], dict[int, str], dict[int, float]]:
    """(kept indexes in pick order, drop reason per other index, kept index -> min distance to earlier kept).

    The first kept path is the first distinct one (input order = rank order); its distance is 1.0.
    """
    distance = METRICS[cfg.metric]
    tokens: dict[int, list[str]] = {}
    seen: dict[tuple, int] = {}
    reasons: dict[int, str] = {}
    for i, program in enumerate(programs):
        toks = canonical_tokens(program)
        if toks is None:
            reasons[i] = "unparseable_program" if program else "no_program"
        elif tuple(toks) in seen:
            reasons[i] = f"duplicate_path — same canonical program as #{seen[tuple(toks)]}"
        else:
            seen[tuple(toks)] = i
            tokens[i] = toks
    kept: list[int] = []
    min_dist: dict[int, float] = {}
    rest = list(tokens)
    while rest and len(kept) < cfg.max_paths:
        gaps = {i: min((distance(tokens[i], tokens[j]) for j in kept), default=1.0) for i in rest}
        best = max(rest, key=lambda i: (gaps[i], -i))
        if kept and gaps[best] < cfg.min_distance:
            break
        kept.append(best)
        min_dist[best] = gaps[best]
        rest.remove(best)
    for i in rest:
        gap = min(distance(tokens[i], tokens[j]) for j in kept)
        reasons[i] = f"too_close — {gap:.2f} < {cfg.min_distance:g}" if gap < cfg.min_distance else "beyond_max_paths"
    return kept, reasons, min_dist


def histogram(values: Sequence[float], edges: Sequence[float] = HIST_EDGES) -> list[tuple[str, int]]:
    """Counts per [edge_i, edge_i+1) bin (the last bin closed), labelled like `0.2-0.3`."""
    bins = [0] * (len(edges) - 1)
    for v in values:
        for b in range(len(bins)):
            if edges[b] <= v < edges[b + 1] or (b == len(bins) - 1 and v == edges[-1]):
                bins[b] += 1
                break
    return [(f"{edges[b]:g}-{edges[b + 1]:g}", n) for b, n in enumerate(bins)]
