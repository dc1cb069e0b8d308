"""Is the PoT program's answer the same as the CoT answer? Three tiers, cheapest first.

1. `normalised`: OpenCompass/MATH-style string normalisation (`\\frac35` = `\\frac{3}{5}`,
   `\\text{M}` = `M`, `\\left`/`\\right`, `dfrac`, trailing units, `5.0` = `5`), then string equality.
2. `math_verify`: huggingface Math-Verify's `parse`/`verify` (symbolic, sets, intervals, matrices).
   Its own timeouts use signals, which fail off the main thread, so they are switched off and a
   worker process (`python -m corpus_dag.rebuild.equivalence`) gets `timeout_s` per comparison;
   a worker that overruns is killed and replaced.
3. `numeric`: both sides read as numbers (ints, decimals, fractions) and compared with a tolerance.
A pair no tier calls equal gets tier `none`. The tier that decided is stored with every item.
"""
from __future__ import annotations

import json
import logging
import math
import re
import select
import subprocess
import sys
import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Self

from corpus_dag.rebuild.parse import extract_boxed

NORMALISED, MATH_VERIFY, NUMERIC, NONE = "normalised", "math_verify", "numeric", "none"

UNITS = (
    "平方厘米|平方分米|平方米|平方千米|立方厘米|立方米|厘米|毫米|分米|千米|公里|千克|公斤|毫升|"
    "小时|分钟|元|角|分|米|克|吨|升|秒|天|年|月|岁|个|人|只|本|件|块|条|张|页|次|倍|度|"
    "cm\\^?2|cm\\^?3|m\\^?2|m\\^?3|km|cm|mm|kg|mg|ml|m|g|l|s|h|min|hours?|minutes?|seconds?|days?|"
    "years?|meters?|metres?|inches|inch|feet|foot|ft|miles?|dollars?|cents?|units?|degrees?|"
    "percent|mph|sq\\.?\\s*units?"
)
UNIT_TAIL = re.compile(rf"^(-?[\d.,/\\{{}}a-z]*\d[\d.,/}}]*)\s*(?:\\(?:text|mbox|mathrm)\{{\s*)?(?:{UNITS})\.?\}}?$", re.IGNORECASE)
TEXT_CMD = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
RIGHT_UNIT = re.compile(r"\\(?:text|mbox)\{\s+[^{}]*\}$")
FRAC_SHORT = re.compile(r"\\frac\s*(\d|\{[^{}]*\})\s*(\d|\{[^{}]*\})")
SQRT_SHORT = re.compile(r"\\sqrt\s*(\w)")
SIMPLE_FRAC = re.compile(r"^(-?\d+)/(\d+)$")
THOUSANDS = re.compile(r"^-?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$")
NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$", re.IGNORECASE)
VARIABLE = re.compile(r"^[a-zA-Z](?:_\{?\w+\}?)?$")
LATEX_FRAC = re.compile(r"^(-?)\\frac\{(-?\d+)\}\{(-?\d+)\}$")


@dataclass(frozen=True)
class EquivCfg:
    """How strict a comparison is. `precision` is Math-Verify's float rounding (decimal places)."""

    match_types: tuple[str, ...] = ("latex", "expr")
    precision: int = 6
    strict: bool = True
    allow_set_relation_comp: bool = False
    rel_tol: float = 1e-6
    timeout_s: float = 5.0


@dataclass(frozen=True)
class Verdict:
    equal: bool
    tier: str


def normalise(answer: str | None) -> str:
    """MATH/OpenCompass-style canonical string of an answer (not a parser: it only rewrites text)."""
    if answer is None:
        return ""
    s = str(answer).strip()
    boxed = extract_boxed(s)
    if boxed is not None:
        s = boxed
    s = s.replace("\n", "").replace("\\!", "")
    if "\\begin" not in s:  # matrices need their "\\" row breaks
        s = s.replace("\\\\", "\\")
    s = re.sub(r"^\$+|\$+$", "", s.strip()).strip()
    s = re.sub(r"^\\[(\[]|\\[)\]]$", "", s).strip()
    s = s.rstrip("。.").strip()
    s = s.replace("tfrac", "frac").replace("dfrac", "frac")
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.replace("\\{", "{").replace("\\}", "}") if s.startswith("\\{") else s
    s = re.sub(r"\^\s*\{?\\circ\}?", "", s).replace("°", "")
    s = s.replace("\\$", "").replace("\\%", "").replace("%", "")
    s = RIGHT_UNIT.sub("", s).strip()
    s = UNIT_TAIL.sub(r"\1", s)
    s = TEXT_CMD.sub(r"\1", s)
    s = re.sub(r"(?<!\\)\\[,;: ]", "", s)  # LaTeX spacing, not a "\\ " row break
    s = re.split(r"\\approx", s)[0].strip() or s  # "\frac{\sqrt3}{3} \approx 0.577"
    if s.count("=") == 1 and VARIABLE.match(s.split("=")[0].strip()):  # "x = 5" -> "5"
        s = s.split("=")[1].strip()
    if THOUSANDS.match(s):  # before spaces go: "32, 349" is a list, "32,349" a number
        s = s.replace(",", "")
    s = s.replace(" ", "")
    s = SQRT_SHORT.sub(r"\\sqrt{\1}", s)
    s = FRAC_SHORT.sub(lambda m: f"\\frac{{{m.group(1).strip('{}')}}}{{{m.group(2).strip('{}')}}}", s)
    s = SIMPLE_FRAC.sub(r"\\frac{\1}{\2}", s)
    if s.startswith("."):
        s = "0" + s
    return _canonical_number(s)


def to_number(answer: str | None) -> float | None:
    """The answer as a number (int, decimal, fraction, `\\frac{a}{b}`), or None if it is not one."""
    s = normalise(answer)
    frac = LATEX_FRAC.match(s)
    if frac:
        sign, num, den = frac.groups()
        return None if int(den) == 0 else (-1 if sign else 1) * int(num) / int(den)
    if NUMBER.match(s):
        value = float(s)
        return value if math.isfinite(value) else None
    return None


class AnswerJudge:
    """Compares answers through the three tiers; owns one Math-Verify worker process (use as a context)."""

    def __init__(self, cfg: EquivCfg = EquivCfg()):
        self.cfg = cfg
        self._worker: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self.timeouts = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker.wait()
            self._worker = None

    def judge(self, gold: str | None, pred: str | None, cfg: EquivCfg | None = None) -> Verdict:
        """Gold first: Math-Verify is not symmetric (e.g. a gold set accepts an element list)."""
        cfg = cfg or self.cfg
        if gold is None or pred is None or not str(gold).strip() or not str(pred).strip():
            return Verdict(False, NONE)
        g, p = normalise(gold), normalise(pred)
        if g == p:
            return Verdict(True, NORMALISED)
        if not (_is_bare(str(gold)) and _is_bare(str(pred))):  # free text: Math-Verify extracts the answers
            if self._math_verify(str(gold), str(pred), cfg):
                return Verdict(True, MATH_VERIFY)
        elif _is_bare_list(g) and _is_bare_list(p):  # a bare "4, 10, -2" is an ordered tuple
            gs, ps = _top_level_split(g, ","), _top_level_split(p, ",")
            same = len(gs) == len(ps) and all(self.judge(a, b, cfg).equal for a, b in zip(gs, ps))
            return Verdict(same, MATH_VERIFY if same else NONE)
        elif g.count("=") == 1 and p.count("=") == 1:  # Math-Verify would compare the right sides only
            same = all(self._math_verify(f"${a}$", f"${b}$", cfg) for a, b in zip(g.split("="), p.split("=")))
            return Verdict(same, MATH_VERIFY if same else NONE)
        elif self._math_verify(str(gold), str(pred), cfg) or self._math_verify(f"${g}$", f"${p}$", cfg):
            return Verdict(True, MATH_VERIFY)
        a, b = to_number(gold), to_number(pred)
        if a is not None and b is not None and math.isclose(a, b, rel_tol=cfg.rel_tol, abs_tol=cfg.rel_tol):
            return Verdict(True, NUMERIC)
        return Verdict(False, NONE)

    def _math_verify(self, gold: str, pred: str, cfg: EquivCfg) -> bool:
        request = [gold, pred, list(cfg.match_types), cfg.precision, cfg.strict, cfg.allow_set_relation_comp]
        with self._lock:
            if self._worker is None:
                self._worker = subprocess.Popen(
                    [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
                )
                self._ask(["1", "1", ["expr"], 6, True, False], timeout_s=120)  # warm the sympy imports
            answer = self._ask(request, cfg.timeout_s)
            if answer is None:  # stuck in sympy: kill it, a fresh worker starts on the next call
                self.timeouts += 1
                self.close()
            return bool(answer)

    def _ask(self, request: list, timeout_s: float) -> bool | None:
        self._worker.stdin.write(json.dumps(request) + "\n")
        self._worker.stdin.flush()
        ready, _, _ = select.select([self._worker.stdout], [], [], timeout_s)
        line = self._worker.stdout.readline() if ready else ""
        return json.loads(line) if line else None


def _math_verify_equal(gold: str, pred: str, match_types, precision: int, strict: bool, allow_set: bool) -> bool:
    """Math-Verify with its signal timeouts off (the parent bounds the time of the whole worker)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    configs = {"latex": LatexExtractionConfig, "expr": ExprExtractionConfig}
    extraction = [configs[t]() for t in match_types]
    try:
        g = parse(gold, extraction_config=extraction, parsing_timeout=None)
        p = parse(pred, extraction_config=extraction, parsing_timeout=None)
        return bool(
            verify(g, p, float_rounding=precision, strict=strict, allow_set_relation_comp=allow_set, timeout_seconds=None)
        )
    except Exception:  # noqa: BLE001 - a parser crash on garbage input means "not shown equal", not a failed stage
        return False


def _serve() -> None:
    """Worker loop: one JSON request per stdin line, one JSON boolean per stdout line."""
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    for line in sys.stdin:
        print(json.dumps(_math_verify_equal(*json.loads(line))), flush=True)


def _top_level_split(s: str, sep: str) -> list[str]:
    """Split on `sep` outside brackets and braces."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(s):
        depth += 1 if ch in "([{" else -1 if ch in ")]}" else 0
        if ch == sep and depth == 0:
            parts.append(s[start:i])
            start = i + 1
    return parts + [s[start:]]


def _is_bare(s: str) -> bool:
    """The answer itself, not text around one (no `$`, `\\boxed`, `\\[`, `\\(`)."""
    return not any(mark in s for mark in ("$", "\\boxed", "\\[", "\\("))


def _is_bare_list(s: str) -> bool:
    """`a,b,c` with no enclosing brackets (a tuple or interval is left to Math-Verify)."""
    return len(_top_level_split(s, ",")) > 1 and "\\" not in s


def _canonical_number(s: str) -> str:
    """`5.0` -> `5`, `033` -> `33`, `-0` -> `0`, `2.50` -> `2.5`; anything else unchanged."""
    if not NUMBER.match(s) or "e" in s.lower():
        return s
    try:
        value = Fraction(s)
    except ValueError:
        return s
    if value.denominator == 1:
        return str(value.numerator)
    return s.lstrip("+").rstrip("0") if "." in s else s


if __name__ == "__main__":
    _serve()
