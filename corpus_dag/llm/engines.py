"""Two ways to get completions, one interface: `engine.generate(requests, sampling) -> completions`.

- `VllmEngine`: vLLM offline in this process (`vllm.LLM`). A call sends ALL its requests to one
  `LLM.generate`, so vLLM's continuous batching sees the whole batch at once.
- `OpenAIEngine`: any OpenAI-compatible chat endpoint (a vLLM server, a hosted API). Bounded
  concurrency, a request-rate limit, retries with exponential backoff on 429/5xx/timeouts.
  The API key is read from the environment variable named in the config at request time;
  it is never stored on the object, logged, or written anywhere.
Each request carries its sample index; sample i of a prompt is drawn with seed `seed + i`,
so any single sample can be regenerated on its own (what the response cache relies on).
"""
from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Protocol

from corpus_dag.llm.cpu import hidden_unsafe_modules

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters; `json_schema` (a JSON schema as a dict) asks for guided/structured output."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 1024
    seed: int = 0
    json_schema: dict | None = field(default=None, hash=False)

    def fingerprint(self) -> str:
        """A stable string of every field (part of the cache key)."""
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Request:
    messages: Messages
    sample_idx: int = 0


@dataclass(frozen=True)
class Completion:
    text: str
    tokens_in: int
    tokens_out: int
    latency_s: float
    finish_reason: str | None = None


class Engine(Protocol):
    model: str

    def start(self) -> None:
        """Get ready (load the model); called before generation is timed."""

    def generate(self, requests: Sequence[Request], sampling: Sampling) -> list[Completion]: ...

    def cost(self, tokens_in: int, tokens_out: int, seconds: float) -> dict[str, float]: ...


class EngineError(RuntimeError):
    """A request that failed for good (after retries), or an engine that cannot start."""


# ---- vLLM offline ------------------------------------------------------------------------------
@dataclass(frozen=True)
class VllmCfg:
    model: str  # a local path or a hub id
    served_name: str | None = None  # the name stored with items (default: the folder name)
    tensor_parallel_size: int = 1
    max_model_len: int | None = None  # None: the model's own limit
    dtype: str = "auto"
    enforce_eager: bool = False
    gpu_memory_utilization: float = 0.9
    guided_json: bool = True  # use structured outputs when the sampling asks for a schema
    # None: vLLM's default, except on CPU where it is off: the CPU build crashes ("CPU Generator does
    # not use offset") when a seeded request's prompt is split across steps.
    chunked_prefill: bool | None = None
    prefix_caching: bool | None = None  # None: vLLM's default (on)


class VllmEngine:
    """vLLM in this process. The model loads on first use and stays loaded for every later batch."""

    def __init__(self, cfg: VllmCfg):
        self.cfg = cfg
        self.model = cfg.served_name or os.path.basename(os.path.normpath(cfg.model))
        self._llm = None

    @property
    def llm(self):
        if self._llm is None:
            from vllm import LLM
            from vllm.platforms import current_platform

            chunked = self.cfg.chunked_prefill
            if chunked is None and current_platform.is_cpu():
                chunked = False
            extra = {} if chunked is None else {"enable_chunked_prefill": chunked}
            if self.cfg.prefix_caching is not None:
                extra["enable_prefix_caching"] = self.cfg.prefix_caching
            with hidden_unsafe_modules():
                self._llm = LLM(
                    model=self.cfg.model,
                    tensor_parallel_size=self.cfg.tensor_parallel_size,
                    max_model_len=self.cfg.max_model_len,
                    dtype=self.cfg.dtype,
                    enforce_eager=self.cfg.enforce_eager,
                    gpu_memory_utilization=self.cfg.gpu_memory_utilization,
                    use_tqdm_on_load=False,  # no "Loading safetensors checkpoint shards" bar in the terminal
                    **extra,
                )
        return self._llm

    def start(self) -> None:
        self.llm  # noqa: B018 - loads the model

    def render(self, messages: Messages) -> str:
        """The prompt text the chat template makes of `messages` (what `LLM.generate` receives)."""
        return self.llm.get_tokenizer().apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def sampling_params(self, sampling: Sampling, sample_idx: int):
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        structured = (
            StructuredOutputsParams(json=sampling.json_schema) if sampling.json_schema and self.cfg.guided_json else None
        )
        return SamplingParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            seed=sampling.seed + sample_idx,
            structured_outputs=structured,
        )

    def generate(self, requests: Sequence[Request], sampling: Sampling) -> list[Completion]:
        """One `LLM.generate` over every request; latency is the batch's wall time per request."""
        if not requests:
            return []
        prompts = [self.render(r.messages) for r in requests]
        params = [self.sampling_params(sampling, r.sample_idx) for r in requests]
        started = time.monotonic()
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        share = (time.monotonic() - started) / len(requests)
        return [
            Completion(
                text=o.outputs[0].text,
                tokens_in=len(o.prompt_token_ids or []),
                tokens_out=len(o.outputs[0].token_ids),
                latency_s=share,
                finish_reason=o.outputs[0].finish_reason,
            )
            for o in outputs
        ]

    def cost(self, tokens_in: int, tokens_out: int, seconds: float) -> dict[str, float]:
        """Accelerator-hours: wall time x tensor-parallel devices."""
        return {"gpu_hours": seconds * self.cfg.tensor_parallel_size / 3600}


_VLLM_ENGINES: dict[VllmCfg, VllmEngine] = {}


def shared_vllm_engine(cfg: VllmCfg) -> VllmEngine:
    """One VllmEngine per config in this process. A Dagster run builds its resources afresh, so
    without this every partition's run (make demo, the tests) would load the model again."""
    if cfg not in _VLLM_ENGINES:
        _VLLM_ENGINES[cfg] = VllmEngine(cfg)
    return _VLLM_ENGINES[cfg]


def build_engine(cfg: VllmCfg | OpenAICfg) -> Engine:
    """The engine a config names, built where it is called (the Dagster step, or each Ray actor of a
    stage): an OpenAI-compatible client, or vLLM shared per config in this process; on a machine
    without CUDA, vLLM's CPU build with its environment and eager mode."""
    if isinstance(cfg, OpenAICfg):
        return OpenAIEngine(cfg)
    import torch

    if not torch.cuda.is_available():  # vLLM's CPU build: KV-cache size, in-process engine, no graph compile
        import tempfile

        from corpus_dag.llm.cpu import apply_vllm_env

        apply_vllm_env(os.path.join(tempfile.gettempdir(), "corpus_dag_vllm"))
        cfg = replace(cfg, enforce_eager=True)
    return shared_vllm_engine(cfg)


# ---- OpenAI-compatible endpoint ----------------------------------------------------------------
RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class OpenAICfg:
    base_url: str  # e.g. http://127.0.0.1:8000/v1 or https://api.openai.com/v1
    model: str
    api_key_env: str | None = "OPENAI_API_KEY"  # the NAME of the variable, never the key
    max_concurrency: int = 8
    requests_per_s: float = 0.0  # 0 = no rate limit
    max_retries: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    timeout_s: float = 120.0
    response_format: bool = True  # send the JSON schema as response_format when sampling has one
    usd_per_m_in: float = 0.0
    usd_per_m_out: float = 0.0


class RateLimiter:
    """At most `per_s` request starts per second across threads (0 = unlimited)."""

    def __init__(self, per_s: float):
        self.interval = 1.0 / per_s if per_s > 0 else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        time.sleep(max(0.0, start - now))


def retry_after_seconds(value: str | None) -> float:
    """Seconds a `Retry-After` header asks to wait: delay-seconds or an HTTP-date (RFC 9110); 0 if absent or unreadable."""
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:  # "-0000": UTC by the RFC
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class OpenAIEngine:
    """Chat completions over HTTP with bounded concurrency, rate limit and retries."""

    def __init__(self, cfg: OpenAICfg):
        import requests

        self.cfg = cfg
        self.model = cfg.model
        self._limiter = RateLimiter(cfg.requests_per_s)
        self._session = requests.Session()
        self.retries = 0  # how many retries the last calls needed (for metadata)
        self._retries_lock = threading.Lock()  # requests run in threads: `+=` alone loses counts

    def __repr__(self) -> str:
        return f"OpenAIEngine(base_url={self.cfg.base_url!r}, model={self.cfg.model!r})"

    def start(self) -> None:
        """Nothing to load: the endpoint is already serving."""

    def generate(self, requests: Sequence[Request], sampling: Sampling) -> list[Completion]:
        with ThreadPoolExecutor(max_workers=max(1, self.cfg.max_concurrency)) as pool:
            return list(pool.map(lambda r: self._one(r, sampling), requests))

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.cfg.api_key_env:
            key = os.environ.get(self.cfg.api_key_env)
            if key:
                headers["Authorization"] = f"Bearer {key}"
        return headers

    def _payload(self, request: Request, sampling: Sampling) -> dict:
        body = {
            "model": self.cfg.model,
            "messages": request.messages,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "seed": sampling.seed + request.sample_idx,
        }
        if sampling.json_schema and self.cfg.response_format:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "rebuilt_item", "schema": sampling.json_schema},
            }
        return body

    def _one(self, request: Request, sampling: Sampling) -> Completion:
        import requests

        url = self.cfg.base_url.rstrip("/") + "/chat/completions"
        body = self._payload(request, sampling)
        last = "no attempt"
        for attempt in range(self.cfg.max_retries + 1):
            if attempt:
                with self._retries_lock:
                    self.retries += 1
            self._limiter.wait()
            started = time.monotonic()
            try:
                resp = self._session.post(url, json=body, headers=self._headers(), timeout=self.cfg.timeout_s)
            except (requests.ConnectionError, requests.Timeout) as e:
                last = type(e).__name__
                self._sleep(attempt, None)
                continue
            if resp.status_code == 200:
                data = resp.json()
                usage = data.get("usage") or {}
                choice = data["choices"][0]
                return Completion(
                    text=choice["message"].get("content") or "",
                    tokens_in=int(usage.get("prompt_tokens", 0)),
                    tokens_out=int(usage.get("completion_tokens", 0)),
                    latency_s=time.monotonic() - started,
                    finish_reason=choice.get("finish_reason"),
                )
            last = f"HTTP {resp.status_code}: {resp.text[:200]}"
            if resp.status_code not in RETRY_STATUS:
                break
            self._sleep(attempt, resp.headers.get("Retry-After"))
        raise EngineError(f"{self.cfg.base_url}: request failed after {attempt + 1} attempt(s): {last}")

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        if attempt >= self.cfg.max_retries:
            return
        wait = retry_after_seconds(retry_after)
        backoff = min(self.cfg.max_backoff_s, self.cfg.backoff_s * 2**attempt) * (0.5 + random.random() / 2)
        time.sleep(max(wait, backoff))

    def cost(self, tokens_in: int, tokens_out: int, seconds: float) -> dict[str, float]:
        """API cost in USD from the configured per-million-token prices."""
        return {"api_usd": (tokens_in * self.cfg.usd_per_m_in + tokens_out * self.cfg.usd_per_m_out) / 1e6}
