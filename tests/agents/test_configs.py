"""One YAML config per registered agent in agents/: every factory argument, documented, with its default."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from openworld.agents.forager import Forager
from openworld.agents.ppo import PPO
from openworld.registry import agent_entry, agent_ids

AGENTS_DIR = Path(__file__).resolve().parents[2] / "agents"
RUNNER_ARGUMENTS = {"observation_space", "action_space", "num_envs", "seed"}
# Factories that take **config and hand it on: (the class it reaches, arguments the factory fixes itself).
FORWARDED: dict[str, tuple[Callable[..., Any], set[str]]] = {
    "fixed-forager-v0": (Forager, {"learn"}),
    "ppo-rnd-v0": (PPO, {"bonus"}),
}
NOT_CONFIGURABLE = {"ppo-v0": {"bonus"}}  # objects, set by other factories (ppo-rnd)
FACTORY_DEFAULTS = {"fixed-forager-v0": {"prior_effects": (0.0, 0.2, 0.2, 0.0)}}  # set inside the factory
REQUIRED = "???"  # Hydra's mandatory value


def config_files() -> dict[str, Path]:
    """agent id -> its YAML config file in agents/."""
    return {yaml.safe_load(path.read_text())["id"]: path for path in sorted(AGENTS_DIR.glob("*.yaml"))}


def arguments(agent_id: str) -> dict[str, Any]:
    """The configurable keyword arguments of a registered agent -> their defaults."""
    def own(function: Callable[..., Any]) -> dict[str, Any]:
        parameters = inspect.signature(function).parameters.values()
        return {p.name: p.default for p in parameters if p.name not in RUNNER_ARGUMENTS
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}

    factory = agent_entry(agent_id).factory
    found = own(factory)
    if agent_id in FORWARDED:
        target, fixed = FORWARDED[agent_id]
        found = {**{k: v for k, v in own(target).items() if k not in fixed}, **found}
    for name in NOT_CONFIGURABLE.get(agent_id, set()):
        found.pop(name)
    return {**found, **FACTORY_DEFAULTS.get(agent_id, {})}


def catalogue_agent_ids() -> list[str]:
    """The agents of openworld's catalogue (tests register agents of their own in the same process)."""
    return [agent_id for agent_id in agent_ids()
            if getattr(agent_entry(agent_id).factory, "__module__", "").startswith("openworld.agents.")]


def test_every_registered_agent_has_a_config_named_for_agent_selection() -> None:
    files = config_files()
    missing = sorted(set(catalogue_agent_ids()) - set(files))
    assert not missing, f"agents without a YAML config in agents/: {missing}"
    for agent_id, path in files.items():
        assert agent_entry(path.stem).agent_id == agent_id, f"agent={path.stem} must select {agent_id}"


@pytest.mark.parametrize("agent_id", sorted(config_files()))
def test_config_lists_every_argument_with_its_default(agent_id: str) -> None:
    config = yaml.safe_load(config_files()[agent_id].read_text())
    assert config.pop("id") == agent_id
    expected = arguments(agent_id)
    assert set(config) == set(expected), f"{agent_id}: extra {set(config) - set(expected)}, " \
                                         f"missing {set(expected) - set(config)}"
    for key, value in config.items():
        default = expected[key]
        if default is inspect.Parameter.empty:
            assert value == REQUIRED, f"{agent_id}.{key} has no default: write ??? (Hydra's 'must be given')"
            continue
        if isinstance(default, tuple):
            value = tuple(value)
        assert type(value) is type(default), (f"{agent_id}.{key}: {value!r} is a {type(value).__name__}, the default "
                                              f"{default!r} a {type(default).__name__} (1e-3 needs a dot: 1.0e-3)")
        assert value == default, f"{agent_id}.{key}: config {value!r}, code default {default!r}"


@pytest.mark.parametrize("path", sorted(AGENTS_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_key_is_documented_by_a_comment(path: Any) -> None:
    lines = path.read_text().splitlines()
    assert lines[0].startswith(f"# agent={path.stem}:"), "the file opens with '# agent=<name>: <what it is>'"
    for i, line in enumerate(lines):
        key = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):", line)
        if key and key.group(1) != "id":
            assert "#" in line or lines[i - 1].startswith("#"), f"{path.name}: '{key.group(1)}' has no comment"
