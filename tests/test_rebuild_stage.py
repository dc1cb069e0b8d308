"""The stage's per-sample path (parse -> sandbox -> compare) with a scripted engine.

The vLLM tests drive the same code with a real model, but a random model never writes a valid
answer; this engine answers each fragment with a fixed response so every column can be checked.
"""
import json
from pathlib import Path

import polars as pl
import pytest

from corpus_dag.exam.questions import EXAM_QUESTION_SCHEMA, select_math
from corpus_dag.llm.cache import ResponseCache, cache_key
from corpus_dag.llm.engines import Completion
from corpus_dag.rebuild import prompts
from corpus_dag.rebuild.consistency import ConsistencyCfg
from corpus_dag.rebuild.equivalence import NONE
from corpus_dag.rebuild.prompts import messages_hash
from corpus_dag.rebuild.sandbox import SandboxCfg
from corpus_dag.rebuild.stage import (
    REBUILT_SCHEMA,
    RebuildCfg,
    Rebuilder,
    select_verified,
)
from corpus_dag.storage import CorpusStore


def reply(answer, program, valid=True):
    return json.dumps({"valid": valid, "knowledge_points": ["分数"], "question": "1 除以 2 等于多少？",
                       "cot": "1/2 = 0.5", "answer": answer, "program": program}, ensure_ascii=False)


SCRIPT = {
    "frac": reply("\\frac{1}{2}", "print(1 / 2)"),
    "wrong": reply("3", "print(4)"),
    "loop": reply("1", "while True:\n    pass"),
    "junk": "无效内容",
}


class ScriptedEngine:
    model = "scripted"

    def __init__(self):
        self.prompts = 0

    def start(self):
        pass

    def generate(self, requests, sampling):
        self.prompts += len(requests)
        out = []
        for r in requests:
            key = next(k for k in SCRIPT if f"[{k}]" in r.messages[-1]["content"])
            out.append(Completion(SCRIPT[key], tokens_in=100, tokens_out=50, latency_s=0.01))
        return out

    def cost(self, tokens_in, tokens_out, seconds):
        return {"api_usd": 0.0}


def test_each_sample_is_parsed_executed_and_compared(tmp_path):
    questions = pl.DataFrame({"question_id": list(SCRIPT), "text": [f"题目 [{k}]" for k in SCRIPT]})
    cfg = RebuildCfg(samples=2, sandbox=SandboxCfg(wall_s=2, cpu_s=1))
    engine = ScriptedEngine()
    with Rebuilder(engine, ResponseCache(CorpusStore(str(tmp_path)), "s"), cfg) as rb:
        rows = rb.rebuild(questions)
        stats = rb.stats.as_dict(engine)
        split = select_verified(rows, rb.judge, cfg.consistency)
    assert rows.schema == pl.Schema(REBUILT_SCHEMA) and rows.height == 8
    by_q = {q: rows.filter(pl.col("question_id") == q).row(0, named=True) for q in SCRIPT}
    assert by_q["frac"]["agree"] and by_q["frac"]["program_answer"] == "0.5" and by_q["frac"]["equivalence_tier"] != NONE
    assert by_q["wrong"]["exec_status"] == "ok" and not by_q["wrong"]["agree"] and by_q["wrong"]["equivalence_tier"] == NONE
    assert by_q["loop"]["exec_status"] == "timeout" and not by_q["loop"]["agree"]
    assert not by_q["junk"]["valid"] and by_q["junk"]["exec_status"] is None
    assert stats["validity_rate"] == 0.75 and stats["agreement_rate"] == round(2 / 6, 4)
    assert stats["exec_status"] == {"ok": 4, "timeout": 2, "not_run": 2}
    # both "frac" samples agree and share one program: one verified path, the other a duplicate
    assert split.kept["question_id"].to_list() == ["frac"]
    reasons = dict(zip(split.dropped["item_id"].str.extract(r"^(\w+)-"), split.dropped["reason"]))
    assert reasons == {"frac": "duplicate_path", "wrong": "program_disagrees", "loop": "program_disagrees", "junk": "invalid_response"}


def test_a_batch_without_text_is_refused(tmp_path):
    with Rebuilder(ScriptedEngine(), ResponseCache(CorpusStore(str(tmp_path)), "s")) as rb, pytest.raises(ValueError, match="text"):
        rb.rebuild(pl.DataFrame({"question_id": ["a"]}))


class RecordingEngine(ScriptedEngine):
    """ScriptedEngine that keeps every user message it was sent."""

    def __init__(self):
        super().__init__()
        self.sent: list[str] = []

    def generate(self, requests, sampling):
        self.sent += [r.messages[-1]["content"] for r in requests]
        return super().generate(requests, sampling)


def test_a_group_question_is_sent_and_kept_with_its_material(tmp_path):
    """A question split from a material group carries `context`: the prompt holds the material before the
    question, the rebuilt rows keep it and the SFT user turn starts with it; an ordinary question's prompt
    is the template with the question in its slot, byte for byte, so its cache key does not change."""
    material = "某校统计了 50 名学生的身高，平均数为 160 cm，方差为 4。"
    questions = pl.DataFrame({"question_id": ["grouped", "plain"], "text": ["9. 求标准差 [frac]", "10. 计算 [frac]"],
                              "context": [material, None]})
    cfg = RebuildCfg(samples=1, sandbox=SandboxCfg(wall_s=2, cpu_s=1))
    engine = RecordingEngine()
    with Rebuilder(engine, ResponseCache(CorpusStore(str(tmp_path)), "s"), cfg) as rb:
        rows = rb.rebuild(questions)
        split = select_verified(rows, rb.judge, ConsistencyCfg(min_votes=1, min_share=0.0))
    template = (Path(prompts.__file__).parent / "kp_cot_pot.v1.txt").read_text(encoding="utf-8")
    grouped, plain = engine.sent
    assert f"材料：{material}\n\n9. 求标准差 [frac]" in grouped
    assert plain == template.replace("{fragment}", "10. 计算 [frac]")
    expected = [{"role": "system", "content": prompts.SYSTEM}, {"role": "user", "content": plain}]
    fp = cfg.sampling.fingerprint()
    assert rb.plan(questions[1:])[0]["key"] == cache_key("scripted", "kp_cot_pot.v1", messages_hash(expected), fp, 0)
    assert rows["context"].to_list() == [material, None]
    users = {r["question_id"]: r["messages"][0]["content"] for r in split.kept.to_dicts()}
    assert users["grouped"].startswith(f"材料：{material}\n\n") and users["plain"] == "1 除以 2 等于多少？"


def test_math_questions_keep_the_material_of_their_group():
    q = pl.DataFrame({"question_id": ["a", "b"], "doc_id": ["d", "d"], "question_no": [1, 2], "section": [None, None],
                      "text": ["x", "y"], "context": ["材料", None], "subject": ["数学", "数学"], "is_valid": [True, True],
                      "valid_score": [0.9, 0.9]}, schema=EXAM_QUESTION_SCHEMA)
    assert select_math(q).kept["context"].to_list() == ["材料", None]
