"""Answer equivalence: the three tiers, and agreement with peers' labelled pairs (>= 98%)."""
import json
from pathlib import Path

import pytest

from corpus_dag.rebuild.equivalence import (
    MATH_VERIFY,
    NONE,
    NORMALISED,
    NUMERIC,
    AnswerJudge,
    EquivCfg,
    Verdict,
    normalise,
    to_number,
)

PAIRS = Path(__file__).parent / "data" / "answer_equivalence_pairs.jsonl"  # attribution: data/README.md


@pytest.fixture(scope="module")
def judge():
    with AnswerJudge() as j:
        yield j


@pytest.mark.parametrize(
    "a, b",
    [
        ("\\frac35", "\\frac{3}{5}"),
        ("\\dfrac{3}{5}", "\\frac{3}{5}"),
        ("\\text{M}", "M"),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"),
        ("5.0", "5"),
        ("10\\text{ cm}", "10"),
        ("12 厘米", "12"),
        ("x = 5", "5"),
        ("7,425,000", "7425000"),
        ("\\boxed{033}", "33"),
    ],
)
def test_normalisation_makes_these_equal(a, b):
    assert normalise(a) == normalise(b)


def test_tiers_are_recorded(judge):
    assert judge.judge("\\frac35", "\\frac{3}{5}").tier == NORMALISED
    assert judge.judge("\\sqrt{8}", "2\\sqrt{2}").tier == MATH_VERIFY
    assert judge.judge("0.333333333", "1/3", EquivCfg(precision=12, rel_tol=1e-6)).tier == NUMERIC
    assert judge.judge("3", "4") == Verdict(False, NONE)
    assert not judge.judge("3", None).equal
    assert to_number("\\frac{-3}{4}") == -0.75 and to_number("abc") is None


def test_order_of_a_bare_list_matters(judge):
    assert judge.judge("4, 10, -2", "4, 10, -2").equal
    assert not judge.judge("4, 10, -2", "10, 4, -2").equal


def test_a_stuck_comparison_is_bounded(judge):
    """A comparison that outlives timeout_s kills the worker and reads as not shown equal."""
    slow = EquivCfg(timeout_s=0.001)
    verdict = judge.judge("$\\int_0^1 x^{100} e^{x} dx$", "$e - 1$", slow)
    assert not verdict.equal
    assert judge.timeouts >= 1
    assert judge.judge("\\sqrt{8}", "2\\sqrt{2}").equal  # a fresh worker takes over


def _cfg(options: dict | None) -> EquivCfg:
    o = options or {}
    kw = {}
    if "match_types" in o:
        kw["match_types"] = tuple(o["match_types"])
    for src, dst in (("precision", "precision"), ("strict", "strict"), ("allow_set_relation_comp", "allow_set_relation_comp")):
        if src in o:
            kw[dst] = o[src]
    return EquivCfg(**kw)


def test_agreement_with_labelled_pairs(judge):
    """Each pair's `semantics`: Math-Verify pairs are gold-first; math_equal pairs must hold both ways."""
    rows = [json.loads(line) for line in PAIRS.read_text().splitlines()]
    misses = []
    for r in rows:
        cfg = _cfg(r["options"])
        if r["semantics"].startswith("math_equal"):
            verdicts = [judge.judge(r["gold"], r["pred"], cfg), judge.judge(r["pred"], r["gold"], cfg)]
            said = all(v.equal for v in verdicts) if r["equivalent"] else any(v.equal for v in verdicts)
        else:
            said = judge.judge(r["gold"], r["pred"], cfg).equal
        if said != r["equivalent"]:
            misses.append(f"{r['source']}: gold={r['gold']!r} pred={r['pred']!r} label={r['equivalent']}")
    rate = 1 - len(misses) / len(rows)
    print(f"\nanswer equivalence: {len(rows) - len(misses)}/{len(rows)} = {rate:.2%} agree with the labels")
    print("\n".join(misses))
    assert rate >= 0.98, "\n".join(misses)
