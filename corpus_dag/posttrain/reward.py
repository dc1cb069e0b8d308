"""Reward-model backend: a local transformers sequence-classification folder scores (question, answer).

The score is the model's single logit (num_labels=1, the usual reward-model head) or, for a
two-label classifier, logit(label 1) - logit(label 0). Pairs are rendered with the tokenizer's
chat template when it has one (user question, assistant answer), else as "question\\n\\nanswer".
On a GPU machine a served reward model can stand in through the same `score` interface.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RewardCfg:
    model: str  # a local folder with config.json, weights and tokenizer
    batch_size: int = 16
    max_length: int = 1024
    device: str = "cpu"


class RewardModel:
    """Loads the folder on first use; `score` returns one float per (question, answer) pair."""

    def __init__(self, cfg: RewardCfg):
        if not (Path(cfg.model) / "config.json").exists():
            raise ValueError(f"reward model folder {cfg.model!r} has no config.json (expected a local transformers folder)")
        self.cfg = cfg
        self.name = Path(cfg.model).name
        self._model = self._tokenizer = None

    def _load(self) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(self.cfg.model)
        self._model = AutoModelForSequenceClassification.from_pretrained(self.cfg.model).to(self.cfg.device).eval()
        if self._model.config.pad_token_id is None:  # batched classification needs a pad id to find the last token
            self._model.config.pad_token_id = self._tokenizer.pad_token_id or self._tokenizer.eos_token_id
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token

    def _render(self, question: str, answer: str) -> str:
        if self._tokenizer.chat_template:
            messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            return self._tokenizer.apply_chat_template(messages, tokenize=False)
        return f"{question}\n\n{answer}"

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        import torch

        if not pairs:
            return []
        if self._model is None:
            self._load()
        out: list[float] = []
        for start in range(0, len(pairs), self.cfg.batch_size):
            texts = [self._render(q, a) for q, a in pairs[start : start + self.cfg.batch_size]]
            enc = self._tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=self.cfg.max_length)
            with torch.no_grad():
                logits = self._model(**enc.to(self.cfg.device)).logits.float()
            values = logits[:, 0] if logits.shape[1] == 1 else logits[:, 1] - logits[:, 0]
            out.extend(values.tolist())
        return out
