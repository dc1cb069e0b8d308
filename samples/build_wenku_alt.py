"""Independent generator of synthetic "wenku dump" documents (exam papers + non-exam docs).

Exam papers are assembled from REAL public exam questions in
/work/shared/data/public/zh_exam_questions.jsonl (see /work/shared/data/public/SOURCES.md):
  * OpenLMLab/GAOKAO-Bench @ 6dbb24f8 (Apache-2.0), OpenMOSS/GAOKAO-MM @ 76d5193c (Apache-2.0)
  * microsoft/AGIEval @ b1187aa0 gaokao-* (MIT), XiaoMi/cmath @ 9fa13ef0 (MIT / CC-BY-4.0)
  * math-eval/TAL-SCQ5K @ 8a66d6e1 (MIT, stated in README)
  * QwenLM/Qwen2.5-Math @ a45202bd evaluation data (MIT, evaluation/LICENSE; weakest license in the set)
Each question keeps its source id in the data file; titles, schools, headers, instructions,
answer-key layout and all non-exam documents are synthetic templates written for this file.

Truth convention: a question's truth text is the question as printed in the paper, after the
per-document character damage (width swaps, lost symbols, extra spaces, LaTeX flattening) and
without its number prefix. Layout damage (lost/extra line breaks, page headers/footers inserted
inside a question) is NOT in the truth, so compare texts whitespace-insensitively.
"""
import argparse
import json
import os
import random
import re

DATA = "/work/shared/data/public/zh_exam_questions.jsonl"
SUBJECTS = ["语文", "数学", "英语", "物理", "化学", "生物", "政治", "地理", "其他"]
SUBJ_NAME = {"其他": "历史"}  # how a subject is named in a title
MIXED = {"理科综合": ["生物", "化学", "物理"], "文科综合": ["政治", "其他", "地理"]}
CN_NUM = "一二三四五六七八"
NUM_STYLES = ["{}.", "{}．", "{}、", "{} .", "{}. ", "{}．"]
CITIES = ["北京", "上海", "杭州", "南京", "武汉", "成都", "长沙", "郑州", "济南", "西安", "合肥", "福州", "南昌", "石家庄", "太原", "昆明"]
SCHOOL_SUFFIX = ["第一中学", "第二中学", "实验中学", "外国语学校", "师范大学附属中学", "第十一中学", "育才中学", "一中", "市第三中学"]
GRADES_HIGH = ["高一", "高二", "高三"]
GRADES_MID = ["七年级", "八年级", "九年级", "初三"]
GRADES_LOW = ["三年级", "四年级", "五年级", "六年级"]
_POOL = None


# ---------------------------------------------------------------- question pool
def _strip_number(q):
    """Remove the data's own leading question number (e.g. '21.' / '3．'), keep '1.5米'."""
    return re.sub(r"^\s*\d{1,3}\s*[.．、](?!\d)\s*", "", q)


def _clean(q):
    q = "\n".join(line.rstrip().rstrip("\\").rstrip() for line in q.strip().splitlines())
    return re.sub(r"\n{3,}", "\n\n", q).strip()


def _kind(r, stem):
    """'choice', 'fill' or 'open' for section placement."""
    task = (r.get("task") or "").lower()
    if r.get("options") or (re.search(r"(^|\s)A\s*[.．、]", stem) and re.search(r"B\s*[.．、]", stem)):
        return "choice"
    if any(k in task for k in ("blank", "cloze", "dictation")):
        return "fill"
    return "open"


def load_pool():
    """Usable questions grouped by subject (no passages, no multi-question items, no stubs)."""
    global _POOL
    if _POOL is not None:
        return _POOL
    pool = {s: [] for s in SUBJECTS}
    with open(DATA, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r.get("passage"):
                continue  # reading passages belong to several questions: truth would be ambiguous
            stem = _clean(_strip_number(r.get("question") or ""))
            if re.search(r"(?:^|[\s。？）)])\d{1,2}\s*[.．、](?![\d.．])\s*[\u4e00-\u9fffA-Za-z（(]", stem):
                continue  # material shared by several numbered questions: one truth entry would be wrong
            core = re.sub(r"[\s，。,.（）()：:$\\]|如图所示|如图", "", stem)
            if len(core) < 6 or re.match(r"\d+下列", stem):
                continue
            opts = [re.sub(r"^\s*\(?([A-G])\)?\s*[.．、]?\s*", "", o).strip() for o in (r.get("options") or [])]
            level = "low" if r["id"].startswith("cmath") else "mid" if "cn_middle" in r["id"] or r["id"].startswith("tal") else "high"
            subj = r["subject"] if r["subject"] in SUBJECTS else "其他"
            pool[subj].append({"id": r["id"], "stem": stem, "options": opts, "kind": _kind(r, stem),
                               "answer": (r.get("answer") or "").strip(), "analysis": (r.get("analysis") or "").strip(),
                               "level": level, "subject": subj})
    _POOL = pool
    return pool


# ---------------------------------------------------------------- character damage
_SUP = str.maketrans("0123456789n", "⁰¹²³⁴⁵⁶⁷⁸⁹ⁿ")
_LATEX_SYM = {r"\pi": "π", r"\alpha": "α", r"\beta": "β", r"\theta": "θ", r"\omega": "ω", r"\lambda": "λ",
              r"\times": "×", r"\div": "÷", r"\leqslant": "≤", r"\geqslant": "≥", r"\leq": "≤", r"\geq": "≥",
              r"\le": "≤", r"\ge": "≥", r"\neq": "≠", r"\cdot": "·", r"\bullet": "·", r"\circ": "°", r"\because": "∵",
              r"\therefore": "∴", r"\in": "∈", r"\cup": "∪", r"\cap": "∩", r"\infty": "∞", r"\angle": "∠",
              r"\triangle": "△", r"\perp": "⊥", r"\parallel": "∥", r"\sim": "~",
              r"\quad": " ", r"\qquad": "  ", r"\%": "%", r"\rightarrow": "→"}


def flatten_latex(s):
    """Roughly what a Word->text conversion leaves of math: no $ and no commands."""
    s = s.replace("$", "").replace("\\\\", " ").replace("\\{", "\x01").replace("\\}", "\x02")
    s = re.sub(r"\\[,;!: ]|\\mid\b", lambda m: "|" if "mid" in m.group() else " ", s)
    s = re.sub(r"\\(begin|end)\{[^}]*\}(\{[^}]*\})?|\\hline|\\left|\\right|\\vec|\\overrightarrow", "", s)
    for _ in range(3):
        s = re.sub(r"\\(?:mathrm|text|mathbf|operatorname|boldsymbol|mathit|overline)\s*\{([^{}]*)\}", r"\1", s)
        s = re.sub(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"\1/\2", s)
        s = re.sub(r"\\sqrt\s*\{([^{}]*)\}", r"√\1", s)
        s = re.sub(r"\^\{([^{}]*)\}", lambda m: m.group(1).translate(_SUP) if m.group(1).strip().isdigit() else "^" + m.group(1), s)
        s = re.sub(r"_\{([^{}]*)\}", r"\1", s)
    for k in sorted(_LATEX_SYM, key=len, reverse=True):
        s = re.sub(re.escape(k) + r"(?![a-zA-Z])", lambda m, v=_LATEX_SYM[k]: v, s)
    s = re.sub(r"\\[a-zA-Z]+|[{}]", "", s).replace("&", "  ").replace("~", " ").replace("\x01", "{").replace("\x02", "}")
    return re.sub(r"[ \t]{2,}", " ", s)


_TO_HALF = str.maketrans("．，：；（）？！", ".,:;()?!")
_TO_FULL = str.maketrans(".,:;()?!", "．，：；（）？！")
_LOST = {"√": ["", "V", "\ufffd"], "π": ["", "n", "p"], "²": ["2", ""], "³": ["3", ""], "°": ["", "o"],
         "≤": ["<", "W"], "≥": [">", "N"], "×": ["x", ""], "∠": ["", "Z"], "△": ["", "A"], "⊥": ["", "丄"]}


def make_profile(rng):
    """Per-document damage settings, drawn once so one dump is consistently broken."""
    return {"latex": rng.random() < 0.6, "width": rng.choice([None, None, "half", "full"]),
            "width_rate": rng.uniform(0.3, 1.0), "lost": rng.random() < 0.3,
            "spaces": rng.random() < 0.25}


def damage(text, rng, prof):
    """Character-level damage; questions' truth texts go through this too."""
    if prof["latex"]:
        text = flatten_latex(text)
    if prof["width"]:
        table = _TO_HALF if prof["width"] == "half" else _TO_FULL
        text = "".join(c.translate(table) if rng.random() < prof["width_rate"] else c for c in text)
    if prof["lost"]:
        text = "".join(rng.choice(_LOST[c]) if c in _LOST and rng.random() < 0.7 else c for c in text)
    if prof["spaces"]:
        text = re.sub(r"(?<=[\u4e00-\u9fff])(?=[\u4e00-\u9fff])", lambda m: " " if rng.random() < 0.03 else "", text)
    return text


# ---------------------------------------------------------------- exam paper
def _options(opts, rng, style):
    sep = rng.choice(["．", ".", "、", "．", ". "])
    items = [f"{'ABCDEFG'[i]}{sep}{o}" for i, o in enumerate(opts)]
    if style == "lines" or any(len(o) > 30 for o in opts):
        return "\n".join(items)
    if style == "two" and len(items) == 4:
        return items[0] + "    " + items[1] + "\n" + items[2] + "    " + items[3]
    return ("" if style == "glued" else rng.choice(["  ", "    ", "\t", " "])).join(items)


def _title(rng, subj_name, level):
    y = rng.randint(2012, 2024)
    city = rng.choice(CITIES)
    school = city + rng.choice(SCHOOL_SUFFIX)
    grade = rng.choice({"low": GRADES_LOW, "mid": GRADES_MID, "high": GRADES_HIGH}[level])
    term = rng.choice(["上学期", "下学期", "第一学期", "第二学期", ""])
    exam = rng.choice(["期中考试", "期末考试", "期中", "期末", "第一次月考", "10月月考", "期末质量检测"])
    kind = rng.choice(["试题", "试卷", "试题（含答案）", "试卷（解析版）", "试题 Word版含解析"])
    if level == "mid" and rng.random() < 0.4:
        return f"{y}年{rng.choice(['', city + '市', '湖南省', '广东省'])}中考{subj_name}{kind}"
    if level == "high" and rng.random() < 0.25:
        return f"{y}年高考{subj_name}{rng.choice(['真题', '试卷', '全国卷Ⅰ试题', '（新课标Ⅱ卷）试题'])}"
    return rng.choice([f"{y}-{y + 1}学年{school}{grade}{term}{exam}{subj_name}{kind}",
                       f"{school}{y}届{grade}{exam}{subj_name}{kind}",
                       f"{y}年{city}市{grade}{subj_name}{exam}{kind}",
                       f"{grade}{subj_name}{term}{exam}测试卷"])


NOTICE = ["答题前，考生务必将自己的姓名、准考证号填写在答题卡上。",
          "回答选择题时，选出每小题答案后，用2B铅笔把答题卡上对应题目的答案标号涂黑。",
          "回答非选择题时，将答案写在答题卡上，写在本试卷上无效。",
          "本试卷满分{m}分，考试时间{t}分钟。", "考试结束后，将本试卷和答题卡一并交回。"]


def _section(rng, idx, kind, qs, mixed):
    n = len(qs)
    pts = rng.choice([2, 3, 4, 5, 6])
    name = {"choice": rng.choice(["选择题", "单项选择题", "选择题"]), "fill": "填空题",
            "open": rng.choice(["解答题", "非选择题", "综合题"] if not mixed else ["非选择题"])}[kind]
    tail = {"choice": rng.choice([f"（本大题共{n}小题，每小题{pts}分，共{n * pts}分。在每小题给出的四个选项中，只有一项是符合题目要求的）",
                                  f"（每小题{pts}分，共{n * pts}分）", f"(共{n}题)", ""]),
            "fill": rng.choice([f"（每小题{pts}分，共{n * pts}分）", f"：本题共{n}小题", ""]),
            "open": rng.choice(["（解答应写出文字说明、证明过程或演算步骤）", f"（共{n}小题）", ""])}[kind]
    return f"{CN_NUM[idx]}{rng.choice(['、', '、', '．'])}{name}{tail}"


def _answer_key(rng, numbered):
    """Answer-key section: rows '1.D 2.C', ranges '1-5 DCABA' or per-question 【答案】【解析】."""
    lines = [rng.choice(["参考答案", "【参考答案】", "答案与解析", "参考答案及评分标准", "试卷答案"])]
    style = rng.choice(["rows", "range", "per"])
    letters = [(n, q["answer"]) for n, q in numbered if re.fullmatch(r"[A-G]{1,4}", q["answer"])]
    others = [(n, q) for n, q in numbered if not re.fullmatch(r"[A-G]{1,4}", q["answer"])]
    if style == "per":
        for n, q in numbered:
            ana = re.sub(r"\s+", " ", q["analysis"])[: rng.randint(40, 160)]
            lines.append(f"{n}．【答案】{q['answer'][:80]}" + (f"\n【解析】{ana}" if ana else ""))
        return lines
    if style == "range" and letters and letters[-1][0] - letters[0][0] == len(letters) - 1:
        for i in range(0, len(letters), 5):
            chunk = letters[i:i + 5]
            rng_s = f"{chunk[0][0]}-{chunk[-1][0]}" if len(chunk) > 1 else f"{chunk[0][0]}."
            lines.append(rng_s + rng.choice([" ", "：", "  "]) + "".join(a for _, a in chunk))
    else:
        for i in range(0, len(letters), 5):
            lines.append(rng.choice(["  ", " ", "\t"]).join(f"{n}.{a}" for n, a in letters[i:i + 5]))
    for n, q in others:
        lines.append(f"{n}．{re.sub(chr(10) + '+', ' ', q['answer'][:120])}")
    return lines


def _pick(rng, pool, subj, k, level=None):
    cands = [q for q in pool[subj] if level is None or q["level"] == level]
    return rng.sample(cands, min(k, len(cands)))


def exam_doc(rng, pool):
    """One exam paper: (title, lines with per-line question tag, truth questions)."""
    prof = make_profile(rng)
    r = rng.random()
    if r < 0.15:
        paper = rng.choice(list(MIXED))
        qs = [q for s in MIXED[paper] for q in _pick(rng, pool, s, rng.randint(3, 7))]
        subj_name, level = paper, "high"
    else:
        subj = rng.choices(SUBJECTS, weights=[10, 16, 8, 10, 10, 10, 8, 10, 6])[0]
        level = rng.choice(["low", "mid", "high", "high"]) if subj == "数学" else "high"
        qs = _pick(rng, pool, subj, rng.randint(5, 18), level if subj == "数学" else None)
        subj_name = "" if rng.random() < 0.15 else SUBJ_NAME.get(subj, subj)
        paper = None
    order = ["choice", "fill", "open"]
    groups = [[q for q in qs if q["kind"] == k] for k in order]
    title = _title(rng, subj_name, level)
    lines = []  # (text, question_index or None)
    if rng.random() < 0.2:
        lines.append(("绝密★启用前", None))
    lines.append((title, None))
    if rng.random() < 0.4:
        lines.append((f"（考试时间：{rng.choice([60, 90, 120, 150])}分钟  满分：{rng.choice([100, 120, 150, 300])}分）", None))
    if rng.random() < 0.3:
        lines.append(("姓名：__________  班级：__________  考号：__________", None))
    if rng.random() < 0.4:
        lines.append((rng.choice(["注意事项：", "注意事项:", "考生须知："]), None))
        sty = rng.choice(NUM_STYLES)
        for i, t in enumerate(rng.sample(NOTICE, rng.randint(2, 5)), 1):
            lines.append((sty.format(i) + t.format(m=rng.choice([100, 150]), t=rng.choice([90, 120])), None))
    num_style = rng.choice(NUM_STYLES)
    opt_style = rng.choice(["line", "lines", "two", "glued"])
    headers = rng.random() < 0.8
    juan = headers and rng.random() < 0.3
    truth, numbered, n, sec = [], [], 0, 0
    for k, group in zip(order, groups):
        if not group:
            continue
        if juan and k == "choice":
            lines.append(("第Ⅰ卷（选择题）", None))
        if juan and k != "choice" and "第Ⅱ卷" not in "".join(t for t, _ in lines):
            lines.append((rng.choice(["第Ⅱ卷（非选择题）", "第II卷（非选择题 共90分）"]), None))
        if headers:
            lines.append((_section(rng, sec, k, group, paper), None))
            sec += 1
        for q in group:
            n += 1
            body = q["stem"]
            if q["options"]:
                body += "\n" + _options(q["options"], rng, opt_style)
            if rng.random() < 0.15 and not re.match(r"[（(]\s*\d+\s*分", body):
                body = f"（{rng.choice([2, 3, 4, 5, 6, 10, 12])}分）" + body
            body = damage(body, rng, prof)
            truth.append({"text": body, "subject": q["subject"]})
            numbered.append((n, q))
            first, *rest = body.split("\n")
            lines.append((num_style.format(n) + first, len(truth) - 1))
            lines.extend((t, len(truth) - 1) for t in rest)
    if rng.random() < 0.35:
        lines.extend((damage(t, rng, prof), None) for t in _answer_key(rng, numbered))
    return title, lines, truth


def paginate(rng, lines, title):
    """Insert page footers/headers every few lines, sometimes splitting a line mid-way."""
    if rng.random() < 0.35:
        return [t for t, _ in lines]
    every = rng.randint(12, 35)
    breaks = list(range(every, len(lines), every))
    total = len(breaks) + 1 + rng.choice([0, 0, 1])
    short = re.sub(r"^.*?(学年|届|年)", "", title)[:20]
    foot = rng.choice(["第 {p} 页 共 {t} 页", "第{p}页（共{t}页）", "- {p} -", "{s} 第{p}页(共{t}页)", "{s}  第 {p} 页"])
    head = rng.random() < 0.4
    out = []
    for i, (t, _) in enumerate(lines):
        if i in breaks:
            p = breaks.index(i) + 1
            art = [foot.format(p=p, t=total, s=short)] + ([title] if head else [])
            if rng.random() < 0.2:
                art.append(rng.choice(["学科网（北京）股份有限公司", "www.zxxk.com", "本资料来源于网络，仅供学习交流"]))
            if len(t) > 20 and rng.random() < 0.3:  # page break inside a line
                cut = rng.randint(5, len(t) - 5)
                out.extend([t[:cut]] + art + [t[cut:]])
                continue
            out.extend(art)
        out.append(t)
    return out


def layout(rng, lines):
    """Line-break damage: keep, one line, a few long lines, or hard wrap at a fixed width."""
    r = rng.random()
    if r < 0.2:
        return rng.choice([" ", "", "  "]).join(lines)
    if r < 0.35:
        out, i = [], 0
        while i < len(lines):
            k = rng.randint(4, 15)
            out.append(" ".join(lines[i:i + k]))
            i += k
        return "\n".join(out)
    if r < 0.5:
        w = rng.randint(30, 60)
        return "\n".join(l[j:j + w] for l in lines for j in range(0, max(len(l), 1), w))
    return "\n".join(lines)


# ---------------------------------------------------------------- non-exam documents
def _numbered(rng, items, k):
    sty = rng.choice(NUM_STYLES[:4] + ["（{}）", "({})"])
    return [sty.format(i) + t for i, t in enumerate(rng.sample(items, min(k, len(items))), 1)]


def trap_doc(rng):
    """Non-exam text that mentions an exam keyword and usually has numbered points."""
    y, city = rng.randint(2015, 2024), rng.choice(CITIES)
    subj = rng.choice(["数学", "语文", "英语", "物理", "化学", "历史"])
    grade = rng.choice(GRADES_HIGH + GRADES_MID)
    t = rng.randrange(6)
    if t == 0:
        title = f"{y}-{y + 1}学年度{grade}{subj}教师期末工作总结"
        body = [f"本学期我担任{grade}两个班的{subj}教学工作，现将一学期的工作总结如下。", "一、主要工作"] + _numbered(rng, [
            "认真备课，钻研教材，每节课都写好教案。", "坚持听课评课，本学期共听课20余节。", "做好期中、期末考试的复习与质量分析工作。",
            "关注学困生，利用课余时间进行个别辅导。", "积极参加教研活动，撰写论文一篇。", "批改作业及时认真，发现问题及时讲评。"], 4) + [
            "二、存在的不足", "部分学生基础薄弱，期末考试成绩两极分化较明显，平均分为78.5分。", "三、今后的努力方向"] + _numbered(rng, [
            "加强课堂管理。", "提高试卷讲评课的效率。", "多与家长沟通。", "继续学习新课标理念。"], 3)
    elif t == 1:
        title = f"{y}年高考志愿填报指南"
        body = [f"{y}年高考成绩公布后，考生将面临志愿填报。以下几点供考生和家长参考："] + _numbered(rng, [
            "了解录取批次和投档规则，平行志愿按“分数优先、遵循志愿”的原则投档。", "如何选择专业？应结合兴趣、能力和就业前景综合考虑。",
            "用好一分一段表，把分数换算成位次。", "注意院校的选科要求和体检要求。", "合理设置冲、稳、保三个梯度。",
            "不要浪费志愿，服从调剂可以降低退档风险。"], 5) + ["温馨提示：志愿填报截止时间为7月2日17:00，请勿错过。"]
    elif t == 2:
        title = f"关于召开{y}年{rng.choice(['期中', '期末'])}考试质量分析会的通知"
        body = ["各年级组、教研组：", "为总结本次考试情况，经研究决定召开质量分析会，现将有关事项通知如下：",
                f"一、会议时间：{y}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日下午2:30", f"二、会议地点：学校{rng.randint(1, 5)}楼会议室",
                "三、参会人员：全体任课教师", "四、会议议程"] + _numbered(rng, [
                "教务处通报各年级考试成绩。", "各年级组长作质量分析。", "优秀教师代表发言。", "校长作总结讲话。"], 4) + [
                "请各位老师准时参加，不得无故缺席。", f"{city}{rng.choice(SCHOOL_SUFFIX)}教务处"]
    elif t == 3:
        title = f"{grade}{subj}《{rng.choice(['函数的单调性', '光合作用', '化学反应速率', '背影', '牛顿第二定律'])}》教学设计（中考/高考复习）"
        body = ["【教学目标】"] + _numbered(rng, ["理解基本概念。", "掌握基本方法。", "培养学生分析问题的能力。", "体会知识与生活的联系。"], 3) + [
            "【教学重难点】重点是概念的理解，难点是知识的综合运用。", "【教学过程】"] + _numbered(rng, [
            "创设情境，导入新课（5分钟）。", "学生自主阅读教材，小组讨论。", "教师讲解例题，归纳方法。", "课堂练习，当堂检测。",
            "课堂小结，布置作业。"], 5) + ["【教学反思】本节课学生参与度较高，但练习时间略显不足。"]
    elif t == 4:
        title = f"{city}{y}年中考今日开考 {rng.randint(5, 12)}万余名考生赴考"
        body = [f"本报讯 {rng.randint(6, 7)}月{rng.randint(10, 25)}日，{y}年{city}市初中学业水平考试（中考）正式开考。全市共设考点{rng.randint(30, 90)}个，"
                f"考场{rng.randint(1500, 4000)}个。", "记者在考点看到，考生们提前半小时陆续入场，家长在校门外等候。", "市教育局提醒考生注意以下事项："] + _numbered(rng, [
                "提前熟悉考点路线。", "备齐准考证、身份证等证件。", "严禁携带手机等通讯工具进入考场。", "注意饮食卫生，保持良好心态。"], 3) + [
                f"据悉，今年中考成绩预计于{rng.randint(7, 8)}月初公布。"]
    else:
        title = f"{y}-{y + 1}学年{grade}{rng.choice(['期中', '期末'])}考试{subj}试卷分析"
        body = ["一、试题特点", f"本次试卷满分150分，共{rng.randint(18, 24)}题，难度系数约0.65。"] + _numbered(rng, [
            "注重基础知识的考查，覆盖面广。", "突出能力立意，第12题和第20题有一定区分度。", "联系生活实际，体现学科素养。"], 3) + [
            "二、学生答题情况", f"第{rng.randint(1, 10)}题得分率较高，达到92%；第{rng.randint(15, 22)}题得分率仅为35.6%，主要问题是审题不清。",
            "三、改进措施"] + _numbered(rng, ["加强审题训练。", "重视错题整理。", "规范答题步骤。"], 3)
    return title, body


def plain_doc(rng):
    """Ordinary document with no exam keyword."""
    t = rng.randrange(4)
    if t == 0:
        dish = rng.choice(["红烧肉", "西红柿炒鸡蛋", "清蒸鲈鱼", "麻婆豆腐"])
        return f"{dish}的家常做法", ["【食材】主料500克，葱、姜、蒜适量，盐3克，生抽1.5勺。", "【步骤】"] + _numbered(rng, [
            "食材洗净切块备用。", "锅中倒油烧至七成热。", "放入葱姜蒜爆香。", "加入主料翻炒2分钟。", "加调料焖煮15分钟后出锅。"], 5)
    if t == 1:
        dev = rng.choice(["电热水壶", "空气净化器", "无线鼠标"])
        return f"{dev}使用说明书", [f"感谢您购买本公司{dev}，使用前请仔细阅读本说明书。", "一、安全注意事项"] + _numbered(rng, [
            "请勿在潮湿环境中使用。", "儿童须在成人监护下使用。", "额定电压220V，功率1.5kW。", "出现故障请联系售后，勿自行拆修。"], 4) + [
            "二、常见问题", "Q：指示灯不亮怎么办？A：请检查电源是否接通。"]
    if t == 2:
        c = rng.choice(CITIES)
        return f"{c}三日游记", [f"{rng.randint(2015, 2024)}年国庆假期，我们一家人去了{c}。",
                            "第一天参观了博物馆，馆内藏品丰富，讲解员介绍得很详细。", "第二天爬山，山高约1200米，沿途风景秀丽。",
                            "第三天逛了老街，品尝了当地小吃。这次旅行让我收获很多。"]
    return f"{rng.choice(['员工考勤管理制度', '车辆使用管理规定'])}", ["第一条 为规范管理，特制定本制度。", "第二条 本制度适用于公司全体员工。",
                                                      "第三条 员工应按时上下班，迟到30分钟以上按旷工半天处理。", "第四条 本制度自发布之日起施行。"]


# ---------------------------------------------------------------- API
def generate(seed: int, n_docs: int):
    """Return [(record, truth)] for n_docs documents, deterministic per seed."""
    rng = random.Random(seed)
    pool = load_pool()
    out = []
    for i in range(n_docs):
        doc_id = f"alt-s{seed}-{i:05d}"
        r = rng.random()
        if r < 0.6:
            title, lines, questions = exam_doc(rng, pool)
            if not rng.random() < 0.85:  # text sometimes starts without the title line
                lines = [l for l in lines if l[0] != title]
            text = layout(rng, paginate(rng, lines, title))
            truth = {"doc_id": doc_id, "is_exam": True, "questions": questions}
        else:
            title, body = trap_doc(rng) if r < 0.8 else plain_doc(rng)
            prof = make_profile(rng)
            prof["latex"] = False
            text = layout(rng, [damage(l, rng, prof) for l in ([title] if rng.random() < 0.8 else []) + body])
            truth = {"doc_id": doc_id, "is_exam": False, "questions": []}
        rec = {"id": doc_id, "text": text}
        k = rng.random()
        if k < 0.75:
            rec["title"] = title
        elif k < 0.88:
            rec["title"] = None
        out.append((rec, truth))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--out", default="samples")
    a = ap.parse_args()
    pairs = generate(a.seed, a.docs)
    lib = os.path.join(a.out, "library", "wenku", "2026-11-21")
    os.makedirs(lib, exist_ok=True)
    os.makedirs(os.path.join(a.out, "truth"), exist_ok=True)
    with open(os.path.join(lib, "part-0.jsonl"), "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r, _ in pairs)
    with open(os.path.join(a.out, "truth", "wenku.jsonl"), "w", encoding="utf-8") as f:
        f.writelines(json.dumps(t, ensure_ascii=False) + "\n" for _, t in pairs)
    print(f"wrote {len(pairs)} docs to {a.out}")


if __name__ == "__main__":
    main()
