"""offline-online (discrete CQL + Cal-QL on the off-policy core): Monte-Carlo returns, the calibrated penalty, the
two phases, resumes and refusals, with tiny budgets."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch.nn import functional

import openworld  # noqa: F401
from openworld.agent.protocol import Transition, make_agent
from openworld.agents.offline_online import CalibratedBatch, OfflineOnline, cql_penalty, monte_carlo_returns
from openworld.agents.offpolicy import UpdateTerms
from openworld.data.store import card_sha256
from openworld.errors import DatasetError
from openworld.runner.checkpoint import dumps_state, loads_state, read_header
from openworld.testing import check_agent

TINY = {"offline_steps": 6, "batch_size": 8, "learning_starts": 16, "buffer_capacity": 256, "ensemble_size": 3,
        "channels": 4, "hidden_size": 16, "critic_hidden_size": 16}


def meadow(num_envs: int = 2) -> gym.vector.VectorEnv:  # type: ignore[type-arg]
    return gym.make_vec("openworld/Meadow-v0", num_envs=num_envs, vectorization_mode="vector_entry_point")


def spaces_of(envs: Any) -> tuple[spaces.Space, spaces.Space]:
    return envs.single_observation_space, envs.single_action_space


def small_dataset(make_dataset: Callable[..., str], name: str = "tiny") -> str:
    # segment_steps=30 over 60 steps x 2 worlds: 4 episodes, each ending at a cut.
    return make_dataset(name, "forager", steps=60, num_envs=2, segment_steps=30)


def agent_with(dataset: str, num_envs: int = 2, seed: int = 0, **config: Any) -> OfflineOnline:
    return OfflineOnline(*spaces_of(meadow(num_envs)), num_envs, seed, dataset=dataset, **{**TINY, **config})


# ---------------------------------------------------------------------------------------------- Monte-Carlo returns
def test_monte_carlo_returns_stop_at_a_death_and_at_a_cut() -> None:
    rewards = np.array([1.0, 2.0, 3.0, 4.0, 0.5, 1.0, 1.0, 1.0], np.float32)
    deaths = np.array([0, 0, 0, 1, 0, 0, 0, 0], bool)
    # Episode 0 (4 steps) ends at a death; episode 1 (3 steps) is cut; episode 2 (1 step) is cut.
    returns = monte_carlo_returns(rewards, deaths, np.array([4, 3, 1]), gamma=0.5)
    g3 = 4.0  # the death: nothing after it
    g2 = 3.0 + 0.5 * g3
    g1 = 2.0 + 0.5 * g2
    g0 = 1.0 + 0.5 * g1
    g6 = 1.0  # the cut: a lower bound of the behaviour's return (the lifetime went on)
    g5 = 1.0 + 0.5 * g6
    g4 = 0.5 + 0.5 * g5
    assert returns.dtype == np.float32
    assert returns.tolist() == [g0, g1, g2, g3, g4, g5, g6, 1.0] == [3.25, 4.5, 5.0, 4.0, 1.25, 1.5, 1.0, 1.0]
    # A death in the middle of an episode stops the sum there too.
    assert monte_carlo_returns(np.ones(3, np.float32), np.array([0, 1, 0], bool), np.array([3]), 0.5).tolist() \
        == [1.5, 1.0, 1.0]
    with pytest.raises(ValueError, match="adding up to 7 for 8 rewards"):
        monte_carlo_returns(rewards, deaths, np.array([4, 3]), gamma=0.5)


def test_the_agent_calibrates_with_the_datasets_returns_in_q_units(prior_stores: Path,
                                                                   make_dataset: Callable[..., str]) -> None:
    dataset = small_dataset(make_dataset)
    agent = agent_with(dataset, gamma=0.9, reward_scale=2.0)
    data = agent.prior_data.data
    assert data.num_episodes == 4 and not data.terminations.any()
    expected = monte_carlo_returns(2.0 * data.rewards, data.terminations, data.episode_lengths, 0.9)
    assert torch.equal(agent.behaviour_values, torch.from_numpy(expected))
    last = data.episode_starts + data.episode_lengths - 1  # each cut: only its own reward
    assert torch.allclose(agent.behaviour_values[last], torch.from_numpy(2.0 * data.rewards[last]))
    agent._offline_phase = True
    replay = torch.Generator()
    replay.set_state(agent.generator.get_state())
    batch = agent.sample_batch()  # dataset rows only, each with its own V_mu
    steps = torch.randint(data.num_steps, (8,), generator=replay)  # the steps it drew
    assert isinstance(batch, CalibratedBatch) and batch.from_prior.all()
    assert torch.equal(batch.actions, torch.from_numpy(data.actions)[steps])
    assert torch.equal(batch.values, agent.behaviour_values[steps])


# ---------------------------------------------------------------------------------------------- the penalty
def test_the_calibrated_penalty_is_the_formula() -> None:
    q = torch.tensor([[[1.0, 2.0, 0.0], [0.5, -1.0, 3.0], [2.0, 2.0, 2.0]],
                      [[0.0, 0.0, 1.0], [4.0, 1.0, -2.0], [-1.0, 0.0, 1.0]]], requires_grad=True)  # (E=2, B=3, A=3)
    actions = [0, 2, 1]
    q_taken = torch.stack([q[:, b, a] for b, a in enumerate(actions)], 1)
    floor = torch.tensor([1.5, -torch.inf, 0.5])  # row 1 is an online row: no floor
    penalty, calibrated = cql_penalty(q, q_taken, floor)
    expected = 0.0
    for i in range(2):
        for b in range(3):
            values = [max(float(q[i, b, a].detach()), float(floor[b])) for a in range(3)]
            expected += math.log(sum(math.exp(v) for v in values)) - float(q[i, b, actions[b]].detach())
    assert penalty.item() == pytest.approx(expected / 6, rel=1e-6)
    assert calibrated.tolist() == [[[True, False, True], [False, False, False], [False, False, False]],
                                   [[True, True, True], [False, False, False], [True, True, False]]]
    penalty.backward()  # type: ignore[no-untyped-call]
    assert q.grad is not None
    # d/dQ: softmax of the floored values where not replaced (a value under the floor is not pushed down),
    # minus 1 at the dataset's action, over E * B = 6.
    floored = torch.maximum(q.detach(), floor.view(1, 3, 1))
    data_action = functional.one_hot(torch.tensor(actions), 3).float().unsqueeze(0)
    assert torch.allclose(q.grad, (torch.softmax(floored, 2) * ~calibrated - data_action) / 6)
    plain, none = cql_penalty(q.detach(), q_taken.detach(), None)
    assert plain.item() == pytest.approx(float((torch.logsumexp(q, 2) - q_taken).mean().detach()), rel=1e-6)
    assert plain.item() < penalty.item() and not none.any()


def test_the_agents_term_is_alpha_times_the_penalty_calibrated_or_not(prior_stores: Path,
                                                                      make_dataset: Callable[..., str]) -> None:
    dataset = small_dataset(make_dataset)
    for calibrate in (True, False):
        agent = agent_with(dataset, cql_alpha=3.0, calibrate=calibrate, reward_scale=1.0)
        agent._offline_phase = True
        batch = agent.sample_batch()
        q_values = agent.model.critics(agent.model.encoder(batch.view, batch.vitals)).detach()
        q_taken = q_values.gather(2, batch.actions.view(1, -1, 1).expand(3, -1, 1)).squeeze(2)
        terms = UpdateTerms(torch.zeros(8, 16), q_values, q_taken, torch.zeros(8), torch.zeros(8, 7),
                            torch.tensor(0.1))
        floored = torch.maximum(q_values, batch.values.view(1, -1, 1)) if calibrate else q_values
        expected = 3.0 * (torch.logsumexp(floored, 2) - q_taken).mean()
        assert torch.allclose(agent.extra_losses(batch, terms)["cql_penalty"], expected)
        # At a reward scale of 1, untrained critics sit far below the returns (about 1 / (1 - gamma)): floored.
        assert agent._term_metrics["charts/calibrated_fraction"] > (0.9 if calibrate else -1)


# ---------------------------------------------------------------------------------------------- the phases
def dataset_penalty(agent: OfflineOnline) -> float:
    """The agent's CQL penalty (calibrated or not, as the agent is) over every step of its dataset."""
    data = agent.prior_data
    batch = data.batch(torch.arange(data.num_steps))
    with torch.no_grad():
        q = agent.model.critics(agent.model.encoder(batch.view, batch.vitals))
        q_taken = q.gather(2, batch.actions.view(1, -1, 1).expand(q.shape[0], -1, 1)).squeeze(2)
        return float(cql_penalty(q, q_taken, agent.behaviour_values if agent.calibrate else None)[0])


def test_offline_pretraining_lowers_the_cql_loss_and_is_not_repeated_after_a_resume(
        prior_stores: Path, make_dataset: Callable[..., str]) -> None:
    dataset = small_dataset(make_dataset)
    envs = meadow(2)
    obs, _ = envs.reset(seed=0)
    # Plain CQL: the gap between the soft maximum and the dataset's action closes (measured 2.18 -> 1.15).
    plain = agent_with(dataset, offline_steps=150, batch_size=32, learning_rate=1e-3, calibrate=False)
    before = dataset_penalty(plain)
    plain.act(obs)
    assert dataset_penalty(plain) < 0.7 * before
    # Cal-QL: slower (measured 16.1 -> 14.1), as the dataset's values must climb towards V_mu through the TD targets.
    agent = agent_with(dataset, offline_steps=150, batch_size=32, learning_rate=1e-3)
    before = dataset_penalty(agent)
    assert agent.updates == 0 and not agent.offline_done  # not in the constructor
    actions = agent.act(obs)
    after = dataset_penalty(agent)
    assert agent.offline_done and agent.updates == agent.offline_updates == 150
    assert after < 0.95 * before, (before, after)
    assert agent.metrics["charts/offline_phase"] == 1.0 and agent.metrics["charts/prior_fraction"] == 1.0

    # Same seed, same dataset: the offline phase is deterministic.
    twin = agent_with(dataset, offline_steps=150, batch_size=32, learning_rate=1e-3)
    assert np.array_equal(twin.act(obs), actions)
    assert all(torch.equal(a, b) for a, b in zip(twin.model.parameters(), agent.model.parameters(), strict=True))

    # Resumed (another seed, through a checkpoint's serialisation): no second offline phase.
    state = loads_state(dumps_state(agent.state_dict()))
    resumed = agent_with(dataset, seed=7, offline_steps=150, batch_size=32, learning_rate=1e-3)
    resumed.load_state_dict(state)
    assert np.array_equal(resumed.act(obs), agent.act(obs))
    assert resumed.updates == 150 and resumed.offline_done
    assert all(torch.equal(a, b) for a, b in zip(resumed.model.parameters(), agent.model.parameters(), strict=True))
    # A state saved before the first action still has its offline phase ahead.
    fresh = agent_with(dataset, seed=3, offline_steps=5)
    early = agent_with(dataset, seed=4, offline_steps=5)
    early.load_state_dict(fresh.state_dict())
    early.act(obs)
    assert early.updates == 5 and early.offline_done
    with pytest.raises(ValueError, match="not an offline-online agent's"):
        early.load_state_dict({k: v for k, v in state.items() if k != "offline_online"})


def test_online_batches_mix_the_dataset_and_learning_starts_counts_online_rows(
        prior_stores: Path, make_dataset: Callable[..., str]) -> None:
    dataset = small_dataset(make_dataset)
    envs = meadow(2)
    agent = agent_with(dataset, offline_steps=3, learning_starts=6, batch_size=10, prior_fraction=0.3)
    obs, _ = envs.reset(seed=0)
    for step in range(4):
        actions = agent.act(obs)
        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        agent.observe(Transition(obs, actions, rewards, next_obs, terminated, truncated, info))
        obs = next_obs
        assert agent.updates == 3 + max(0, step - 1)  # online updates from 6 online rows on (step 2)
    assert agent.metrics["charts/offline_phase"] == 0.0 and agent.metrics["charts/offline_updates"] == 3.0
    assert agent.metrics["charts/prior_fraction"] == pytest.approx(0.3)
    batch = agent.sample_batch()
    assert batch.from_prior.tolist() == [False] * 7 + [True] * 3
    assert torch.isfinite(batch.values[7:]).all() and torch.isinf(batch.values[:7]).all()


def test_check_agent_with_a_dataset(prior_stores: Path, make_dataset: Callable[..., str]) -> None:
    dataset = small_dataset(make_dataset)
    # The checkpoint (step 12) falls after the offline phase (step 0) and among online updates (from step 8 on),
    # with deaths and autoresets around it.
    report = check_agent("offline-online", num_envs=2, steps=40, checkpoint_at=12, config={**TINY, "dataset": dataset},
                         world_overrides={"body.water.decay": 0.5, "body.starvation_damage": 2.0})
    assert "passed" in str(report) and report.terminations > 0


# ---------------------------------------------------------------------------------------------- refusals
def test_no_dataset_a_reward_free_or_a_mismatched_one_is_refused(prior_stores: Path,
                                                                  make_dataset: Callable[..., str]) -> None:
    from openworld.data.datasets import strip_rewards

    dataset = small_dataset(make_dataset)
    observation_space, action_space = spaces_of(meadow(1))
    with pytest.raises(DatasetError, match=r"offline-online learns offline from a dataset.*agent.dataset=<id>"):
        make_agent("offline-online", observation_space, action_space, 2, seed=0, dataset=None)
    with pytest.raises(DatasetError, match="reward-free.*agent=explore"):
        agent_with(strip_rewards(dataset, "tiny-noreward"))
    with pytest.raises(DatasetError, match="none-v0"):
        agent_with("openworld/meadow/none-v0")
    with pytest.raises(DatasetError, match="its actions are Discrete"):
        OfflineOnline(observation_space, spaces.Discrete(5), 2, 0, dataset=dataset, **TINY)
    with pytest.raises(ValueError, match="offline_steps"):
        agent_with(dataset, offline_steps=-1)


# ---------------------------------------------------------------------------------------------- the command
def test_cli_run_records_the_dataset_and_refuses_a_resume_with_another(
        prior_stores: Path, make_dataset: Callable[..., str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import minari

    from openworld.tools.cli import main

    dataset = small_dataset(make_dataset)
    other = small_dataset(make_dataset, "tiny-other")
    monkeypatch.chdir(prior_stores)
    run_dir = prior_stores / "run"
    args = ["run", "world=meadow", "agent=offline-online", "agent.offline_steps=20", "num_envs=2",
            "checkpoint_every=100", "report=off", "progress=off", f"hydra.run.dir={run_dir}",
            "hydra/job_logging=disabled", "hydra/hydra_logging=disabled"]
    assert main([*args, f"agent.dataset={dataset}", "steps=200"]) == 0
    header = read_header(run_dir / "checkpoints" / "last.ckpt")
    assert header["experience"] == {"dataset": {"id": dataset, "card_sha256": card_sha256(dataset)}}
    capsys.readouterr()
    assert main([*args, f"agent.dataset={other}", "steps=300", "resume=true"]) == 2  # another id: another config
    assert "agent.dataset" in capsys.readouterr().err
    minari.delete_dataset(dataset)  # another dataset under the same id: caught by its card's hash
    assert make_dataset("tiny", "forager", steps=60, num_envs=2, segment_steps=30, seed=1) == dataset
    assert main([*args, f"agent.dataset={dataset}", "steps=300", "resume=true"]) == 2
    assert "other prior experience: dataset" in capsys.readouterr().err
    # Without a dataset: refused before the lifetime starts (no run directory is written).
    missing_dir = prior_stores / "missing"
    assert main([*[a for a in args if not a.startswith("hydra.run.dir")], f"hydra.run.dir={missing_dir}",
                 "steps=200"]) == 2
    assert "agent.dataset" in capsys.readouterr().err
    assert not (missing_dir / "checkpoints").exists()
