"""Subject of a question: the paper title's subject when it names exactly one (the seed's rule),
otherwise a question-level classifier (理科综合/文科综合 papers, titles without a subject)."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from corpus_dag.exam.features import NgramCfg, char_ngrams, fit_on_used_columns

SUBJECTS = ("语文", "数学", "英语", "物理", "化学", "生物", "政治", "地理", "其他")
TITLE_RULES = (
    ("数学", ("数学",)),
    ("语文", ("语文",)),
    ("英语", ("英语",)),
    ("物理", ("物理",)),
    ("化学", ("化学",)),
    ("生物", ("生物",)),
    ("政治", ("政治", "道德与法治", "思想品德", "思品")),
    ("地理", ("地理",)),
    ("其他", ("历史",)),
)
MIXED_TITLES = ("综合", "理综", "文综")
_LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_FORMULA = re.compile(r"\$[^$]*\$|\\[A-Za-z]+")


@functools.lru_cache(maxsize=4096)
def subject_from_title(title: str | None) -> str | None:
    """The one subject a title names, or None (no subject, several, or a 综合 paper)."""
    if not title or any(m in title for m in MIXED_TITLES):
        return None
    hits = {subj for subj, words in TITLE_RULES if any(w in title for w in words)}
    return hits.pop() if len(hits) == 1 else None


def paper_title(title: str | None, text: str) -> str:
    """The record's title, or else the first line of the text (wenku dumps often lose the title)."""
    return title or text.lstrip()[:60].split("\n", 1)[0]


def subject_from_question(text: str) -> str | None:
    """A keyword rule on the question itself: mostly English words means 英语."""
    words = _LATIN_WORD.findall(_FORMULA.sub(" ", text))
    if len(words) < 8:
        return None
    return "英语" if sum(map(len, words)) > 3 * len(_CJK.findall(text)) else None


@dataclass
class SubjectModel:
    """Char n-gram logistic regression over the nine subject labels."""

    clf: LogisticRegression
    ngram: NgramCfg

    def predict(self, texts: list[str]) -> list[str]:
        return self.predict_features(char_ngrams(texts, self.ngram)) if texts else []

    def predict_features(self, x: sp.csr_matrix) -> list[str]:
        return [str(s) for s in self.clf.predict(x)] if x.shape[0] else []


def train_subject(texts: list[str], labels: list[str], ngram: NgramCfg = NgramCfg(), c: float = 20.0) -> SubjectModel:
    unknown = set(labels) - set(SUBJECTS)
    if unknown:
        raise ValueError(f"unknown subject labels {sorted(unknown)}; expected {SUBJECTS}")
    # newton-cg: the same objective as lbfgs, solved in ~1.3 s where lbfgs took ~8.8 s (its per-step
    # cost grows with the 9 classes x ~150k used columns) and stopped less close to the optimum
    clf = fit_on_used_columns(LogisticRegression(C=c, max_iter=300, solver="newton-cg"), char_ngrams(texts, ngram), labels)
    return SubjectModel(clf, ngram)


def assign_subjects(titles: list[str | None], texts: list[str], model: SubjectModel,
                    features: sp.csr_matrix | None = None) -> list[str]:
    """Per question: title rule, else question keyword rule, else the classifier (`features`:
    the texts' char_ngrams when the caller has them already)."""
    out: list[str | None] = [subject_from_title(t) or subject_from_question(x) for t, x in zip(titles, texts)]
    todo = [i for i, s in enumerate(out) if s is None]
    x = features[todo] if features is not None else char_ngrams([texts[i] for i in todo], model.ngram)
    for i, s in zip(todo, model.predict_features(x)):
        out[i] = s
    return out  # type: ignore[return-value]
