"""Build the sample `wenku` library: exam papers assembled from real public questions, mixed with
office documents that only mention exam keywords, with the damage wenku dumps show.

    python -m samples.build_wenku                      # the committed sample (seed 0), + truth
    python -m samples.build_wenku --seed 7 --docs 3000 --out /tmp/heldout   # a held-out set

Deterministic for a seed. Questions come from /work/shared/data/public/zh_exam_questions.jsonl
(see samples/README_wenku.md for attribution); every exam record keeps the ids of the questions
it was built from (`question_ids`, lands in `meta`). Truth: one line per document with `is_exam`
and the questions as printed (text without the number prefix, subject).
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import re
from pathlib import Path

PUBLIC = Path("/work/shared/data/public/zh_exam_questions.jsonl")
REPO = Path(__file__).resolve().parent.parent
DATES = ("2026-11-20", "2026-11-21")
SUBJECTS = ("语文", "数学", "英语", "物理", "化学", "生物", "政治", "地理", "其他")
SUBJECT_TITLE = {"语文": ["语文"], "数学": ["数学", "数学（理科）", "数学（文科）"], "英语": ["英语"],
                 "物理": ["物理"], "化学": ["化学"], "生物": ["生物", "生物学"], "政治": ["政治", "思想政治", "道德与法治"],
                 "地理": ["地理"], "其他": ["历史"]}
MIXED = {"理科综合": ("物理", "化学", "生物"), "文科综合": ("政治", "地理", "其他")}
CITIES = ["北京市海淀区", "上海市浦东新区", "江苏省南京市", "浙江省杭州市", "山东省济南市", "广东省深圳市", "湖北省武汉市",
          "四川省成都市", "河南省郑州市", "湖南省长沙市", "福建省厦门市", "安徽省合肥市", "陕西省西安市", "重庆市", "天津市和平区",
          "河北省石家庄市", "江西省南昌市", "辽宁省沈阳市", "云南省昆明市", "黑龙江省哈尔滨市"]
SCHOOLS = ["第一中学", "实验中学", "外国语学校", "师大附中", "第二中学", "育才中学", "", ""]
GRADES = ["高一", "高二", "高三", "初一", "初二", "初三", "七年级", "八年级", "九年级"]
EXAMS = ["期中考试", "期末考试", "第一次月考", "10月月考", "第二次月考", "期中质量检测", "期末调研考试", "高考模拟考试",
         "中考模拟考试", "高考适应性考试", "月考"]
TITLE_FORMS = [
    "{year}年{city}{school}{grade}{exam}{subject}试卷",
    "{year}-{year1}学年{city}{school}{grade}上学期{exam}{subject}试题",
    "{city}{school}{year}届{grade}{exam}{subject}试题（含答案）",
    "{year}年{city}{grade}{exam}{subject}试卷（word版）",
    "【精品】{year}年{city}{exam}{subject}试题及答案",
    "{year}年普通高等学校招生全国统一考试（{city}卷）{subject}高考真题",
    "{subject}试卷：{year}年{city}{school}{grade}{exam}",
]
CN = "一二三四五六七八九十"


# A source item that holds numbered items of its own (a question group `据此完成 9～11 题。 9．…`)
# cannot be told apart from separate questions by anyone; such items are left out of papers.
INNER_NUMBER = re.compile(r"(?:^|[\s。，,；;）)])\d{1,2}\s*[.．、]\s*(?![\d.．])[^\s\d]")


def load_questions() -> list[dict]:
    """Single questions usable as printed paper items: number prefix removed, options rendered."""
    out = []
    for line in PUBLIC.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r["passage"] or not r["question"]:
            continue
        body = re.sub(r"^\s*\d{1,3}\s*[.．、]\s*", "", r["question"]).strip()
        if not 8 <= len(body) <= 1200 or INNER_NUMBER.search(body):
            continue  # items that hold their own numbered list cannot be told apart from questions
        out.append({"id": r["id"], "subject": r["subject"], "body": body, "options": r["options"],
                    "answer": (r["answer"] or "").strip(), "analysis": (r["analysis"] or "").strip()})
    return out


def render_options(rng: random.Random, options: list[str]) -> str:
    sep = rng.choice(["．", ".", "、", ". ", "．"])
    items = [re.sub(r"^\(?([A-H])\)?\s*", lambda m: m.group(1) + sep, o.strip()) for o in options]
    style = rng.random()
    if style < 0.4:
        return "\n".join(items)
    if style < 0.7:
        return rng.choice(["  ", "    ", "\t", " "]).join(items)
    half = (len(items) + 1) // 2
    return "  ".join(items[:half]) + "\n" + "  ".join(items[half:])


def question_text(rng: random.Random, q: dict, lose_symbols: bool) -> str:
    text = damage_symbols(rng, q["body"]) if lose_symbols else q["body"]
    if q["options"]:
        text += ("\n" if rng.random() < 0.8 else " ") + render_options(rng, q["options"])
    return text


NUMBER_STYLES = ["{n}．", "{n}.", "{n}、", "{n} .", "{n}. ", "{n} ．", "{n}．", "{n}、 "]
SECTION_FORMS = {
    "choice": ["一、选择题（本大题共{k}小题，每小题{p}分，共{t}分。在每小题给出的四个选项中，只有一项是符合题目要求的）",
               "一、选择题（每小题{p}分，共{t}分）", "一、单项选择题：本题共{k}小题，每小题{p}分。", "第Ⅰ卷（选择题 共{t}分）\n一、选择题",
               "一、选择题", "一. 选择题（共{k}小题）"],
    "other": ["{c}、填空题（本大题共{k}小题，每小题{p}分）", "{c}、解答题（解答应写出文字说明、证明过程或演算步骤）",
              "第Ⅱ卷（非选择题 共{t}分）\n{c}、非选择题", "{c}、非选择题：共{t}分。", "{c}、综合题", "{c}. 解答题（共{k}小题，满分{t}分）"],
}
NOTICES = [
    "注意事项：\n1．答题前，考生务必将自己的姓名、准考证号填写在答题卡上。\n2．回答选择题时，选出每小题答案后，用铅笔把答题卡上对应题目的答案标号涂黑。\n3．考试结束后，将本试卷和答题卡一并交回。",
    "考生须知：1. 本试卷分第Ⅰ卷和第Ⅱ卷两部分，满分150分，考试时间120分钟。2. 请将答案填写在答题纸上。",
    "注意事项：1、本试卷共6页，满分100分。2、答卷前请将密封线内的项目填写清楚。3、用黑色签字笔作答。4、不准使用计算器。",
]
PAGE_FORMS = ["第 {p} 页 共 {t} 页", "第{p}页（共{t}页）", "- {p} -", "{title} 第{p}页，共{t}页", "第{p}页/共{t}页", "共{t}页 第{p}页"]
KEY_HEADERS = ["参考答案", "答案与解析", "参考答案及评分标准", "【参考答案】", "答案解析", "参考答案与试题解析"]


def title_for(rng: random.Random, subject_label: str) -> str:
    year = rng.randint(2012, 2025)
    return rng.choice(TITLE_FORMS).format(
        year=year, year1=year + 1, city=rng.choice(CITIES), school=rng.choice(SCHOOLS), grade=rng.choice(GRADES),
        exam=rng.choice(EXAMS), subject=subject_label)


def answer_key(rng: random.Random, picked: list[tuple[int, dict]]) -> str:
    header = rng.choice(KEY_HEADERS)
    style = rng.random()
    if style < 0.4:
        body = " ".join(f"{n}.{q['answer'][:4] or 'A'}" for n, q in picked)
    elif style < 0.7:
        rows = []
        for n, q in picked:
            ana = re.sub(r"\s+", " ", q["analysis"])[:160]
            rows.append(f"{n}．【答案】{q['answer'][:40]}\n【解析】{ana}")
        body = "\n".join(rows)
    else:
        body = "\n".join(f"{n}、{q['answer'][:40]}  解：{' '.join(q['analysis'].split())[:120]}" for n, q in picked)
    return f"{header}\n{body}"


def damage_symbols(rng: random.Random, text: str) -> str:
    """wenku loses formula symbols: drop some of $ \\ { } ^ _ and replace some with spaces."""
    return "".join(c if c not in "$\\{}^_|" or rng.random() < 0.5 else rng.choice(["", " "]) for c in text)


def exam_paper(rng: random.Random, pool: dict[str, list[dict]]) -> tuple[str, str, list[dict], list[str]]:
    """One paper: (title, text, truth questions, question ids)."""
    kind = rng.random()
    if kind < 0.12:
        label = rng.choice(list(MIXED))
        subjects = MIXED[label]
        title = title_for(rng, label)
    else:
        subj = rng.choices(SUBJECTS, weights=[2, 4, 2, 2, 2, 2, 1.5, 1.5, 1])[0]
        subjects = (subj,)
        label = rng.choice(SUBJECT_TITLE[subj]) if rng.random() > 0.12 else ""
        title = title_for(rng, label)
    n_q = rng.randint(5, 24)
    qs = []
    for _ in range(n_q):
        q = rng.choice(pool[rng.choice(subjects)])
        if q not in qs:
            qs.append(q)
    qs.sort(key=lambda q: (q["options"] is None and not re.search(r"\n\s*[A-D][.．]", q["body"])))
    style = rng.choice(NUMBER_STYLES)
    lose_symbols = rng.random() < 0.2
    inline_answers = rng.random() < 0.1
    use_sections = rng.random() < 0.75
    lines = [title]
    if rng.random() < 0.4:
        lines.append(rng.choice(NOTICES))
    truth, n_choice = [], sum(1 for q in qs if q["options"] or re.search(r"\n\s*[A-D][.．]", q["body"]))
    sec_no, in_other = 0, False
    for n, q in enumerate(qs, start=1):
        is_choice = n <= n_choice
        if use_sections and (n == 1 and is_choice or (not is_choice and not in_other)):
            in_other = not is_choice
            form = rng.choice(SECTION_FORMS["other" if in_other else "choice"])
            p = rng.choice([3, 4, 5, 6])
            lines.append(form.format(c=CN[sec_no], k=n_choice if is_choice else n_q - n_choice, p=p, t=p * n_q))
            sec_no += 1
        text = question_text(rng, q, lose_symbols)
        mark = style.format(n=n)
        if rng.random() < 0.15 and "分" not in text[:12]:
            text = f"（{rng.choice([4, 5, 6, 10, 12])}分）" + text
        lines.append(mark + text)
        if inline_answers and q["answer"]:  # answers printed under each question: not part of it
            ana = " ".join(q["analysis"].split())[:120]
            lines.append(f"【答案】{q['answer'][:30]}" + (f"\n【解析】{ana}" if ana else ""))
        truth.append({"no": n, "text": text, "subject": q["subject"], "qid": q["id"]})
    if not inline_answers and rng.random() < 0.5:
        lines.append(answer_key(rng, list(enumerate(qs, start=1))))
    text = "\n".join(lines)
    if rng.random() < 0.6:  # page headers/footers between lines, sometimes inside a question
        parts, out, pages = text.split("\n"), [], rng.randint(2, 8)
        form = rng.choice(PAGE_FORMS)
        every = max(3, len(parts) // pages)
        for i, ln in enumerate(parts):
            out.append(ln)
            if i and i % every == 0:
                out.append(form.format(p=i // every, t=pages, title=title))
        text = "\n".join(out)
    return title, text, truth, [q["id"] for q in qs]


def damage(rng: random.Random, text: str, truth: list[dict]) -> str:
    """Lost line breaks (wenku damage); truth texts follow the same change so they stay 'as printed'."""
    if rng.random() < 0.25:
        joiner = rng.choice([" ", "", "  "])
        text = text.replace("\n", joiner)
        for t in truth:
            t["text"] = t["text"].replace("\n", joiner)
    return text


# ---- documents that only mention exam keywords, and plain documents ---------------------------
ITEMS = {
    "总结": ["认真备课，坚持集体备课制度，提高课堂效率", "组织学生开展期末复习，查漏补缺", "加强家校沟通，召开家长会两次",
           "积极参加教研活动，听课二十余节", "做好后进生转化工作，效果明显", "完成了本学期的教学任务，学生成绩稳步提高",
           "班级管理方面，坚持每周一次班会", "今后努力方向：进一步提高业务水平，加强理论学习"],
    "志愿": ["了解自己的高考分数和全省位次", "查询目标院校近三年的录取分数线", "合理设置冲、稳、保三个梯度",
           "注意专业的选考科目要求与体检限制", "服从专业调剂可以降低退档风险", "按时在志愿填报系统提交并确认",
           "关注院校招生章程中的加分与单科成绩要求", "与家长充分沟通，结合兴趣和职业规划"],
    "会议": ["学习上级关于教学工作的文件精神", "分析本次期中考试成绩，表彰进步学生", "各年级组长汇报教学进度",
           "布置下阶段教学与安全工作", "讨论期末考试的命题与监考安排", "校长总结讲话", "请各位老师准时参加，不得无故缺席"],
    "计划": ["认真研究考试说明和课程标准，明确复习方向", "第一轮复习以教材为本，夯实基础知识", "第二轮专题复习，突出重点与难点",
           "每周进行一次单元测试并及时讲评", "重视学生解题规范与答题习惯的培养", "做好培优补差，关注临界生",
           "利用错题本，提高复习效率", "合理安排月考与模拟考试的时间"],
    "分析": ["本次试卷难度适中，覆盖面广", "选择题得分率较高，平均得分率达到百分之七十八", "第12题考查函数的单调性，失分较多",
           "填空题第15题计算量大，学生普遍用时过长", "解答题规范性有待提高", "今后教学中要加强审题能力的训练",
           "部分学生基础知识掌握不牢", "最高分142分，及格率百分之八十五"],
    "练习": ["计算：3.5×2.4", "解方程：2x+5=17", "化简：(a+b)²-(a-b)²", "比较大小：0.35和0.4", "求半径为3的圆的面积",
           "一个长方形长8厘米，宽5厘米，求周长", "把24分解质因数", "已知 x=2，求 3x²-1 的值"],
}
PLAIN = [
    ("公司年会活动方案", ["活动时间：2026年1月18日下午两点", "活动地点：公司三楼多功能厅", "节目由各部门自行准备，每部门不少于一个",
                   "抽奖环节设一等奖三名", "晚宴安排在酒店二楼", "请各部门于1月10日前报送节目单"]),
    ("家用空调使用说明书", ["使用前请确认电源电压为220V", "遥控器需安装两节7号电池", "制冷模式下建议温度设定为26度",
                   "滤网应每两周清洗一次", "长期不用时请拔下电源插头", "出现故障代码E1时请联系售后服务"]),
    ("红烧肉的家常做法", ["五花肉切成2.5厘米见方的块", "冷水下锅焯水，撇去浮沫", "锅中放少许油，小火炒糖色",
                  "加入肉块翻炒上色", "加生抽、老抽、料酒和八角", "加开水没过肉块，小火炖1.5小时"]),
    ("社区垃圾分类宣传材料", ["可回收物包括废纸、塑料瓶、金属", "厨余垃圾请沥干水分后投放", "有害垃圾包括废电池、过期药品",
                    "其他垃圾投放到灰色垃圾桶", "每天早七点至九点定时投放", "违规投放将由志愿者劝导"]),
    ("2025年第三季度销售报告", ["本季度销售额同比增长12.5%", "华东区域贡献了百分之四十的收入", "新产品线上市后反响良好",
                         "退货率下降至1.2%", "下季度重点开拓西南市场", "建议增加两名区域销售经理"]),
]


def numbered(rng: random.Random, items: list[str], k: int) -> str:
    style = rng.choice(["{n}、", "{n}．", "{n}.", "（{n}）", "{n} ."])
    chosen = rng.sample(items, min(k, len(items)))
    return "\n".join(style.format(n=i) + t + "。" for i, t in enumerate(chosen, start=1))


def keyword_doc(rng: random.Random) -> tuple[str, str]:
    year, city = rng.randint(2015, 2025), rng.choice(CITIES)
    kind = rng.choice(["总结", "志愿", "会议", "计划", "分析", "练习"])
    if kind == "总结":
        title = f"{year}年{city}{rng.choice(SCHOOLS)}{rng.choice(['期末工作总结', '期末教学工作总结', '班主任期末工作总结'])}"
        body = f"一、思想方面\n本学期我积极参加政治学习。\n二、教学工作\n{numbered(rng, ITEMS['总结'], 5)}\n三、存在的不足\n{numbered(rng, ITEMS['总结'], 3)}"
    elif kind == "志愿":
        title = f"{year}年{rng.choice(['高考志愿填报指南', '高考志愿填报技巧大全', '中考志愿填报注意事项'])}"
        body = f"高考成绩公布后，考生需要在规定时间内完成志愿填报。\n{numbered(rng, ITEMS['志愿'], 6)}\n祝各位考生金榜题名！"
    elif kind == "会议":
        title = f"关于召开{rng.choice(['期中考试质量分析会', '期末考试工作会议', '高考备考动员会', '月考总结会'])}的通知"
        body = (f"各年级组、各位老师：\n经研究，定于{rng.randint(1, 12)}月{rng.randint(1, 28)}日下午3:30在学校会议室召开会议，"
                f"现将有关事项通知如下。\n会议议程：\n{numbered(rng, ITEMS['会议'], 5)}\n学校办公室\n{year}年{rng.randint(1, 12)}月")
    elif kind == "计划":
        title = f"{year}-{year + 1}学年{rng.choice(GRADES)}{rng.choice(['数学', '语文', '英语', '物理'])}教学计划（含期中期末复习安排）"
        body = f"一、指导思想\n以课程标准为依据，全面提高教学质量。\n二、具体措施\n{numbered(rng, ITEMS['计划'], 6)}\n三、时间安排\n期中考试前完成前四章。"
    elif kind == "分析":
        title = f"{year}年{city}{rng.choice(GRADES)}期中考试数学试卷分析"
        body = f"一、试卷结构\n本卷共22题，包括选择题、填空题和解答题。\n二、答题情况\n{numbered(rng, ITEMS['分析'], 6)}\n三、改进措施\n加强基础训练。"
    else:
        title = rng.choice(["一元一次方程课堂练习", "小学数学口算天天练", "暑假作业：计算题专项"])
        body = f"班级：____ 姓名：____\n{numbered(rng, ITEMS['练习'], 6)}"
    text = body if rng.random() < 0.7 else body.replace("\n", rng.choice([" ", ""]))
    return title, text


def plain_doc(rng: random.Random) -> tuple[str, str]:
    title, items = rng.choice(PLAIN)
    return title, f"{title}\n{numbered(rng, items, rng.randint(3, len(items)))}\n以上内容仅供参考。"


def generate(seed: int, n_docs: int, pool_filter=None) -> list[tuple[dict, dict]]:
    """(record, truth) pairs; roughly 62% exam papers, 25% keyword traps, 13% plain documents."""
    rng = random.Random(seed)
    pool: dict[str, list[dict]] = {s: [] for s in SUBJECTS}
    for q in load_questions():
        if pool_filter is None or pool_filter(q):
            pool[q["subject"]].append(q)
    out = []
    for i in range(n_docs):
        doc_id = f"wenku-s{seed}-{i:05d}"
        r = rng.random()
        if r < 0.62:
            title, text, truth, qids = exam_paper(rng, pool)
            if rng.random() < 0.06:  # a second paper in the same document restarts numbering
                t2, x2, tr2, q2 = exam_paper(rng, pool)
                text, truth, qids = f"{text}\n{x2}", truth + tr2, qids + q2
            text = damage(rng, text, truth)
            rec = {"id": doc_id, "title": title if rng.random() < 0.9 else None, "text": text,
                   "url": f"https://wenku.example.com/view/{rng.getrandbits(48):012x}.html", "question_ids": qids,
                   "kind": "exam_paper"}
            tru = {"doc_id": doc_id, "is_exam": True,
                   "questions": [{"no": t["no"], "text": t["text"], "subject": t["subject"], "qid": t["qid"]} for t in truth]}
        else:
            title, text = keyword_doc(rng) if r < 0.87 else plain_doc(rng)
            rec = {"id": doc_id, "title": title, "text": text, "kind": "keyword_trap" if r < 0.87 else "plain"}
            tru = {"doc_id": doc_id, "is_exam": False, "questions": []}
        if rec["title"] is None:
            del rec["title"]
        out.append((rec, tru))
    return out


def write(pairs: list[tuple[dict, dict]], out: Path, dates=DATES, gz_date: str | None = DATES[1]) -> list[Path]:
    """Write records to {out}/library/wenku/{date}/part-0.jsonl[.gz] and truth to {out}/truth/wenku.jsonl."""
    paths = []
    per = (len(pairs) + len(dates) - 1) // len(dates)
    for k, date in enumerate(dates):
        chunk = pairs[k * per : (k + 1) * per]
        folder = out / "library" / "wenku" / date
        folder.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r, _ in chunk).encode("utf-8")
        path = folder / ("part-0.jsonl.gz" if date == gz_date else "part-0.jsonl")
        for old in folder.glob("part-0.jsonl*"):
            old.unlink()
        path.write_bytes(gzip.compress(lines, mtime=0) if path.suffix == ".gz" else lines)
        paths.append(path)
    truth = out / "truth" / "wenku.jsonl"
    truth.parent.mkdir(parents=True, exist_ok=True)
    truth.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for _, t in pairs), encoding="utf-8")
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--docs", type=int, default=240)
    ap.add_argument("--out", type=Path, default=REPO / "samples")
    a = ap.parse_args()
    for p in write(generate(a.seed, a.docs), a.out):
        print(p, p.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
