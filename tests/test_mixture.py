"""Training mixtures: byte-identical reruns, sampling by id hash, manifest, recipe errors."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from corpus_dag.mixture import InputPart, RecipeError, build_mixture, load_recipe, parse_recipe, recipe_names, token_table

ROOT = Path(__file__).resolve().parent.parent


def recipe(**over):
    doc = {
        "name": "t",
        "seed": 7,
        "total_tokens": 3000,
        "max_repeat": 3,
        "shard_tokens": 1000,
        "jsonl": True,
        "inputs": [
            {"asset": "docs", "source": "web", "weight": 0.6},
            {"asset": "chunks", "source": "patents", "weight": 0.4},
        ],
    }
    return parse_recipe(doc | over)


def parts(tmp_path: Path) -> list[InputPart]:
    web = [
        pl.DataFrame({"doc_id": [f"w{d}-{i}" for i in range(60)], "text": [f"page {i} of day {d} with some words" for i in range(60)]})
        for d in (1, 2)
    ]
    chunks = pl.DataFrame({"id": [f"CN1-step{i}-0-0" for i in range(40)], "text": ["专利片段文本内容" * (3 + i % 3) for i in range(40)]})
    chunks.write_parquet(tmp_path / "chunks.parquet")
    return [
        InputPart("docs", "2026-11-20|web", "dv-a", web[0]),
        InputPart("docs", "2026-11-21|web", "dv-b", web[1]),
        InputPart("chunks", "2026-11-21|patents", "dv-c", tmp_path / "chunks.parquet"),
        InputPart("docs", "2026-11-21|wenku", "dv-x", web[0]),  # matches no recipe input: ignored
    ]


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_recipe_and_inputs_give_identical_bytes_whatever_the_order_or_batch_size(tmp_path):
    ps = parts(tmp_path)
    build_mixture(recipe(), ps, tmp_path / "a")
    build_mixture(recipe(batch_rows=7), ps[::-1], tmp_path / "b")  # same recipe apart from batch size
    a, b = files(tmp_path / "a"), files(tmp_path / "b")
    assert set(a) == {"manifest.json", "part-00000.parquet", "part-00000.jsonl", "part-00001.parquet", "part-00001.jsonl", "part-00002.parquet", "part-00002.jsonl"}
    assert {k: v for k, v in a.items() if k != "manifest.json"} == {k: v for k, v in b.items() if k != "manifest.json"}
    build_mixture(recipe(), ps, tmp_path / "c")
    assert files(tmp_path / "c") == a  # fully identical, manifest included
    build_mixture(recipe(seed=8), ps, tmp_path / "d")
    assert files(tmp_path / "d")["part-00000.parquet"] != a["part-00000.parquet"]


def test_budgets_rates_and_manifest(tmp_path):
    m = build_mixture(recipe(), parts(tmp_path), tmp_path / "out")
    web, pat = m["inputs"]
    assert [p["partition"] for p in web["partitions"]] == ["2026-11-20|web", "2026-11-21|web"]
    assert [p["data_version"] for p in web["partitions"]] == ["dv-a", "dv-b"]
    assert web["rows_in"] == 120 and pat["rows_in"] == 40
    # web has fewer tokens than its 1800 budget: upsampled, every row kept once or twice
    assert 1 < web["rate"] < 2 and web["rows_in"] <= web["rows_out"] <= 2 * web["rows_in"]
    assert abs(web["tokens_out"] - 1800) < 0.2 * 1800
    assert pat["rate"] == pytest.approx(1200 / pat["tokens_in"]) and pat["rows_out"] < pat["rows_in"]
    out = pl.concat([pl.read_parquet(tmp_path / "out" / s["file"]) for s in m["shards"]])
    assert out.height == m["rows"] == web["rows_out"] + pat["rows_out"] and int(out["tokens"].sum()) == m["tokens"]
    assert out.select("asset", "id", "copy").is_unique().all() and set(out["copy"]) <= {0, 1}
    for s in m["shards"]:
        assert s["sha256"] == "sha256:" + hashlib.sha256((tmp_path / "out" / s["file"]).read_bytes()).hexdigest()
        jl = [json.loads(x) for x in (tmp_path / "out" / s["file"].replace(".parquet", ".jsonl")).read_text().splitlines()]
        assert jl == pl.read_parquet(tmp_path / "out" / s["file"]).to_dicts()
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["recipe_hash"] == recipe().hash
    table = token_table(m)
    assert "| docs | web | 2 | 120 |" in table and "**total**" in table


def test_rate_sampling_is_a_function_of_the_id(tmp_path):
    base = {"asset": "docs", "source": "web"}
    half = build_mixture(recipe(inputs=[base | {"rate": 0.5}], total_tokens=None), parts(tmp_path), tmp_path / "h")
    ids = pl.read_parquet(tmp_path / "h" / "part-00000.parquet")["id"].to_list()
    assert 30 < half["rows"] < 90
    only_day1 = parts(tmp_path)[:1]
    build_mixture(recipe(inputs=[base | {"rate": 0.5}], total_tokens=None), only_day1, tmp_path / "h1")
    ids1 = pl.read_parquet(tmp_path / "h1" / "part-00000.parquet")["id"].to_list()
    assert set(ids1) == {i for i in ids if i.startswith("w1-")}  # another partition does not change the draw
    triple = build_mixture(recipe(inputs=[base | {"rate": 5.0}], total_tokens=None), parts(tmp_path), tmp_path / "t")
    assert triple["inputs"][0]["capped_at_max_repeat"] and triple["rows"] == 3 * 120


def test_chat_messages_become_text(tmp_path):
    items = pl.DataFrame({"item_id": ["m1"], "messages": [[{"role": "user", "content": "1+1=?"}, {"role": "assistant", "content": "2"}]]})
    r = recipe(inputs=[{"asset": "math", "rate": 1.0, "text": ["messages"], "id": "item_id"}], total_tokens=None)
    build_mixture(r, [InputPart("math", "2026-11-21|wenku", None, items)], tmp_path / "m")
    row = pl.read_parquet(tmp_path / "m" / "part-00000.parquet").row(0, named=True)
    assert row["text"] == "1+1=?\n\n2" and row["id"] == "m1" and row["source"] == "wenku"


def test_a_tag_can_be_up_weighted_with_where(tmp_path):
    items = pl.DataFrame({"item_id": [f"m{i}" for i in range(6)], "difficulty": ["hard", "normal"] * 3,
                          "messages": [[{"role": "user", "content": f"题 {i}"}] for i in range(6)]})
    spec = {"asset": "math", "text": ["messages"], "id": "item_id"}
    r = recipe(inputs=[spec | {"rate": 2.0, "where": {"difficulty": "hard"}}, spec | {"rate": 1.0, "where": {"difficulty": "normal"}}],
               total_tokens=None)
    manifest = build_mixture(r, [InputPart("math", "2026-11-21|wenku", None, items)], tmp_path / "m")
    out = pl.read_parquet(tmp_path / "m" / "part-00000.parquet")
    assert sorted(out.group_by("id").len().iter_rows()) == [("m0", 2), ("m1", 1), ("m2", 2), ("m3", 1), ("m4", 2), ("m5", 1)]
    assert [(i["where"], i["rows_in"]) for i in manifest["inputs"]] == [({"difficulty": "hard"}, 3), ({"difficulty": "normal"}, 3)]


@pytest.mark.parametrize(
    "over, message",
    [
        ({"inputs": [{"asset": "nope", "weight": 1.0}]}, "unknown asset 'nope'"),
        ({"inputs": [{"asset": "docs", "weight": 0.5}, {"asset": "chunks", "weight": 0.3}]}, "weights must sum to 1, they sum to 0.8"),
        ({"inputs": [{"asset": "docs", "tokens": -5}]}, r"input #1 \(docs\): tokens: .*greater than or equal to 0"),
        ({"inputs": [{"asset": "docs", "weight": 0.5, "tokens": 10}]}, "exactly one of weight, tokens, rate"),
        ({"inputs": [{"asset": "docs", "weight": 1.0}], "total_tokens": None}, "positive integer 'total_tokens'"),
        ({"inputs": [{"asset": "docs", "rate": 1, "colour": "red"}]}, r"input #1 \(docs\): colour: unknown key"),
        ({"inputs": [{"asset": "docs", "rate": 1}, {"asset": "docs", "rate": 2}]}, "listed twice"),
        ({"seed": "x"}, r"seed: Input should be a valid integer \(got 'x'\)"),
        ({"inputs": [{"asset": "docs", "rate": 1, "where": ["hard"]}]}, r"input #1 \(docs\): where: .*valid dictionary"),
    ],
)
def test_bad_recipes_are_clear_errors(over, message):
    with pytest.raises(RecipeError, match=message):
        parse_recipe(
            {"name": "t", "seed": 1, "total_tokens": 100, "inputs": []} | over, known_assets=["docs", "chunks", "math"]
        )


def test_an_input_without_partitions_is_an_error(tmp_path):
    r = recipe(inputs=[{"asset": "docs", "source": "books", "rate": 1.0}], total_tokens=None)
    with pytest.raises(RecipeError, match="input docs/books matched no input partition"):
        build_mixture(r, parts(tmp_path), tmp_path / "x")


def test_shipped_recipes_parse():
    assert "demo" in recipe_names()
    for name in recipe_names():
        r = load_recipe(ROOT / "config" / "recipes" / f"{name}.yaml")
        assert r.name == name and r.hash.startswith("sha256:")
