"""Self-instruct: new problems written from k seed tasks of one area, minus near copies.

Seeds are verified items grouped by area through a keyword map over their knowledge points
(then their question). Per area the generator sees k seed tasks and writes new problems. A new
instruction is dropped when it is too similar to any seed or earlier kept instruction: ROUGE-L
(F-measure of the character LCS, rapidfuzz) at or above `max_rouge_l`, or an estimated MinHash
Jaccard (the dedup stage's signatures) at or above `max_jaccard`.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from rapidfuzz.distance import LCSseq

from corpus_dag.dedup.config import DedupCfg
from corpus_dag.dedup.minhash import signatures

OTHER = "other"
# area -> keywords (zh and en); the first area whose keyword appears wins, in this order.
AREA_KEYWORDS: dict[str, tuple[str, ...]] = {
    "sequences": ("数列", "等差", "等比", "通项", "sequence"),
    "probability": ("概率", "统计", "排列", "组合", "期望", "方差", "probability", "statistic"),
    "calculus": ("导数", "积分", "极限", "微分", "单调", "derivative", "integral", "limit"),
    "matrices": ("矩阵", "行列式", "向量", "matrix", "vector"),
    "functions": ("函数", "定义域", "值域", "对数", "指数", "function"),
    "geometry": ("三角形", "圆", "几何", "面积", "体积", "角", "平行", "垂直", "坐标", "geometry", "triangle", "circle"),
    "equations": ("方程", "不等式", "解集", "equation", "inequality"),
}
NUMBERED = re.compile(r"^\s*(?:\d+|[一二三四五六七八九十]+)\s*[.、．)）:：]\s*(.+)$", re.MULTILINE)


@dataclass(frozen=True)
class SelfInstructCfg:
    seeds_per_prompt: int = 3  # k seed tasks shown per prompt
    prompts_per_area: int = 2
    problems_per_prompt: int = 5
    max_rouge_l: float = 0.7
    max_jaccard: float = 0.7
    seed: int = 0

    def __post_init__(self):
        if not (0 < self.max_rouge_l <= 1 and 0 < self.max_jaccard <= 1):
            raise ValueError("self-instruct max_rouge_l and max_jaccard must lie in (0, 1]")


def problems_schema(n: int) -> dict:
    return {
        "type": "object",
        "properties": {"problems": {"type": "array", "items": {"type": "string", "maxLength": 600}, "maxItems": n}},
        "required": ["problems"],
        "additionalProperties": False,
    }


def area_of(knowledge_points: Sequence[str] | None, question: str | None) -> str:
    """The first area whose keyword occurs in the knowledge points, else in the question, else `other`."""
    for text in (" ".join(knowledge_points or []), question or ""):
        low = text.lower()
        for area, words in AREA_KEYWORDS.items():
            if any(w in low for w in words):
                return area
    return OTHER


def seed_sets(seed_ids: Sequence[str], cfg: SelfInstructCfg, area: str) -> list[list[str]]:
    """`prompts_per_area` lists of k seed ids for one area, drawn by a seeded hash (reproducible)."""
    def rank(item: str, n: int) -> bytes:
        return hashlib.sha256(f"{cfg.seed}|{area}|{n}|{item}".encode()).digest()

    k = min(cfg.seeds_per_prompt, len(seed_ids))
    return [sorted(sorted(seed_ids, key=lambda s: rank(s, n))[:k]) for n in range(cfg.prompts_per_area)] if k else []


def generation_fragment(area: str, seeds: Sequence[str], n: int) -> str:
    """The prompt's slot: the area, the seed tasks, how many new problems to write."""
    examples = "\n".join(f"例题{i}：{q}" for i, q in enumerate(seeds, start=1))
    return f"知识领域：{area}\n\n{examples}\n\n请编写 {n} 道新题目。"


def parse_problems(text: str, limit: int) -> list[str]:
    """New problems from a response: the JSON `problems` list, else numbered lines; at most `limit`."""
    text = (text or "").strip()
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            obj = json.loads(text[start : end + 1])
            if isinstance(obj, dict) and isinstance(obj.get("problems"), list):
                return [p for p in (str(x).strip() for x in obj["problems"]) if p][:limit]
        except json.JSONDecodeError:
            pass
    return [m.strip() for m in NUMBERED.findall(text) if m.strip()][:limit]


def instruction_id(area: str, n: int, total: int, text: str) -> str:
    """`si-{area}-{n}of{total}-{digest}`: the id says where the instruction sits among the `total` generated for its
    partition, so an instruction neither kept nor dropped shows from the two output files alone."""
    return f"si-{area}-{n}of{total}-{hashlib.sha1(f'{area}|{n}|{text}'.encode()).hexdigest()[:12]}"


def instruction_place(instruction_id: str) -> tuple[int, int] | None:
    """(n, total) of an `instruction_id`; None for an id not written by it."""
    m = PLACE.match(instruction_id or "")
    return (int(m[1]), int(m[2])) if m else None


PLACE = re.compile(r"^si-\w+?-(\d+)of(\d+)-[0-9a-f]{12}$")


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F-measure over characters (Chinese has no spaces): 2PR/(P+R) of the LCS."""
    if not a or not b:
        return 0.0
    lcs = LCSseq.similarity(a, b)
    return 2 * lcs / (len(a) + len(b))


@dataclass(frozen=True)
class Verdict:
    keep: bool
    reason: str | None = None
    similar_to: str | None = None
    similarity: float = 0.0


class SimilarityFilter:
    """Holds the texts seen so far (seeds, then kept instructions) and judges each new one against them."""

    def __init__(self, cfg: SelfInstructCfg, dedup: DedupCfg = DedupCfg(threshold=0.7)):
        self.cfg, self.dedup = cfg, dedup
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.sigs = np.empty((0, dedup.num_perm), dtype=np.uint32)

    def _signatures(self, texts: Sequence[str]) -> np.ndarray:
        return signatures(pl.DataFrame({"text": list(texts)}, schema={"text": pl.String}), self.dedup)["signature"].to_numpy()

    def add(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        if texts:
            self.ids.extend(ids)
            self.texts.extend(texts)
            self.sigs = np.vstack([self.sigs, self._signatures(texts)])

    def judge(self, item_id: str, text: str) -> Verdict:
        """Keep `text` (and remember it) unless it is too close to something already held."""
        if self.texts:
            rouge = [rouge_l(text, t) for t in self.texts]
            j = int(np.argmax(rouge))
            if rouge[j] >= self.cfg.max_rouge_l:
                return Verdict(False, f"too_similar_rouge_l — {rouge[j]:.2f} >= {self.cfg.max_rouge_l:g}", self.ids[j], rouge[j])
            jaccard = (self.sigs == self._signatures([text])[0]).mean(axis=1)
            j = int(np.argmax(jaccard))
            if jaccard[j] >= self.cfg.max_jaccard:
                return Verdict(False, f"near_duplicate_minhash — {jaccard[j]:.2f} >= {self.cfg.max_jaccard:g}",
                               self.ids[j], float(jaccard[j]))
        self.add([item_id], [text])
        return Verdict(True)
