"""The Definitions load, and every asset is documented the way the UI needs it."""
import subprocess
import sys
from pathlib import Path

import dagster as dg

from assets.definitions import defs
from tests.conftest import REPO

REQUIRED_KEYS = {"raw_documents", "rejected_documents"}


def all_specs():
    for a in defs.assets or []:
        if isinstance(a, dg.AssetsDefinition):
            yield from a.specs


def test_definitions_load_with_documented_assets():
    specs = list(all_specs())
    keys = {s.key.to_user_string() for s in specs}
    assert REQUIRED_KEYS <= keys
    for spec in specs:
        name = spec.key.to_user_string()
        assert spec.description, f"{name} has no description"
        assert spec.owners, f"{name} has no owners"
        assert spec.kinds, f"{name} has no kinds"
        assert spec.group_name and spec.group_name != "default", f"{name} has no group"
    defs.resolve_all_job_defs()
    assert defs.resolve_asset_graph().get_all_asset_keys()


def test_asset_checks_target_existing_assets():
    graph = defs.resolve_asset_graph()
    check_keys = list(graph.asset_check_keys)
    assert check_keys
    for key in check_keys:
        assert key.asset_key in graph.get_all_asset_keys()


def test_workspace_loads_with_the_dagster_cli(dagster_instance):
    dagster = Path(sys.executable).parent / "dagster"
    out = subprocess.run(
        [dagster, "definitions", "validate", "-w", "workspace.yaml"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]


def test_sft_options_are_declared_once_for_every_stage_writing_sft_records():
    """Verification and the post-training stages take one SftOptions (defaults from SftCfg), not copies of its fields."""
    from assets.posttrain.assets import DpoConfig, RftConfig, SelfInstructConfig
    from assets.rebuild.assets import SftOptions, VerifyConfig, sft_cfg
    from corpus_dag.rebuild.sft import SftCfg

    def configs(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from configs(sub)

    declaring = {c.__qualname__ for c in configs(dg.Config) for f in ("system_prompt", "vary_phrasing", "phrasing_seed")
                 if f in vars(c).get("__annotations__", {})}
    assert declaring == {"SftOptions"}
    assert all(issubclass(c, SftOptions) for c in (VerifyConfig, RftConfig, DpoConfig, SelfInstructConfig))
    assert sft_cfg(SftOptions()) == SftCfg()


def _undescribed(config_type, where: str):
    """Config fields without a description, as the launchpad shows them (nested shapes included)."""
    for name, field in (getattr(config_type, "fields", None) or {}).items():
        if not field.description:
            yield f"{where}.{name}"
        yield from _undescribed(field.config_type, f"{where}.{name}")


def test_every_run_knob_has_a_description():
    """Every field of every asset's config and of every resource carries a description (the launchpad
    and the resource page show it next to the field)."""
    missing = []
    for a in defs.assets or []:
        if isinstance(a, dg.AssetsDefinition) and a.op.config_schema:
            missing += _undescribed(a.op.config_schema.as_field().config_type, a.op.name)
    for key, resource in (defs.resources or {}).items():
        definition = resource.get_resource_definition() if hasattr(resource, "get_resource_definition") else resource
        if definition.config_schema:
            missing += _undescribed(definition.config_schema.as_field().config_type, f"resource {key}")
    assert missing == []
