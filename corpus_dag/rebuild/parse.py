"""Turn a model response into the fields of a rebuilt item: JSON first, markdown as the fallback.

Guided decoding gives JSON when the engine supports it; hosted APIs, older servers and truncated
outputs do not, so the parser also reads the markdown layout the prompt asks for as a fallback
(`知识点：` / `题目：` / `解答：` / `答案：` lines, a ```python block, `\\boxed{}`).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace

INVALID_MARK = "无效内容"
RESPONSE_SCHEMA = {
    "type": "object",
    "properties": {
        "valid": {"type": "boolean"},
        "knowledge_points": {"type": "array", "items": {"type": "string"}, "maxItems": 8},
        "question": {"type": "string"},
        "cot": {"type": "string"},
        "answer": {"type": "string"},
        "program": {"type": "string"},
    },
    "required": ["valid", "knowledge_points", "question", "cot", "answer", "program"],
    "additionalProperties": False,
}

CODE_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)
SECTION = re.compile(r"^\s*(?:\*\*)?(知识点|题目|新题目|解答|解析|答案|最终答案)(?:\*\*)?\s*[:：]\s*(?:\*\*)?", re.MULTILINE)
ANSWER_IS = re.compile(r"(?:the (?:final )?answer is|答案(?:是|为))\s*[:：]?\s*(.+?)\s*(?:[。.]\s*)?$", re.IGNORECASE | re.MULTILINE)
KP_SPLIT = re.compile(r"[、,，;；\n]+")


@dataclass(frozen=True)
class Parsed:
    """The fields of one response, and how they were read (`json`, `markdown`, `invalid_mark`, `unparsed`)."""

    valid: bool
    knowledge_points: list[str] = field(default_factory=list)
    question: str = ""
    cot: str = ""
    answer: str = ""
    program: str = ""
    mode: str = "unparsed"


def parse_response(text: str, required: tuple[str, ...] = ("question", "answer")) -> Parsed:
    """Read a response; it is valid when it says so (JSON) and fills every `required` field.

    A response that cannot be read is `valid=False`, never an exception.
    """
    text = (text or "").strip()
    found = _from_json(text) or _from_markdown(text)
    if found:
        filled = all(getattr(found, f) for f in required)
        return replace(found, valid=found.valid and filled)
    if INVALID_MARK in text[:200]:
        return Parsed(valid=False, mode="invalid_mark")
    return Parsed(valid=False)


def json_object(text: str) -> dict | None:
    """The outermost `{...}` of a model's response as a dict (guided decoding or prose around it), else None."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        obj = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def _from_json(text: str) -> Parsed | None:
    obj = json_object(text)
    if obj is None or "valid" not in obj:
        return None
    kps = obj.get("knowledge_points") or []
    kps = [str(k).strip() for k in kps if str(k).strip()] if isinstance(kps, list) else _split_kps(str(kps))
    fields = {k: _text(obj.get(k)) for k in ("question", "cot", "answer", "program")}
    fields["program"] = _strip_fence(fields["program"])
    if not fields["answer"]:
        fields["answer"] = extract_answer(fields["cot"]) or ""
    return Parsed(valid=obj.get("valid") is True, knowledge_points=kps, mode="json", **fields)


def _from_markdown(text: str) -> Parsed | None:
    sections = _sections(text)
    blocks = CODE_BLOCK.findall(text)
    program = blocks[-1].strip() if blocks else ""
    if not sections and not program:
        return None
    cot = sections.get("解答") or sections.get("解析") or ""
    answer = sections.get("最终答案") or sections.get("答案") or extract_answer(cot) or extract_answer(text) or ""
    question = sections.get("新题目") or sections.get("题目") or ""
    answer = CODE_BLOCK.sub("", answer).strip()
    return Parsed(
        valid=True,  # the markdown layout has no flag: validity is the required fields being there
        knowledge_points=_split_kps(sections.get("知识点", "")),
        question=question,
        cot=CODE_BLOCK.sub("", cot).strip(),
        answer=answer,
        program=program,
        mode="markdown",
    )


def _sections(text: str) -> dict[str, str]:
    marks = list(SECTION.finditer(text))
    out = {}
    for m, nxt in zip(marks, marks[1:] + [None]):
        body = text[m.end() : nxt.start() if nxt else len(text)]
        out.setdefault(m.group(1), CODE_BLOCK.split(body)[0].strip() if "```" in body else body.strip())
    return out


def extract_answer(text: str) -> str | None:
    """The last `\\boxed{...}` (balanced braces), else an `答案是 …` / `the answer is …` line."""
    boxed = extract_boxed(text)
    if boxed is not None:
        return boxed
    hits = ANSWER_IS.findall(text or "")
    return hits[-1].strip() if hits else None


def extract_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` or `\\fbox{...}`, braces balanced; None if absent."""
    start = max((text or "").rfind("\\boxed"), (text or "").rfind("\\fbox"))
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1 : j].strip()
    return None


def _split_kps(text: str) -> list[str]:
    return [k.strip(" -*·•.。") for k in KP_SPLIT.split(text) if k.strip(" -*·•.。")]


def _strip_fence(code: str) -> str:
    blocks = CODE_BLOCK.findall(code)
    return blocks[-1].strip() if blocks else code.strip()


def _text(v) -> str:
    return "" if v is None else str(v).strip()
