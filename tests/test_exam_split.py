"""Splitting the hard cases of issue 3: numbering variants, sections, sub-questions, options,
page marks, answer keys, decimals/scores/years, restarts, lost line breaks."""
import polars as pl
import pytest

from corpus_dag.exam.split import QUESTION_SCHEMA, layout, split_naive, split_questions

PAPER = """2019年某市高三期中考试数学试卷
注意事项：
1．答题前，考生务必将自己的姓名填写在答题卡上。
2．考试结束后，将本试卷和答题卡一并交回。
一、选择题（每小题5分，共15分）
1．（5分）已知集合A={1,2}，则A中元素个数为（ ）
A．1.5  B．2  C．3  D．4
2. 2019年某地降水1.5米，比上年多（5 分）的一半，求：
（1）今年降水；（2）去年降水。
第 1 页 共 2 页
3 . 下列说法正确的是
A、对  B、错
二、填空题
4、若x=3. 则y=____
参考答案
1.D 2.C 3.A
4. 【解析】由题意得 y=2
"""


def nos(text, title=None):
    return [q.no for q in layout(text, title).questions]


def test_numbering_variants_sections_and_subquestions():
    qs = layout(PAPER, "2019年某市高三期中考试数学试卷").questions
    assert [q.no for q in qs] == [1, 2, 3, 4]
    assert [q.section for q in qs] == ["选择题", "选择题", "选择题", "填空题"]
    assert qs[0].text.startswith("（5分）已知集合") and "D．4" in qs[0].text  # options stay inside
    assert "（1）今年降水" in qs[1].text and "（2）去年降水" in qs[1].text  # sub-questions stay inside
    assert qs[2].text.startswith("下列说法正确的是")


def test_page_marks_notices_and_answer_keys_never_emitted():
    text = " ".join(q.text for q in layout(PAPER).questions)
    assert "第 1 页" not in text
    assert "答题前" not in text and "答题卡" not in text
    assert "参考答案" not in text and "【解析】" not in text and "1.D" not in text


def test_decimals_scores_years_are_not_numbers():
    qs = layout(PAPER).questions
    assert "2019年某地降水1.5米" in qs[1].text  # `2.` then a year, `1.5` a decimal
    assert all(q.no <= 4 for q in qs)


def test_lost_line_breaks_still_split():
    flat = PAPER.replace("\n", " ")
    assert nos(flat) == [1, 2, 3, 4]
    glued = PAPER.replace("\n", "")
    assert nos(glued) == [1, 2, 3, 4]


def test_numbers_must_increase_and_restart_per_paper():
    text = (
        "2020年期末考试物理试卷\n一、选择题\n1．光速约为多少？\nA．3×10^8 m/s B．340 m/s\n2．下列属于矢量的是\nA．质量 B．速度\n"
        "3．下列单位属于国际单位制基本单位的是\nA．牛顿 B．千克\n"
        "2020年期末考试化学试卷\n一、选择题\n1．水的化学式是\nA．H2O B．CO2\n2．下列属于金属的是\nA．铁 B．硫\n"
    )
    assert nos(text) == [1, 2, 3, 1, 2]
    # a stray `5.` inside question 2 is not a question (5 does not follow 1)
    assert nos("1．计算 2 + 3 的值。\n2．小明有5.个苹果吗？请说明。\n3．求 7 的平方。") == [1, 2, 3]


def test_answer_key_without_header_and_worked_solutions_stop_the_last_question():
    text = "期末考试试卷\n1．甲是什么？\nA．一 B．二\n2．乙是什么？\nA．三 B．四\n1.A 2.B 3.C 4.D\n"
    qs = layout(text).questions
    assert [q.no for q in qs] == [1, 2]
    assert "1.A" not in qs[-1].text


def test_split_questions_frame_and_ids():
    docs = pl.DataFrame({"doc_id": ["d1", "d2"], "title": ["2019年期中考试数学试卷", None], "text": [PAPER, "没有题目的文字"]})
    q = split_questions(docs)
    assert q.schema == pl.Schema(QUESTION_SCHEMA)
    assert q["question_id"].to_list() == ["d1-q1", "d1-q2", "d1-q3", "d1-q4"]
    assert q["question_no"].to_list() == [1, 2, 3, 4]


@pytest.mark.parametrize("mark", ["1、", "1.", "1．", "1 .", "1 ．"])
def test_every_number_format(mark):
    body = [mark.replace("1", str(i)) + f"第{i}题的题干是什么？" for i in range(1, 6)]
    assert nos("\n".join(body)) == [1, 2, 3, 4, 5]


def test_naive_baseline_only_sees_dunhao_numbers():
    docs = pl.DataFrame({"doc_id": ["d"], "title": [None], "text": [PAPER]})
    got = split_naive(docs)
    assert got["question_no"].to_list() == [4]  # only `4、` uses the 、 form


def test_answers_printed_under_each_question_are_cut():
    text = "期中考试试卷\n1．甲是什么？\nA．一 B．二\n【答案】A\n【解析】因为甲是一。\n2．乙是什么？\nA．三 B．四\n答案：B\n"
    qs = layout(text).questions
    assert [q.no for q in qs] == [1, 2]
    assert qs[0].text == "甲是什么？\nA．一 B．二" and qs[1].text == "乙是什么？\nA．三 B．四"


def test_running_page_header_does_not_cut_a_question():
    """A paper's title repeated as a page header inside question 2 is dropped, not read as a new paper."""
    title = "2021年某校高一10月月考政治试题"
    text = (f"{title}\n1．下列说法正确的是（ ）\nA．甲 B．乙 C．丙 D．丁\n2．阅读材料，完成下列要求。黄河是中华民族的母亲河，\n"
            f"{title}\n也是一条桀骜难驯的忧患河。结合材料分析其原因。\n3．简述治理黄河的意义。\n")
    qs = layout(text).questions
    assert [q.no for q in qs] == [1, 2, 3]
    assert qs[1].text.endswith("分析其原因。") and title not in qs[1].text


def test_title_inside_a_run_of_numbers_does_not_cut_it():
    """Lost line breaks glue a page footer and the running title into question 12; numbering goes on
    at 13, so the title is no new paper."""
    text = ("11．（5分）函数 f(x)=x-2 的零点为______。12．在直角坐标系中，曲线 C 的参数方程为 x=t 第3页（共7页）"
            "2023年高考数学试卷 求 C 的直角坐标方程；13．设函数 f(x)=x²，求 f(2)。")
    qs = layout(text).questions
    assert [q.no for q in qs] == [11, 12, 13]
    assert "求 C 的直角坐标方程" in qs[1].text


def test_half_width_period_after_chinese_is_a_sentence_end():
    text = "10．分析该林区潜在的危害.11．(10分)从文化体验角度，指出他们应做的前期准备.12．简述原因。"
    assert nos(text) == [10, 11, 12]
    assert nos("10．计算 0.11．下列说法正确的是？") == [10]  # after a digit it stays a decimal point


def test_number_list_after_a_sentence_end_is_a_question():
    text = "5．求小河马的体重。  6．某店调进女皮鞋225双，调进男皮鞋多少双？  7．102，103，105，101这4个数的平均数是多少？  8．小明今年多少岁？"
    assert nos(text) == [5, 6, 7, 8]
    assert nos("1．见第1、2、3题的图，回答下列问题。2．下列说法正确的是？") == [1, 2]


def test_section_words_that_open_a_question_stay_in_it():
    text = ("4．下列说法正确的是（ ）\nA．甲 B．乙\n5．（12分）（三）实用类文本阅读，阅读下面的文字，完成下列各题。\n"
            "材料一：博物馆接待参观人次逐年增长。\n（1）下列理解正确的一项是\n6．简述博物馆的作用。\n")
    qs = layout(text).questions
    assert [q.no for q in qs] == [4, 5, 6]
    assert "博物馆接待参观人次" in qs[1].text and qs[1].text.startswith("（12分）（三）实用类文本阅读")


def test_page_header_line_inside_a_question_is_cut_out():
    text = ("2021年高一数学下学期10月月考测试卷\n5．(5分) 函数 f(x)=x+1 的零点为（ ）\nA．-1 B．1\n"
            "6．(5分) 1+3i/1-i=( )\n高一数学下学期10月月考测试卷  \nA．1+2i B．-1+2i\n7．(5分) 求 z 的虚部。\n")
    qs = layout(text).questions
    assert [q.no for q in qs] == [5, 6, 7]
    assert "月考测试卷" not in qs[1].text and qs[1].text.endswith("B．-1+2i")


ANCHOR_TEXT = (
    "【参考答案】1.D 答案与解析 答案及解析 答案解析：[答案详解] 答案速查 试题解析 评分标准 参考答案及评分参考 【试题解析】"
    "[评分标准] 答案 试题 评分 参考 密 封 线 内 不 要 答 题 密封线 ○…装…○…订…○线 学校____ 班级___ 姓名：___ 考号 ___ "
    "学号___座号___ 学校 班级 据此完成9～11题 回答下列各题 完成 回答 2019-2020学年【期中】20192020年 １２３４年 【"
    "答案与解析\n答案及解析：【答案详解】：[答案速查]1 试题解析（一）评分标准【 读图，完成下面小题。回答第 6 题 完成 6-8 小题\n"
    "2019-2020学年度期中考试数学试卷 【原创】2021年高考真题 2018届高三试题（A卷） １２３４年高一月考试卷【"
)


@pytest.mark.parametrize("pattern,anchor", [("ANSWER_HEADER", "ANSWER_HEADER_ANCHOR"), ("MARGIN", "MARGIN_ANCHOR"),
                                            ("GROUP_HEADER", "GROUP_ANCHOR"), ("INLINE_TITLE_DATED", "DATED_ANCHOR")])
def test_anchor_holds_wherever_its_pattern_matches(pattern, anchor):
    """Anchors only skip ahead: at every position where the pattern matches, its anchor matches too."""
    import corpus_dag.exam.split as split

    p, a = getattr(split, pattern), getattr(split, anchor)
    starts = [i for i in range(len(ANCHOR_TEXT)) if p.match(ANCHOR_TEXT, i)]
    assert len(starts) >= 4
    assert [i for i in starts if not a.match(ANCHOR_TEXT, i)] == []
    assert [m.span() for m in split._anchored_finditer(p, a, ANCHOR_TEXT)] == [m.span() for m in p.finditer(ANCHOR_TEXT)]
