"""The LLM engine as a Dagster resource: vLLM offline in-process, or any OpenAI-compatible endpoint."""

import os
from typing import ClassVar

import dagster as dg
from pydantic import Field, PrivateAttr

from corpus_dag.llm.engines import Engine, OpenAICfg, VllmCfg, build_engine
from corpus_dag.llm.tiny_model import RANDOM_MODEL_NOTE, is_random_tiny_model


class LLMEngine(dg.ConfigurableResource):
    """Which engine rebuilds questions. `kind`: `vllm` (in-process, loads `model` once per run) or
    `openai` (`base_url` + `model`; the key is read from the variable named `api_key_env`)."""

    kind: str = Field(default="vllm", description="vllm | openai")
    model: str = Field(default="", description="vllm: model folder or hub id (default $CORPUS_REBUILD_MODEL); openai: model name")
    served_name: str = Field(default="", description="Name stored with items (default: the model folder name)")
    tensor_parallel_size: int = Field(default=1, description="vllm: GPUs one model is split over.")
    max_model_len: int = Field(default=0, description="0: the model's own context length")
    dtype: str = Field(default="auto", description="vllm: weight dtype (auto: the model's own).")
    enforce_eager: bool = Field(default=False, description="vllm: no CUDA graphs (less memory, slower).")
    base_url: str = Field(default="", description="openai: e.g. http://127.0.0.1:8000/v1")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="NAME of the variable holding the key (never the key)")
    max_concurrency: int = Field(default=8, description="openai: requests in flight at once.")
    requests_per_s: float = Field(default=0.0, description="openai: request rate limit; 0: none.")
    max_retries: int = Field(default=5, description="openai: retries of a 429, 5xx or timeout (Retry-After honoured); 400/401 are not retried.")
    usd_per_m_in: float = Field(default=0.0, description="openai: price per million prompt tokens (the `api_usd` metadata).")
    usd_per_m_out: float = Field(default=0.0, description="openai: price per million generated tokens.")
    _engine: Engine | None = PrivateAttr(default=None)
    MODEL_ENVS: ClassVar[tuple[str, ...]] = ("CORPUS_REBUILD_MODEL",)  # where `model` defaults from, first set wins

    def engine(self) -> Engine:
        """The engine; a vLLM model loads once per process and stays loaded across partitions and runs."""
        if self._engine is None:
            self._engine = build_engine(self.engine_cfg())
        return self._engine

    def random_model_note(self) -> str | None:
        """Why this engine's items come out empty when it is the tiny random test model (else None)."""
        model = self.model or os.environ.get("CORPUS_REBUILD_MODEL", "")
        return RANDOM_MODEL_NOTE if self.kind == "vllm" and model and is_random_tiny_model(model) else None

    def engine_cfg(self) -> VllmCfg | OpenAICfg:
        """What the engine is, as a plain config a Ray actor builds its own engine from (`build_engine`)."""
        if self.kind == "openai":
            if not self.base_url or not self.model:
                raise dg.Failure("LLMEngine kind=openai needs base_url and model")
            return OpenAICfg(
                base_url=self.base_url, model=self.model, api_key_env=self.api_key_env or None,
                max_concurrency=self.max_concurrency, requests_per_s=self.requests_per_s,
                max_retries=self.max_retries, usd_per_m_in=self.usd_per_m_in, usd_per_m_out=self.usd_per_m_out,
            )
        if self.kind != "vllm":
            raise dg.Failure(f"LLMEngine kind must be vllm or openai, got {self.kind!r}")
        model = self.model or next((os.environ[v] for v in self.MODEL_ENVS if os.environ.get(v)), "")
        if not model:
            envs = " or ".join(f"${v}" for v in self.MODEL_ENVS)
            raise dg.Failure(f"{type(self).__name__} kind=vllm needs `model` (a folder or hub id) or {envs}")
        return VllmCfg(
            model=model, served_name=self.served_name or None, tensor_parallel_size=self.tensor_parallel_size,
            max_model_len=self.max_model_len or None, dtype=self.dtype, enforce_eager=self.enforce_eager,
        )


class JudgeEngine(LLMEngine):
    """The critique model: the same kinds as `llm`, so a smaller judge can score a larger generator.
    `model` defaults to $CORPUS_JUDGE_MODEL, else $CORPUS_REBUILD_MODEL (then llm and judge share one
    load: vLLM engines are shared per configuration in the process, and never shut down mid-process,
    since once one shuts down vLLM's global parallel state is gone and the others cannot generate)."""

    MODEL_ENVS: ClassVar[tuple[str, ...]] = ("CORPUS_JUDGE_MODEL", "CORPUS_REBUILD_MODEL")
