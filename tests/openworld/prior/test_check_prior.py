"""openworld.testing.check_prior passes a working prior (as a module, a file, a store id and a kind) and catches
each prior built to fail it, naming the property."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest

from openworld.prior.format import save_prior
from openworld.testing import PRIOR_PROPERTIES, PriorCheckError, check_prior


def test_a_working_prior_passes_as_module_file_id_and_kind(tmp_path: Path) -> None:
    from tiny_priors import TinyPrior

    env = gym.make("openworld/Meadow-v0")
    prior = TinyPrior(env.observation_space, env.action_space, seed=1)
    assert check_prior(prior).checked == PRIOR_PROPERTIES
    save_prior(tmp_path / "t.prior", prior, seed=1)
    assert check_prior(tmp_path / "t.prior", "Drift-v0", batch=4).checked == PRIOR_PROPERTIES
    report = check_prior("tiny-test", skip=["spaces"])
    assert report.checked == ("shapes", "determinism", "save_load") and "skipped spaces" in str(report)


@pytest.mark.parametrize(("kind", "prop", "key"), [
    ("forgets-config", "save_load", "ForgetsConfig"),
    ("global-random-skills", "determinism", "sample_skill"),
    ("not-one-hot", "shapes", "sample_skill"),
    ("hidden-state", "save_load", "action_logits"),
    ("wrong-shape", "shapes", "action_logits"),
    ("unseeded-init", "determinism", "initial weights"),
])
def test_priors_built_to_fail_are_caught(kind: str, prop: str, key: str) -> None:
    import torch
    from tiny_priors import ForgetsConfig, HiddenState

    env = gym.make("openworld/Meadow-v0")
    prior: object
    if kind == "hidden-state":  # its offset, set after building, is not in the state_dict
        prior = HiddenState(env.observation_space, env.action_space)
        prior.offset = torch.arange(7.0)  # type: ignore[attr-defined]
    elif kind == "forgets-config":  # built with a setting its config() does not return
        prior = ForgetsConfig(env.observation_space, env.action_space, hidden_size=8)
    else:
        prior = kind
    with pytest.raises(PriorCheckError) as caught:
        check_prior(prior, batch=4)  # type: ignore[arg-type]
    assert caught.value.property == prop, caught.value
    assert key in caught.value.key, caught.value
