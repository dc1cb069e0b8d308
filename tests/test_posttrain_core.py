"""Post-training logic over known responses: scoring + selection, RFT diversity, DPO pairing, self-instruct.

A scripted engine answers each prompt by a marker in it, so every kept and dropped item is known.
"""
import json
from collections import Counter

import polars as pl
import pytest

from corpus_dag.llm.cache import ResponseCache
from corpus_dag.llm.engines import Completion
from corpus_dag.posttrain.critique import critique_fragment, parse_critique
from corpus_dag.posttrain.dpo import DpoCfg, pair_paths
from corpus_dag.posttrain.rft import RftCfg, diverse_paths, histogram
from corpus_dag.posttrain.select import HARD, SelectCfg
from corpus_dag.posttrain.self_instruct import SelfInstructCfg, SimilarityFilter, area_of, instruction_place, parse_problems
from corpus_dag.posttrain.stage import (
    SCORED_SCHEMA,
    RftSampler,
    ScoreCfg,
    Scorer,
    SelfInstructor,
    make_pairs,
    question_batches,
    seed_tasks,
    stream_scored_paths,
)
from corpus_dag.rebuild.equivalence import AnswerJudge
from corpus_dag.rebuild.sandbox import SandboxCfg
from corpus_dag.rebuild.sft import SftCfg, user_turn
from corpus_dag.rebuild.stage import REBUILT_SCHEMA, VERIFIED_SCHEMA, RebuildCfg, Rebuilder
from corpus_dag.storage import CorpusStore, PartitionData


class ScriptedEngine:
    """Answers each request with the first scripted reply whose marker occurs in the last message
    (a list of replies: the one at the request's sample index)."""

    model = "scripted"

    def __init__(self, script: dict[str, str]):
        self.script, self.prompts = script, 0

    def start(self):
        pass

    def generate(self, requests, sampling):
        self.prompts += len(requests)
        out = []
        for r in requests:
            text = r.messages[-1]["content"]
            reply = next(v for k, v in self.script.items() if k in text)
            out.append(Completion(reply[r.sample_idx] if isinstance(reply, list) else reply, 100, 20, 0.01))
        return out

    def cost(self, tokens_in, tokens_out, seconds):
        return {"api_usd": 0.0}


def path(qid, i, answer, program, program_answer, cot, valid=True):
    return {"item_id": f"{qid}-s{i}", "question_id": qid, "prompt_version": "kp_cot_pot.v1", "model": "gen",
            "sample_idx": i, "valid": valid, "knowledge_points": ["加法"], "question": "2 加 2 等于几？", "cot": cot,
            "cot_answer": answer, "program": program, "program_answer": program_answer, "exec_status": "ok",
            "agree": answer == program_answer, "equivalence_tier": "normalised", "tokens_in": 1, "tokens_out": 1, "latency_s": 0.0}


PATHS = pl.DataFrame(
    [
        path("q1", 0, "4", "print(2 + 2)", "4", "[A] 2+2=4"),
        path("q1", 1, "4", "a = 2\nb = 2\nprint(a * b)", "4", "[B] 2*2=4"),
        path("q1", 2, "5", "print(2 + 2)", "4", "[C] 2+2=5"),
        path("q1", 3, "4.2", "print(4.2)", "4.2", "[D] 约等于 4.2"),
        path("q1", 4, None, None, None, None, valid=False),
        path("q2", 0, "7", "print(7)", "7", "[E] 7"),
    ],
    schema=REBUILT_SCHEMA,
)
CRITIQUES = {
    "[A]": json.dumps({"steps": [{"verdict": "correct", "comment": "对"}], "correct": True, "score": 9}),
    "[B]": "步骤1：正确，乘法也可\n结论：正确\n评分：7/10",  # the markdown fallback
    "[C]": json.dumps({"steps": [{"verdict": "incorrect", "comment": "算错"}], "correct": False, "score": 3}),
    "[D]": json.dumps({"steps": [], "correct": False, "score": 8}),
}


def scored_paths(split) -> pl.DataFrame:
    """What RFT and DPO read, in memory (how they read it before streaming): both files, by question then sample."""
    both = pl.concat([split.kept.with_columns(pl.lit(None, pl.String).alias("reason")), split.dropped])
    return both.rename({"reason": "scored_reason"}).sort("question_id", "sample_idx", maintain_order=True)


@pytest.fixture
def scored(tmp_path):
    judge = ScriptedEngine(CRITIQUES)
    cache = ResponseCache(CorpusStore(str(tmp_path)), "judge")
    with AnswerJudge() as answers:
        scorer = Scorer(judge, cache, answers, ScoreCfg(select=SelectCfg(top_m=1, min_critique=6)))
        split = scorer.score(PATHS, {"q1": "4"})
        again = Scorer(judge, cache, answers, ScoreCfg(select=SelectCfg(top_m=1, min_critique=6))).score(PATHS, {"q1": "4"})
    return split, scorer, judge, again


def test_scoring_keeps_the_top_path_by_score_and_tags_hard_questions(scored):
    split, scorer, judge, again = scored
    assert split.kept["item_id"].to_list() == ["q1-s0"]
    reasons = dict(zip(split.dropped["item_id"], split.dropped["reason"]))
    assert reasons == {"q1-s1": "below_top_m — rank 2 > 1", "q1-s2": "wrong_answer", "q1-s3": "wrong_answer",
                       "q1-s4": "invalid_response", "q2-s0": "no_reference"}
    rows = {r["item_id"]: r for r in pl.concat([split.kept, split.dropped.drop("reason")]).to_dicts()}
    assert rows["q1-s1"]["critique_mode"] == "markdown" and rows["q1-s1"]["critique_score"] == 7.0
    assert rows["q1-s2"]["program_correct"] and not rows["q1-s2"]["correct"]
    assert rows["q1-s0"]["difficulty"] == HARD and rows["q1-s0"]["correct_share"] == 0.4  # 2 of 5 correct
    assert split.kept.schema == pl.Schema(SCORED_SCHEMA)
    assert scorer.stats.prompts_sent == 4 and scorer.scores == Counter({9.0: 1, 7.0: 1, 3.0: 1, 8.0: 1})
    assert judge.prompts == 4 and again.kept.equals(split.kept)  # the second scorer found every critique cached


def test_critique_cut_drops_a_top_path_below_the_absolute_score(tmp_path):
    with AnswerJudge() as answers:
        split = Scorer(ScriptedEngine(CRITIQUES), ResponseCache(CorpusStore(str(tmp_path)), "j"), answers,
                       ScoreCfg(select=SelectCfg(top_m=2, min_critique=8))).score(PATHS, {"q1": "4"})
    assert split.kept["item_id"].to_list() == ["q1-s0"]
    assert dict(zip(split.dropped["item_id"], split.dropped["reason"]))["q1-s1"] == "critique_below_min — 7 < 8"


def test_dpo_prefers_hard_contrasts_and_records_the_pair_type(scored):
    split = scored[0]
    paths = scored_paths(split)
    types = Counter()
    pairs = make_pairs(paths, DpoCfg(max_pairs=3, min_chosen_score=6, precision_rel=0.1), SftCfg(system="sys"), types)
    got = [(r["chosen_item_id"], r["rejected_item_id"], r["pair_type"]) for r in pairs.kept.to_dicts()]
    assert got == [("q1-s0", "q1-s2", "cot_wrong_pot_right"), ("q1-s1", "q1-s3", "precision")]
    assert types == Counter({"cot_wrong_pot_right": 1, "precision": 1})
    first = pairs.kept.row(0, named=True)
    assert [m["role"] for m in first["prompt"]] == ["system", "user"] and first["chosen"][0]["role"] == "assistant"
    assert "print(2 + 2)" in first["chosen"][0]["content"] and "运行结果：4" in first["chosen"][0]["content"]
    assert pairs.dropped.to_dicts() == [{"question_id": "q2", "paths": 1, "correct_paths": 0,
                                         "reason": "no_chosen — no correct path scoring >= min_chosen_score"}]


def test_a_group_material_reaches_the_judge_and_the_dpo_prompt(scored):
    """A question of a material group: the critique and the DPO user turn start with its material;
    an ordinary question's texts are unchanged (their cache keys too)."""
    path = {"cot": "2+2=4", "program": None, "program_answer": None, "cot_answer": "4"}
    plain = critique_fragment("求和", "4", path)
    assert critique_fragment("求和", "4", path | {"context": None}) == plain and "材料" not in plain
    assert critique_fragment("求和", "4", path | {"context": "表一"}) == plain.replace("题目：\n求和", "题目：\n材料：表一\n\n求和")
    paths = scored_paths(scored[0]).with_columns(context=pl.lit("表一"))
    pairs = make_pairs(paths, DpoCfg(max_pairs=3, min_chosen_score=6, precision_rel=0.1), SftCfg(), Counter())
    assert all(p["prompt"][-1]["content"].startswith("材料：表一\n\n") for p in pairs.kept.to_dicts())


def test_pair_paths_falls_back_to_easy_and_close_scores():
    base = {"valid": True, "reference_answer": "10", "program_correct": False}
    rows = [
        {**base, "item_id": "a", "correct": True, "critique_score": 9.0, "cot_answer": "10"},
        {**base, "item_id": "b", "correct": False, "critique_score": 1.0, "cot_answer": "3"},
        {**base, "item_id": "c", "correct": False, "critique_score": 8.0, "cot_answer": "30"},
    ]
    pairs, why = pair_paths(rows, DpoCfg(max_pairs=2))
    assert why is None and pairs == [(0, 2, "close_scores"), (0, 1, "easy")]
    assert pair_paths(rows[:1], DpoCfg())[1].startswith("no_rejected")


def solution(question, answer, program, cot="逐步计算"):
    return json.dumps({"valid": True, "knowledge_points": ["概率"], "question": question, "cot": cot,
                       "answer": answer, "program": program}, ensure_ascii=False)


FRESH = [  # the 7 fresh paths sampled for q1 (verified answer 4), by sample index
    solution("2 加 2 等于几？", "4", "print(2 + 2)", "两数相加"),  # s0 correct
    solution("2 加 2 等于几？", "4", "a = 2\nb = 2\nprint(a + b)", "设两个数"),  # s1 correct, another program
    solution("2 加 2 等于几？", "4", "print(2 + 2)  # 再算一次", "再加一次"),  # s2 correct, same canonical program as s0
    solution("2 加 2 等于几？", "5", "print(5)", "算错"),  # s3 wrong answer
    solution("2 加 2 等于几？", "4", "print(5)", "程序写错"),  # s4 right CoT answer, program prints 5
    "无效内容",  # s5 no JSON, no answer
    solution("2 加 2 等于几？", "4.0", "print(sum([2, 2]))", "求和"),  # s6 correct (4.0 = 4), a third program
]


class ScriptedReward:
    """A reward model whose score for a path is set by a marker in its solution text."""

    name = "scripted-reward"

    def __init__(self, rewards: dict[str, float]):
        self.rewards = rewards

    def score(self, pairs):
        return [next(v for k, v in self.rewards.items() if k in answer) for _, answer in pairs]


UNPARSED = {"": "无法评分"}  # a judge whose every critique is unreadable (as the tiny random model's)


def rft_sampler(store, engine, judge, select=SelectCfg(top_m=None, min_critique=None), reward=None, max_paths=2):
    cfg = RebuildCfg(prompt="cot_pot", samples=len(FRESH), sandbox=SandboxCfg(wall_s=5, cpu_s=2))
    scorer = Scorer(judge, ResponseCache(store, "rft-judge"), AnswerJudge(), ScoreCfg(select=select), reward)
    return RftSampler(engine, ResponseCache(store, "rft"), cfg, RftCfg(max_paths=max_paths), SftCfg(), scorer)


def rft_run(store, scored_split, engine, judge=None, **kw):
    with rft_sampler(store, engine, judge or ScriptedEngine(UNPARSED), **kw) as sampler:
        paths = scored_paths(scored_split)
        return sampler.select(paths), sampler.stats, sampler.llm_stats, sampler.scorer.stats


def test_rft_samples_fresh_paths_keeps_correct_diverse_ones_and_resumes_from_the_cache(scored, tmp_path):
    engine, store = ScriptedEngine({"2 加 2": FRESH}), CorpusStore(str(tmp_path))
    split, stats, llm, judged = rft_run(store, scored[0], engine)
    sample = {r["item_id"]: r["item_id"].rsplit("-", 1)[1] for r in pl.concat([split.kept.select("item_id"),
                                                                                 split.dropped.select("item_id")]).to_dicts()}
    # s0 first; then s1, 8 token edits of 12 from s0 (0.67), beats s6, 6 of 11 (0.55)
    assert [sample[i] for i in split.kept["item_id"]] == ["s0", "s1"] and split.kept["min_distance"].to_list() == [1.0, 0.6667]
    reasons = {sample[i]: r for i, r in zip(split.dropped["item_id"], split.dropped["reason"]) if i.startswith("q1-")}
    assert reasons == {"s6": "beyond_max_paths", "s2": "duplicate_path — same canonical program as #0", "s3": "wrong_answer",
                       "s4": "program_disagrees", "s5": "invalid_response"}
    # q2 has no verified answer: not sampled, its scored path is carried with its scoring reason
    assert split.dropped.filter(pl.col("question_id") == "q2")[["item_id", "reason"]].rows() == [("q2-s0", "no_reference")]
    kept = split.kept.row(0, named=True)
    assert kept["messages"][0] == {"role": "user", "content": "2 加 2 等于几？"} and "print(2 + 2)" in kept["messages"][1]["content"]
    assert kept["difficulty"] == HARD and kept["share"] == round(5 / 7, 4) and kept["critique_score"] is None
    # the selection is off by default: the unreadable critiques of the 4 correct paths drop none of them
    assert judged.prompts_sent == 4  # s0, s1, s2, s6
    assert (stats.samples, stats.distinct, stats.per_100()) == (7, 3, 42.86)  # s0, s1, s6: s2 is s0's program
    assert engine.prompts == 7 and llm.prompts_sent == 7
    again, _, llm_again, judged_again = rft_run(store, scored[0], engine)  # a re-run: every path and critique from the cache
    assert engine.prompts == 7 and llm_again.prompts_sent == 0 and llm_again.cache_hits == 7
    assert judged_again.prompts_sent == 0 and judged_again.cache_hits == 4
    assert again.kept.equals(split.kept) and again.dropped.equals(split.dropped)


RFT_CRITIQUES = {  # the judge's scores of the 4 correct fresh paths, by a marker of their CoT
    "两数相加": json.dumps({"steps": [], "correct": True, "score": 9}),  # s0
    "设两个数": json.dumps({"steps": [], "correct": True, "score": 8}),  # s1
    "再加一次": "结论：正确\n评分：9/10",  # s2 (markdown)
    "求和": json.dumps({"steps": [], "correct": True, "score": 5}),  # s6
}
RFT_REWARDS = {"两数相加": 0.1, "设两个数": 0.9, "再加一次": 0.5, "求和": 0.7}


def test_rft_judges_fresh_paths_then_keeps_the_top_m_by_reward_above_the_critique_cut(scored, tmp_path):
    engine, judge, store = ScriptedEngine({"2 加 2": FRESH}), ScriptedEngine(RFT_CRITIQUES), CorpusStore(str(tmp_path))
    run = dict(select=SelectCfg(top_m=3, min_critique=6), reward=ScriptedReward(RFT_REWARDS))
    split, stats, _, judged = rft_run(store, scored[0], engine, judge, **run)
    sample = {i: i.rsplit("-", 1)[1] for i in pl.concat([split.kept["item_id"], split.dropped["item_id"]])}
    # by reward s1 0.9 > s6 0.7 > s2 0.5 > s0 0.1: s0 is 4th of top 3, s6 scores 5 < 6; s2 (s0's program) now survives
    assert [sample[i] for i in split.kept["item_id"]] == ["s1", "s2"]
    assert split.kept["critique_score"].to_list() == [8.0, 9.0] and split.kept["reward"].to_list() == [0.9, 0.5]
    assert split.kept["min_distance"].to_list() == [1.0, 0.6667]
    reasons = {sample[i]: r for i, r in zip(split.dropped["item_id"], split.dropped["reason"]) if i.startswith("q1-")}
    assert reasons == {"s0": "below_top_m — rank 4 > 3", "s6": "critique_below_min — 5 < 6", "s3": "wrong_answer",
                       "s4": "program_disagrees", "s5": "invalid_response"}
    dropped = {sample[r["item_id"]]: r for r in split.dropped.to_dicts() if r["item_id"].startswith("q1-")}
    assert (dropped["s6"]["critique_score"], dropped["s6"]["reward"], dropped["s6"]["judge_model"]) == (5.0, 0.7, "scripted")
    assert dropped["s3"]["critique_score"] is None  # wrong paths are not judged
    assert judge.prompts == 4 and judged.prompts_sent == 4 and stats.distinct == 3
    again, _, llm_again, judged_again = rft_run(store, scored[0], engine, judge, **run)
    assert judge.prompts == 4 and engine.prompts == 7 and judged_again.cache_hits == 4 and llm_again.cache_hits == 7
    assert again.kept.equals(split.kept) and again.dropped.equals(split.dropped)


def many_questions_scored(tmp_root):
    """A scored partition of 9 questions (ids out of order), each PATHS' q1 or q2, its rows in both files."""
    qids = ["q9", "q10", "q2", "q1", "q30", "q4", "q11", "q5", "q3"]
    paths = pl.concat([PATHS.with_columns(pl.col("question_id").replace({"q1": q, "q2": f"{q}x"}),
                                          pl.col("item_id").str.replace(r"^q\d+", q)) for q in qids])
    with AnswerJudge() as answers:
        return Scorer(ScriptedEngine(CRITIQUES), ResponseCache(CorpusStore(tmp_root), "j"), answers,
                      ScoreCfg(select=SelectCfg(top_m=1, min_critique=6))).score(paths, {q: "4" for q in qids})


def stored_scored_paths(tmp_path):
    """many_questions_scored's split, stored as scored_math_items + scored_math_drops; their handles."""
    split = many_questions_scored(str(tmp_path / "judge"))
    store = CorpusStore(str(tmp_path / "corpus"))
    dims = {"source": "wenku", "date": "2026-11-21"}
    handles = []
    for asset, frame in (("scored_math_items", split.kept), ("scored_math_drops", split.dropped)):
        store.write_frame(CorpusStore.partition_path(asset, dims), frame)
        handles.append(PartitionData(store, CorpusStore.partition_path(asset, dims)))
    return split, handles


def test_runs_beyond_the_open_file_limit_are_merged_in_passes(tmp_path, monkeypatch):
    """More sorted runs than MAX_OPEN_RUNS: merged in passes of at most that many open files, giving
    the same rows in the same order as one merge of every run."""
    import corpus_dag.posttrain.stage as stage

    split, handles = stored_scored_paths(tmp_path)
    merge, opened = stage._merge, []

    def counted(runs):
        opened.append(len(runs))
        return merge(runs)

    monkeypatch.setattr(stage, "_merge", counted)
    one_pass = pl.concat(stream_scored_paths(*handles, batch_rows=3))
    assert len(opened) == 1 and opened[0] > 9  # one merge of every run
    opened.clear()
    monkeypatch.setattr(stage, "MAX_OPEN_RUNS", 3)
    in_passes = pl.concat(stream_scored_paths(*handles, batch_rows=3))
    assert len(opened) > 3 and max(opened) == 3
    assert in_passes.equals(one_pass) and in_passes.equals(scored_paths(split))


def test_streamed_scored_paths_give_todays_rft_and_dpo_output(tmp_path):
    split, handles = stored_scored_paths(tmp_path)
    whole = scored_paths(split)  # what RFT and DPO read before
    frames = list(stream_scored_paths(*handles, batch_rows=4))
    assert len(frames) > 5 and pl.concat(frames).equals(whole)
    assert sum(f["question_id"].n_unique() for f in frames) == whole["question_id"].n_unique() == 18  # whole questions
    dpo = DpoCfg(max_pairs=3, min_chosen_score=6)
    streamed, today = (pl.concat([make_pairs(f, dpo, SftCfg(), Counter()).kept for f in fs]) for fs in (frames, [whole]))
    assert streamed.height > 0 and streamed.equals(today)
    batches = list(question_batches(frames, 4))  # RFT: 4 questions per engine call
    assert [b["question_id"].n_unique() for b in batches] == [4, 4, 4, 4, 2]
    old = whole.with_columns((pl.col("question_id").rle_id() // 4).alias("_b")).partition_by("_b", maintain_order=True,
                                                                                               include_key=False)
    assert all(a.equals(b) for a, b in zip(batches, old, strict=True))
    engine = ScriptedEngine({"2 加 2": FRESH})
    with rft_sampler(CorpusStore(str(tmp_path / "rft")), engine, ScriptedEngine(UNPARSED)) as sampler:
        got = [sampler.select(b) for b in batches]
        want = [sampler.select(b) for b in old]  # the second pass runs from the caches
    for part in ("kept", "dropped"):
        assert pl.concat([getattr(g, part) for g in got]).equals(pl.concat([getattr(w, part) for w in want]))
    assert sum(g.kept.height for g in got) == 9 * 2  # s0 and s1 of each verified question


def test_rft_partition_without_a_verified_question_needs_no_sandbox_and_no_model(tmp_path, monkeypatch):
    import corpus_dag.rebuild.sandbox as sandbox

    with AnswerJudge() as answers:  # no verified answers: every path is no_reference
        split = Scorer(ScriptedEngine({}), ResponseCache(CorpusStore(str(tmp_path)), "j"), answers).score(PATHS, {})
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)  # a Rebuilder would now refuse to start
    engine = ScriptedEngine({})
    judge = ScriptedEngine({})
    rft, stats, llm, judged = rft_run(CorpusStore(str(tmp_path)), split, engine, judge)
    assert rft.kept.height == 0 and rft.dropped["reason"].to_list() == ["no_reference"] * PATHS.height
    assert engine.prompts == 0 and llm.questions == 0 and stats.samples == 0 and judge.prompts == 0


def test_diverse_paths_merge_ast_equal_programs_and_pick_max_min_distance():
    programs = ["x = 3\nprint(x * 2)", "# double\ny = 3\nprint(y * 2)", "print(sum([3, 3]))", "x = 3\nprint(x * 2 + 0)",
                "def f(:", None]
    kept, why, gaps = diverse_paths(programs, RftCfg(max_paths=2))
    assert kept == [0, 2] and why == {1: "duplicate_path — same canonical program as #0", 3: "beyond_max_paths",
                                      4: "unparseable_program", 5: "no_program"}
    assert gaps[0] == 1.0 and 0.9 < gaps[2] < 0.92
    kept, why, _ = diverse_paths(programs, RftCfg(max_paths=5, min_distance=0.3))
    assert kept == [0, 2] and why[3] == "too_close — 0.18 < 0.3"
    assert histogram([0.05, 0.18, 1.0]) [:2] == [("0-0.1", 1), ("0.1-0.2", 1)] and histogram([1.0])[-1] == ("0.9-1", 1)


def test_critique_parser_json_markdown_and_unreadable():
    assert parse_critique('{"steps": [], "correct": true, "score": 14}').score == 10.0  # clipped to 0-10
    md = parse_critique("步骤1：错误，符号错\n结论：错误\n评分：2/10")
    assert (md.score, md.correct, md.steps, md.mode) == (2.0, False, [{"verdict": "incorrect", "comment": "符号错"}], "markdown")
    assert parse_critique("乱码 {not json").mode == "unparsed" and parse_critique("").score is None


def test_similarity_filter_drops_near_copies_of_seeds_and_earlier_instructions():
    f = SimilarityFilter(SelfInstructCfg(max_rouge_l=0.7, max_jaccard=0.7))
    f.add(["seed1"], ["已知等差数列的首项为2，公差为3，求第10项。"])
    copy = f.judge("n1", "已知等差数列的首项为2，公差为3，求第11项。")
    assert not copy.keep and copy.similar_to == "seed1" and copy.reason.startswith("too_similar_rouge_l — 0.96")
    assert f.judge("n2", "一个袋子里有3个红球和2个白球，随机取出一个，求取到红球的概率。").keep
    later = f.judge("n3", "一个袋子里有3个红球和2个白球，随机取出两个，求都是红球的概率是多少？")
    assert not later.keep and later.similar_to == "n2"  # an earlier kept instruction counts too
    # the MinHash test catches a reordered copy whose LCS stays under the ROUGE-L cut
    g = SimilarityFilter(SelfInstructCfg(max_rouge_l=0.99, max_jaccard=0.5))
    g.add(["s"], ["甲乙两人同时从A地出发前往B地，甲每小时走5千米，乙每小时走4千米。"])
    dup = g.judge("n", "乙每小时走4千米。甲乙两人同时从A地出发前往B地，甲每小时走5千米，")
    assert not dup.keep and dup.reason.startswith("near_duplicate_minhash")


def test_areas_problems_and_phrasings():
    assert area_of(["等比数列求和"], "") == "sequences" and area_of([], "求函数 f(x) 的定义域") == "functions"
    assert area_of(["其他"], "计算 1+1") == "other"
    assert parse_problems('{"problems": ["题一", " ", "题二"]}', 5) == ["题一", "题二"]
    assert parse_problems("1. 求 x\n2、解方程\n3) 三", 2) == ["求 x", "解方程"]
    cfg = SftCfg(vary_phrasing=True, seed=1)
    phrased = [user_turn("Q", f"i{n}", cfg) for n in range(20)]
    assert phrased == [user_turn("Q", f"i{n}", cfg) for n in range(20)] and len(set(phrased)) > 2
    assert user_turn("Q", "i0", SftCfg()) == "Q"


def test_self_instruct_generates_filters_solves_and_counts_per_area(tmp_path):
    seeds = seed_tasks(pl.DataFrame(
        [{"item_id": "v1", "messages": [{"role": "user", "content": "掷一枚硬币两次，求两次都正面的概率。"},
                                         {"role": "assistant", "content": "1/4"}],
          "question_id": "q", "knowledge_points": ["概率"], "answer": "1/4", "model": "m", "prompt_version": "p",
          "votes": 2, "share": 1.0}], schema=VERIFIED_SCHEMA))
    problems = ["掷一枚硬币两次，求两次都正面的概率是多少。", "从1到10中随机取一个整数，求它是偶数的概率。", "掷一枚骰子，求点数大于4的概率。"]
    engine = ScriptedEngine({
        "知识领域：probability": json.dumps({"problems": problems}, ensure_ascii=False),
        "偶数": solution("从1到10中随机取一个整数，求它是偶数的概率。", "\\frac{1}{2}", "print(5 / 10)"),
        "骰子": solution("掷一枚骰子，求点数大于4的概率。", "1/3", "print(1 / 2)"),  # program disagrees
    })
    store = CorpusStore(str(tmp_path))
    cfg = RebuildCfg(prompt="cot_pot", samples=2, sandbox=SandboxCfg(wall_s=5, cpu_s=2))
    with Rebuilder(engine, ResponseCache(store, "solve"), cfg) as solver:
        si = SelfInstructor(engine, ResponseCache(store, "gen"), solver, SelfInstructCfg(prompts_per_area=1), SftCfg(),
                            cfg.sampling)
        split = si.run(seeds)
    assert split.kept["instruction"].to_list() == [problems[1]] and split.kept["area"].to_list() == ["probability"]
    assert split.kept["seed_item_ids"].to_list() == [["v1"]]
    reasons = dict(zip(split.dropped["instruction"], split.dropped["reason"]))
    assert reasons[problems[0]].startswith("too_similar_rouge_l") and reasons[problems[2]] == "not_verified — program_disagrees"
    assert si.stats.table().to_dicts() == [{"area": "probability", "seeds": 1, "generated": 3, "kept": 1}]
    ids = split.kept["question_id"].to_list() + split.dropped["instruction_id"].to_list()  # each says its place: n of 3
    assert sorted(instruction_place(i) for i in ids) == [(0, 3), (1, 3), (2, 3)]
    assert engine.prompts == 1 + 2 * 2 and si.stats.llm.prompts_sent == 1


def test_reward_backend_auto_follows_the_gpu_and_names_are_checked(monkeypatch):
    import importlib.util

    import torch

    from corpus_dag.llm.cpu import resolve_backend
    from corpus_dag.posttrain.reward import RewardCfg

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_backend("auto") == "transformers" and resolve_backend("vllm") == "vllm"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_backend("auto") == ("vllm" if importlib.util.find_spec("vllm") else "transformers")
    with pytest.raises(ValueError, match="reward backend must be one of"):
        RewardCfg("folder", backend="onnx")
