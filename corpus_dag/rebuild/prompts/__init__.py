"""Versioned prompt templates, shipped as files `{name}.v{N}.txt` with one `{fragment}` slot.

A template never changes once released: a new wording is a new version file, so cached
responses and rebuilt items always name the exact prompt that produced them.
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

    def messages(self, fragment: str) -> list[dict[str, str]]:
        """Chat messages for one question fragment."""
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": self.template.replace(SLOT, fragment)}]


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
