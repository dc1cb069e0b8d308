"""Versioned prompt templates, shipped as files `{name}.v{N}.txt` with one `{fragment}` slot.

A template never changes once released: a new wording is a new version file, so cached
responses and rebuilt items always name the exact prompt that produced them. A question of a
material group (`阅读材料，完成 9～11 题`) is unreadable without its material, so the material goes
into the slot before the question (`with_material`); without one the slot holds the question alone.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent
SLOT = "{fragment}"
SYSTEM = "你是一位严谨的数学老师。"
MATERIAL = "材料：{context}\n\n"
# What a response to each prompt must fill in to count as valid (the others are asked to stay empty).
REQUIRED = {
    "direct": ("question", "answer"),
    "knowledge_points": ("knowledge_points",),
    "kp_cot_pot": ("knowledge_points", "question", "answer", "program"),
    "kp_cot": ("knowledge_points", "question", "answer"),
    "cot_pot": ("question", "answer", "program"),
}


@dataclass(frozen=True)
class Prompt:
    """One template version: `version` is the id stored with every response (e.g. `kp_cot_pot.v1`)."""

    version: str
    template: str
    required: tuple[str, ...] = ("question", "answer")

    def messages(self, fragment: str, context: str | None = None) -> list[dict[str, str]]:
        """Chat messages for one question fragment and the material its group shares (if any)."""
        user = self.template.replace(SLOT, with_material(fragment, context))
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def with_material(text: str, context: str | None) -> str:
    """`材料：{context}` then `text`; `text` itself when there is no material, so an ordinary question's
    prompt (and its response-cache key, a hash of the messages) stays byte-identical."""
    return MATERIAL.format(context=context) + text if context else text


@cache
def load_prompt(name: str, version: int = 1) -> Prompt:
    """Load `prompts/{name}.v{version}.txt`; a clear error lists what exists."""
    path = HERE / f"{name}.v{version}.txt"
    if not path.exists():
        known = sorted(p.name.removesuffix(".txt") for p in HERE.glob("*.txt"))
        raise ValueError(f"unknown prompt {name}.v{version}; shipped: {', '.join(known)}")
    template = path.read_text(encoding="utf-8")
    if template.count(SLOT) != 1:
        raise ValueError(f"{path.name}: expected exactly one {SLOT} slot")
    return Prompt(f"{name}.v{version}", template, REQUIRED.get(name, ("question", "answer")))


def messages_hash(messages: list[dict[str, str]]) -> str:
    """Content hash of the exact messages sent (template, system text and fragment)."""
    return hashlib.sha256(json.dumps(messages, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
