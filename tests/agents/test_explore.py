"""ExPLORe on the off-policy core: reward-free prior data labelled r_hat + bonus_scale * novelty, tiny budgets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import openworld  # noqa: F401
from openworld.agent.protocol import Transition
from openworld.agents.explore import Explore
from openworld.data.store import card_sha256
from openworld.errors import DatasetError
from openworld.runner.checkpoint import read_header
from openworld.testing import check_agent

TINY = {"batch_size": 8, "learning_starts": 16, "buffer_capacity": 256, "ensemble_size": 3, "channels": 4,
        "hidden_size": 16, "critic_hidden_size": 16, "reward_hidden_size": 8, "rnd_hidden_size": 16,
        "rnd_output_size": 8}


def meadow(num_envs: int = 2) -> gym.vector.VectorEnv:  # type: ignore[type-arg]
    return gym.make_vec("openworld/Meadow-v0", num_envs=num_envs, vectorization_mode="vector_entry_point")


def spaces_of(envs: Any) -> tuple[spaces.Space, spaces.Space]:
    return envs.single_observation_space, envs.single_action_space


def reward_free_dataset(make_dataset: Callable[..., str], name: str = "tiny") -> str:
    from openworld.data.datasets import strip_rewards

    return strip_rewards(make_dataset(name, "forager", steps=60, num_envs=2, segment_steps=30), f"{name}-noreward")


def live(agent: Explore, steps: int, reward: float | None = None, seed: int = 0) -> None:
    """``steps`` batched steps of Meadow with the agent's actions (the reward replaced by ``reward`` if given)."""
    envs = meadow(agent.num_envs)
    obs, _ = envs.reset(seed=seed)
    for _ in range(steps):
        actions = agent.act(obs)
        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        if reward is not None:
            rewards = np.full_like(rewards, reward)
        agent.observe(Transition(obs, actions, rewards, next_obs, terminated, truncated, info))
        obs = next_obs


def test_check_agent_with_a_reward_free_dataset(prior_stores: Path, make_dataset: Callable[..., str]) -> None:
    dataset = reward_free_dataset(make_dataset)
    report = check_agent("explore", num_envs=2, steps=30, config={**TINY, "dataset": dataset})
    assert report.steps == 30
    agent = Explore(*spaces_of(meadow(1)), 2, seed=0, dataset=dataset, **TINY)
    assert agent.experience == {"dataset": {"id": dataset, "card_sha256": card_sha256(dataset)}}
    assert agent.prior_data is not None and not agent.prior_data.has_rewards


def test_prior_rows_are_labelled_r_hat_plus_the_scaled_novelty(prior_stores: Path,
                                                               make_dataset: Callable[..., str]) -> None:
    dataset = reward_free_dataset(make_dataset)
    agent = Explore(*spaces_of(meadow(1)), 2, seed=0, dataset=dataset, bonus_scale=0.7,
                    **{**TINY, "batch_size": 12})
    live(agent, 20)  # 40 transitions: updates ran, so the reward model and RND have moved from their init
    assert agent.updates > 0 and "losses/rnd" in agent.metrics and "charts/prior_label" in agent.metrics
    scale_before = float(agent.extra["novelty"].mean_square)
    batch = agent.sample_batch()
    assert batch.from_prior.tolist() == [False] * 6 + [True] * 6
    assert float(agent.extra["novelty"].mean_square) != scale_before  # the labelled rows moved the scale
    prior = batch.from_prior
    assert torch.isfinite(batch.rewards).all()
    r_hat, novelty = agent.reward_and_novelty(batch)  # with the scale the labels used
    assert (novelty[prior] > 0).all() and novelty[prior].std() > 0
    torch.testing.assert_close(batch.rewards[prior], r_hat[prior] + 0.7 * novelty[prior])
    # The online rows keep their true rewards (Meadow's alive reward: 0 or 1 a step), without a bonus: n-step sums
    # for the TD target, one step for the reward model; the labelled rows are one-step.
    assert set(batch.step_rewards[~prior].tolist()) <= {0.0, 1.0}
    assert (batch.rewards[~prior] >= batch.step_rewards[~prior]).all() and (batch.horizons[~prior] > 1).any()
    assert (batch.horizons[prior] == 1).all() and torch.equal(batch.step_rewards[prior], batch.rewards[prior])
    # A batch the update sees is labelled too: the TD targets of the prior rows are finite.
    seen: list[torch.Tensor] = []
    original = agent.extra_losses
    agent.extra_losses = lambda b, terms: seen.append(terms.targets) or original(b, terms)  # type: ignore[method-assign]
    agent.update()
    assert torch.isfinite(seen[0]).all()


def test_the_reward_model_learns_a_constant_reward(prior_stores: Path, make_dataset: Callable[..., str]) -> None:
    dataset = reward_free_dataset(make_dataset)
    agent = Explore(*spaces_of(meadow(1)), 2, seed=0, dataset=dataset, learning_rate=1e-3,
                    **{**TINY, "batch_size": 32})
    losses: list[float] = []
    envs = meadow(2)
    obs, _ = envs.reset(seed=1)
    for _ in range(150):
        actions = agent.act(obs)
        next_obs, _, terminated, truncated, info = envs.step(actions)
        agent.observe(Transition(obs, actions, np.full(2, 2.0, np.float32), next_obs, terminated, truncated, info))
        obs = next_obs
        if agent.updates:
            losses.append(agent.metrics["losses/reward_model"])
    assert len(losses) > 100
    early, late = np.mean(losses[:10]), np.mean(losses[-10:])
    assert late < 0.1 * early, (early, late)
    batch = agent.sample_batch()
    r_hat, _ = agent.reward_and_novelty(batch)
    online = ~batch.from_prior
    assert float((r_hat[online] - 2.0).abs().mean()) < 0.2
    assert float(r_hat[~online].mean()) > 1.5  # the forager's states, never trained on, get most of it too


def test_missing_and_mismatched_datasets_are_refused(prior_stores: Path, make_dataset: Callable[..., str]) -> None:
    observation_space, action_space = spaces_of(meadow(1))
    with pytest.raises(DatasetError, match="agent=rlpd"):
        Explore(observation_space, action_space, 2, seed=0, dataset=None, **TINY)
    with pytest.raises(DatasetError, match="none-v0"):
        Explore(observation_space, action_space, 2, seed=0, dataset="openworld/meadow/none-v0", **TINY)
    dataset = make_dataset("with-rewards", "forager", steps=30, num_envs=2, segment_steps=30)
    with pytest.raises(DatasetError, match="its actions are Discrete"):
        Explore(observation_space, spaces.Discrete(5), 2, seed=0, dataset=dataset, **TINY)
    agent = Explore(observation_space, action_space, 2, seed=0, dataset=dataset, **TINY)  # rewards accepted...
    live(agent, 10)
    batch = agent.sample_batch()
    r_hat, novelty = agent.reward_and_novelty(batch)
    prior = batch.from_prior
    torch.testing.assert_close(batch.rewards[prior], r_hat[prior] + novelty[prior])  # ... and ignored


def test_cli_run_and_a_resume_with_another_dataset_refused(prior_stores: Path, make_dataset: Callable[..., str],
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from openworld.tools.cli import main

    first = reward_free_dataset(make_dataset, "first")
    second = reward_free_dataset(make_dataset, "second")
    monkeypatch.chdir(prior_stores)
    common = ["run", "world=meadow", "agent=explore", "agent.learning_starts=64", "agent.batch_size=16",
              "agent.buffer_capacity=1000", "agent.channels=4", "agent.hidden_size=16", "num_envs=2",
              "checkpoint_every=100", "report=off", "progress=off", "hydra.run.dir=run",
              "hydra/job_logging=disabled", "hydra/hydra_logging=disabled"]
    assert main([*common, f"agent.dataset={first}", "steps=200"]) == 0
    header = read_header(prior_stores / "run" / "checkpoints" / "last.ckpt")
    assert header["experience"] == {"dataset": {"id": first, "card_sha256": card_sha256(first)}}
    capsys.readouterr()
    assert main([*common, f"agent.dataset={second}", "steps=300", "resume=true"]) == 2  # another id: the config
    assert "agent.dataset" in capsys.readouterr().err
    from openworld.data.datasets import strip_rewards

    strip_rewards(make_dataset("third", "forager", steps=30, num_envs=2, segment_steps=30), "first-noreward",
                  overwrite=True)  # other data under the same id
    assert card_sha256(first) != header["experience"]["dataset"]["card_sha256"]
    assert main([*common, f"agent.dataset={first}", "steps=300", "resume=true"]) == 2
    assert "other prior experience" in capsys.readouterr().err


def test_cli_without_a_dataset_is_refused_before_the_lifetime(prior_stores: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from openworld.tools.cli import main

    monkeypatch.chdir(prior_stores)
    for extra, message in (([], "agent.dataset: must be given"),
                           (["agent.dataset=openworld/meadow/none-v0"], "none-v0")):
        capsys.readouterr()
        code = main(["run", "world=meadow", "agent=explore", *extra, "steps=200", "num_envs=2", "report=off",
                     "progress=off", "hydra.run.dir=run", "hydra/job_logging=disabled",
                     "hydra/hydra_logging=disabled"])
        assert code == 2
        assert message in capsys.readouterr().err
        assert not (prior_stores / "run" / "checkpoints").exists()
