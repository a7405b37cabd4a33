"""Behaviour cloning (``bc-v0``): known answers on collected data, the PPO-compatible layout, save/load, determinism."""

from __future__ import annotations

import doctest
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml

import openworld  # noqa: F401  (registers the worlds)
import openworld.priors.bc
import tests.priors.scripted  # noqa: F401  (registers scripted-greedy-v0)
from openworld.agents.ppo import PPO
from openworld.prior.base import Observations, observations_to_tensors
from openworld.prior.fitting import FitResult, OfflineSettings, fit_offline
from openworld.prior.format import load_prior, save_prior
from openworld.prior.transitions import TransitionData, load_transitions, transitions_from_episodes
from openworld.priors.bc import BehaviourPrior
from openworld.registry import prior_entry


@pytest.fixture(scope="module")
def spaces_() -> tuple[gym.spaces.Dict, gym.spaces.Discrete]:
    env = gym.make("openworld/Meadow-v0")
    return env.observation_space, env.action_space  # type: ignore[return-value]


def sample_observations(space: gym.spaces.Dict, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    space.seed(seed)
    samples = [space.sample() for _ in range(count)]
    return np.stack([s["view"] for s in samples]), np.stack([s["vitals"] for s in samples]).astype(np.float32)


def synthetic_data(space: gym.spaces.Dict, lengths: tuple[int, ...], seed: int = 0) -> TransitionData:
    """Episodes of random observations and actions (for checks that need no world)."""
    rng = np.random.default_rng(seed)
    episodes = []
    for number, length in enumerate(lengths):
        view, vitals = sample_observations(space, length + 1, seed + number)
        episodes.append({"observations": {"view": view, "vitals": vitals}, "actions": rng.integers(0, 7, length),
                         "rewards": np.zeros(length), "terminations": np.zeros(length, bool),
                         "truncations": np.arange(length) == length - 1})
    return transitions_from_episodes(episodes, space, gym.spaces.Discrete(7), [])


def fit(data: TransitionData, model: dict[str, Any] | None = None, **training: Any) -> tuple[BehaviourPrior, FitResult]:
    prior = BehaviourPrior(data.observation_space, data.action_space, seed=0, **(model or {}))
    return prior, fit_offline(prior, data, OfflineSettings(**training), seed=0)


# ---------------------------------------------------------------------------------------------- known answers
def test_bc_imitates_a_deterministic_markov_policy(make_dataset: Callable[..., str]) -> None:
    """The scripted agent's action is a function of the observation: BC must reproduce it almost always."""
    data = load_transitions([make_dataset("greedy", "scripted-greedy", steps=750, num_envs=8, segment_steps=100)])
    frequencies = np.bincount(data.actions, minlength=7) / data.num_steps
    assert frequencies.max() < 0.4 and (frequencies > 0.05).sum() >= 5, frequencies  # moves of all 4 kinds + eating
    _, result = fit(data, batch_size=128, learning_rate=3e-3, max_epochs=8, validation_fraction=0.2, patience=0)
    metrics = result.metrics
    assert metrics["val/accuracy"] >= 0.95, metrics
    assert metrics["val/nll"] < 0.2 * metrics["val/marginal_nll"], metrics
    assert metrics["val/entropy"] < 0.3, metrics  # confident, as the data is deterministic
    assert {"train/nll", "train/accuracy", "val/nll", "val/accuracy"} <= set(result.curves[-1])


def test_bc_on_uniform_random_actions_learns_the_uniform_distribution(make_dataset: Callable[..., str]) -> None:
    """Actions independent of the observation: the best pi0 is uniform, NLL log 7, accuracy about 1/7."""
    data = load_transitions([make_dataset("noise", "random", steps=750, num_envs=8, segment_steps=100)])
    _, result = fit(data, batch_size=128, max_epochs=3, validation_fraction=0.2, patience=0)
    metrics = result.metrics
    assert abs(metrics["val/nll"] - math.log(7)) < 0.03 * math.log(7), metrics
    assert abs(metrics["val/marginal_nll"] - math.log(7)) < 0.03 * math.log(7), metrics
    assert 0.09 < metrics["val/accuracy"] < 0.2, metrics
    assert metrics["val/entropy"] > 0.97 * math.log(7), metrics


def test_recurrent_bc_learns_from_windows(make_dataset: Callable[..., str]) -> None:
    data = load_transitions([make_dataset("greedy", "scripted-greedy", steps=400, num_envs=8, segment_steps=100)])
    prior, result = fit(data, {"recurrent": True, "sequence_length": 4}, batch_size=32, learning_rate=3e-3,
                        max_updates=200, validation_fraction=0.25, patience=0)
    np.testing.assert_array_equal(prior.examples(data), data.chunk_starts(4))
    assert result.metrics["val/accuracy"] > 0.9, result.metrics
    assert result.metrics["val/nll"] < 0.2 * result.metrics["val/marginal_nll"], result.metrics


# ---------------------------------------------------------------------------------------------- the figures
def test_marginal_nll_uses_the_training_side_frequencies(spaces_: tuple[Any, Any]) -> None:
    data = synthetic_data(spaces_[0], (4, 4))
    data.actions[:4] = [0, 0, 0, 1]  # training episode: counts + 1 -> frequencies 4/11, 2/11, 1/11 ...
    data.actions[4:] = [1, 1, 2, 2]  # held-out episode
    prior = BehaviourPrior(*spaces_, seed=0)
    figures = prior.evaluate(data, np.arange(4, 8))
    assert figures["val/marginal_nll"] == pytest.approx(-(2 * math.log(2 / 11) + 2 * math.log(1 / 11)) / 4)
    assert 0 < figures["val/entropy"] <= math.log(7) + 1e-6
    with torch.no_grad():
        logits = prior.action_logits(data.step_observations(np.arange(4, 8)))
    expected = torch.nn.functional.cross_entropy(logits, torch.from_numpy(data.actions[4:]))
    assert figures["val/nll"] == pytest.approx(float(expected), rel=1e-5)


def test_label_smoothing_changes_the_loss_not_the_reported_nll(spaces_: tuple[Any, Any]) -> None:
    data = synthetic_data(spaces_[0], (6, 6))
    plain = BehaviourPrior(*spaces_, seed=0)
    smooth = BehaviourPrior(*spaces_, seed=0, label_smoothing=0.5)
    with torch.no_grad():  # confident logits, so that smoothing matters
        plain.policy.weight.mul_(300.0)
        smooth.policy.weight.mul_(300.0)
    generator = torch.Generator()
    loss_plain, figures_plain = plain.loss(data, np.arange(12), generator)
    loss_smooth, figures_smooth = smooth.loss(data, np.arange(12), generator)
    assert figures_smooth["train/nll"] == pytest.approx(figures_plain["train/nll"])
    assert float(loss_smooth.detach()) != pytest.approx(float(loss_plain.detach()), rel=1e-3)


# ---------------------------------------------------------------------------------------------- acting, memory
def test_recurrent_step_carries_the_memory_of_a_window(spaces_: tuple[Any, Any]) -> None:
    data = synthetic_data(spaces_[0], (5, 3))
    prior = BehaviourPrior(*spaces_, seed=1, recurrent=True, sequence_length=3)
    with torch.no_grad():
        windows, _ = prior._window_logits(data, np.array([0, 2, 5]))  # (3 windows * 3 steps, A)
        memory = prior.initial_memory(3)
        stepped = []
        for t in range(3):
            logits, memory = prior.step(data.step_observations(np.array([0, 2, 5]) + t), memory)
            stepped.append(logits)
        torch.testing.assert_close(windows.view(3, 3, -1), torch.stack(stepped, 1))
        first = data.step_observations(np.array([0, 2, 5]))
        torch.testing.assert_close(prior.action_logits(first), stepped[0])
        assert not torch.allclose(stepped[1], prior.action_logits(data.step_observations(np.array([1, 3, 6]))))
    assert prior.examples(data).tolist() == [0, 1, 2, 5]  # windows never cross an episode's end


def test_layout_loads_into_ppo(spaces_: tuple[Any, Any]) -> None:
    """``encoder.*``, ``memory.*`` and ``policy.*`` fit PPO's network of the same sizes: only the value head is left."""
    for recurrent in (False, True):
        prior = BehaviourPrior(*spaces_, seed=0, recurrent=recurrent)
        agent = PPO(spaces_[0], spaces_[1], num_envs=1, seed=0, num_minibatches=1, recurrent=recurrent)
        missing, unexpected = agent.model.load_state_dict(prior.state_dict(), strict=False)
        assert unexpected == [] and sorted(missing) == ["value.bias", "value.weight"]
        view, vitals = sample_observations(spaces_[0], 5)
        obs = observations_to_tensors(view, vitals)
        with torch.no_grad():
            logits, _, _ = agent.model(obs["view"], obs["vitals"], prior.initial_memory(5))
            torch.testing.assert_close(logits, prior.action_logits(obs))


# ---------------------------------------------------------------------------------------------- files, seeds
@pytest.mark.parametrize("model", [{}, {"recurrent": True, "sequence_length": 4, "hidden_size": 32}])
def test_save_load_round_trip(spaces_: tuple[Any, Any], tmp_path: Path, model: dict[str, Any]) -> None:
    prior = BehaviourPrior(*spaces_, seed=3, **model)
    with torch.no_grad():  # weights no fresh build has: a load that kept the initial ones would fail
        for parameter in prior.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=torch.Generator().manual_seed(7)))
    save_prior(tmp_path / "bc.prior", prior, seed=3, metrics={"val/nll": 0.5})
    loaded = load_prior(tmp_path / "bc.prior")
    assert isinstance(loaded, BehaviourPrior) and loaded.config() == prior.config()
    obs = observations_to_tensors(*sample_observations(spaces_[0], 8))
    with torch.no_grad():
        torch.testing.assert_close(loaded.action_logits(obs), prior.action_logits(obs), rtol=0, atol=0)


def test_seed_determines_the_initial_weights(spaces_: tuple[Any, Any]) -> None:
    state = torch.get_rng_state()
    first, again, other = (BehaviourPrior(*spaces_, seed=s).state_dict() for s in (0, 0, 1))
    assert torch.equal(state, torch.get_rng_state())  # the global generator was not drawn from
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not all(torch.equal(first[key], other[key]) for key in first)


def test_config_rebuilds_the_architecture(spaces_: tuple[Any, Any]) -> None:
    settings = {"embedding_dim": 2, "channels": 8, "hidden_size": 24, "label_smoothing": 0.1, "recurrent": True,
                "sequence_length": 5}
    prior = BehaviourPrior(*spaces_, seed=0, **settings)
    assert prior.config() == settings
    rebuilt = prior_entry("bc-v0").factory(*spaces_, seed=9, **prior.config())
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in prior.state_dict().items()}
    assert prior_entry("bc-v0").training == "offline" and BehaviourPrior.monitor == "val/nll"


def test_pretrain_config_builds_the_prior(spaces_: tuple[Any, Any]) -> None:
    config = yaml.safe_load((Path(__file__).parents[2] / "experiments/pretrain/prior/bc.yaml").read_text())
    assert config["id"] == "bc-v0" and set(config) == {"id", "model", "training"}
    OfflineSettings.from_mapping(config["training"])
    prior = prior_entry(config["id"]).factory(*spaces_, seed=0, **config["model"])
    assert prior.config() == config["model"]
    agent = PPO(spaces_[0], spaces_[1], num_envs=1, seed=0)  # PPO's default sizes: the weights fit
    agent.model.load_state_dict(prior.state_dict(), strict=False)


def test_docstring_example() -> None:
    failures, attempted = doctest.testmod(openworld.priors.bc, verbose=False)  # type: ignore[arg-type]
    assert attempted > 0 and failures == 0


def test_action_logits_shape(spaces_: tuple[Any, Any]) -> None:
    obs: Observations = observations_to_tensors(*sample_observations(spaces_[0], 3))
    logits = BehaviourPrior(*spaces_, seed=0).action_logits(obs)
    assert logits.shape == (3, 7) and torch.isfinite(logits).all()
