"""Per-document perplexity under a reference causal LM, with vLLM or transformers as the backend.

Both backends score the same token ids (the model's own tokenizer, no special tokens added), so
their numbers agree to float precision. The first token has no context and is not scored:
ppl = exp(-mean(log p(t_i | t_<i))) over positions 1..n-1 of the window.

Long documents are scored on a bounded window, the first `window_tokens` tokens, not in chunks:
the cost per document is then bounded and predictable (a 2 MB record costs what a 2 KB one does),
the head of a document is where templated boilerplate and garbled encodings show, and chunked
scoring would weight long documents' budgets by length for little extra signal. `n_tokens` is
still the whole document's length (it picks the length bucket); `n_scored` and `truncated` say
what the window covered.
"""
from __future__ import annotations

import functools
import math
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from corpus_dag.accounting import Split
from corpus_dag.engine import BatchStep

BACKENDS = ("auto", "vllm", "transformers")  # auto: corpus_dag.llm.cpu.resolve_backend
# Doubling token-length buckets up to 128K tokens: long-context documents (books, patents, reports)
# get cut-offs of their own instead of sharing the last bucket with 2K-token pages.
DEFAULT_BUCKET_EDGES = (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)

SCORE_SCHEMA = {
    "doc_id": pl.String,
    "ppl": pl.Float64,
    "n_tokens": pl.Int64,
    "n_scored": pl.Int64,
    "truncated": pl.Boolean,
    "token_bucket": pl.String,
}


@dataclass(frozen=True)
class PplConfig:
    """Reference model and how to run it."""

    model: str  # a local model folder (weights + tokenizer)
    backend: str = "auto"
    batch_size: int = 64  # documents per backend call; transformers holds batch x window x vocab logits
    window_tokens: int = 512  # score the first N tokens of each document
    dtype: str = "float32"
    device: str = "cpu"  # transformers only; vLLM picks its own platform
    bucket_edges: tuple[int, ...] = DEFAULT_BUCKET_EDGES

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"perplexity backend {self.backend!r}; expected one of {BACKENDS}")
        if self.window_tokens < 2:
            raise ValueError("window_tokens must be at least 2: the first token is never scored")
        if list(self.bucket_edges) != sorted(set(self.bucket_edges)) or any(e <= 0 for e in self.bucket_edges):
            raise ValueError(f"bucket_edges must be increasing positive token counts; got {self.bucket_edges}")


def bucket_labels(edges: Sequence[int]) -> list[str]:
    """Labels of the buckets that `edges` cut: "0-64", "64-128", ..., "1024+"."""
    bounds = [0, *edges]
    return [f"{lo}-{hi}" for lo, hi in zip(bounds, bounds[1:])] + [f"{bounds[-1]}+"]


def token_bucket(n_tokens: pl.Expr, edges: Sequence[int]) -> pl.Expr:
    """The length bucket of a token count: lower edge inclusive, upper edge exclusive."""
    return n_tokens.cut(list(edges), labels=bucket_labels(edges), left_closed=True).cast(pl.String)


class VllmScorer:
    """Prompt log-probabilities from vLLM: `SamplingParams(prompt_logprobs=0, max_tokens=1)`."""

    def __init__(self, cfg: PplConfig):
        from vllm import LLM

        from corpus_dag.llm.cpu import hidden_unsafe_modules

        with hidden_unsafe_modules():
            self.llm = LLM(
                model=cfg.model,
                dtype=cfg.dtype,
                max_model_len=cfg.window_tokens + 1,  # the window plus the one generated token
                enforce_eager=cfg.device == "cpu",
                seed=0,
                use_tqdm_on_load=False,  # no "Loading safetensors checkpoint shards" bar in the terminal
            )
        self.tokenizer = self.llm.get_tokenizer()

    def token_logprobs(self, batch: list[list[int]]) -> list[list[float]]:
        from vllm import SamplingParams, TokensPrompt

        params = SamplingParams(prompt_logprobs=0, max_tokens=1)
        outs = self.llm.generate([TokensPrompt(prompt_token_ids=ids) for ids in batch], params, use_tqdm=False)
        # Position 0 is None (no context); each later position maps the prompt's token to its Logprob.
        return [[lp[t].logprob for t, lp in zip(ids[1:], out.prompt_logprobs[1:])] for ids, out in zip(batch, outs)]


class TransformersScorer:
    """Prompt log-probabilities from a plain transformers forward pass (CPU or GPU)."""

    def __init__(self, cfg: PplConfig):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = cfg.device
        self.tokenizer = AutoTokenizer.from_pretrained(cfg.model)
        self.model = AutoModelForCausalLM.from_pretrained(cfg.model, dtype=getattr(torch, cfg.dtype)).to(cfg.device).eval()
        self.pad_id = self.tokenizer.pad_token_id or 0

    def token_logprobs(self, batch: list[list[int]]) -> list[list[float]]:
        torch = self.torch
        width = max(len(ids) for ids in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, row in enumerate(batch):  # right padding: positions stay 0..n-1 for every row
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        out = []
        with torch.inference_mode():
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
            for i, row in enumerate(batch):  # one row at a time: no second batch x window x vocab tensor
                n = len(row) - 1
                logp = torch.log_softmax(logits[i, :n].float(), dim=-1)
                out.append(logp.gather(-1, ids[i, 1 : n + 1, None].to(self.device))[:, 0].cpu().tolist())
        return out


@functools.cache
def load_scorer(cfg: PplConfig) -> VllmScorer | TransformersScorer:
    """One scorer per config in this process: every partition's run (make demo, the tests) reuses the
    loaded model (and no vLLM engine is shut down under another one)."""
    from corpus_dag.llm.cpu import apply_vllm_env, resolve_backend

    if resolve_backend(cfg.backend) == "transformers":
        return TransformersScorer(cfg)
    if cfg.device == "cpu":
        apply_vllm_env(Path(tempfile.gettempdir()) / "corpus_dag_vllm")
    return VllmScorer(cfg)


class PerplexityStep(BatchStep):
    """`score_documents` with the model loaded once per worker (one actor per model on Ray): a batch's
    Split keeps one score row per document and drops none."""

    def __init__(self, cfg: PplConfig):
        self.cfg = cfg
        self.scorer = None

    def __getstate__(self):  # ship the config, never a loaded model
        return {"cfg": self.cfg, "scorer": None}

    def setup(self) -> None:
        self.scorer = load_scorer(self.cfg)

    def __call__(self, batch: pl.DataFrame) -> Split:
        return Split(score_documents(batch, self.scorer, self.cfg))


def score_summary(split: Split) -> pl.DataFrame:
    """What `perplexity_scores` reports of a batch: tokens scored, and per document (no text, no id)
    its perplexity, bucket and truncation, for the partition's medians per bucket."""
    return split.kept.select("ppl", "token_bucket", "truncated", "n_scored")


def _batches(order: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(order), size):
        yield order[start : start + size]


def score_documents(df: pl.DataFrame, scorer, cfg: PplConfig) -> pl.DataFrame:
    """`perplexity_scores` rows for one batch of documents (`doc_id`, `text`).

    Documents with fewer than two tokens cannot be scored: their `ppl` is null (the quality stage
    drops them with a reason)."""
    texts = df["text"].fill_null("").to_list()
    ids = scorer.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"] if texts else []
    windows = [row[: cfg.window_tokens] for row in ids]
    ppl: list[float | None] = [None] * len(windows)
    scorable = sorted((i for i, w in enumerate(windows) if len(w) >= 2), key=lambda i: len(windows[i]))
    for batch in _batches(scorable, cfg.batch_size):  # similar lengths together: less padding
        for i, lps in zip(batch, scorer.token_logprobs([windows[i] for i in batch])):
            ppl[i] = math.exp(-sum(lps) / len(lps))
    n_tokens = pl.Series([len(row) for row in ids], dtype=pl.Int64)
    return pl.DataFrame(
        {
            "doc_id": df["doc_id"],
            "ppl": pl.Series(ppl, dtype=pl.Float64),
            "n_tokens": n_tokens,
            "n_scored": pl.Series([max(len(w) - 1, 0) for w in windows], dtype=pl.Int64),
            "truncated": n_tokens > cfg.window_tokens,
        },
        schema={k: v for k, v in SCORE_SCHEMA.items() if k != "token_bucket"},
    ).with_columns(token_bucket(pl.col("n_tokens"), cfg.bucket_edges).alias("token_bucket"))
