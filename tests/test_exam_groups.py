"""Issue 13: material groups (-> `context`), range checks, late numbering, answer-key layouts, the
third generator and the per-kind evaluation."""
import polars as pl
import pytest

from corpus_dag.exam.evaluate import context_scores, paper_kinds
from corpus_dag.exam.features import NgramCfg
from corpus_dag.exam.labels import load_fragments
from corpus_dag.exam.questions import (
    EXAM_QUESTION_SCHEMA,
    extract_questions,
    select_math,
)
from corpus_dag.exam.split import QUESTIONS_TYPE, layout, split_questions
from corpus_dag.exam.validity import train_models
from samples.build_wenku_third import HELD_OUT_SEED, generate


@pytest.fixture(scope="module")
def trained_models():
    """Small real classifiers (a slice of the labelled fragments, a small hash space): seconds."""
    return train_models(load_fragments()[::6], ngram=NgramCfg(dim=1 << 12))

MATERIAL = "下图示意某区域等高线分布，该区域河流自西向东流，沿岸分布有多个聚落。"
GEOGRAPHY = f"""高一地理第3周周练
一、选择题
8．影响该地农业的主要因素是（ ）
A．地形  B．气候  C．水源  D．市场
{MATERIAL}据此完成9～11题。
9．图中河流的主要补给是（ ）
A．雨水  B．冰雪融水  C．地下水  D．湖泊水
10．该区域聚落沿河分布的主要原因是（ ）
A．取水方便  B．地势平坦  C．交通便利  D．土壤肥沃
11．该河流冬季可能出现的现象是（ ）
A．断流  B．结冰  C．凌汛  D．泥沙增多
12．下列关于我国人口的说法，正确的是（ ）
A．东多西少  B．西多东少  C．南北一样  D．无规律
"""


def by_no(text):
    return {q.no: q for q in layout(text).questions}


def test_material_group_attaches_its_material_to_each_question_in_the_range():
    lay = layout(GEOGRAPHY)
    qs = {q.no: q for q in lay.questions}
    assert sorted(qs) == [8, 9, 10, 11, 12]
    for n in (9, 10, 11):
        assert qs[n].context.startswith(MATERIAL) and qs[n].context.endswith("据此完成9～11题。")
        assert MATERIAL not in qs[n].text
    assert qs[8].context is None and qs[12].context is None
    assert MATERIAL not in qs[8].text and qs[8].text.endswith("D．市场")  # not glued to the question before
    assert lay.n_groups == 1 and lay.n_group_mismatch == 0


def test_header_that_opens_the_material_and_open_range():
    text = ("1．下列词语中，没有错别字的一项是（ ）\nA．甲  B．乙  C．丙  D．丁\n"
            "阅读下面的文字，完成下面小题。\n春天来了，河边的柳树发芽了，孩子们在田野里放风筝，笑声传得很远很远。\n"
            "2．下列对文章内容的理解，不正确的一项是（ ）\nA．甲  B．乙  C．丙  D．丁\n"
            "3．文章写放风筝有什么作用？请简要分析。\n")
    qs = by_no(text)
    assert qs[1].context is None and "春天来了" not in qs[1].text
    assert qs[2].context == qs[3].context
    assert qs[2].context.startswith("阅读下面的文字，完成下面小题。") and "放风筝，笑声" in qs[2].context


def test_range_mismatch_attaches_nothing_and_is_counted():
    """A header whose first number is not the next question's is no group of these questions."""
    text = GEOGRAPHY.replace("据此完成9～11题", "据此完成5～7题")
    lay = layout(text)
    assert all(q.context is None for q in lay.questions)
    assert lay.n_groups == 0 and lay.n_group_mismatch == 1


def test_range_longer_than_the_numbers_found_is_counted_but_kept():
    text = GEOGRAPHY.replace("据此完成9～11题", "据此完成9～13题")
    lay = layout(text)
    assert [q.no for q in lay.questions if q.context] == [9, 10, 11, 12]  # the chain ends the group
    assert lay.n_group_mismatch == 1


def test_range_spellings_and_a_question_with_its_own_header():
    for spelled in ("9-11", "9~11", "9—11", "第9～11"):
        assert by_no(GEOGRAPHY.replace("9～11", spelled))[10].context is not None, spelled
    own = ("1．（4分）阅读下面这首唐诗。完成下列各题。\n春眠不觉晓，处处闻啼鸟。\n（1）诗中写了什么季节？（2）表达了什么感情？\n"
           "2．下列句子没有语病的一项是（ ）\nA．甲  B．乙  C．丙  D．丁\n3．解释“晓”的意思。\n")
    qs = by_no(own)
    assert all(q.context is None for q in qs.values())  # sub-questions: the header is question 1's own
    assert "（2）表达了什么感情" in qs[1].text


def test_late_numbering_starts_at_21_and_41():
    for first in (21, 41):
        text = "第一部分 听力（略）\n二、阅读理解\n" + "".join(
            f"{first + i}．下列说法正确的是第{i}个（ ）\nA．甲  B．乙  C．丙  D．丁\n" for i in range(4))
        assert list(by_no(text)) == [first, first + 1, first + 2, first + 3]


ANSWERED = """高二数学限时训练
1．计算 1+1 的值是（ ）
A．1  B．2  C．3  D．4
2．下列数中最大的是（ ）
A．0.5  B．2  C．1  D．-1
3．方程 x+1=3 的解是（ ）
A．1  B．2  C．3  D．4
4．求 2 的平方。
"""


def test_answer_key_layouts_are_never_questions():
    keys = ["参考答案\n题号 1 2 3 4\n答案 B B B 4",
            "答案速查\n1-4 BBB(4)",
            "参考答案及评分标准\n1．【答案】B【解析】1+1=2\n2．【答案】B【解析】比较可得\n3．【答案】B\n4．【答案】4",
            "【参考答案】\n1．B 2．B 3．B 4．略"]
    for key in keys:
        lay = layout(ANSWERED + key)
        assert [q.no for q in lay.questions] == [1, 2, 3, 4], key
        assert lay.cut_answer_key, key
        assert all("答案" not in q.text and "解析" not in q.text for q in lay.questions), key
        assert lay.questions[3].text == "求 2 的平方。"


@pytest.mark.slow
def test_context_column_reaches_exam_questions_and_math_questions(trained_models):
    docs = pl.DataFrame({"doc_id": ["g"], "title": ["高一地理第3周周练"], "text": [GEOGRAPHY]})
    q = extract_questions(docs, trained_models)
    assert list(q.schema) == list(EXAM_QUESTION_SCHEMA)
    ctx = dict(zip(q["question_no"], q["context"]))
    assert ctx[8] is None and ctx[9].startswith(MATERIAL) and ctx[11] == ctx[9]
    assert "context" in select_math(q).kept.columns
    assert QUESTIONS_TYPE.inner.to_schema()["context"] == pl.String
    assert split_questions(docs)["context"].null_count() == 2


def test_third_generator_truth_is_consistent():
    pairs = generate(3, 40)
    assert pairs == generate(3, 40)  # deterministic per seed
    assert HELD_OUT_SEED not in (1, 2, 3)
    papers = [(r, t) for r, t in pairs if t["is_exam"]]
    assert papers and len(papers) < len(pairs)  # non-exam documents too
    for r, t in papers:
        flat = "".join(r["text"].split())
        for q in t["questions"]:
            assert "".join(q["text"].split())[:30] in flat or "two_column" in t["kinds"]
            if q["context"]:
                assert "material_group" in t["kinds"]
        assert set(t["kinds"]) <= paper_kinds(r, t)


def test_paper_kinds_and_context_scores():
    truth = {"d": {"is_exam": True, "questions": [
        {"no": 21, "text": "图中河流的主要补给是什么", "context": MATERIAL},
        {"no": 22, "text": "下列关于我国人口的说法正确的是", "context": None}]}}
    rec = {"title": "高一地理周练", "text": "据此完成21～21题 …… 参考答案"}
    assert paper_kinds(rec, truth["d"]) == {"keywordless", "material_group", "answer_key", "late_numbering"}
    assert paper_kinds({"title": "期中考试", "text": ""}, {"is_exam": False, "questions": []}) == set()
    got = context_scores(truth, {"d": [("图中河流的主要补给是什么", MATERIAL), ("下列关于我国人口的说法正确的是", MATERIAL)]})
    assert (got.group_found, got.group_context_right, got.plain_found, got.plain_context_null) == (1, 1.0, 1, 0.0)
