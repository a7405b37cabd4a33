"""Every kind of prior in openworld's catalogue passes check_prior untrained, has its pretrain config, and is
documented in docs/priors.md with its command."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import yaml

from openworld.registry import prior_entry, prior_ids
from openworld.testing import PRIOR_PROPERTIES, check_prior

DOCS = Path(__file__).resolve().parents[2] / "docs" / "priors.md"


def catalogue_kinds() -> list[str]:
    return [kind for kind in prior_ids() if prior_entry(kind).factory.__module__.startswith("openworld.priors.")]


def test_the_catalogue_has_the_kinds_the_issue_names() -> None:
    assert {"bc-v0", "skill-vae-v0", "diayn-v0", "metra-v0"} <= set(catalogue_kinds())


@pytest.mark.parametrize("kind", catalogue_kinds())
def test_each_kind_passes_check_prior_and_has_a_config_and_docs(kind: str) -> None:
    assert check_prior(kind, batch=4).checked == PRIOR_PROPERTIES
    name = kind.rsplit("-v", 1)[0]
    config = yaml.safe_load(resources.files("openworld.experiments.pretrain").joinpath("prior", f"{name}.yaml")
                            .read_text())
    assert config["id"] == kind and set(config) == {"id", "model", "training"}
    entry = prior_entry(kind)
    built = entry.factory(*_spaces(), seed=0, **(config["model"] or {}))
    assert built.config() == {**built.config(), **(config["model"] or {})}  # the YAML's settings are the prior's
    assert f"prior={name}" in DOCS.read_text(), f"docs/priors.md does not show the command for {kind}"


def _spaces() -> tuple[object, object]:
    import gymnasium as gym

    env = gym.make("openworld/Meadow-v0")
    return env.observation_space, env.action_space


@pytest.mark.parametrize("module", ["bc", "skill_vae", "skill_discovery", "diayn", "metra"])
def test_each_module_docstring_example_runs(module: str) -> None:
    """The catalogue's modules are imported once (registering twice is an error), so their doctests run here rather
    than through pytest's --doctest-modules, which would import them a second time."""
    import doctest
    import importlib

    failures, attempted = doctest.testmod(importlib.import_module(f"openworld.priors.{module}"), verbose=False)
    assert failures == 0 and attempted > 0
