"""Reward-model backend: a local sequence-classification folder scores (question, answer) pairs.

The score is the model's single logit (num_labels=1, the usual reward-model head) or, for a
two-label classifier, logit(label 1) - logit(label 0). Pairs are rendered with the tokenizer's
chat template when it has one (user question, assistant answer), else as "question\\n\\nanswer".

Two backends give the same scores (tested on CPU with a tiny model, within float tolerance):
`transformers` (AutoModelForSequenceClassification, batched by `batch_size`) and `vllm` (an
in-process pooling engine, `LLM.classify` with the activation off, one call for every pair: the
fast path on a GPU). `auto` picks vllm where a CUDA device is there, else transformers.
"""
from __future__ import annotations

import functools
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from corpus_dag.llm.cpu import resolve_backend

BACKENDS = ("auto", "transformers", "vllm")


@dataclass(frozen=True)
class RewardCfg:
    model: str  # a local folder with config.json, weights and tokenizer
    backend: str = "auto"  # auto | transformers | vllm
    batch_size: int = 16  # transformers only: vLLM batches itself
    max_length: int = 1024  # longer pairs are truncated (both backends)
    device: str = "cpu"  # transformers only: vLLM places the model itself
    dtype: str = "auto"  # vllm only (transformers keeps the checkpoint's dtype); auto may cast float32 down

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"reward backend must be one of {list(BACKENDS)}, got {self.backend!r}")



class RewardModel:
    """Loads the folder on first use; `score` returns one float per (question, answer) pair."""

    def __init__(self, cfg: RewardCfg):
        if not (Path(cfg.model) / "config.json").exists():
            raise ValueError(f"reward model folder {cfg.model!r} has no config.json (expected a local transformers folder)")
        self.cfg = cfg
        self.name = Path(cfg.model).name
        self.backend = resolve_backend(cfg.backend)
        self._model = self._tokenizer = self._llm = None

    def _load(self) -> None:
        from transformers import AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(self.cfg.model)
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        if self.backend == "vllm":
            self._llm = _vllm_pooling(self.cfg.model, self.cfg.max_length, self.cfg.dtype)
            return
        from transformers import AutoModelForSequenceClassification

        self._model = AutoModelForSequenceClassification.from_pretrained(self.cfg.model).to(self.cfg.device).eval()
        if self._model.config.pad_token_id is None:  # batched classification needs a pad id to find the last token
            self._model.config.pad_token_id = self._tokenizer.pad_token_id

    def _render(self, question: str, answer: str) -> str:
        if self._tokenizer.chat_template:
            messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            return self._tokenizer.apply_chat_template(messages, tokenize=False)
        return f"{question}\n\n{answer}"

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        if not pairs:
            return []
        if self._tokenizer is None:
            self._load()
        texts = [self._render(q, a) for q, a in pairs]
        return self._score_vllm(texts) if self.backend == "vllm" else self._score_transformers(texts)

    def _score_transformers(self, texts: list[str]) -> list[float]:
        import torch

        out: list[float] = []
        for start in range(0, len(texts), self.cfg.batch_size):
            enc = self._tokenizer(texts[start : start + self.cfg.batch_size], return_tensors="pt", padding=True,
                                  truncation=True, max_length=self.cfg.max_length)
            with torch.no_grad():
                logits = self._model(**enc.to(self.cfg.device)).logits.float()
            out.extend(_reward(row) for row in logits.tolist())
        return out

    def _score_vllm(self, texts: list[str]) -> list[float]:
        from vllm.pooling_params import PoolingParams

        outputs = self._llm.classify(texts, pooling_params=PoolingParams(use_activation=False), use_tqdm=False,
                                     tokenization_kwargs={"truncation": True, "max_length": self.cfg.max_length})
        return [_reward(o.outputs.probs) for o in outputs]


def _reward(logits: Sequence[float]) -> float:
    """The single logit, or logit(1) - logit(0) for a two-label head."""
    return float(logits[0]) if len(logits) == 1 else float(logits[1] - logits[0])


@functools.cache
def _vllm_pooling(model: str, max_length: int, dtype: str):
    """An in-process vLLM pooling engine over the folder (classify head, raw logits asked per call); one per
    folder and length in the process: a vLLM engine is never shut down mid-process (see JudgeEngine)."""
    from vllm import LLM
    from vllm.platforms import current_platform

    from corpus_dag.llm.cpu import apply_vllm_env, hidden_unsafe_modules

    cpu = current_platform.is_cpu()
    if cpu:  # vLLM's CPU build: KV-cache size, in-process engine (values the user set are kept)
        apply_vllm_env(Path(tempfile.gettempdir()) / "corpus_dag_vllm")
    with hidden_unsafe_modules():
        return LLM(model=model, runner="pooling", convert="classify", max_model_len=max_length, dtype=dtype,
                   enforce_eager=cpu, use_tqdm_on_load=False)
