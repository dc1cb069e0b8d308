"""Keep third-party log chatter out of the user's terminal.

vLLM, torch and transformers log their loading details at WARNING (weights cast to bfloat16, no
Triton, thread binding, tcmalloc not preloaded): about 25 lines per model load, which buried the
demo's own output. Their records are re-logged at DEBUG to a logger the caller chooses (the Dagster
layer passes one whose records land in the run's event log), so they are kept where a reader who
debugs a run looks, and never printed. Our own loggers are untouched.
"""
from __future__ import annotations

import logging
import os

THIRD_PARTY = ("vllm", "torch", "transformers", "huggingface_hub", "accelerate")
_target: list[logging.Logger] = []  # where route_third_party_logs sends records, once called


class ToDebug(logging.Handler):
    """Re-logs every record at DEBUG on `target`, named by the library it came from."""

    def __init__(self, target: logging.Logger):
        super().__init__()
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        if self.target.isEnabledFor(logging.DEBUG):
            self.target.debug("%s %s: %s", record.name, record.levelname, record.getMessage())


def route_third_party_logs(target: logging.Logger) -> None:
    """Send THIRD_PARTY loggers' records to `target` at DEBUG instead of the terminal.

    Call it before vLLM is imported where possible: VLLM_CONFIGURE_LOGGING=0 stops vLLM adding its
    own stdout handler; an already-installed one is replaced here. TORCH_CPP_LOG_LEVEL=ERROR does
    the same for torch's C++ warnings (read when torch loads), HF_HUB_DISABLE_PROGRESS_BARS=1 for
    transformers' "Loading weights" / "Writing model shards" bars (read when huggingface_hub loads).
    Values the user set are kept."""
    os.environ.setdefault("VLLM_CONFIGURE_LOGGING", "0")
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    _target[:] = [target]
    reroute()


def reroute() -> None:
    """Apply the routing again (no-op before route_third_party_logs): torch installs its own
    handlers when it is imported, so a model load calls this after the import."""
    for target in _target:
        _install(target)


def _install(target: logging.Logger) -> None:
    for name in THIRD_PARTY:
        logger = logging.getLogger(name)
        logger.handlers[:] = [ToDebug(target)]
        logger.propagate = False
