"""Labelled fragments for the validity and subject classifiers, built from public questions.

Positives are real questions (GAOKAO-Bench, AGIEval, CMATH, TAL-SCQ5K, Qwen2.5-Math items; see
/work/shared/data/public/SOURCES.md), printed the ways papers print them, and the questions of
items that hold a material group, each on its own. Negatives are what a
splitter meets besides questions: answer keys and worked solutions (the items' own `analysis`),
headers, page marks, instructions, broken fragments and office prose. The shipped file
samples/truth/exam_fragments.jsonl.gz is this module's output (`python -m corpus_dag.exam.labels`);
every record keeps its source id, repository, commit and license.
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import zlib
from pathlib import Path

from corpus_dag.exam.split import GROUP_HEADER, layout

PUBLIC_QUESTIONS = Path("/work/shared/data/public/zh_exam_questions.jsonl")
SHIPPED = Path(__file__).resolve().parents[2] / "samples" / "truth" / "exam_fragments.jsonl.gz"
KEEP_CHARS = 600  # the classifiers read the first 200 and last 60 characters; keep the file small
NUMBER_PREFIX = re.compile(r"^\s*\d{1,3}\s*[.．、]\s*")

HEADERS = [
    "一、选择题（本大题共12小题，每小题5分，共60分）", "二、填空题：本题共4小题，每小题5分，共20分。", "三、解答题",
    "第Ⅰ卷（选择题 共50分）", "第二部分 阅读理解（共两节，满分40分）", "四、作文（60分）", "二、非选择题（共52分）",
    "第 2 页 共 6 页", "第3页（共8页）", "- 4 -", "高三数学试卷 第1页", "2021年秋季学期期中考试 高二物理",
    "2018-2019学年度第一学期期末考试七年级语文试题", "（考试时间：120分钟 满分：150分）", "姓名：________ 班级：________ 考号：________",
    "答题前，考生务必将自己的姓名、准考证号填写在答题卡上。", "回答选择题时，选出每小题答案后，用铅笔把答题卡上对应题目的答案标号涂黑。",
    "考试结束后，将本试卷和答题卡一并交回。", "本试卷分第Ⅰ卷（选择题）和第Ⅱ卷（非选择题）两部分。", "请在各题目的答题区域内作答，超出答题区域书写的答案无效。",
    "可能用到的相对原子质量：H 1 C 12 N 14 O 16 Na 23", "参考答案", "答案与解析", "参考答案及评分标准", "（本小题满分12分）", "密 封 线 内 不 要 答 题",
]
PROSE = [
    "本学期我校认真贯彻落实上级教育工作会议精神，以提高教学质量为中心。", "请各部门负责人于本周五前将材料报送至办公室。",
    "会议由副校长主持，全体教职工参加。", "经研究决定，现将有关事项通知如下。", "本产品适用于家庭和办公场所，使用前请仔细阅读说明书。",
    "活动结束后，各班要及时做好总结，并上报学校德育处。", "公司全年实现营业收入同比增长百分之十二。", "以上内容仅供参考，具体以学校通知为准。",
    "为进一步加强校园安全管理，特制定本方案。", "欢迎广大家长积极参与，共同关注孩子的成长。", "感谢您的支持，祝您生活愉快！",
    "报名时间为每天上午八点至十一点。", "我们将继续努力，争取取得更好的成绩。", "下载本文档需要消耗2个积分。", "点击查看更多精彩内容",
    "本文由用户上传，如有侵权请联系删除。", "扫描二维码关注公众号，获取更多学习资料。", "文档仅供学习交流，不得用于商业用途。",
]


def question_text(rec: dict, rng: random.Random) -> str:
    """A public item as a paper prints it: number prefix removed, options after the stem."""
    body = NUMBER_PREFIX.sub("", rec["question"] or "").strip()
    if rec.get("options"):
        sep = rng.choice(["．", ".", "、"])
        opts = [re.sub(r"^\(?([A-H])\)?\s*", lambda m: m.group(1) + sep, o.strip()) for o in rec["options"]]
        body += rng.choice(["\n", " ", "  "]) + rng.choice(["\n", "  ", " "]).join(opts)
    if rng.random() < 0.3:
        body = re.sub(r"\s*\n\s*", rng.choice(["", " "]), body)
    return body


def group_members(rec: dict) -> list[str]:
    """The questions of an item that holds a material group (`……据此完成 1～2 题。1．… 2．…`), each as a
    paper prints it without the material: a question of a group is a question even though its text
    refers to a material it does not carry (exam_questions keeps the material in `context`)."""
    text = rec["question"] or ""
    if GROUP_HEADER.search(text) is None:
        return []
    return [q.text for q in layout(text).questions if q.context is not None]


def _negatives(rec: dict, rng: random.Random) -> list[tuple[str, str]]:
    """(text, kind) fragments made from one item that are not questions."""
    out = []
    answer = (rec.get("answer") or "").strip()[:40]
    analysis = " ".join((rec.get("analysis") or "").split())
    if answer:
        out.append((rng.choice([f"【答案】{answer}", f"答案：{answer}", f"{answer}", f"故选{answer}．"]), "answer"))
    if analysis:
        cut = analysis[: rng.randint(30, 400)]
        prefix = rng.choice(["【解析】", "解：", "【分析】", "【详解】", f"【答案】{answer}【解析】", "", "【点评】"])
        out.append((prefix + cut, "solution"))
    q = question_text(rec, rng)
    if len(q) > 20:
        k = rng.randint(1, 8)
        out.append((q[:k], "broken"))
    opts = re.findall(r"[A-D][.．、][^A-D\n]{1,20}", q)
    if len(opts) >= 3 and rng.random() < 0.5:
        out.append((" ".join(opts), "broken"))
    return out


def _answer_row(rng: random.Random) -> str:
    n0 = rng.randint(1, 20)
    k = rng.randint(3, 10)
    sep = rng.choice([".", "．", "、", " ", ""])
    return rng.choice([" ", "  ", "\n", "；"]).join(f"{n}{sep}{rng.choice('ABCD')}" for n in range(n0, n0 + k))


def build_fragments(path: Path = PUBLIC_QUESTIONS, seed: int = 0) -> list[dict]:
    """Labelled fragments: {text, label (1 question / 0 not), kind, subject, id, source_*, license}."""
    rng = random.Random(seed)
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        src = {k: rec[k] for k in ("id", "source_repo", "source_path", "source_commit", "license")}
        text = question_text(rec, rng)
        if len(text) >= 4:
            out.append({"text": text[:KEEP_CHARS], "label": 1, "kind": "question", "subject": rec["subject"], **src})
        for member in group_members(rec):
            out.append({"text": member[:KEEP_CHARS], "label": 1, "kind": "group_question", "subject": rec["subject"], **src})
        for neg, kind in _negatives(rec, rng):
            if neg.strip():
                out.append({"text": neg[:KEEP_CHARS], "label": 0, "kind": kind, "subject": None, **src})
    made = {"id": None, "source_repo": "corpus_dag", "source_path": "corpus_dag/exam/labels.py", "source_commit": None,
            "license": "project"}
    for _ in range(400):
        out.append({"text": _answer_row(rng), "label": 0, "kind": "answer_key", "subject": None, **made})
    for pool, kind, reps in ((HEADERS, "header", 8), (PROSE, "prose", 8)):
        for t in pool:
            for _ in range(reps):
                v = t if rng.random() < 0.5 else t.replace("，", rng.choice(["，", ","])) + rng.choice(["", " ", "。"])
                out.append({"text": v, "label": 0, "kind": kind, "subject": None, **made})
    return out


def load_fragments(path: Path = SHIPPED) -> list[dict]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_user_labels(path: str | Path) -> list[dict]:
    """A user's JSONL of {"text": ..., "label": 1/0 or true/false or "valid"/"invalid"}."""
    truthy = {1: 1, 0: 0, "1": 1, "0": 0, "valid": 1, "invalid": 0, "true": 1, "false": 0}
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON ({e.msg})") from e
            label = rec.get("label") if isinstance(rec, dict) else None
            if not isinstance(rec, dict) or not isinstance(rec.get("text"), str) or str(label).lower() not in map(str, truthy):
                raise ValueError(f"{path}:{n}: needs a string 'text' and a 'label' of 1/0, true/false or valid/invalid")
            key = label.lower() if isinstance(label, str) else label
            out.append({"text": rec["text"], "label": truthy[key], "kind": "user", "subject": None, "id": None})
    return out


def held_out(rec: dict, share: float = 0.2) -> bool:
    """Stable train/test assignment by source id (the same item never lands on both sides)."""
    key = rec.get("id") or rec["text"]
    return zlib.crc32(key.encode("utf-8")) % 1000 < share * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description="Build the labelled fragment file from the public questions.")
    ap.add_argument("--public", type=Path, default=PUBLIC_QUESTIONS)
    ap.add_argument("--out", type=Path, default=SHIPPED)
    a = ap.parse_args()
    rows = build_fragments(a.public)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    a.out.write_bytes(gzip.compress(data, mtime=0))
    print(a.out, len(rows), "fragments", a.out.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
