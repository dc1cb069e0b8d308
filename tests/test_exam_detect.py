"""Exam-document detection: a paper by its structure, the exam word one feature; numbered lists are traps."""
import polars as pl

from corpus_dag.accounting import Tally
from corpus_dag.exam.detect import ExamCfg, detect_exams
from corpus_dag.exam.split import split_questions

EXAM = """2021年某市八年级期末考试数学试卷
一、选择题（每小题3分，共18分）
1．下列各数中，是无理数的是（ ）
A．0  B．√2  C．1/3  D．3.14
2．计算 2a + 3a 的结果是（ ）
A．5a  B．6a  C．5a²  D．6a²
3．一次函数 y = 2x + 1 的图像经过（ ）
A．一二三象限  B．一二四象限  C．一三四象限  D．二三四象限
二、解答题
4．（8分）解方程：x² - 5x + 6 = 0。
5．（10分）某商店销售一种商品，每件进价40元，售价60元，求利润率。
"""
SUMMARY = """2021年第一学期期末工作总结
一、教学工作
1．认真备课，坚持集体备课制度，提高课堂效率。
2．组织学生开展期末复习，查漏补缺。
3．加强家校沟通，召开家长会两次。
4．积极参加教研活动，听课二十余节。
二、存在的不足
1．理论学习不够。
"""
NOTICE = """关于召开期中考试质量分析会的通知
各年级组：定于11月5日下午召开会议。会议议程：
1、分析本次期中考试成绩，表彰进步学生；
2、各年级组长汇报教学进度；
3、布置下阶段教学与安全工作；
4、校长总结讲话。
"""
GUIDE = "2024年高考志愿填报指南 1. 了解自己的分数和位次。 2. 查询院校往年分数线。 3. 合理设置冲稳保梯度。 4. 注意选科要求。 5. 按时提交志愿。"
NO_KEYWORD = EXAM.replace("2021年某市八年级期末考试数学试卷", "八年级数学（下）第三章 一次函数")
POLICY = """某中学学生考试管理办法
第一条 为严肃考试纪律，制定本办法。
1．考生须提前十分钟进入考场，凭准考证入场；
2．考场内不得携带手机等通讯工具，违者按作弊处理；
3．考试结束铃响后立即停止答题，将试卷和答题卡放在桌上；
4．监考教师负责清点试卷，按考号顺序装订；
第二条 本办法自发布之日起施行，由教务处负责解释。
"""


def run(texts, cfg=ExamCfg()):
    docs = pl.DataFrame({"doc_id": [f"d{i}" for i in range(len(texts))], "title": [None] * len(texts), "text": texts})
    return detect_exams(docs, cfg)


def test_exam_kept_with_score_and_reason():
    split = run([EXAM])
    assert split.kept["doc_id"].to_list() == ["d0"]
    assert set(split.kept.columns) == {"doc_id", "title", "text", "exam_score", "reason", "questions"}
    assert split.kept["exam_score"][0] >= 0.5
    assert split.kept["reason"][0].startswith("exam: keyword 试卷, 5 numbered questions")
    assert "questions" not in split.dropped.columns


def test_the_split_travels_with_the_document():
    """exam_questions explodes the split detection made; it equals splitting the text again."""
    kept = run([EXAM]).kept
    carried = split_questions(kept)
    assert carried["question_no"].to_list() == [1, 2, 3, 4, 5]
    assert carried.equals(split_questions(kept.drop("questions")))


def test_numbered_lists_with_exam_words_are_dropped_with_reasons():
    split = run([SUMMARY, NOTICE, GUIDE, POLICY])
    assert split.kept.is_empty()
    reasons = dict(zip(split.dropped["doc_id"], split.dropped["reason"]))
    for d in ("d0", "d1", "d2", "d3"):
        assert reasons[d].startswith("not_exam: "), reasons[d]
        assert " — keyword " in reasons[d] and "numbered questions" in reasons[d]  # the evidence, per row
    assert split.n_in == 4
    tally = Tally()
    tally.add(split)  # counted by the reason's head: a short table, not one row per document
    assert set(tally.dropped) <= {"not_exam: too few numbered questions", "not_exam: weak paper structure"}
    assert tally.n_dropped == 4


def test_paper_without_any_exam_word_is_kept_by_its_structure():
    split = run([NO_KEYWORD])
    assert split.kept["doc_id"].to_list() == ["d0"]
    assert split.kept["reason"][0].startswith("exam: no exam keyword, 5 numbered questions")


def test_a_document_without_structure_is_dropped_whatever_its_words():
    prose = "2024年高考数学试卷评析。今年的试卷总体平稳，注重基础，考查了函数、数列和概率等内容。"
    split = run([prose])
    assert split.kept.is_empty()
    assert split.dropped["reason"][0].startswith("not_exam: too few numbered questions — keyword ")


def test_the_exam_word_is_one_feature_and_configurable():
    """The same paper scores higher with an exam word from the lexicon than without one."""
    with_word = run([EXAM]).kept["exam_score"][0]
    without = run([EXAM], ExamCfg(keywords=("月考",))).kept["exam_score"][0]
    assert with_word > without
    assert run([NO_KEYWORD], ExamCfg(keywords=("一次函数",))).kept["reason"][0].startswith("exam: keyword 一次函数")
