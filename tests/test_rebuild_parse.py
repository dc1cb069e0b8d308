"""Parsing model responses (JSON, markdown fallback, 无效内容) and the prompt files."""
import json

import pytest

from corpus_dag.rebuild.parse import (
    RESPONSE_SCHEMA,
    extract_answer,
    extract_boxed,
    parse_response,
)
from corpus_dag.rebuild.prompts import load_prompt, messages_hash


def test_json_response():
    text = json.dumps(
        {
            "valid": True,
            "knowledge_points": ["等差数列", "求和"],
            "question": "等差数列首项为 3，公差为 2，求前 10 项和。",
            "cot": "S = 10*3 + 45*2 = 120",
            "answer": "120",
            "program": "```python\nprint(10 * 3 + 45 * 2)\n```",
        },
        ensure_ascii=False,
    )
    p = parse_response("好的：" + text)
    assert p.valid and p.mode == "json" and p.answer == "120"
    assert p.knowledge_points == ["等差数列", "求和"] and p.program == "print(10 * 3 + 45 * 2)"


def test_json_answer_falls_back_to_boxed_in_cot():
    p = parse_response('{"valid": true, "knowledge_points": [], "question": "q", "cot": "so \\\\boxed{\\\\frac{3}{5}}", "answer": "", "program": ""}')
    assert p.valid and p.answer == "\\frac{3}{5}"


def test_markdown_fallback():
    text = (
        "知识点：一元二次方程、因式分解\n题目：解方程 x^2-5x+6=0，求较大的根。\n"
        "解答：因式分解得 (x-2)(x-3)=0，所以较大的根为 3。\n答案：3\n"
        "```python\nimport math\nprint(max(2, 3))\n```\n"
    )
    p = parse_response(text)
    assert p.valid and p.mode == "markdown"
    assert p.knowledge_points == ["一元二次方程", "因式分解"]
    assert p.answer == "3" and p.program == "import math\nprint(max(2, 3))"


@pytest.mark.parametrize("text", ["无效内容", "无效内容。该片段只有页眉。", "", "random words", '{"valid": tru'])
def test_unreadable_or_invalid_is_never_valid(text):
    assert not parse_response(text).valid


def test_invalid_json_is_not_valid_even_with_fields():
    p = parse_response('{"valid": false, "knowledge_points": [], "question": "q", "cot": "", "answer": "1", "program": ""}')
    assert not p.valid and p.mode == "json"


def test_answer_extraction():
    assert extract_boxed("a \\boxed{\\frac{1}{\\sqrt{2}}} b") == "\\frac{1}{\\sqrt{2}}"
    assert extract_boxed("no box") is None
    assert extract_answer("所以答案是 42。") == "42"
    assert extract_answer("The final answer is 7.") == "7"


def test_prompts_are_versioned_files():
    for name in ("direct", "knowledge_points", "kp_cot_pot"):
        p = load_prompt(name)
        assert p.version == f"{name}.v1"
        assert "无效内容" in p.template
    kp = load_prompt("kp_cot_pot")
    msgs = kp.messages("已知 x+1=3，求 x")
    assert "已知 x+1=3，求 x" in msgs[-1]["content"] and "知识点" in msgs[-1]["content"]
    assert messages_hash(msgs) != messages_hash(kp.messages("已知 x+2=3，求 x"))
    with pytest.raises(ValueError, match="unknown prompt"):
        load_prompt("kp_cot_pot", 99)
    assert set(RESPONSE_SCHEMA["required"]) == {"valid", "knowledge_points", "question", "cot", "answer", "program"}


def test_validity_follows_what_the_prompt_asks_for():
    kp_only = '{"valid": true, "knowledge_points": ["勾股定理"], "question": "", "cot": "", "answer": "", "program": ""}'
    assert parse_response(kp_only, load_prompt("knowledge_points").required).valid
    assert not parse_response(kp_only, load_prompt("kp_cot_pot").required).valid
    no_program = "知识点：勾股定理\n题目：直角边 3 和 4，求斜边。\n解答：5\n答案：5"
    assert parse_response(no_program, load_prompt("direct").required).valid
    assert not parse_response(no_program, load_prompt("kp_cot_pot").required).valid
