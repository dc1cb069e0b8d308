"""Demo label sets for the document classifiers (config/classifiers.yaml), built deterministically
from real text: the shipped sample library (samples/library) and the public data under
/work/shared/data/public (see its SOURCES.md). DEMO LABELS, NOT A PRODUCTION MODEL: see
samples/labels/README.md.

    python -m samples.build_labels     # -> samples/labels/{toxicity,pornography,advertisement,incoherent}.jsonl.gz
"""
from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "labels"
PUBLIC = Path("/work/shared/data/public")
PER_CLASS = 400
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


def real_texts() -> list[str]:
    """Real documents: the sample library's records and public questions/solutions (zh and en)."""
    texts = []
    for path in sorted((HERE / "library").glob("*/*/*.jsonl*")):
        for rec in _read_jsonl(path) if "broken" not in path.name else []:
            if isinstance(rec.get("text"), str):
                texts.append(rec["text"])
    for rec in _read_jsonl(PUBLIC / "zh_exam_questions.jsonl"):
        texts.append((rec.get("question") or "") + "\n" + (rec.get("analysis") or ""))
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


def _lexicon_doc(rng, snippet, templates, zh, en) -> str:
    words = zh if re.search(r"[\u4e00-\u9fff]", snippet) and rng.random() < 0.7 else en
    return rng.choice(templates).format(s=snippet, w=rng.choice(words), w2=rng.choice(words))


def _ad_doc(rng, snippet) -> str:
    ad = rng.choice(AD_TEMPLATES).format(p=rng.choice(PRODUCTS_ZH), q=rng.choice(PRODUCTS_EN), a=rng.randint(20, 90),
                                         b=rng.randint(1, 19), n=rng.randint(10, 99))
    where = rng.random()
    return f"{ad}\n{snippet}" if where < 0.4 else f"{snippet}\n{ad}" if where < 0.8 else f"{ad}\n{snippet}\n{ad}"


def _incoherent_doc(rng, texts) -> str:
    """Half shuffled sentences of one document, half fragments of 3-5 documents stitched together."""
    if rng.random() < 0.5:
        for _ in range(20):
            sents = _sentences(window(rng.choice(texts), rng, 200, 900))
            if len(sents) >= 4:
                order = list(range(len(sents)))
                while order == sorted(order):
                    rng.shuffle(order)
                return "".join(sents[i] + ("" if re.search(r"[\u4e00-\u9fff]$", sents[i][:-1] or "x") else " ") for i in order).strip()
    pieces = []
    for _ in range(rng.randint(3, 5)):
        t = rng.choice(texts)
        a = rng.randrange(0, max(len(t) - 60, 1))
        pieces.append(t[a : a + rng.randint(30, 150)])
    return rng.choice(["", " ", "\n"]).join(pieces)


def build(seed: int = 0) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    texts = real_texts()
    sets = {}
    makers = {
        "toxicity": ("toxic", lambda s: _lexicon_doc(rng, s, TOXIC_TEMPLATES, INSULTS_ZH, INSULTS_EN)),
        "pornography": ("porn", lambda s: _lexicon_doc(rng, s, PORN_TEMPLATES, PORN_ZH, PORN_EN)),
        "advertisement": ("ad", lambda s: _ad_doc(rng, s)),
        "incoherent": ("incoherent", lambda s: _incoherent_doc(rng, texts)),
    }
    for name, (label, make) in makers.items():
        rows = [{"text": make(window(rng.choice(texts), rng)), "label": label, "origin": "built"} for _ in range(PER_CLASS)]
        clean = "coherent" if name == "incoherent" else "clean"
        rows += [{"text": window(rng.choice(texts), rng, 200 if name == "incoherent" else 80), "label": clean, "origin": "real"} for _ in range(PER_CLASS)]
        rng.shuffle(rows)
        sets[name] = rows
    return sets


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, rows in build().items():
        with gzip.GzipFile(OUT / f"{name}.jsonl.gz", "wb", mtime=0) as f:
            f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8"))
        print(f"{name}: {len(rows)} rows -> {OUT / f'{name}.jsonl.gz'}")


if __name__ == "__main__":
    main()
