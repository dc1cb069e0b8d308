"""Builds the shipped `web` sample: samples/library/web/{date}/part-0.jsonl for two dates.

A small crawl-like mix that exercises every text stage: Chinese and English prose, math help pages
built from public data (MathQA rationales, TAL-SCQ5K analyses, CMATH questions), exact and edited
copies for dedup, spam and boilerplate for the filters, and a few pages that contain benchmark test
items (GSM8K, MATH500, GAOKAO) so decontamination has real hits. `meta.sample_kind` labels each
page's role; `meta.attribution` names the public records a page quotes. Deterministic (seeded).

Run from the repo root: `python -m samples.build_web [--public DIR]`.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from samples import write_part

SEED = 20261121
DATES = ("2026-11-20", "2026-11-21")
OUT = Path(__file__).resolve().parent / "library" / "web"
PUBLIC = Path("/work/shared/data/public")

CITIES = ["Lisbon", "Kyoto", "Oaxaca", "Tallinn", "Hobart", "Porto", "Valparaiso", "Ljubljana"]
ZH_CITIES = ["成都", "大理", "泉州", "哈尔滨", "苏州", "西安", "青岛", "桂林"]
NAMES = ["Maya", "Tom", "Priya", "Lukas", "Aiko", "Daniel", "Sofia", "Omar"]
ZH_NAMES = ["小林", "王老师", "陈阿姨", "李同学", "赵师傅", "周医生", "刘编辑", "孙经理"]

EN_TOPICS = {
    "travel": (
        "{n} days in {city}: what we would do again",
        [
            "We arrived in {city} on a rainy {day} and spent the first afternoon walking without a map.",
            "The old town is small enough to cross on foot in about {k} minutes, which makes it easy to get lost on purpose.",
            "{name} insisted on taking the early tram, and it turned out to be the best decision of the trip.",
            "Most museums close on Mondays, so plan the long walks for that day instead.",
            "Street food stalls near the harbour open around six and sell out quickly on weekends.",
            "A three-day transit card cost us about {k} euros and paid for itself by the second evening.",
            "If you only have one morning, climb the hill behind the cathedral before the tour groups arrive.",
            "The guesthouse owner drew us a hand-made map of bakeries, and we tried {k2} of them.",
            "Bring shoes with a good grip: the cobblestones get slippery after even a light shower.",
            "We skipped the famous viewpoint and found a quieter terrace two streets further up.",
        ],
    ),
    "cooking": (
        "A weeknight {dish} that takes {k} minutes",
        [
            "This {dish} started as a way to use up the vegetables left at the end of the week.",
            "Toast the spices in a dry pan for about a minute, until they smell nutty but not burnt.",
            "{name} prefers it with extra lemon, which cuts through the richness of the sauce.",
            "You can prepare the base a day ahead; it tastes even better once the flavours settle.",
            "Salt the water generously and keep a cup of it before draining, it helps the sauce cling.",
            "If you do not have fresh herbs, a spoon of dried oregano added early works well enough.",
            "The recipe doubles easily, but use a wider pan so that everything browns instead of steaming.",
            "Leftovers keep for {k2} days in the fridge and reheat well with a splash of water.",
            "Taste before serving and adjust with salt, acid or a pinch of sugar until it feels balanced.",
            "Serve it with crusty bread or plain rice, whichever you have on hand.",
        ],
    ),
    "tech": (
        "Review: living with the {gadget} for {k} weeks",
        [
            "The {gadget} arrives in a compact box with a short cable and very little documentation.",
            "Setup took about {k2} minutes, most of it spent waiting for a firmware update.",
            "Battery life was the surprise: we averaged close to {k} hours of mixed use per charge.",
            "The companion app is functional but buries the most useful settings three menus deep.",
            "{name}, who tested it on a long commute, found the noise handling better than expected.",
            "Build quality feels solid, although the glossy finish picks up fingerprints immediately.",
            "Compared with last year's model, the screen is brighter and the speakers are clearer.",
            "There is no headphone jack, and the included adapter is easy to lose.",
            "For the price, it is hard to find a competitor that does as much without compromises.",
            "Our verdict: a sensible upgrade if your current device is more than three years old.",
        ],
    ),
    "garden": (
        "Notes from a small balcony garden, week {k}",
        [
            "The tomatoes finally set fruit after a stretch of warm nights.",
            "We moved the basil into a larger pot, and it doubled in size within {k2} days.",
            "Aphids showed up on the beans; a spray of soapy water kept them under control.",
            "{name} suggested mulching with straw, which has kept the soil noticeably cooler.",
            "Water early in the morning so the leaves dry before the midday sun.",
            "The strawberries in the hanging basket produced more runners than berries this year.",
            "A cheap moisture meter saved us from overwatering the rosemary again.",
            "Next season we will try climbing cucumbers on a string trellis along the railing.",
            "Compost from kitchen scraps takes about {k} weeks to be ready in a closed bin.",
            "Marigolds between the rows seem to keep some pests away, or at least they look cheerful.",
        ],
    ),
}

ZH_TOPICS = {
    "旅游": (
        "{city}{k}日游：本地人推荐的慢节奏路线",
        [
            "第一天抵达{city}时正赶上小雨，我们干脆放下行程表，在老城区随意走走。",
            "老街不长，从头走到尾大约{k}分钟，但每一条小巷都值得停下来看看。",
            "{name}建议早上七点前去早市，那时候人少，摊主也更愿意聊天。",
            "博物馆周一闭馆，安排行程时一定要提前确认开放时间。",
            "傍晚的河边有很多小吃摊，价格实惠，排队的大多是附近的居民。",
            "公共交通很方便，一张交通卡可以坐地铁和公交，三天下来花了不到{k2}元。",
            "如果只有半天时间，推荐先去城墙上骑一圈车，再去附近的茶馆坐坐。",
            "民宿老板手绘了一张美食地图，我们按图索骥，吃遍了{k2}家老字号。",
            "雨后的石板路比较滑，最好穿一双防滑的鞋子。",
            "离开那天我们又回到第一天路过的小面馆，老板居然还记得我们。",
        ],
    ),
    "美食": (
        "家常{dish}的做法：{k}分钟就能上桌",
        [
            "这道{dish}是我家餐桌上的常客，做法简单，失败率很低。",
            "先把食材切成大小均匀的块，这样受热一致，口感更好。",
            "{name}的秘诀是最后淋一勺热油，香味一下子就出来了。",
            "调味时先放盐，再根据口味加少许糖提鲜，不要一次放太多。",
            "火候很关键，大火快炒可以保持蔬菜的脆嫩。",
            "如果家里没有新鲜香料，用干辣椒和花椒代替也可以。",
            "做好的菜放凉后装进保鲜盒，冷藏可以保存{k2}天左右。",
            "配一碗白米饭或者一碗清汤，就是一顿完整的晚餐。",
            "孩子不吃辣的话，可以把辣椒换成彩椒，颜色也更好看。",
            "第一次做的时候可以少放一点酱油，尝过之后再慢慢调整。",
        ],
    ),
    "科技": (
        "{gadget}上手体验：用了{k}周之后的真实感受",
        [
            "{gadget}的包装很简洁，盒子里只有机身、一根数据线和一份简短的说明书。",
            "首次开机需要联网升级，整个设置过程大约花了{k2}分钟。",
            "续航是最大的惊喜，日常使用下一次充电可以坚持{k}个小时左右。",
            "配套的手机应用功能齐全，但一些常用设置藏得比较深。",
            "{name}在通勤路上测试了一周，认为降噪效果比预期要好。",
            "机身做工扎实，不过亮面外壳很容易留下指纹。",
            "和上一代产品相比，屏幕亮度更高，扬声器的声音也更清晰。",
            "唯一的遗憾是取消了耳机接口，附赠的转接头很容易弄丢。",
            "在这个价位上，很难找到功能同样完善的竞争产品。",
            "如果你手上的设备已经用了三年以上，这次升级是值得的。",
        ],
    ),
    "教育": (
        "家长来信：孩子{k}年级，数学总是粗心怎么办",
        [
            "很多家长反映孩子做题时经常看错数字、抄错符号，其实这是一个普遍现象。",
            "{name}的经验是让孩子每天做完作业后，自己用不同的方法验算一遍。",
            "粗心往往不是态度问题，而是审题习惯还没有养成。",
            "可以准备一个错题本，把每次出错的原因写下来，每周复习一次。",
            "做应用题时，先把已知条件和问题用笔圈出来，再开始列式。",
            "每天{k2}分钟的口算练习，坚持一个学期，计算的准确率会明显提高。",
            "不要在孩子做题时频繁打断，专注的时间比做题的数量更重要。",
            "考试前一晚保证充足的睡眠，比临时多做几道题更有效。",
            "适当的表扬能增强孩子的信心，但要具体地表扬他做对的方法。",
            "如果问题一直没有改善，可以和老师沟通，一起找到原因。",
        ],
    ),
}
DISHES = ["lentil soup", "chickpea curry", "tomato pasta", "fried rice", "vegetable stew"]
ZH_DISHES = ["番茄炒蛋", "麻婆豆腐", "红烧茄子", "酸辣土豆丝", "蒜蓉西兰花"]
GADGETS = ["Aurora X2 earbuds", "Nimbus 7 tablet", "Kestrel smartwatch", "Orbit e-reader"]
ZH_GADGETS = ["星河X2无线耳机", "云帆7平板电脑", "青鸟智能手表", "墨舟电子书阅读器"]
DAYS = ["Monday", "Tuesday", "Thursday", "Saturday"]

MENU = ["Home", "News", "Products", "Solutions", "Support", "Blog", "About us", "Contact", "Login", "Register"]
ZH_MENU = ["首页", "新闻中心", "产品展示", "解决方案", "客户服务", "关于我们", "联系我们", "登录", "注册", "网站地图"]


def _attr(rec: dict) -> dict:
    keys = ("id", "source_repo", "source_path", "source_commit", "license")
    return {k: rec[k] for k in keys}


def _fill(rng: random.Random, s: str, zh: bool) -> str:
    return s.format(
        city=rng.choice(ZH_CITIES if zh else CITIES),
        name=rng.choice(ZH_NAMES if zh else NAMES),
        dish=rng.choice(ZH_DISHES if zh else DISHES),
        gadget=rng.choice(ZH_GADGETS if zh else GADGETS),
        day=rng.choice(DAYS),
        n=rng.randint(2, 6),
        k=rng.randint(3, 40),
        k2=rng.randint(2, 9),
    )


def article(rng: random.Random, zh: bool, used: dict) -> tuple[str, str, str]:
    """(title, text, topic): 4-5 sentences of one topic in 2 paragraphs. A draw that shares more than
    two sentences with an earlier article of the topic is redrawn: no accidental near-duplicates."""
    topics = ZH_TOPICS if zh else EN_TOPICS
    topic = rng.choice(sorted(topics))
    title_tpl, pool = topics[topic]
    earlier = used.setdefault((zh, topic), [])
    for _ in range(200):
        picked = rng.sample(range(len(pool)), k=rng.randint(4, 5))
        if all(len(set(picked) & e) <= 2 for e in earlier):
            break
    earlier.append(set(picked))
    half = rng.randint(2, len(picked) - 2)
    sep = "" if zh else " "
    paragraphs = [sep.join(_fill(rng, pool[i], zh) for i in part) for part in (picked[:half], picked[half:])]
    return _fill(rng, title_tpl, zh), "\n\n".join(paragraphs), topic


def math_page_en(rng: random.Random, rec: dict) -> tuple[str, str]:
    rationale = rec["rationale"].strip('"').replace(" .", ".").replace(" ,", ",")
    intro = rng.choice(
        [
            "A reader sent us this practice question from an aptitude test book.",
            "Here is today's quick quantitative puzzle, with a worked answer below.",
            "Interview prep, part {k}: a ratio and percentage question we see a lot.".format(k=rng.randint(2, 20)),
        ]
    )
    text = (
        f"{intro}\n\nQuestion: {rec['problem'].strip()}\nOptions: {rec['options']}\n\n"
        f"Worked answer: {rationale}\n\nTry the next one on your own before checking the solution."
    )
    return f"Practice question #{rng.randint(100, 999)}", text


def math_page_zh(rng: random.Random, rec: dict) -> tuple[str, str]:
    intro = rng.choice(["今天分享一道小学奥数练习题，附详细解析。", "有家长问到这道题，我们整理了解题思路。", "每日一练：先独立思考，再看解析。"])
    opts = "  ".join(rec["options"] or [])
    text = f"{intro}\n\n题目：{rec['question'].strip()}\n{opts}\n\n解析：{(rec['analysis'] or '').strip()}\n\n答案：{rec['answer']}"
    return f"每日一练第{rng.randint(10, 300)}期", text


def drills_zh(rng: random.Random, recs: list[dict]) -> tuple[str, str]:
    lines = [f"{i}. {r['question'].strip()}" for i, r in enumerate(recs, 1)]
    answers = "；".join(f"{i}. {r['answer']}" for i, r in enumerate(recs, 1))
    text = "一年级到六年级口算应用题精选，适合周末在家练习。\n\n" + "\n".join(lines) + f"\n\n参考答案：{answers}"
    return f"小学数学应用题{len(recs)}道（附答案）", text


def spam(rng: random.Random, kind: str) -> tuple[str, str]:
    if kind == "symbol_soup":
        syms = "★☆◆◇■□▲△●○※§¥$€#@%&*+=~|<>^"
        junk = [
            "".join(rng.choice(syms) for _ in range(rng.randint(8, 30))) + rng.choice([" WIN ", " 领取 ", " free ", " 点击 ", " $$$ "])
            for _ in range(rng.randint(15, 30))
        ]
        return "★★★ BIG PRIZE ★★★", "\n".join(junk)
    if kind == "repeated_lines":
        line = rng.choice(
            ["Buy cheap watches online now!!! Best price guaranteed.", "最新电影免费在线观看，高清无广告，点击进入！", "Click here to claim your reward today."]
        )
        return line[:30], "\n".join([line] * rng.randint(25, 45))
    if kind == "boilerplate_menu":
        menu = ZH_MENU if rng.random() < 0.5 else MENU
        body = "\n".join(menu) + "\n" + " | ".join(menu) + "\n"
        footer = "Copyright © 2026 All rights reserved. 备案号：京ICP备000000号\nPrivacy Policy | Terms of Use | Cookie Settings"
        return "Welcome", body + "\n".join(["Loading...", "Please enable JavaScript to view this page.", footer] * 3)
    if kind == "keyword_stuffing":
        words = ["免费下载", "破解版", "最新版", "官方正版", "绿色版", "无毒", "高速下载", "安卓版"]
        return "免费下载破解版", " ".join(rng.choice(words) for _ in range(rng.randint(120, 200)))
    if kind == "digit_table":
        rows = [" ".join(f"{rng.randint(0, 99999):05d}" for _ in range(10)) for _ in range(rng.randint(20, 40))]
        return "lottery results", "\n".join(rows)
    raise ValueError(kind)


def edit_copy(rng: random.Random, text: str, zh: bool) -> str:
    """A near duplicate: one sentence changed, a few words swapped, a footer added."""
    swaps = [("我们", "我"), ("可以", "能"), ("非常", "很")] if zh else [(" we ", " I "), (" very ", " really "), (" about ", " around ")]
    for a, b in rng.sample(swaps, k=2):
        text = text.replace(a, b, 1)
    footer = "\n\n（转载）" if zh else "\n\n(Updated.)"
    return text + footer


def contaminated(rng: random.Random, kind: str, rec: dict) -> tuple[str, str]:
    if kind == "gsm8k_forum":
        q = rec["question"]
        return "Homework help: word problem check", (
            "Posted in Homework Help by a parent.\n\nMy kid brought this home and we disagree on the answer. "
            f"Can someone walk us through it?\n\n{q}\n\nReply: Write down what you know first, then work out "
            "each quantity step by step. Check the units at the end and you should get a whole number."
        )
    if kind == "gsm8k_edited":
        q = rec["question"].replace("How many", "So, how many").replace("How much", "So, how much")
        return "Teacher's corner: this week's warm-up", (
            "Teacher's corner. Warm-up for the week, slightly reworded from a worksheet:\n\n"
            f"{q}\n\nAsk the class to explain their reasoning out loud before anyone writes an equation."
        )
    if kind == "math500_blog":
        return "Problem of the week", (
            "Problem of the week. This one comes up in competition prep circles, and it rewards a clean setup.\n\n"
            f"{rec['problem']}\n\nPost your approach in the comments; the full solution goes up next Friday."
        )
    if kind == "gaokao_page":
        return f"{rec['year']}年高考真题{rec['paper'] or ''}精选解析", (
            f"{rec['year']}年高考真题精选，附答案与解析，供同学们复习参考。\n\n{rec['question'].strip()}\n\n"
            f"【答案】{rec['answer']}\n\n【解析】{(rec['analysis'] or '').strip()}"
        )
    raise ValueError(kind)


def load(public: Path, name: str) -> list[dict]:
    with open(public / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def build(public: Path = PUBLIC, out: Path = OUT) -> dict[str, int]:
    rng = random.Random(SEED)
    mathqa = load(public, "mathqa_test_sample.jsonl")
    exam = load(public, "zh_exam_questions.jsonl")
    tal = [r for r in exam if "TAL-SCQ5K" in r["source_repo"] and r["analysis"]]
    cmath = [r for r in exam if "cmath" in r["source_repo"]]
    gaokao = [r for r in exam if "GAOKAO-Bench" in r["source_repo"] and r["subject"] == "数学" and r["analysis"] and len(r["question"]) > 80]
    gsm8k = load(public, "gsm8k_test_sample.jsonl")
    math500 = [r for r in load(public, "math500.jsonl") if len(r["problem"]) > 150]
    plan = {
        DATES[0]: {"contaminated": ["gsm8k_forum", "math500_blog"], "spam": ["symbol_soup", "repeated_lines", "boilerplate_menu", "digit_table"]},
        DATES[1]: {"contaminated": ["gaokao_page", "gsm8k_edited"], "spam": ["keyword_stuffing", "repeated_lines", "boilerplate_menu", "symbol_soup"]},
    }
    counts, carried, used = {}, None, {}
    for date in DATES:
        docs: list[dict] = []

        def add(kind, title, text, lang, attribution=None, site="example.org", url=None):
            n = len(docs)
            rec = {"id": f"web-{date}-{n:03d}", "title": title, "text": text, "url": url or f"https://{site}/{date}/{n:03d}.html"}
            rec.update({"lang": lang, "crawl_date": date, "sample_kind": kind})
            if attribution:
                rec["attribution"] = attribution
            docs.append(rec)
            return rec

        for i in range(28):
            zh = i % 2 == 1
            title, text, _topic = article(rng, zh, used)
            add("article", title, text, "zh" if zh else "en", site="blog.example.cn" if zh else "blog.example.com")
        for _ in range(5):
            rec = rng.choice(mathqa)
            add("math_help", *math_page_en(rng, rec), "en", [_attr(rec)], site="quant.example.com")
        for _ in range(5):
            rec = rng.choice(tal)
            add("math_help", *math_page_zh(rng, rec), "zh", [_attr(rec)], site="aoshu.example.cn")
        recs = rng.sample(cmath, k=rng.randint(6, 10))
        add("math_help", *drills_zh(rng, recs), "zh", [_attr(r) for r in recs], site="xiaoxue.example.cn")
        for kind in plan[date]["contaminated"]:
            src = {"gsm8k_forum": gsm8k, "gsm8k_edited": gsm8k, "math500_blog": math500, "gaokao_page": gaokao}[kind]
            rec = rng.choice(src)
            lang = "zh" if kind == "gaokao_page" else "en"
            add("contaminated_" + kind, *contaminated(rng, kind, rec), lang, [_attr(rec)], site="forum.example.net")
        for kind in plan[date]["spam"]:
            add("spam_" + kind, *spam(rng, kind), "mixed", site="spam.example.biz")
        add("too_short", "404", "Page not found.", "en")
        add("too_short", "提示", "该页面已删除。", "zh")
        originals = [d for d in docs if d["sample_kind"] in ("article", "math_help")]
        for d in rng.sample(originals, k=6):
            add("near_duplicate", d["title"], edit_copy(rng, d["text"], d["lang"] == "zh"), d["lang"], d.get("attribution"), site="mirror.example.info")
        for d in rng.sample(originals, k=4):
            add("exact_duplicate", d["title"], d["text"], d["lang"], d.get("attribution"), site="copy.example.info")
        if carried:  # a page first seen on the previous date, crawled again under a new URL
            add("exact_duplicate_across_dates", carried["title"], carried["text"], carried["lang"], carried.get("attribution"), site="again.example.com")
        carried = originals[0]
        rng.shuffle(docs)
        write_part(out / date, docs)
        counts[date] = len(docs)
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--public", type=Path, default=PUBLIC, help="folder with the public data copies")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    for date, n in build(args.public, args.out).items():
        print(f"{args.out / date / 'part-0.jsonl'}: {n} documents")


if __name__ == "__main__":
    main()
