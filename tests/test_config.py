"""Config typos fail when the definitions load, naming the file, the source and the key."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from corpus_dag.sources import SourceConfigError, load_kinds, load_sources

REPO = Path(__file__).resolve().parent.parent
GOOD = yaml.safe_load((REPO / "config" / "sources.yaml").read_text())


def write(tmp_path, change) -> Path:
    doc = yaml.safe_load(yaml.safe_dump(GOOD))
    change(doc)
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


def web(doc) -> dict:
    return next(s for s in doc["sources"] if s["name"] == "web")


TYPOS = [
    ("source key", lambda d: web(d).update(max_rejected_rat=0.01), r"source 'web': max_rejected_rat: unknown key"),
    ("dedupe", lambda d: web(d).update(dedupe={"threshold": 0.7}), r"source 'web': dedupe: unknown key"),
    ("language", lambda d: web(d).update(language="en"), r"source 'web': language: unknown key"),
    ("dedup key", lambda d: web(d).update(dedup={"treshold": 0.7}), r"source 'web': dedup\.treshold: unknown key"),
    ("dedup type", lambda d: web(d).update(dedup={"threshold": "high"}), r"source 'web': dedup\.threshold: .*number.*'high'"),
    ("dedup list", lambda d: web(d).update(dedup=[0.7]), r"source 'web': dedup: .*\[0\.7\]"),
    ("dedup range", lambda d: web(d).update(dedup={"threshold": 1.5}), r"source 'web': dedup: threshold must lie in \(0, 1\)"),
    ("filters key", lambda d: web(d).update(filters={"min_charz": 3}), r"source 'web': filters\.min_charz: unknown key"),
    ("filters type", lambda d: web(d).update(filters={"min_chars": "many"}), r"source 'web': filters\.min_chars: .*'many'"),
    ("rate word", lambda d: web(d).update(max_rejected_rate="high"), r"source 'web': max_rejected_rate: .*'high'"),
    ("rate 7", lambda d: web(d).update(max_rejected_rate=7), r"source 'web': max_rejected_rate: .*less than or equal to 1"),
    ("rate -1", lambda d: web(d).update(max_rejected_rate=-1), r"source 'web': max_rejected_rate: .*greater than or equal to 0"),
    ("record chars 0", lambda d: d.update(max_record_chars=0), r"max_record_chars: .*greater than 0"),
    ("top-level key", lambda d: d.update(start_dat="2026-11-20"), r"start_dat: unknown key"),
    ("kind", lambda d: web(d).update(kind="webpage"), r"source 'web': kind: .*'webpage'"),
    ("ingest key", lambda d: web(d).update(ingest={"t2": True}), r"source 'web': ingest\.t2: unknown key"),
    ("ingest value", lambda d: web(d).update(ingest={"on_damaged_file": "skip"}), r"source 'web': ingest\.on_damaged_file: .*'skip'"),
    ("filters range", lambda d: web(d).update(filters={"min_chars": -5}), r"source 'web': filters: .*min_chars: .*greater than or equal to 0"),
    ("filters ratio", lambda d: web(d).update(filters={"max_digit_ratio": 3}), r"source 'web': filters: .*max_digit_ratio: .*less than or equal to 1"),
    ("safety range", lambda d: web(d).update(safety={"max_word_hits_per_1k": -1}), r"source 'web': safety: .*max_word_hits_per_1k: .*greater than or equal to 0"),
    ("safety type", lambda d: web(d).update(safety={"max_word_hits_per_1k": "high"}), r"source 'web': safety\.max_word_hits_per_1k: .*'high'"),
]


@pytest.mark.parametrize("change,message", [t[1:] for t in TYPOS], ids=[t[0] for t in TYPOS])
def test_each_typo_is_an_error_naming_file_source_and_key(tmp_path, change, message):
    path = write(tmp_path, change)
    with pytest.raises(SourceConfigError, match=message) as err:
        load_sources(path)
    assert str(path) in str(err.value)


def test_the_shipped_config_resolves_to_typed_profiles():
    sources = load_sources()
    wenku, web_src, patents = (sources.get(n) for n in ("wenku", "web", "patents"))
    assert wenku.applies("exam") and not web_src.applies("exam") and patents.applies("chunk")
    assert web_src.dedup.threshold == 0.75 and wenku.dedup.verify == "exact"  # kinds.yaml
    assert web_src.filters.min_chars == 50  # filters.yaml, kind web
    assert set(load_kinds()) == {"exam_library", "web", "book", "code", "patent"}


def test_a_source_override_wins_over_its_kind(tmp_path):
    path = write(tmp_path, lambda d: web(d).update(dedup={"threshold": 0.9, "max_rate": 0.6, "verify": "estimate"}))
    src = load_sources(path).get("web")
    assert (src.dedup.threshold, src.dedup.verify, src.dedup_rate) == (0.9, "estimate", (0.0, 0.6))


def test_a_source_overrides_ngram_caps_as_the_filters_file_writes_them(tmp_path):
    path = write(tmp_path, lambda d: web(d).update(filters={"max_top_ngram_char_ratio": {2: 0.3}}))
    assert load_sources(path).get("web").filters.max_top_ngram_char_ratio == ((2, 0.3),)


@pytest.mark.slow
def test_dagster_definitions_validate_fails_on_a_typo(tmp_path):
    path = write(tmp_path, lambda d: web(d).update(dedup={"treshold": 0.7}))
    env = {**os.environ, "CORPUS_SOURCES": str(path), "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run([str(dagster), "definitions", "validate", "-m", "assets.definitions"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert f"{path}: source 'web': dedup.treshold: unknown key" in proc.stdout + proc.stderr


# ---- recipes (config/recipes/*.yaml): loaded when the definitions load, same strictness ----------
RECIPE = yaml.safe_load((REPO / "config" / "recipes" / "demo.yaml").read_text())


def math_input(doc) -> dict:
    return next(i for i in doc["inputs"] if i["asset"] == "decontaminated_math_items")


RECIPE_TYPOS = [
    ("top-level key", lambda d: d.update(total_token=1000), r"recipe 'demo': total_token: unknown key"),
    ("input key", lambda d: math_input(d).update(wieght=0.2), r"recipe 'demo': input #3 \(decontaminated_math_items\): wieght: unknown key"),
    ("weight word", lambda d: math_input(d).update(weight="a fifth"), r"input #3 \(decontaminated_math_items\): weight: .*valid number.*'a fifth'"),
    ("weight negative", lambda d: math_input(d).update(weight=-0.2), r"input #3 \(decontaminated_math_items\): weight: .*greater than or equal to 0"),
    ("tokens float", lambda d: math_input(d).update(weight=None, tokens=1.5), r"input #3 \(decontaminated_math_items\): tokens: .*valid integer"),
    ("seed string", lambda d: d.update(seed="20261121"), r"recipe 'demo': seed: .*valid integer.*'20261121'"),
    ("seed bool", lambda d: d.update(seed=True), r"recipe 'demo': seed: .*valid integer"),
    ("jsonl word", lambda d: d.update(jsonl="yes"), r"recipe 'demo': jsonl: .*valid boolean.*'yes'"),
    ("shard_tokens 0", lambda d: d.update(shard_tokens=0), r"recipe 'demo': shard_tokens: .*greater than or equal to 1"),
    ("max_repeat word", lambda d: d.update(max_repeat="three"), r"recipe 'demo': max_repeat: .*valid number"),
    ("text number", lambda d: math_input(d).update(text=5), r"input #3 \(decontaminated_math_items\): text: .*valid"),
    ("where list", lambda d: math_input(d).update(where=["hard"]), r"input #3 \(decontaminated_math_items\): where: .*valid dictionary"),
    ("source number", lambda d: d["inputs"][0].update(source=7), r"input #1 \(decontaminated_documents\): source: .*valid string"),
    ("missing asset", lambda d: d["inputs"][0].pop("asset"), r"recipe 'demo': input #1: asset: missing"),
    ("name", lambda d: d.update(name="demoo"), r"recipe 'demoo': name: must be the file name 'demo'"),
    ("weights sum", lambda d: math_input(d).update(weight=0.3), r"recipe 'demo': weights must sum to 1, they sum to 1\.1"),
]


@pytest.mark.parametrize("change,message", [t[1:] for t in RECIPE_TYPOS], ids=[t[0] for t in RECIPE_TYPOS])
def test_each_recipe_typo_is_an_error_naming_file_recipe_and_key(tmp_path, change, message):
    from corpus_dag.mixture import RecipeError, load_recipe

    doc = yaml.safe_load(yaml.safe_dump(RECIPE))
    change(doc)
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    with pytest.raises(RecipeError, match=message) as err:
        load_recipe(path)
    assert str(err.value).startswith(f"{path}: ")


def test_a_recipe_naming_an_asset_not_in_the_graph_fails_at_load(tmp_path, monkeypatch):
    """A misspelt input asset would become an external dependency; the definitions refuse it."""
    from assets.curate import assets as curate
    from corpus_dag.mixture import RecipeError

    doc = yaml.safe_load(yaml.safe_dump(RECIPE))
    doc["inputs"][0]["asset"] = "decontaminated_documnets"
    (tmp_path / "demo.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    monkeypatch.setattr(curate, "RECIPES_DIR", tmp_path)
    monkeypatch.setattr(curate, "recipe_names", lambda: ["demo"])
    known = ["decontaminated_documents", "chunked_documents", "decontaminated_math_items"]
    with pytest.raises(RecipeError, match=r"demo\.yaml: recipe 'demo': input #1: unknown asset 'decontaminated_documnets'"):
        curate.check_recipe_assets(known)
    doc["inputs"][0]["asset"] = "decontaminated_documents"
    (tmp_path / "demo.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    curate.check_recipe_assets(known)  # the same recipe spelt right loads
