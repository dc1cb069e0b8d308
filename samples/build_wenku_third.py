"""A third wenku-style generator, written apart from the splitter and the two other generators.

    python -m samples.build_wenku_third --seed 1 --docs 400 --out /tmp/third   # a tuning set
    # held-out seed: 13013 (the benchmark's default for --generator third; never looked at while tuning)

It looks at wenku papers from the angles the other two leave out (issue 13):

* titles without the usual seed words (周练, 课时作业, 学情调研, 联考, 单元卷, 限时训练, ...), and a
  head that never says 试卷/试题;
* question groups sharing one material, taken from the public question bank's records that carry
  their own material and inner numbering (`……据此完成 1～2 题。1．… 2．…`, `阅读下面的文字，完成下面
  小题。…17. … 18. …`) and AGIEval reading passages shared by several questions; the group is
  renumbered to its place in the paper and its header's range follows (`9～11`, `9-11`, `9~11`);
* answer keys in several layouts (a row of entries, `1-5 DCABA` runs, a 题号/答案 grid, worked
  solutions, `【答案】` under each question);
* parts numbered from 21 or 41 (the first part left out: 听力 略, 第Ⅰ卷 on another sheet);
* two-column damage: lines hard-wrapped at a column's width and the binding-margin text
  (密封线内不要答题, 学校/班级/姓名 blanks) read into the middle of the text.

Non-exam documents: policies (第一条… with numbered points), work and revision plans, notices about
exams, teaching notes with a few classroom exercises, and plain numbered lists; many of them carry
exam words (模拟考试, 周练, 测验, 期末) on purpose.

Truth (one JSON line per document): `doc_id`, `is_exam`, `kinds` (what makes the paper hard:
`keywordless`, `material_group`, `answer_key`, `late_numbering`, `two_column`), and `questions`
[{no, text, subject, qid, context}] where `text` is the question as printed without its number and
`context` the shared material of its group (null for an ordinary question). Layout damage (line
breaks, margin text) is not in the truth: compare whitespace-free. Question texts are copied
unchanged from /work/shared/data/public/zh_exam_questions.jsonl (attribution: samples/README_wenku.md;
every question keeps its record id as `qid`); titles, furniture, keys and non-exam texts are
written here.
"""
from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

DATA = Path("/work/shared/data/public/zh_exam_questions.jsonl")
HELD_OUT_SEED = 13013
SEED_WORDS = ("试题", "试卷", "月考", "期中", "期末", "中考", "高考")  # the seed detector's list
SUBJECT_NAME = {"其他": "历史"}
CN = "一二三四五六七八九十"
CITIES = ["苏州", "无锡", "宁波", "温州", "泉州", "佛山", "东莞", "洛阳", "襄阳", "绵阳", "赣州", "临沂", "潍坊", "保定", "大连"]
SCHOOLS = ["市实验学校", "第七中学", "育英中学", "外国语中学", "铁路中学", "民族中学", "一中", "二中"]
GRADES = ["高一", "高二", "高三", "九年级", "八年级"]

# Group headers as papers print them; {a}/{b} are the paper's own numbers.
RANGE_HEADERS = ["据此完成{a}～{b}题。", "阅读材料，完成{a}～{b}题。", "读图，回答{a}～{b}题。", "据此完成{a}-{b}题。",
                 "阅读下面的材料，完成{a}~{b}题。", "读下表，完成{a}—{b}题。", "据此回答{a}～{b}小题。"]
OPEN_HEADERS = ["据此完成下面小题。", "阅读下面的文字，完成下面小题。", "据此完成下列各题。"]
PASSAGE_HEADERS = ["阅读下面的文字，完成{a}～{b}题。", "阅读下面的短文，完成{a}-{b}题。", "阅读下面的文字，完成下面小题。"]
# One header of the data's own: `……据此完成 1～2 题。` or `……完成下面小题。`
DATA_HEADER = re.compile(r"(?:据此|阅读[^。；]{0,24}?|读[^。；]{0,8}?)?(?:完成|回答)\s*(?:第\s*)?(?:(\d{1,2})\s*[～~\-—－至]\s*(\d{1,2})\s*小?题|下面小?题|下列各?小?题)[。．.]?")
LEADING_NO = re.compile(r"^\s*\d{1,3}\s*[.．、](?!\d)\s*")


# ---------------------------------------------------------------- the public questions
def _options(opts: list[str] | None) -> str:
    if not opts:
        return ""
    labels = [re.sub(r"^\s*\(?([A-H])\)?\s*[.．、]?\s*", "", o).strip() for o in opts]
    return "\n" + "  ".join(f"{'ABCDEFGH'[i]}．{o}" for i, o in enumerate(labels))


def _inner_split(body: str, first: int, last: int | None) -> list[tuple[int, str]] | None:
    """The numbered questions after a group header: `first．…`, `first+1．…` in order, up to `last`."""
    out, pos, no = [], 0, first
    marks = []
    while last is None or no <= last:
        m = re.compile(rf"(?:^|(?<=[\s。？）)」”]))({no})\s*[.．、](?!\d)").search(body, pos)
        if not m:
            break
        marks.append((no, m.start(), m.end()))
        pos, no = m.end(), no + 1
    if len(marks) < 2 or (last is not None and marks[-1][0] != last) or marks[0][1] > 5:
        return None
    for k, (n, _s, e) in enumerate(marks):
        end = marks[k + 1][1] if k + 1 < len(marks) else len(body)
        out.append((n, body[e:end].strip()))
    return out if all(len(t) >= 4 for _, t in out) else None


def _data_group(r: dict) -> dict | None:
    """A record that holds a material, a header and its own numbered questions."""
    text = LEADING_NO.sub("", r["question"]).strip()
    m = DATA_HEADER.search(text)
    if not m or len(text[: m.start()].strip()) + len(text[m.end():]) < 20:
        return None
    first = int(m.group(1)) if m.group(1) else None
    tail = text[m.end():]
    if first is None:
        lead = re.search(r"(?:^|(?<=[\s。？）)」”]))(\d{1,2})\s*[.．](?!\d)", tail)
        if not lead:
            return None
        first = int(lead.group(1))
        passage_end = lead.start()
    else:
        lead = re.search(rf"(?:^|(?<=[\s。？）)」”])){first}\s*[.．、](?!\d)", tail)
        if not lead:
            return None
        passage_end = lead.start()
    qs = _inner_split(tail[passage_end:], first, int(m.group(2)) if m.group(2) else None)
    if not qs:
        return None
    before, passage = text[: m.start()].strip(), tail[:passage_end].strip()
    answers = (r["answer"] or "").split("\n")
    return {"subject": r["subject"], "qid": r["id"], "before": before, "passage": passage, "ranged": bool(m.group(1)),
            "questions": [t for _, t in qs], "answers": answers if len(answers) == len(qs) else ["略"] * len(qs)}


def load_pool() -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """(single questions by subject, material groups by subject) from the public bank."""
    singles: dict[str, list[dict]] = {}
    groups: dict[str, list[dict]] = {}
    shared: dict[str, list[dict]] = {}
    for line in DATA.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r["passage"]:
            shared.setdefault(r["passage"], []).append(r)
            continue
        if g := _data_group(r):
            groups.setdefault(r["subject"], []).append(g)
            continue
        body = LEADING_NO.sub("", r["question"]).strip()
        if not 8 <= len(body) <= 900 or re.search(r"(?:^|[\s。？）)])\d{1,2}\s*[.．、](?!\d)", body):
            continue  # an inner numbered list that is no group: its truth would be a guess
        singles.setdefault(r["subject"], []).append(
            {"qid": r["id"], "subject": r["subject"], "text": body + _options(r["options"]),
             "answer": (r["answer"] or "").strip().split("\n")[0][:40] or "略", "analysis": (r["analysis"] or "").strip()[:300]})
    for passage, rs in shared.items():  # AGIEval reading passages: one material, several questions
        if len(passage) > 2500:
            continue
        groups.setdefault(rs[0]["subject"], []).append(
            {"subject": rs[0]["subject"], "qid": rs[0]["id"], "before": "", "passage": passage.strip(), "ranged": True,
             "questions": [r["question"].strip() + _options(r["options"]) for r in rs],
             "answers": [(r["answer"] or "略").strip() for r in rs], "reading": True})
    return singles, groups


# ---------------------------------------------------------------- papers
def _title(rng: random.Random, subject: str, keywordless: bool) -> str:
    s, g, c = SUBJECT_NAME.get(subject, subject), rng.choice(GRADES), rng.choice(CITIES)
    y = rng.randint(2018, 2024)
    if keywordless:
        return rng.choice([
            f"{g}{s}第{rng.randint(2, 18)}周周练", f"{y}届{g}{s}一轮复习课时作业（{CN[rng.randint(0, 9)]}）",
            f"{c}市{y}-{y + 1}学年{g}{s}学情调研", f"{c}{rng.choice(SCHOOLS)}{g}{s}单元卷（{CN[rng.randint(0, 6)]}）",
            f"{y}年{c}五校联考{g}{s}", f"{g}{s}限时训练{rng.randint(1, 30)}", f"{y}年{c}市{g}{s}第二次模拟",
            f"{s}·{g}上学期阶段检测（{rng.randint(1, 4)}）", f"{g}{s}课堂小测", f"{c}市{g}{s}教学质量监测",
            f"{s}必修{CN[rng.randint(0, 2)]}第{CN[rng.randint(0, 5)]}单元测评", f"{g}{s}暑假作业（{rng.randint(1, 20)}）",
        ])
    return rng.choice([
        f"{y}-{y + 1}学年{c}{rng.choice(SCHOOLS)}{g}上学期期中考试{s}试题", f"{y}年{c}市中考{s}试卷",
        f"{c}{rng.choice(SCHOOLS)}{y}届{g}第一次月考{s}试卷", f"{y}年普通高等学校招生全国统一考试（模拟）{s}试题",
        f"{g}{s}期末试卷（含答案）",
    ])


def _furniture(rng: random.Random, keywordless: bool) -> list[str]:
    """Lines between the title and the first question (none of them says 试卷 on a keyword-less paper)."""
    lines = []
    if rng.random() < 0.5:
        lines.append(f"（时间：{rng.choice([40, 60, 90, 120])}分钟  满分：{rng.choice([50, 100, 150])}分）")
    if rng.random() < 0.4:
        lines.append("班级：________  姓名：________  学号：________")
    if rng.random() < 0.3:
        lines.append("本卷共两大题，请将答案写在答题卡上。" if keywordless else "本试卷分选择题和非选择题两部分。")
    return lines


def _group_lines(rng: random.Random, g: dict, start: int, style: str) -> tuple[list[str], list[dict], list[str]]:
    """A material group renumbered from `start`: (lines, truth questions, answers)."""
    a, b = start, start + len(g["questions"]) - 1
    if a == b:  # one question on its own passage
        header = rng.choice(["阅读下面的文字，完成第{a}题。", "阅读下面的短文，回答第{a}题。"]).format(a=a)
        material_lines = [header, g["passage"]]
    elif g.get("reading") or not g["before"]:  # the header opens the material
        header = rng.choice(PASSAGE_HEADERS).format(a=a, b=b)
        material_lines = [header, g["passage"]]
    else:
        header = (rng.choice(RANGE_HEADERS) if g["ranged"] and rng.random() < 0.8 else rng.choice(OPEN_HEADERS)).format(a=a, b=b)
        material_lines = [f"{g['before']}{header}"] + ([g["passage"]] if g["passage"] else [])
    context = "\n".join(material_lines)
    lines, truth = list(material_lines), []
    for k, q in enumerate(g["questions"]):
        lines.append(f"{style.format(a + k)}{q}")
        truth.append({"no": a + k, "text": q, "subject": g["subject"], "qid": f"{g['qid']}#{k + 1}", "context": context})
    return lines, truth, g["answers"]


def _answer_key(rng: random.Random, answers: list[tuple[int, str, str]]) -> list[str]:
    """answers: (no, answer, analysis). One of several layouts wenku keys come in."""
    header = rng.choice(["参考答案", "【参考答案】", "答案与解析", "参考答案及评分标准", "答案速查"])
    short = [(n, a if re.fullmatch(r"[A-G]{1,4}", a) else "略") for n, a, _ in answers]
    layout = rng.choice(["row", "runs", "grid", "worked"])
    if layout == "row":
        return [header, " ".join(f"{n}．{a}" for n, a in short)]
    if layout == "runs":
        out = []
        for i in range(0, len(short), 5):
            part = short[i : i + 5]
            out.append(f"{part[0][0]}-{part[-1][0]} " + "".join(a if len(a) == 1 else f"({a})" for _, a in part))
        return [header] + [" ".join(out)]
    if layout == "grid":
        return [header, "题号 " + " ".join(str(n) for n, _ in short), "答案 " + " ".join(a for _, a in short)]
    return [header] + [f"{n}．【答案】{a}【解析】{x or '略'}" for n, a, x in answers]


def exam_paper(rng: random.Random, singles: dict, groups: dict) -> tuple[str, str, dict]:
    """(title, text, truth extras) of one paper."""
    grouped = [s for s in ("语文", "英语", "地理", "政治", "其他") if groups.get(s)]
    with_group = rng.random() < 0.55
    subject = rng.choice(grouped) if with_group else rng.choice(sorted(singles))
    keywordless = rng.random() < 0.45
    title = _title(rng, subject, keywordless)
    kinds = ["keywordless"] if keywordless else []
    late = rng.random() < 0.3
    start = rng.choice([21, 41]) if late else 1
    style = rng.choice(["{}．", "{}.", "{}、", "{}. "])
    lines = [title] + _furniture(rng, keywordless)
    if late:
        kinds.append("late_numbering")
        lines.append(rng.choice(["第一部分 听力（略）", "第Ⅰ卷（选择题，见答题卡）", "（接上页）"]) if start == 21 else "第一、二部分（略）")
    truth, answers, no = [], [], start
    pool = singles[subject] or singles["数学"]
    used: set[str] = set()  # a paper prints each question once
    n_blocks = rng.randint(4, 9)
    group_at = set(rng.sample(range(n_blocks), k=min(n_blocks, rng.randint(1, 2)))) if with_group else set()
    sections = rng.random() < 0.7
    for b in range(n_blocks):
        if sections and b in (0, n_blocks // 2):
            lines.append(f"{CN[0 if b == 0 else 1]}、{rng.choice(['选择题', '单项选择题', '综合题', '非选择题', '阅读理解'])}"
                         f"{rng.choice(['', '（每小题3分）', '（共40分）'])}")
        if b in group_at:
            g = rng.choice([x for x in groups[subject] if x["qid"] not in used] or groups[subject])
            used.add(g["qid"])
            g_lines, g_truth, g_ans = _group_lines(rng, g, no, style)
            lines += g_lines
            truth += g_truth
            answers += [(t["no"], a, "") for t, a in zip(g_truth, g_ans)]
            no += len(g_truth)
            continue
        q = rng.choice([x for x in pool if x["qid"] not in used] or pool)
        used.add(q["qid"])
        mark = f"（{rng.choice([2, 3, 4, 6])}分）" if rng.random() < 0.3 and q["text"][0] not in "(（" else ""
        lines.append(f"{style.format(no)}{mark}{q['text']}")
        truth.append({"no": no, "text": f"{mark}{q['text']}", "subject": q["subject"], "qid": q["qid"], "context": None})
        answers.append((no, q["answer"], q["analysis"]))
        if rng.random() < 0.08:  # printed under the question
            lines.append(f"【答案】{q['answer']}")
        no += 1
    if with_group:
        kinds.append("material_group")
    if rng.random() < 0.45:
        kinds.append("answer_key")
        lines += _answer_key(rng, answers)
    return title, "\n".join(lines), {"kinds": kinds, "questions": truth}


# ---------------------------------------------------------------- layout damage
MARGIN = ["密 封 线 内 不 要 答 题", "学校________ 班级________ 姓名________ 考号________", "…………○…………装…………○…………订…………"]


def two_column(rng: random.Random, text: str) -> str:
    """A two-column page read as text: every line hard-wrapped at the column's width, and the binding
    margin's words read in where a column ends."""
    width = rng.randint(18, 32)
    out = []
    for line in text.split("\n"):
        out += [line[i : i + width] for i in range(0, max(len(line), 1), width)]
    for _ in range(rng.randint(1, 3)):
        out.insert(rng.randint(1, len(out)), rng.choice(MARGIN))
    return "\n".join(out)


def lose_breaks(rng: random.Random, text: str) -> str:
    return text.replace("\n", rng.choice([" ", "  ", ""]))


# ---------------------------------------------------------------- non-exam documents
POINTS = ["加强课堂常规管理，做到有计划、有检查、有总结", "每周组织一次集体备课，统一进度和重难点", "认真落实课后服务，分层布置作业",
          "严格考试纪律，考场内不得携带手机等通讯工具", "建立学困生档案，定期跟踪辅导", "完善教师考核制度，考核结果与评优挂钩",
          "做好模拟考试的组织和阅卷工作", "每月召开一次班主任工作例会", "落实安全责任制，签订安全责任书", "开展读书月活动，营造书香校园",
          "周练试卷由备课组长统一审核后印制", "测验成绩不公开排名，只向学生本人反馈", "加强实验室管理，规范仪器借用登记",
          "合理安排复习时间，注重基础知识的查漏补缺", "组织学生参加社会实践，每学期不少于两次", "按时上报各类统计报表"]
POLICY_TITLES = ["{s}学生考试管理办法", "{s}教学常规管理制度", "{s}作业管理实施细则", "{s}课后服务工作方案", "关于进一步加强考风考纪建设的规定"]
PLAN_TITLES = ["{g}{subj}期末复习计划", "{g}{subj}备课组工作计划", "{y}年{g}模拟考试工作安排", "{g}周练工作安排", "{g}{subj}单元测验质量分析"]
NOTICE_TITLES = ["关于组织{g}第二次模拟考试的通知", "关于做好{y}年中考报名工作的通知", "关于开展期末学情调研的通知"]


def policy_doc(rng: random.Random, title: str) -> str:
    lines = [title, "第一章 总则"]
    for k in range(1, rng.randint(4, 8)):
        lines.append(f"第{CN[k - 1]}条 {rng.choice(POINTS)}。")
        if rng.random() < 0.5:
            lines += [f"{i}．{p}；" for i, p in enumerate(rng.sample(POINTS, rng.randint(2, 4)), start=1)]
    lines.append("本办法自发布之日起施行，由教务处负责解释。")
    return "\n".join(lines)


def plan_doc(rng: random.Random, title: str) -> str:
    lines = [title]
    for k, head in enumerate(rng.sample(["指导思想", "基本情况", "工作目标", "具体措施", "时间安排", "存在问题", "改进措施"], rng.randint(3, 5))):
        lines.append(f"{CN[k]}、{head}")
        lines += [f"{i}{rng.choice(['．', '.', '、'])}{p}。" for i, p in enumerate(rng.sample(POINTS, rng.randint(2, 5)), start=1)]
    return "\n".join(lines)


def teaching_note(rng: random.Random, subj: str) -> str:
    topic = rng.choice(["一元二次方程的解法", "《背影》", "光合作用", "中国的地形", "商鞅变法", "牛顿第一定律", "Unit 3 Travel"])
    lines = [f"{topic}教学设计", "【教学目标】"]
    lines += [f"{i}．{t}" for i, t in enumerate(rng.sample(["理解基本概念，掌握基本方法", "培养学生分析问题的能力",
                                                          "通过小组合作探究，体会学习的乐趣", "会运用所学知识解释生活中的现象"], 3), start=1)]
    lines += ["【教学重难点】", "重点：概念的理解。难点：方法的运用。", "【教学过程】",
              "一、导入新课", "教师提问：同学们还记得上节课学过的内容吗？", "二、新课讲授",
              f"1．学生阅读教材，思考{topic}的主要内容。", "2．小组讨论，代表发言。", "三、课堂练习",
              "1．完成教材第" + str(rng.randint(10, 90)) + "页练习第1、2题。", "2．同桌互相检查，教师巡视。",
              "四、课堂小结", "五、布置作业：完成练习册相应内容。", "【教学反思】本节课学生参与度较高，个别学生基础薄弱，需课后辅导。"]
    return "\n".join(lines)


def non_exam(rng: random.Random) -> tuple[str, str]:
    subj = rng.choice(["语文", "数学", "英语", "地理", "历史", "物理"])
    fill = {"s": rng.choice(CITIES) + rng.choice(SCHOOLS), "g": rng.choice(GRADES), "subj": subj, "y": rng.randint(2019, 2025)}
    r = rng.random()
    if r < 0.3:
        title = rng.choice(POLICY_TITLES).format(**fill)
        return title, policy_doc(rng, title)
    if r < 0.6:
        title = rng.choice(PLAN_TITLES + NOTICE_TITLES).format(**fill)
        return title, plan_doc(rng, title)
    if r < 0.85:
        text = teaching_note(rng, subj)
        return text.split("\n", 1)[0], text
    title = rng.choice(["班级公约", "新生入学须知", "图书馆借阅规则", "实验室安全守则"])
    return title, title + "\n" + "\n".join(f"{i}、{p}。" for i, p in enumerate(rng.sample(POINTS, rng.randint(5, 9)), start=1))


# ---------------------------------------------------------------- documents
def generate(seed: int, n_docs: int) -> list[tuple[dict, dict]]:
    """(record, truth) pairs: about 60% papers, 40% non-exam documents; deterministic per seed."""
    rng = random.Random(seed)
    singles, groups = load_pool()
    out = []
    for i in range(n_docs):
        doc_id = f"third-s{seed}-{i:05d}"
        if rng.random() < 0.6:
            title, text, tru = exam_paper(rng, singles, groups)
            if rng.random() < 0.3:
                text = two_column(rng, text)
                tru["kinds"].append("two_column")
            elif rng.random() < 0.2:
                text = lose_breaks(rng, text)
            truth = {"doc_id": doc_id, "is_exam": True, **tru}
        else:
            title, text = non_exam(rng)
            if rng.random() < 0.2:
                text = two_column(rng, text)
            truth = {"doc_id": doc_id, "is_exam": False, "kinds": [], "questions": []}
        rec = {"id": doc_id, "text": text if rng.random() < 0.85 else text.split("\n", 1)[-1]}
        if rng.random() < 0.85:
            rec["title"] = title
        if "keywordless" in truth["kinds"] and any(w in f"{rec.get('title', '')}\n{rec['text'][:3000]}" for w in SEED_WORDS):
            truth["kinds"].remove("keywordless")  # a question's own words carried a seed word
        out.append((rec, truth))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--out", type=Path, default=Path("/tmp/wenku_third"))
    a = ap.parse_args()
    from samples.build_wenku import write  # the library layout the ingest stage reads
    for p in write(generate(a.seed, a.docs), a.out, dates=("2026-11-21",), gz_date=None):
        print(p, p.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
