"""Validity and subject classifiers: quality floors on held-out data, user labels, blobs, math selection."""
import json

import polars as pl
import pytest

from corpus_dag.exam.features import NgramCfg
from corpus_dag.exam.labels import load_fragments, load_user_labels
from corpus_dag.exam.questions import EXAM_QUESTION_SCHEMA, extract_questions, select_math
from corpus_dag.exam.subject import subject_from_question, subject_from_title
from corpus_dag.exam.validity import ExamModels, train_models

SMALL = NgramCfg(dim=1 << 16)


@pytest.fixture
def models(exam_models):
    """The session's classifiers (tests/conftest.py), trained once with SMALL n-grams."""
    assert exam_models.validity.ngram == SMALL
    return exam_models


def test_held_out_quality_floor(models):
    m = models.metrics
    assert m["n_test"] > 1000 and m["n_train"] > 5000
    assert m["validity_precision"] >= 0.93 and m["validity_recall"] >= 0.93, m
    assert m["subject_accuracy"] >= 0.93, m


def test_validity_scores_obvious_cases(models):
    s = models.validity.scores([
        "已知函数 f(x)=x²-2x，则 f(x) 在区间 [0,3] 上的最小值为（ ）A．-1 B．0 C．3 D．-3",
        "1.D 2.C 3.A 4.B 5.C",
        "第 2 页 共 6 页",
        "【解析】由题意得 a=2，故选 B．",
    ])
    assert s[0] >= 0.5 and max(s[1:]) < 0.5, s


def test_blob_round_trip(models):
    again = ExamModels.from_bytes(models.to_bytes())
    assert again.metrics == models.metrics
    with pytest.raises(TypeError):
        ExamModels.from_bytes(__import__("pickle").dumps({"not": "a model"}))


def test_user_labels_are_merged_and_validated(tmp_path):
    path = tmp_path / "labels.jsonl"
    rows = [{"text": "如图所示，求阴影部分面积", "label": "invalid"}, {"text": "计算：3+4=？", "label": 1}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    users = load_user_labels(path)
    assert [u["label"] for u in users] == [0, 1]
    small = load_fragments()[::6]
    m = train_models(small, users, ngram=SMALL)
    assert m.metrics["n_user_labels"] == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        load_user_labels(bad)


def test_subject_rules():
    assert subject_from_title("2019年某市高三期中考试数学试卷") == "数学"
    assert subject_from_title("2019年道德与法治期末试题") == "政治"
    assert subject_from_title("2020年理科综合试卷（物理 化学 生物）") is None
    assert subject_from_title("2020年期中考试试卷") is None
    assert subject_from_question("The workers ___ the glasses and marked on each box This Side UP. A. carried B. packed") == "英语"
    assert subject_from_question("$\\mathrm{NaCl}$ and $\\mathrm{KCl}$ 的混合物溶于水") is None


def test_mixed_paper_subjects_and_math_selection(models):
    text = ("2021年某市高三理科综合试卷\n一、选择题\n"
            "1．下列关于细胞膜的叙述，正确的是（ ）\nA．细胞膜主要由脂质和蛋白质组成 B．细胞膜不含糖类\n"
            "2．一物体做自由落体运动，下落 2 s 时的速度大小为（ ）（g 取 10 m/s²）\nA．10 m/s B．20 m/s\n"
            "3．下列物质属于电解质的是（ ）\nA．氯化钠溶液 B．硫酸钡 C．铜 D．蔗糖\n"
            "4．第 3 页 共 8 页\n")
    docs = pl.DataFrame({"doc_id": ["d"], "title": ["2021年某市高三理科综合试卷"], "text": [text]})
    q = extract_questions(docs, models)
    assert q.schema == pl.Schema(EXAM_QUESTION_SCHEMA)
    assert q["subject"].to_list()[:3] == ["生物", "物理", "化学"]
    math_docs = docs.with_columns(pl.col("text").str.replace("理科综合", "数学"), pl.lit("2021年高三数学试卷").alias("title"))
    split = select_math(extract_questions(math_docs, models))
    assert split.kept.height + split.dropped.height == q.height
    assert split.kept["subject"].unique().to_list() == ["数学"] and split.kept["is_valid"].all()


def test_shipped_sample_meets_the_targets(models):
    """End to end on samples/library/wenku (seed 0, never tuned on) against samples/truth/wenku.jsonl."""
    from pathlib import Path

    from corpus_dag.exam.detect import detect_exams
    from corpus_dag.exam.evaluate import score

    repo = Path(__file__).resolve().parent.parent
    schema = {"id": pl.String, "title": pl.String, "text": pl.String}
    docs = pl.concat([pl.read_ndjson(p, schema=schema) for p in sorted((repo / "samples/library/wenku").glob("*/part-0.jsonl*"))])
    truth = {t["doc_id"]: t for t in map(json.loads, (repo / "samples/truth/wenku.jsonl").read_text(encoding="utf-8").splitlines())}
    assert docs.height == len(truth) and set(docs["id"]) == set(truth)
    kept = detect_exams(docs.rename({"id": "doc_id"})).kept
    q = extract_questions(kept, models).filter("is_valid")
    frags = {}
    for d, x, s in q.select("doc_id", "text", "subject").iter_rows():
        frags.setdefault(d, []).append((x, s))
    s = score(truth, set(kept["doc_id"]), frags)
    assert s.doc_f1 >= 0.97 and s.q_recall >= 0.95 and s.q_precision >= 0.95 and s.subject_acc >= 0.95, s


@pytest.mark.parametrize("weighted", [False, True])
def test_fitting_on_the_used_columns_gives_the_plain_fit(weighted):
    """Hashed columns no training row uses get weight 0 either way: the widened model predicts as the
    plain fit, with the same iterations, and its unused columns are exactly 0."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from corpus_dag.exam.features import char_ngrams, fit_on_used_columns
    from corpus_dag.exam.subject import train_subject

    rows = [r for r in load_fragments() if r.get("subject") and r["label"] == 1][:600]
    texts, labels = [r["text"] for r in rows], [r["subject"] for r in rows]
    x = char_ngrams(texts, SMALL)
    weight = np.linspace(0.5, 2.0, len(rows)) if weighted else None
    plain = LogisticRegression(C=20.0, max_iter=300).fit(x, labels, sample_weight=weight)
    used = fit_on_used_columns(LogisticRegression(C=20.0, max_iter=300), x, labels, sample_weight=weight)
    assert used.coef_.shape == plain.coef_.shape and (used.n_iter_ == plain.n_iter_).all()
    assert np.abs(used.coef_ - plain.coef_).max() < 1e-4
    unused = np.setdiff1d(np.arange(x.shape[1]), x.indices)
    assert len(unused) > x.shape[1] // 10 and not used.coef_[:, unused].any()
    other = char_ngrams([r["text"] for r in load_fragments()[-300:]], SMALL)  # texts with columns training never saw
    assert (used.predict(other) == plain.predict(other)).all()
    assert train_subject(texts, labels, SMALL).predict(texts[:50]) == list(plain.predict(x[:50]))
