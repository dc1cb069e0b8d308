"""Environment for running real vLLM on a CPU-only machine (tests, CI, the demo).

See the README section "vLLM on a CPU machine": without a KV-cache size the CPU worker refuses
to start, and vLLM, torch and HF write caches under $HOME and the shared /tmp unless told otherwise.
"""
from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from corpus_dag.llm.logs import reroute


def resolve_backend(backend: str) -> str:
    """`auto` -> vllm on a CUDA machine with vLLM installed, else transformers: on CPU, vLLM's prompt
    logprobs and pooling cost 2-3x what one transformers forward pass does (same scores)."""
    if backend != "auto":
        return backend
    import importlib.util

    import torch

    return "vllm" if torch.cuda.is_available() and importlib.util.find_spec("vllm") else "transformers"


def vllm_env(tmpdir: str | Path) -> dict[str, str]:
    """Variables for an in-process CPU vLLM with every cache kept under `tmpdir`."""
    root = Path(tmpdir)
    dirs = {
        "TMPDIR": root / "tmp",
        "VLLM_RPC_BASE_PATH": root / "rpc",
        "VLLM_CACHE_ROOT": root / "vllm_cache",
        "VLLM_CONFIG_ROOT": root / "vllm_config",
        "TORCHINDUCTOR_CACHE_DIR": root / "inductor",
        "XDG_CACHE_HOME": root / "xdg_cache",
    }
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    return {
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "TORCHDYNAMO_DISABLE": "1",
        "HF_HUB_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        **{k: str(v) for k, v in dirs.items()},
    }


def apply_vllm_env(tmpdir: str | Path) -> dict[str, str]:
    """Set `vllm_env(tmpdir)` in this process (keeping values the user already set); return it."""
    env = vllm_env(tmpdir)
    for k, v in env.items():
        os.environ.setdefault(k, v)
    return {k: os.environ[k] for k in env}


@contextmanager
def hidden_unsafe_modules() -> Iterator[None]:
    """Hide, while a vLLM engine starts, the modules whose globals break vllm-cpu 0.32's kernel scan.

    Its worker start (`triton_utils.dispatcher._rebind_kernels`) calls `hasattr(value, "__dict__")`
    and then `vars(value).get("kernel")` on every global of every loaded module. An unbound werkzeug
    `LocalProxy` (e.g. `flask.request`, loaded by moto's S3 server) raises RuntimeError there, and
    llvmlite's function wrappers (loaded with numba) have a `__dict__` that is not a dict; either
    way the engine fails to start. The modules are put back as soon as the engine is up. The scan's
    attribute probes (ours and vLLM's) trip deprecation warnings of the probed modules (torch's
    `reduce_op`): noise about code we do not run, so they are ignored meanwhile; library log
    records go where `logs.route_third_party_logs` sends them (torch, imported by now, reset that).
    """
    reroute()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        hidden = {name: m for name, m in list(sys.modules.items()) if _breaks_scan(m)}
        for name in hidden:
            del sys.modules[name]
        try:
            yield
        finally:
            sys.modules.update(hidden)


def _breaks_scan(module) -> bool:
    namespace = getattr(module, "__dict__", None) or {}
    for value in list(namespace.values()):
        try:
            if hasattr(value, "__dict__"):
                vars(value).get("kernel")
        except Exception:  # noqa: BLE001 - exactly the failure vLLM's scan would hit
            return True
    return False
