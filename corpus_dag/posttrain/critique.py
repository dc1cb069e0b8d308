"""LLM-as-judge critique of one reasoning path: per-step verdicts, a final verdict and a 0-10 score.

The judge sees the question, the reference answer (the question's verified majority answer) and
the path (CoT, program and its output). Guided decoding gives JSON when the engine supports a
JSON schema; otherwise the markdown layout the prompt also describes is read (`步骤1：正确…`,
`结论：正确`, `评分：7/10`). A response that yields no score is `mode="unparsed"`, never an error.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from corpus_dag.rebuild.parse import json_object
from corpus_dag.rebuild.prompts import with_material
from corpus_dag.rebuild.sft import hybrid_solution

CORRECT, INCORRECT = "correct", "incorrect"
SCORE_RANGE = (0, 10)
CRITIQUE_SCHEMA = {
    "type": "object",
    "properties": {
        "steps": {
            "type": "array",
            "maxItems": 12,
            "items": {
                "type": "object",
                "properties": {"verdict": {"enum": [CORRECT, INCORRECT]}, "comment": {"type": "string", "maxLength": 200}},
                "required": ["verdict", "comment"],
                "additionalProperties": False,
            },
        },
        "correct": {"type": "boolean"},
        "score": {"enum": list(range(SCORE_RANGE[0], SCORE_RANGE[1] + 1))},
    },
    "required": ["steps", "correct", "score"],
    "additionalProperties": False,
}
STEP_LINE = re.compile(r"^\s*(?:\*\*)?步骤\s*\d+(?:\*\*)?\s*[:：]\s*(正确|错误|correct|incorrect)[，,。.\s]*(.*)$", re.MULTILINE | re.IGNORECASE)
VERDICT_LINE = re.compile(r"(?:结论|最终答案)\s*[:：]\s*(正确|错误)")
SCORE_LINE = re.compile(r"(?:评分|得分|score)\s*[:：]\s*(\d+(?:\.\d+)?)\s*(?:/\s*10|分)?", re.IGNORECASE)
WORDS = {"正确": CORRECT, "错误": INCORRECT, "correct": CORRECT, "incorrect": INCORRECT}


@dataclass(frozen=True)
class Critique:
    """A judge's reading of one path; `score` is None when the response held none (`mode="unparsed"`)."""

    score: float | None
    correct: bool | None = None
    steps: list[dict] = field(default_factory=list)  # [{"verdict": correct|incorrect, "comment": str}]
    mode: str = "unparsed"


def critique_fragment(question: str, reference: str, path: dict) -> str:
    """What the judge reads: the question (after its group's material, when it has one), the reference
    answer, the path as the SFT text shows it."""
    solution = hybrid_solution(path.get("cot"), path.get("program"), path.get("program_answer"), path.get("cot_answer"))
    return f"题目：\n{with_material(question, path.get('context'))}\n\n参考答案：{reference}\n\n学生的解答：\n{solution}"


def parse_critique(text: str) -> Critique:
    """JSON (the guided-decoding schema) first, then the markdown layout; scores clipped to 0-10."""
    text = (text or "").strip()
    return _from_json(text) or _from_markdown(text) or Critique(score=None)


def _clip(score: float) -> float:
    return float(min(max(score, SCORE_RANGE[0]), SCORE_RANGE[1]))


def _from_json(text: str) -> Critique | None:
    obj = json_object(text)
    if obj is None or not isinstance(obj.get("score"), (int, float)) or isinstance(obj.get("score"), bool):
        return None
    steps = [
        {"verdict": WORDS.get(str(s.get("verdict", "")).lower(), INCORRECT), "comment": str(s.get("comment", ""))}
        for s in obj.get("steps") or []
        if isinstance(s, dict)
    ]
    correct = obj.get("correct") if isinstance(obj.get("correct"), bool) else None
    return Critique(score=_clip(obj["score"]), correct=correct, steps=steps, mode="json")


def _from_markdown(text: str) -> Critique | None:
    scores = SCORE_LINE.findall(text)
    if not scores:
        return None
    steps = [{"verdict": WORDS[m.group(1).lower()], "comment": m.group(2).strip()} for m in STEP_LINE.finditer(text)]
    verdict = VERDICT_LINE.findall(text)
    correct = (verdict[-1] == "正确") if verdict else None
    return Critique(score=_clip(float(scores[-1])), correct=correct, steps=steps, mode="markdown")
