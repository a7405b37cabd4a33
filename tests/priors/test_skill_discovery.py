"""Discovered skills (``diayn-v0``, ``metra-v0``): the shared loop, the measurement, save/load and determinism."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
import torch

from openworld.errors import PriorError
from openworld.prior.base import seeded_generator
from openworld.prior.format import load_prior, save_prior
from openworld.priors.diayn import DIAYN
from openworld.priors.metra import METRA
from openworld.priors.skill_discovery import SkillDiscovery, SkillSettings, advantages_with_cuts

TINY = {"rollout_steps": 16, "skill_steps": 8, "num_minibatches": 2, "num_epochs": 1, "representation_epochs": 1}


def make_envs(num_envs: int) -> Any:
    return gym.make_vec("openworld/Meadow-v0", num_envs=num_envs, vectorization_mode="vector_entry_point")


def build(cls: type[SkillDiscovery], envs: Any, seed: int = 0, **config: Any) -> SkillDiscovery:
    return cls(envs.single_observation_space, envs.single_action_space, seed=seed,
               **{"num_skills": 4, "hidden_size": 32, "channels": 8, **config})


def fit(prior: SkillDiscovery, envs: Any, steps: int, settings: dict[str, Any], seed: int = 0) -> Any:
    return prior.fit_online(envs, steps, seed, lambda *args: None, settings)


def test_advantages_cut_at_a_skill_end_bootstrap_from_the_old_skill() -> None:
    # Step 1 ends its skill: it bootstraps from next_values[1] (V(s_2, z_1) = 10), and step 0's chain stops there.
    rewards, values = torch.zeros(3, 1), torch.zeros(3, 1)
    next_values = torch.tensor([[0.0], [10.0], [0.0]])
    cut = torch.tensor([[False], [True], [False]])
    none = torch.zeros(3, 1, dtype=torch.bool)
    advantages = advantages_with_cuts(rewards, values, next_values, none, cut, ~none, 0.5, 1.0)
    assert advantages.flatten().tolist() == [2.5, 5.0, 0.0]
    dead = advantages_with_cuts(rewards, values, next_values, cut, none, ~none, 0.5, 1.0)  # a death: no bootstrap
    assert dead.flatten().tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("cls", [DIAYN, METRA])
def test_unknown_training_key_is_refused(cls: type[SkillDiscovery]) -> None:
    envs = make_envs(1)
    with pytest.raises(PriorError, match="rollout_stepz"):
        fit(build(cls, envs), envs, 8, {"rollout_stepz": 8})


@pytest.mark.parametrize("cls", [DIAYN, METRA])
def test_same_seed_gives_identical_training(cls: type[SkillDiscovery]) -> None:
    results, weights = [], []
    for _ in range(2):
        envs = make_envs(2)
        prior = build(cls, envs)
        results.append(fit(prior, envs, 32, TINY, seed=3))
        weights.append(prior.state_dict())
    assert results[0].metrics == results[1].metrics
    for key, value in weights[0].items():
        assert torch.equal(value, weights[1][key]), key
    envs = make_envs(2)
    other = build(cls, envs)
    fit(other, envs, 32, TINY, seed=4)  # another seed: other weights (the comparison can fail)
    assert not all(torch.equal(value, other.state_dict()[key]) for key, value in weights[0].items())


@pytest.mark.parametrize("cls", [DIAYN, METRA])
def test_save_and_load_round_trip(cls: type[SkillDiscovery], tmp_path: Path) -> None:
    envs = make_envs(2)
    prior = build(cls, envs, seed=5)
    result = fit(prior, envs, 16, TINY)
    path = tmp_path / "skills.prior"
    save_prior(path, prior, seed=5, world="Meadow-v0", training=result.settings, metrics=result.metrics)
    loaded = load_prior(path, envs.single_observation_space, envs.single_action_space)
    assert isinstance(loaded, cls) and loaded.skill_kind == "discrete" and loaded.skill_dim == 4
    obs, _ = envs.reset(seed=9)
    tensors = {"view": torch.as_tensor(obs["view"]), "vitals": torch.as_tensor(obs["vitals"])}
    skills = prior.sample_skill(tensors, seeded_generator(0))
    prior.eval()
    with torch.no_grad():
        assert torch.equal(prior.action_logits(tensors, skills), loaded.action_logits(tensors, skills))
        assert torch.equal(prior.representation(tensors["view"], tensors["vitals"]),
                           loaded.representation(tensors["view"], tensors["vitals"]))
    assert skills.sum(1).tolist() == [1.0, 1.0] and set(skills.flatten().tolist()) <= {0.0, 1.0}


def test_skills_are_discovered_on_the_world_seeds_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """``openworld pretrain`` passes a variant's own maps (``WorldChoice.world_seeds``); without them world ``i``
    comes from ``seed + i``."""
    envs = make_envs(2)
    seen: list[Any] = []
    reset = envs.reset
    monkeypatch.setattr(envs, "reset", lambda seed=None, options=None: seen.append(seed) or reset(seed=seed))
    fit(build(DIAYN, envs), envs, 16, TINY, seed=3)
    build(DIAYN, envs).fit_online(envs, 16, 3, lambda *args: None, TINY, world_seeds=[1003, 1004])
    assert seen == [3, [1003, 1004]]


def test_action_logits_needs_skills() -> None:
    envs = make_envs(1)
    obs, _ = envs.reset(seed=0)
    with pytest.raises(PriorError, match="skills"):
        build(DIAYN, envs).action_logits({"view": torch.as_tensor(obs["view"]),
                                          "vitals": torch.as_tensor(obs["vitals"])})


def test_diayn_skills_are_told_apart_on_held_out_states_and_visit_different_cells() -> None:
    # The default networks, 8 worlds x 4,000 steps (12-30 s by CPU), scored on K x 32 steps x 8 worlds = 1,024
    # states from one snapshot the training never saw (a discriminator that learnt nothing scores 1/K there).
    # Measured accuracy with K = 4 (chance 0.25): seed 0 gave 0.60 on one CPU and 0.47 on another (AVX-512
    # kernels, one or two threads: float sums differ, so the lifetimes part); seeds 1 and 2 gave 0.36 and 0.49.
    # So the bar is chance plus five standard errors of a guess (0.25 + 5 x 0.0135 = 0.32), not a figure one
    # seed happened to reach on one machine.
    envs = make_envs(8)
    prior = DIAYN(envs.single_observation_space, envs.single_action_space, seed=0, num_skills=4)
    result = fit(prior, envs, 4000, {"skill_steps": 32})
    chance = 1 / prior.num_skills
    standard_error = (chance * (1 - chance) / (prior.num_skills * 32 * 8)) ** 0.5
    assert result.metrics["val/discriminator_accuracy"] > chance + 5 * standard_error
    assert result.metrics["coverage/skill_distance"] > 0.3  # the skills' visit maps differ (measured 0.46-0.81)
    assert result.metrics["coverage/cells"] >= result.metrics["coverage/cells_per_skill"] > 1
    assert result.samples == 4000 * 8


def test_metra_keeps_its_constraint() -> None:
    envs = make_envs(4)
    prior = build(METRA, envs)
    result = fit(prior, envs, 640, {"rollout_steps": 32, "skill_steps": 16})
    assert result.curves[-1]["train/phi_distance"] <= 1.05
    assert result.metrics["val/phi_distance"] <= 1.05
    assert result.curves[-1]["train/dual"] > 0


def test_metra_dual_grows_while_the_constraint_is_violated() -> None:
    # phi scaled up 100-fold: every step moves far more than one unit, so lambda must rise.
    envs = make_envs(2)
    prior = build(METRA, envs)
    with torch.no_grad():
        prior.representation.head.weight.mul_(100.0)
    result = fit(prior, envs, 32, {**TINY, "dual_learning_rate": 0.1, "initial_dual": 1.0})
    assert result.curves[0]["train/phi_distance"] > 1.0
    assert result.curves[-1]["train/dual"] > 1.0


def test_metra_representation_reaches_the_constrained_optimum() -> None:
    # Two states a, b: skill 0 goes a -> b, skill 1 goes b -> a. The best phi puts b - a along z_0 - z_1 with
    # ||phi(b) - phi(a)|| = 1: objective ||z_0 - z_1|| / 2 = 0.943 per transition for K = 4. Measured: the reward
    # rises from 0.16 to 0.68 in 600 steps, its direction optimal (objective / distance = 0.941) and the step's
    # length oscillating below 1 as lambda pushes back each overshoot (it touches 0.943 at distance 1.0 by 1,050).
    envs = make_envs(2)
    obs, _ = envs.reset(seed=0)
    prior = build(METRA, envs)
    a = {key: torch.as_tensor(value[:1]) for key, value in obs.items()}
    b = {key: torch.as_tensor(value[1:]) for key, value in obs.items()}
    batch = {"view": torch.cat([a["view"], b["view"]]), "vitals": torch.cat([a["vitals"], b["vitals"]]),
             "next_view": torch.cat([b["view"], a["view"]]), "next_vitals": torch.cat([b["vitals"], a["vitals"]]),
             "skill": torch.eye(4)[:2]}
    optimisers = prior.representation_optimisers(SkillSettings(representation_learning_rate=1e-3),
                                                  {**METRA.extra_settings, "dual_learning_rate": 1e-2})
    mask = torch.ones(2, dtype=torch.bool)
    with torch.no_grad():
        first_reward = float(prior.intrinsic_rewards(batch).mean())
    for _ in range(600):
        loss, figures = prior.representation_loss(batch, mask)
        for optimiser in optimisers:
            optimiser.zero_grad()
        loss.backward()
        for optimiser in optimisers:
            optimiser.step()
    with torch.no_grad():
        reward = float(prior.intrinsic_rewards(batch).mean())
    assert reward > first_reward + 0.4
    assert reward / figures["train/phi_distance"] > 0.9  # along z_0 - z_1 (a random direction: about 0.16)
    assert figures["train/phi_distance"] < 1.05 and reward < 0.943 + 0.05  # not beyond the constraint
