"""Self-consistency voting, program canonicalisation, distinct-path choice and select_verified."""
import polars as pl
import pytest

from corpus_dag.engine import group_slices
from corpus_dag.rebuild.consistency import (
    ConsistencyCfg,
    canonical_program,
    majority,
    path_distance,
    pick_paths,
)
from corpus_dag.rebuild.equivalence import AnswerJudge
from corpus_dag.rebuild.stage import (
    REBUILT_SCHEMA,
    VERIFIED_SCHEMA,
    VerifyStep,
    select_verified,
)

LOOP = '''import math
def solve(n):
    """Sum 0..n-1."""
    # running total
    total = 0
    for i in range(n):
        total += i
    return total
print(solve(10))
'''
LOOP_RENAMED = "import math\ndef f(k):\n    s=0\n    for j in range(k): s += j  # add\n    return s\nprint(f(10))"
BUILTIN = "print(sum(range(10)))"
FORMULA = "n = 10\nprint(n * (n - 1) // 2)"


def test_canonical_form_ignores_names_comments_docstrings_and_layout():
    assert canonical_program(LOOP) == canonical_program(LOOP_RENAMED)
    assert "range" in canonical_program(LOOP) and canonical_program("import math as m\nprint(m.pi)") == "import math as m\nprint(m.pi)"
    assert canonical_program(LOOP) != canonical_program(BUILTIN)
    assert canonical_program("def f(:") is None
    assert canonical_program('def f():\n    """only a docstring"""\nprint(f())') == "def v0():\n    pass\nprint(v0())"


DEAD = '''import os
from fractions import Fraction
def unused_helper(x):
    return os.path.join(x)
def count(k):
    """Sum 0..k-1."""
    scratch = k * 2
    debug: list = []
    s = 0
    if False:
        s = 99
    while 0:
        s -= 1
    for j in range(k):
        s += j
        pass
    return s
    print("never")
print(count(10))
for j in range(2):
    break
    j += 1
'''


def test_canonical_form_drops_dead_code_to_a_fixpoint():
    """Unused imports and functions (the import only the dead function read goes too), unread pure assignments,
    constant branches, code after a jump: gone; what could change the output stays."""
    live_loop = LOOP.replace("import math\n", "") + "for i in range(2):\n    break\n"
    assert canonical_program(DEAD) == canonical_program(live_loop)
    assert canonical_program(LOOP) == canonical_program(LOOP.replace("import math\n", ""))
    assert "os" not in canonical_program(DEAD) and "Fraction" not in canonical_program(DEAD)
    assert canonical_program(DEAD) != canonical_program(DEAD.replace("s += j", "s += j * j"))  # live code differs
    assert canonical_program(DEAD) != canonical_program(DEAD.replace("scratch = k * 2", "scratch = print(k)"))  # a call stays
    assert canonical_program(DEAD) != canonical_program(DEAD.replace("def unused_helper", "@staticmethod\ndef unused_helper"))
    assert canonical_program("a = 1\nb = 2\nprint(eval('a'))") == "v0 = 1\nv1 = 2\nprint(eval('a'))"  # reads its namespace
    assert "= 1" in canonical_program("class A:\n    x = 1\nprint(A.x)")  # class attributes stay (read as attributes)


def test_pick_paths_drops_duplicates_and_maximises_distance():
    canon = [canonical_program(c) for c in (LOOP, LOOP_RENAMED, BUILTIN, FORMULA, "def (")]
    picked, why = pick_paths(canon, 2)
    assert picked[0] == 0 and len(picked) == 2
    assert why[1] == "duplicate_path" and why[4] == "unparseable_program"
    other = picked[1]
    assert path_distance(canon[0], canon[other]) == max(path_distance(canon[0], canon[i]) for i in (2, 3))
    assert why[{2: 3, 3: 2}[other]] == "beyond_max_paths"


def test_majority_groups_equivalent_answers():
    same = lambda a, b: a.replace(" ", "") == b.replace(" ", "")
    assert majority(["3", "4", "3 ", None, "", "4", "3"], same) == [[0, 2, 6], [1, 5]]


def _row(qid, i, answer, program, valid=True, agree=True):
    return {
        "item_id": f"{qid}-s{i}", "question_id": qid, "prompt_version": "kp_cot_pot.v1", "model": "m",
        "sample_idx": i, "valid": valid, "knowledge_points": ["求和"], "question": "求 0 到 9 的和",
        "cot": "0+1+...+9 = 45", "cot_answer": answer, "program": program, "program_answer": answer,
        "exec_status": "ok", "agree": agree, "equivalence_tier": "normalised", "tokens_in": 10,
        "tokens_out": 20, "latency_s": 0.1,
    }


@pytest.fixture(scope="module")
def judge():
    with AnswerJudge() as j:
        yield j


def test_select_verified_accounts_for_every_sample(judge):
    rows = [
        _row("q1", 0, "45", LOOP), _row("q1", 1, "45.0", LOOP_RENAMED), _row("q1", 2, "\\frac{90}{2}", BUILTIN),
        _row("q1", 3, "44", FORMULA), _row("q1", 4, "45", FORMULA, agree=False), _row("q1", 5, None, None, valid=False),
        _row("q2", 0, "1", BUILTIN), _row("q2", 1, "2", BUILTIN), _row("q2", 2, "3", BUILTIN),
    ]
    df = pl.DataFrame(rows, schema=REBUILT_SCHEMA)
    split = select_verified(df, judge, ConsistencyCfg(min_votes=2, min_share=0.5, max_paths=2))
    assert split.n_in == df.height
    assert split.kept.schema == pl.Schema(VERIFIED_SCHEMA)
    assert sorted(split.kept["item_id"]) == ["q1-s0", "q1-s2"]
    reasons = dict(zip(split.dropped["item_id"], split.dropped["reason"]))
    assert reasons == {
        "q1-s1": "duplicate_path", "q1-s3": "minority_answer", "q1-s4": "program_disagrees",
        "q1-s5": "invalid_response", "q2-s0": "no_consensus: 1/3 votes", "q2-s1": "no_consensus: 1/3 votes",
        "q2-s2": "no_consensus: 1/3 votes",
    }
    record = split.kept.filter(pl.col("item_id") == "q1-s0").row(0, named=True)
    assert record["votes"] == 4 and record["share"] == round(4 / 6, 4)
    assert [m["role"] for m in record["messages"]] == ["user", "assistant"]
    assert "```python" in record["messages"][1]["content"]

    slices = group_slices(df["question_id"], 4)  # a batch never cuts a question's samples
    assert slices == [(0, 6), (6, 9)]
    step = VerifyStep(ConsistencyCfg(min_votes=2, min_share=0.5, max_paths=2))
    step.setup()
    try:
        batched = [step(df.slice(a, b - a)) for a, b in slices]
    finally:
        step.teardown()
    assert sum(s.n_in for s in batched) == df.height
    assert pl.concat([s.kept for s in batched]).equals(split.kept) and pl.concat([s.dropped for s in batched]).equals(split.dropped)


def test_group_slices_end_only_where_the_key_changes():
    keys = pl.Series(["a"] * 3 + ["b"] + ["c"] * 7 + ["d"] * 2)
    assert group_slices(keys, 2) == [(0, 3), (3, 11), (11, 13)]  # at least 2 rows; the run of c is not cut
    assert group_slices(keys, 1) == [(0, 3), (3, 4), (4, 11), (11, 13)]  # a run longer than a batch is one slice
    assert group_slices(keys, 4) == [(0, 4), (4, 11), (11, 13)]
    assert group_slices(keys, 100) == [(0, 13)] and group_slices(pl.Series([], dtype=pl.String), 5) == []
