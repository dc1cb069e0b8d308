"""Demo label sets for the document classifiers (config/classifiers.yaml), built deterministically
from real text: the shipped sample library (samples/library) and the public data under
/work/shared/data/public (see its SOURCES.md). DEMO LABELS, NOT A PRODUCTION MODEL: see
samples/labels/README.md.

Every positive is paired with its own real piece as the negative, bare or (toxicity, pornography) in
the same template with harmless words (same `group`, so both land on the same side of the held-out
split): the piece and the template then say nothing about the label and a model can only learn what
was added (the listed words, the ad, the shuffling). Without the pairs the small models learnt
which real pieces happened to be drawn as positives, and dropped 69 of the sample library's 342
clean documents as toxic or pornographic. Half the pieces come from the sample library, so its kinds
of documents (notices, plans, manuals, reviews, patents) are seen as negatives; a fifth of its
documents (`library_held_out`) is never used, to measure false positives on documents no label saw.

    python -m samples.build_labels     # -> samples/labels/{toxicity,pornography,advertisement,incoherent}.jsonl.gz
"""
from __future__ import annotations

import gzip
import json
import random
import re
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "labels"
PUBLIC = Path("/work/shared/data/public")
# (negative, positive) pairs per set: fastText trains on 2,000 rows in seconds; the encoder (advertisement)
# takes about 2 min on 800 rows on a CPU; the n-gram incoherence model, which sees n-grams and not sentence
# order, tagged more clean sample documents with more pairs (73 of 342 at 1,000 vs 27 at 400, an earlier build).
PAIRS = {"toxicity": 1000, "pornography": 1000, "advertisement": 400, "incoherent": 400}
SENTENCE = re.compile(r"(?<=[。！？!?；;])|(?<=\.)\s+")

# Small hand-written lexicons (mild on purpose): a model trained on these learns the lexicon, nothing more.
INSULTS_ZH = ["白痴", "蠢货", "废物", "脑残", "混蛋", "滚蛋", "垃圾东西", "傻瓜", "贱人", "去死吧"]
INSULTS_EN = ["idiot", "moron", "stupid loser", "shut up", "worthless trash", "you pathetic fool", "go to hell", "dumb jerk", "I hate you", "scumbag"]
TOXIC_TEMPLATES = ["你这个{w}，{s}", "{s} 说这种话的人都是{w}，{w2}！", "{s} 楼主就是个{w}。", "What an {w}. {s}",
                   "{s} Only a {w} would write this, {w2}.", "Hey {w}, {s} {w2}!", "{s}\n——{w}，{w2}。"]
PORN_ZH = ["色情视频", "成人影片", "裸聊", "约炮", "黄色网站", "激情视频", "一夜情", "无码高清", "情色直播", "性爱视频"]
PORN_EN = ["porn videos", "xxx movies", "nude girls", "live sex cams", "adult video", "hookup tonight", "explicit nudes", "hot naked chat", "hardcore sex", "onlyfans leaks"]
PORN_TEMPLATES = ["免费观看{w}，{w2}每日更新。{s}", "{s} 想看{w}？点击进入{w2}专区。", "{s}\n【{w}】【{w2}】",
                  "Watch free {w} and {w2} now. {s}", "{s} Click here for {w}, {w2} 18+ only.", "{s} | {w} | {w2}"]
# Harmless words for the same templates: half the negatives are the piece in a template with these, so
# the template's own words ("Only a ... would write this", "免费观看…每日更新") say nothing about the label.
NEUTRAL_ZH = ["老师", "同学", "朋友", "家长", "学生", "作者", "读者", "邻居", "班长", "大家"]
# The English ones share the insults' common words ("you", "up", "go to"), so those words alone say nothing.
NEUTRAL_EN = ["teacher", "student", "friend", "reader", "parent", "classmate", "good question", "thank you", "cheer up",
              "go to school", "I miss you", "you lucky one"]
SHOWS_ZH = ["公开课", "教学视频", "纪录片", "新闻直播", "高清电影", "体育比赛", "美食视频", "旅游攻略", "音乐会", "动画片"]
SHOWS_EN = ["cooking videos", "news clips", "math lessons", "travel vlogs", "live sports", "music videos", "movie trailers",
            "nature documentaries", "study guides", "podcasts"]
PRODUCTS_ZH = ["减肥茶", "祛斑霜", "理财课程", "二手手机", "考研资料", "保健品", "学区房", "代写论文服务", "高仿名表", "网络贷款"]
PRODUCTS_EN = ["weight-loss pills", "crypto course", "designer watches", "cheap flights", "SEO service", "anti-aging cream", "payday loans", "VPN subscription"]
AD_TEMPLATES = [
    "限时特惠！{p}原价{a}元，现在只要{b}元，点击链接立即抢购：http://buy{n}.example.cn",
    "加微信 wx{n}{n} 领取{p}优惠券，前100名再送豪礼！",
    "【广告】{p}厂家直销，全国包邮，咨询热线 400-{n}{n}-{n}{n}",
    "Limited offer: {q} only ${b}! Click here to buy now: https://deal{n}.example.com",
    "BEST PRICE on {q} — save {a}% today only. Free shipping, order now!",
    "Sponsored: try {q} free for 30 days, sign up at www.promo{n}.example.net",
]


def _read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def library_held_out(doc_id: str) -> bool:
    """A fifth of the sample library's documents, by id, that no label set uses (salted apart from the
    training split's `held_out`)."""
    return zlib.crc32(f"labels-holdout|{doc_id}".encode()) % 5 == 0


def library_texts() -> tuple[list[str], list[str]]:
    """The sample library's documents: (the ones labels may use, the held-out fifth)."""
    used, apart = [], []
    for path in sorted((HERE / "library").glob("*/*/*.jsonl*")):
        for rec in _read_jsonl(path) if "broken" not in path.name else []:
            if isinstance(rec.get("text"), str) and len(rec["text"].strip()) >= 80:
                (apart if library_held_out(str(rec.get("id"))) else used).append(rec["text"].strip())
    return used, apart


class Pieces:
    """Random pieces of real text, none of which occurs in a held-out library document (the library's
    papers reuse public questions and hold near-copies, so being drawn from another text is not enough)."""

    def __init__(self, rng: random.Random, apart: list[str]):
        self.rng, self.apart = rng, apart

    def fresh(self, piece: str) -> bool:
        return not any(piece in doc for doc in self.apart)

    def window(self, texts: list[str], lo: int = 80, hi: int = 600) -> str:
        while not self.fresh(piece := window(self.rng.choice(texts), self.rng, lo, hi)):
            pass
        return piece

    def slice(self, texts: list[str], lo: int, hi: int) -> tuple[str, str]:
        """(text, a raw slice of it) for a random text."""
        while True:
            text = self.rng.choice(texts)
            a = self.rng.randrange(0, max(len(text) - 60, 1))
            if self.fresh(piece := text[a : a + self.rng.randint(lo, hi)]):
                return text, piece


def public_texts() -> list[str]:
    """Public questions and solutions (zh and en)."""
    texts = [(rec.get("question") or "") + "\n" + (rec.get("analysis") or "") for rec in _read_jsonl(PUBLIC / "zh_exam_questions.jsonl")]
    texts += [r["question"] + "\n" + r["answer"] for r in _read_jsonl(PUBLIC / "gsm8k_test_sample.jsonl")]
    texts += [r["problem"] + "\n" + r["solution"] for r in _read_jsonl(PUBLIC / "math500.jsonl")]
    return [t.strip() for t in texts if len(t.strip()) >= 80]


def window(text: str, rng: random.Random, lo: int = 80, hi: int = 600) -> str:
    """A piece of a real document cut at sentence ends where possible."""
    if len(text) <= hi:
        return text
    start = rng.randrange(0, len(text) - lo)
    piece = text[start : start + rng.randint(lo, hi)]
    parts = [p for p in SENTENCE.split(piece) if p]
    return "".join(parts[1:-1]).strip() if len(parts) > 3 else piece.strip()


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE.split(text) if s and s.strip()]


def _lexicon_pair(rng, snippet, templates, lexicon, neutral) -> tuple[str, str]:
    """(negative, positive): the piece in a template with listed words; the negative is the bare piece or,
    half the time, the same template with harmless words."""
    zh = re.search(r"[\u4e00-\u9fff]", snippet) and rng.random() < 0.7
    template = rng.choice(templates)

    def fill(words: list[str]) -> str:
        return template.format(s=snippet, w=rng.choice(words), w2=rng.choice(words))

    positive = fill(lexicon[0] if zh else lexicon[1])
    return (fill(neutral[0] if zh else neutral[1]) if rng.random() < 0.5 else snippet), positive


def _ad_doc(rng, snippet) -> str:
    ad = rng.choice(AD_TEMPLATES).format(p=rng.choice(PRODUCTS_ZH), q=rng.choice(PRODUCTS_EN), a=rng.randint(20, 90),
                                         b=rng.randint(1, 19), n=rng.randint(10, 99))
    where = rng.random()
    return f"{ad}\n{snippet}" if where < 0.4 else f"{snippet}\n{ad}" if where < 0.8 else f"{ad}\n{snippet}\n{ad}"


def _join(sents: list[str], order) -> str:
    """Sentences in `order`: Chinese ones run together, others get a space."""
    return "".join(sents[i] + ("" if re.search(r"[\u4e00-\u9fff]$", sents[i][:-1] or "x") else " ") for i in order).strip()


def _incoherent_pair(rng, pieces: Pieces, texts) -> tuple[str, str]:
    """(coherent, incoherent): a piece's sentences in order and shuffled, or a contiguous piece of one
    document and fragments of 3-5 documents (that one first) stitched together, of about the same length."""
    if rng.random() < 0.5:
        for _ in range(20):
            sents = _sentences(pieces.window(texts, 200, 900))
            if len(sents) >= 4:
                order = list(range(len(sents)))
                while order == sorted(order):
                    rng.shuffle(order)
                return _join(sents, range(len(sents))), _join(sents, order)
    while True:
        first, head = pieces.slice(texts, 30, 150)
        stitched = rng.choice(["", " ", "\n"]).join([head] + [pieces.slice(texts, 30, 150)[1] for _ in range(rng.randint(2, 4))])
        a = rng.randrange(0, max(len(first) - len(stitched), 1))
        if pieces.fresh(coherent := first[a : a + len(stitched)].strip()):
            return coherent, stitched


def build(seed: int = 0) -> dict[str, list[dict]]:
    """PAIRS[set] (negative, positive) pairs per set, each pair one `group`; pieces half from the sample library."""
    rng = random.Random(seed)
    used, apart = library_texts()
    pools, pieces = (used, public_texts()), Pieces(rng, apart)
    sets = {}
    makers = {  # set -> (positive label, piece -> (negative, positive))
        "toxicity": ("toxic", lambda s: _lexicon_pair(rng, s, TOXIC_TEMPLATES, (INSULTS_ZH, INSULTS_EN), (NEUTRAL_ZH, NEUTRAL_EN))),
        "pornography": ("porn", lambda s: _lexicon_pair(rng, s, PORN_TEMPLATES, (PORN_ZH, PORN_EN), (SHOWS_ZH, SHOWS_EN))),
        "advertisement": ("ad", lambda s: (s, _ad_doc(rng, s))),
    }
    for name, (label, make) in makers.items():
        rows = []
        for i in range(PAIRS[name]):
            piece = pieces.window(pools[i % 2])
            negative, positive = make(piece)
            rows += [{"text": negative, "label": "clean", "origin": "real" if negative == piece else "built", "group": f"{name}-{i}"},
                     {"text": positive, "label": label, "origin": "built", "group": f"{name}-{i}"}]
        rng.shuffle(rows)
        sets[name] = rows
    rows = []
    for i in range(PAIRS["incoherent"]):
        coherent, incoherent = _incoherent_pair(rng, pieces, pools[i % 2])
        rows += [{"text": coherent, "label": "coherent", "origin": "real", "group": f"incoherent-{i}"},
                 {"text": incoherent, "label": "incoherent", "origin": "built", "group": f"incoherent-{i}"}]
    rng.shuffle(rows)
    sets["incoherent"] = rows
    return sets


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, rows in build().items():
        with gzip.GzipFile(OUT / f"{name}.jsonl.gz", "wb", mtime=0) as f:
            f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8"))
        print(f"{name}: {len(rows)} rows -> {OUT / f'{name}.jsonl.gz'}")


if __name__ == "__main__":
    main()
