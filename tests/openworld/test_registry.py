"""The world registry beyond the catalogue: world files by path (with their rule modules), packages of
world files found through the ``openworld.worlds`` entry point, the errors that name the file at fault,
and each agent's default ``num_envs``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import gymnasium
import pytest

from openworld import registry
from openworld.errors import SpecError
from openworld.world import rules

EXAMPLE_PACKAGE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "tidepools"

WORLD = """\
name: Rockpool
version: 3
description: |
  A test world of one's own.
map: {size: [12, 12]}
resources:
  limpet: {kind: shellfish, grows_on: [grass, sand], density: 0.2, regrow: 0.02, effects: {food: 3.0}}
  water: {grows_on: [water], density: 1.0, regrow: 0.05, effects: {water: 4.0}}
rule_modules: [RULE_MODULE]
rules:
  RULE_ID: {damage: 0.0}
shifts:
  - {name: surge, kind: abrupt, at: 50, set: {rules.RULE_ID.damage: 0.01}}
"""

RULE = """\
from openworld.enums import Terrain
from openworld.world.rules import RuleEffect, register_rule


def surge(engine, state, params):
    on_sand = state.terrain.reshape(-1)[state.body_cell + engine.world_base()] == Terrain.SAND
    return RuleEffect(damage=params["damage"] * on_sand)


register_rule("RULE_ID", surge, {"damage": 0.0})
"""


def write_world(folder: Path, rule_id: str, rule_module: str = "rockpool_rules.py", *, module_text: str = RULE,
                name: str = "Rockpool") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rockpool_rules.py").write_text(module_text.replace("RULE_ID", rule_id))
    path = folder / "rockpool.yaml"
    path.write_text(WORLD.replace("RULE_MODULE", rule_module).replace("RULE_ID", rule_id)
                    .replace("name: Rockpool", f"name: {name}"))
    return path


@pytest.fixture
def clean_registries() -> Iterator[None]:
    """Whatever a test registers (worlds, rules, imported rule modules) is forgotten after it."""
    worlds, known_rules, imported = dict(registry._WORLDS), dict(rules.RULES), dict(rules._IMPORTED)
    yield
    for world_id in set(registry._WORLDS) - set(worlds):
        gymnasium.registry.pop(f"openworld/{world_id}", None)
    for table, before in ((registry._WORLDS, worlds), (rules.RULES, known_rules), (rules._IMPORTED, imported)):
        table.clear()
        table.update(before)  # type: ignore[arg-type]


def test_a_world_file_is_registered_by_its_path_once_with_its_rule_module(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_registries: None) -> None:
    path = write_world(tmp_path / "mine", "rockpool-surge-v0")
    monkeypatch.chdir(tmp_path)
    assert registry.resolve_world_id("mine/rockpool.yaml") == "Rockpool-v3"
    assert registry.resolve_world_id(str(path)) == "Rockpool-v3"  # the same file by another path: no new entry
    entry = registry.world_entry("./mine/rockpool.yaml")
    assert entry.by_path and entry.spec_path == path.resolve()
    assert entry.spec.rule_modules == (str(path.parent.resolve() / "rockpool_rules.py"),)
    assert rules.rule_source_file("rockpool-surge-v0") == str(path.parent.resolve() / "rockpool_rules.py")
    assert "Rockpool-v3" in registry.world_ids() and registry.resolve_world_id("rockpool") == "Rockpool-v3"
    env = gymnasium.make("openworld/Rockpool-v3")
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    for _ in range(60):  # past the surge: the rule's parameter shifts
        env.step(0)


def test_a_rule_module_may_be_an_importable_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   clean_registries: None) -> None:
    package = tmp_path / "lib" / "rockpool_pkg_for_test"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "surge.py").write_text(RULE.replace("RULE_ID", "rockpool-import-v0"))
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    path = write_world(tmp_path / "w", "rockpool-import-v0", "rockpool_pkg_for_test.surge")
    assert registry.world_entry(str(path)).spec.rules == {"rockpool-import-v0": {"damage": 0.0}}
    monkeypatch.delitem(sys.modules, "rockpool_pkg_for_test.surge")
    monkeypatch.delitem(sys.modules, "rockpool_pkg_for_test")


def test_errors_name_the_world_file_and_the_module(tmp_path: Path, clean_registries: None) -> None:
    with pytest.raises(SpecError, match=r"nowhere\.yaml: no such world file"):
        registry.resolve_world_id(str(tmp_path / "nowhere.yaml"))
    missing = write_world(tmp_path / "a", "rockpool-a-v0", "absent_rules.py")
    with pytest.raises(SpecError, match=r"rockpool\.yaml: rule_modules\[0\]: no rule module file .*absent_rules\.py"):
        registry.resolve_world_id(str(missing))
    unimportable = write_world(tmp_path / "b", "rockpool-b-v0", "no_such_package_here.rules")
    with pytest.raises(SpecError, match=r"rockpool\.yaml: rule_modules\[0\]: cannot import rule module "
                                        r"'no_such_package_here\.rules'"):
        registry.resolve_world_id(str(unimportable))
    broken = write_world(tmp_path / "c", "rockpool-c-v0", module_text="raise RuntimeError('tide table missing')\n")
    with pytest.raises(SpecError, match=r"importing .*rockpool_rules\.py failed: RuntimeError: tide table missing "
                                        r"\(at .*rockpool_rules\.py, line 1\)"):
        registry.resolve_world_id(str(broken))
    wrong_id = write_world(tmp_path / "d", "rockpool-d-v0",
                           module_text=RULE.replace('register_rule("RULE_ID"', 'register_rule("rockpool-dd-v0"'))
    with pytest.raises(SpecError, match=r"rules\.rockpool-d-v0: unknown rule \(did you mean 'rockpool-dd-v0'\?\); "
                                        r".*rockpool_rules\.py registered rockpool-dd-v0"):
        registry.resolve_world_id(str(wrong_id))
    clash = write_world(tmp_path / "e", "rockpool-e-v0", name="Meadow")
    clash.write_text(clash.read_text().replace("version: 3", "version: 0"))
    with pytest.raises(SpecError, match=r"declares the world Meadow-v0 .* already registered from .*meadow\.yaml"):
        registry.resolve_world_id(str(clash))
    assert not any(entry.by_path for entry in registry.world_entries())  # nothing was registered


def test_an_entry_point_package_of_world_files_registers_them_without_code(tmp_path: Path) -> None:
    """A throwaway installed distribution: the example package and a dist-info declaring its entry point."""
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE_PACKAGE / "tidepools_worlds", site / "tidepools_worlds")
    dist_info = site / "openworld_tidepools-0.1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: openworld-tidepools\nVersion: 0.1.0\n")
    (dist_info / "entry_points.txt").write_text("[openworld.worlds]\ntidepools = tidepools_worlds\n")
    script = textwrap.dedent("""
        import gymnasium, numpy as np
        import openworld
        from openworld.registry import world_entry
        from openworld.world.rules import rule_source_file
        print(sorted(set(openworld.world_ids()) & {"Tidepools-v0", "Shallows-v0"}))
        print(world_entry("tidepools").spec_path.name, rule_source_file("tidepools-flood-v0").endswith("tide_rules.py"))
        env = gymnasium.make("openworld/Tidepools-v0", variant="quick", on_death="respawn")
        env.reset(seed=0)
        env.action_space.seed(0)
        soaked = 0
        for _ in range(450):  # low tide from 200, high tide from 400
            soaked += "tidepools-flood-v0.soaked" in env.step(env.action_space.sample())[4]["events"]
        print("soaked at high tide", soaked > 0)
        envs = gymnasium.make_vec("openworld/Shallows-v0", num_envs=2, vectorization_mode="vector_entry_point")
        print(envs.reset(seed=0)[0]["view"].shape)
    """)
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0] == "['Shallows-v0', 'Tidepools-v0']"
    assert lines[1] == "tidepools.yaml True"
    assert lines[2] == "soaked at high tide True"  # the rule module next to the YAML file runs
    assert lines[3] == "(2, 7, 7, 3)"


def test_each_agent_brings_its_default_num_envs() -> None:
    defaults = {agent_id: registry.agent_entry(agent_id).num_envs for agent_id in registry.agent_ids()}
    assert defaults["forager-v0"] == defaults["random-v0"] == 256  # cheap per step: many worlds
    assert defaults["ppo-v0"] == defaults["ppo-rnd-v0"] == defaults["sb3-v0"] == 16  # a learner per step
    with pytest.raises(ValueError, match="num_envs must be >= 1"):
        registry.register_agent("zero-worlds-v0", object, num_envs=0)
