"""SFT records: the user turn (optionally rephrased), an optional system turn, a hybrid answer.

Hybrid answer (the 360 math recipe): the CoT carries the reasoning, the program carries the
computation, and the reader sees what the program printed before the final answer. Rephrasing
the instruction in a few fixed ways, chosen by a seeded hash of the item, keeps a model from
learning one template while staying reproducible (same seed and item -> same phrasing).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from corpus_dag.rebuild.prompts import with_material

# `{question}` is replaced by the item's question; the first phrasing is the bare question.
PHRASINGS = (
    "{question}",
    "请解答下面的数学题：\n{question}",
    "{question}\n请一步一步推理，并给出最终答案。",
    "请先分析题目考查的知识点，再逐步求解：\n{question}",
    "解答这道题，必要时可以写 Python 程序计算：\n{question}",
)


@dataclass(frozen=True)
class SftCfg:
    system: str = ""  # a system turn before the user turn; empty: none
    vary_phrasing: bool = False  # rephrase the user turn with PHRASINGS (seeded hash of the item id)
    seed: int = 0


def hybrid_solution(cot: str | None, program: str | None, output: str | None, answer: str | None) -> str:
    """CoT steps, then the program and its executed output (when there is one), then the answer."""
    parts = [cot or ""]
    if program:
        parts.append(f"```python\n{program}\n```")
        if output is not None:
            parts.append(f"运行结果：{output}")
    parts.append(f"答案：{answer}")
    return "\n\n".join(p for p in parts if p)


def user_turn(question: str, item_id: str, cfg: SftCfg, context: str | None = None) -> str:
    """The question after its group's material (if any), phrased as PHRASINGS[hash(seed, item) % n]
    when `vary_phrasing` is on."""
    question = with_material(question, context)
    if not cfg.vary_phrasing:
        return question
    digest = hashlib.sha256(f"{cfg.seed}|{item_id}".encode()).digest()
    return PHRASINGS[int.from_bytes(digest[:8], "big") % len(PHRASINGS)].format(question=question)


def prompt_messages(question: str, item_id: str, cfg: SftCfg, context: str | None = None) -> list[dict[str, str]]:
    """The conversation up to (not including) the assistant's answer."""
    system = [{"role": "system", "content": cfg.system}] if cfg.system else []
    return system + [{"role": "user", "content": user_turn(question, item_id, cfg, context)}]


def sft_messages(row: dict, cfg: SftCfg) -> list[dict[str, str]]:
    """Chat messages of one path row (`question`, `cot`, `program`, `program_answer`, `cot_answer`, and the
    material the source question's group shares in `context`, when the row has it)."""
    solution = hybrid_solution(row["cot"], row["program"], row.get("program_answer"), row["cot_answer"])
    return prompt_messages(row["question"], row["item_id"], cfg, row.get("context")) + [{"role": "assistant", "content": solution}]
