"""The off-policy core (replay, prior data, discrete soft Q-learning) and RLPD on it, with tiny budgets."""

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
from torch import nn

import openworld  # noqa: F401
from openworld.agent.networks import observation_tensors
from openworld.agent.protocol import Transition
from openworld.agents.offpolicy import Batch, DiscreteSoftQ, ReplayBuffer, UpdateTerms
from openworld.agents.rlpd import RLPD
from openworld.data.store import card_sha256
from openworld.errors import DatasetError
from openworld.runner.checkpoint import dumps_state, loads_state, read_header
from openworld.testing import check_agent

TINY = {"batch_size": 8, "learning_starts": 16, "buffer_capacity": 256, "ensemble_size": 3, "channels": 4,
        "hidden_size": 16, "critic_hidden_size": 16}
DEADLY = {"body.water.decay": 0.5, "body.starvation_damage": 2.0}  # deaths within ~25 steps: autoresets happen


def meadow(num_envs: int = 2) -> gym.vector.VectorEnv:  # type: ignore[type-arg]
    return gym.make_vec("openworld/Meadow-v0", num_envs=num_envs, vectorization_mode="vector_entry_point")


def spaces_of(envs: Any) -> tuple[spaces.Space, spaces.Space]:
    return envs.single_observation_space, envs.single_action_space


def step_by_hand(agent: DiscreteSoftQ, marker: float, terminated: list[bool]) -> None:
    """One batched step whose observations carry ``marker`` (and the env index) in vitals[0], vitals[1]."""
    n = len(terminated)
    vitals = np.zeros((n, 4), np.float32)
    vitals[:, 0], vitals[:, 1] = marker, np.arange(n)
    obs = {"view": np.zeros((n, 7, 7, 3), np.uint8), "vitals": vitals}
    agent.observe(Transition(obs, np.zeros(n, np.int64), np.ones(n, np.float32), obs, np.array(terminated),
                             np.zeros(n, bool), {}))


def small_dataset(make_dataset: Callable[..., str], name: str = "tiny") -> str:
    return make_dataset(name, "forager", steps=60, num_envs=2, segment_steps=30)


# ---------------------------------------------------------------------------------------------- replay
def test_the_autoreset_step_is_stored_but_never_sampled() -> None:
    envs = meadow(2)
    agent = DiscreteSoftQ(*spaces_of(envs), 2, seed=0, **{**TINY, "learning_starts": 1000, "buffer_capacity": 1000})
    step_by_hand(agent, 0, [False, False])
    step_by_hand(agent, 1, [True, False])  # env 0 dies at step 1
    step_by_hand(agent, 2, [False, False])  # ... so its step 2 is the autoreset step
    step_by_hand(agent, 3, [False, True])  # env 1 dies at step 3: its step 4 is the autoreset step
    step_by_hand(agent, 4, [False, False])
    valid = agent.replay.storage["valid"][: agent.replay.size].view(5, 2)
    assert valid.tolist() == [[True, True], [True, True], [False, True], [True, True], [True, False]]
    assert agent.replay.storage["terminals"][:10].view(5, 2)[1].tolist() == [True, False]
    batch = agent.replay.sample(4000, torch.Generator().manual_seed(0))
    drawn = {(int(m), int(e)) for m, e in batch.vitals[:, :2].tolist()}
    assert drawn == {(0, 0), (0, 1), (1, 0), (1, 1), (2, 1), (3, 0), (3, 1), (4, 0)}  # never (2, 0) nor (4, 1)


def drawn_rows(batch: Batch) -> dict[tuple[int, int], tuple[int, float, bool, int]]:
    """(marker, env) of each drawn row -> (horizon, reward sum, terminal, the bootstrap observation's marker)."""
    return {(int(m), int(e)): (int(k), round(float(r), 6), bool(d), int(nm))
            for (m, e), k, r, d, nm in zip(batch.vitals[:, :2].tolist(), batch.horizons.tolist(),
                                           batch.rewards.tolist(), batch.terminals.tolist(),
                                           batch.next_vitals[:, 0].tolist(), strict=True)}


def test_n_step_returns_stop_at_deaths_autoresets_and_the_newest_step_across_the_ring() -> None:
    envs = meadow(2)
    agent = DiscreteSoftQ(*spaces_of(envs), 2, seed=0, n_step=3, gamma=0.5,
                        **{**TINY, "learning_starts": 15, "buffer_capacity": 15})
    assert agent.replay.capacity == 14  # whole steps of 2 envs: 7 steps
    deaths = [[False, False], [True, False], [False, False], [False, True], [False, False], [False, False],
              [False, False], [False, False], [False, False]]
    for marker, terminated in enumerate(deaths[:5]):
        step_by_hand(agent, marker, terminated)
    rows = drawn_rows(agent.replay.sample(4000, torch.Generator().manual_seed(0), 3, 0.5, 2))
    assert rows == {
        (0, 0): (2, 1.5, True, 1), (1, 0): (1, 1.0, True, 1),  # env 0 dies at step 1; step 2 is its autoreset
        (3, 0): (2, 1.5, False, 4), (4, 0): (1, 1.0, False, 4),  # the newest step ends the horizon
        (0, 1): (3, 1.75, False, 2), (1, 1): (3, 1.75, True, 3), (2, 1): (2, 1.5, True, 3), (3, 1): (1, 1.0, True, 3),
    }
    for marker, terminated in enumerate(deaths[5:], start=5):  # 9 steps into a ring of 7: steps 0 and 1 are gone
        step_by_hand(agent, marker, terminated)
    rows = drawn_rows(agent.replay.sample(4000, torch.Generator().manual_seed(0), 3, 0.5, 2))
    assert min(marker for marker, _ in rows) == 2
    assert rows[(3, 0)] == (3, 1.75, False, 5) and rows[(6, 1)] == (3, 1.75, False, 8)
    assert rows[(8, 0)] == (1, 1.0, False, 8) and rows[(7, 1)] == (2, 1.5, False, 8)
    one_step = agent.replay.sample(64, torch.Generator().manual_seed(1))
    same_draws = agent.replay.sample(64, torch.Generator().manual_seed(1), 3, 0.5, 2)
    assert torch.equal(one_step.vitals, same_draws.vitals) and one_step.horizons.eq(1).all()


def test_n_step_returns_of_prior_data_stop_at_the_episode_end() -> None:
    from openworld.agents.offpolicy import PriorBuffer
    from openworld.prior.transitions import transitions_from_episodes

    space = spaces.Dict({"view": spaces.Box(0, 9, (3, 3, 1), np.uint8), "vitals": spaces.Box(0, 9, (2,))})

    def episode(length: int, died: bool) -> dict[str, Any]:
        vitals = np.stack([np.arange(length + 1), np.full(length + 1, length)], 1).astype(np.float32)
        ends = np.zeros(length, bool)
        ends[-1] = True
        return {"observations": {"view": np.zeros((length + 1, 3, 3, 1), np.uint8), "vitals": vitals},
                "actions": np.zeros(length, np.int64), "rewards": np.arange(1, length + 1, dtype=np.float32),
                "terminations": ends & died, "truncations": ends & (not died)}

    buffer = PriorBuffer(transitions_from_episodes([episode(4, died=True), episode(2, died=False)], space,
                                                   spaces.Discrete(7), []))
    batch = buffer.sample(2000, torch.Generator().manual_seed(0), 3, 0.5)
    rows = {(int(length), int(t)): (int(k), float(r), bool(d), int(nt)) for (t, length), k, r, d, nt in
            zip(batch.vitals.tolist(), batch.horizons.tolist(), batch.rewards.tolist(), batch.terminals.tolist(),
                batch.next_vitals[:, 0].tolist(), strict=True)}
    assert rows == {(4, 0): (3, 1 + 1.0 + 0.75, False, 3), (4, 1): (3, 2 + 1.5 + 1.0, True, 4),
                    (4, 2): (2, 3 + 2.0, True, 4), (4, 3): (1, 4.0, True, 4),  # a death: no bootstrap
                    (2, 0): (2, 1 + 1.0, False, 2), (2, 1): (1, 2.0, False, 2)}  # a cut: bootstrap from its end


def test_the_ring_overwrites_the_oldest_rows_and_its_state_round_trips() -> None:
    buffer = ReplayBuffer(5, (3, 3, 1), 2)
    for step in range(4):  # 8 rows into 5
        view = torch.full((2, 3, 3, 1), step, dtype=torch.uint8)
        buffer.add(view, torch.zeros(2, 2), torch.tensor([step, step]), torch.zeros(2), view, torch.zeros(2, 2),
                   torch.zeros(2, dtype=torch.bool), torch.tensor([True, step != 3]))
    assert (buffer.size, buffer.position, buffer.valid_count) == (5, 3, 4)
    assert buffer.storage["actions"].tolist() == [2, 3, 3, 1, 2]
    copy = ReplayBuffer(5, (3, 3, 1), 2)
    copy.load_state_dict(loads_state(dumps_state(buffer.state_dict())))
    assert all(torch.equal(copy.storage[k], buffer.storage[k]) for k in buffer.storage)
    with pytest.raises(ValueError, match="capacity 5, this agent 6"):
        ReplayBuffer(6, (3, 3, 1), 2).load_state_dict(buffer.state_dict())


# ---------------------------------------------------------------------------------------------- learner
def test_targets_do_not_bootstrap_past_a_death_and_the_targets_follow_by_polyak() -> None:
    envs = meadow(2)
    agent = DiscreteSoftQ(*spaces_of(envs), 2, seed=0, **{**TINY, "learning_starts": 2, "tau": 0.5})
    seen: list[tuple[Batch, UpdateTerms]] = []
    agent.extra_losses = lambda batch, terms: seen.append((batch, terms)) or {}  # type: ignore[method-assign]
    step_by_hand(agent, 0, [True, False])  # 2 valid rows: updates start (the first sets the value level)
    target_before = [p.clone() for p in agent.target.parameters()]
    step_by_hand(agent, 1, [False, True])  # env 0's autoreset step (not sampled); env 1 dies
    batch, terms = seen[-1]
    dead = batch.terminals
    assert dead.any() and (~dead).any()
    assert torch.equal(terms.targets[dead], agent.reward_scale * batch.rewards[dead])  # y = c r at a death
    assert (terms.targets[~dead] != agent.reward_scale * batch.rewards[~dead]).all()  # bootstrapped elsewhere
    online = [*agent.model.encoder.parameters(), *agent.model.critics.parameters()]
    for before, after, now in zip(target_before, agent.target.parameters(), online, strict=True):
        assert torch.allclose(after, 0.5 * before + 0.5 * now)


def test_n_step_targets_discount_the_bootstrap_by_gamma_to_the_horizon() -> None:
    envs = meadow(2)
    agent = DiscreteSoftQ(*spaces_of(envs), 2, seed=0, n_step=3, gamma=0.5, reward_scale=0.1,
                        **{**TINY, "learning_starts": 6, "target_subset": 3})
    checked: list[torch.Tensor] = []

    def expected_targets(batch: Batch, terms: UpdateTerms) -> dict[str, torch.Tensor]:
        with torch.no_grad():  # the soft value of the bootstrap observation, min over all 3 target critics
            target_q = agent.target["critics"](agent.target["encoder"](batch.next_view, batch.next_vitals))
            log_probs = torch.log_softmax(target_q.mean(0) / terms.alpha, 1)  # the target critics' Boltzmann
            q = target_q.min(0).values
            value = (log_probs.exp() * (q - terms.alpha * log_probs)).sum(1)
        expected = 0.1 * batch.rewards + 0.5 ** batch.horizons * (~batch.terminals) * value
        checked.append(batch.horizons)
        assert torch.allclose(terms.targets, expected, atol=1e-6)
        return {}

    agent.extra_losses = expected_targets  # type: ignore[method-assign]
    for marker, terminated in enumerate([[False, False], [False, True]] + [[False, False]] * 6):
        step_by_hand(agent, marker, terminated)
    horizons = torch.cat(checked)
    assert {1, 2, 3} <= set(horizons.tolist())


def test_the_policy_is_the_boltzmann_of_the_critics_mean() -> None:
    envs = meadow(3)
    agent = DiscreteSoftQ(*spaces_of(envs), 3, seed=0, **TINY)
    obs, _ = envs.reset(seed=0)
    view, vitals = observation_tensors(obs)
    with torch.no_grad():
        agent.model.critics.out.bias.copy_(torch.linspace(0.0, 0.6, 7))  # action 6 best everywhere by 0.1 steps
        agent.log_alpha.fill_(math.log(0.05))
        q = agent.model.critics(agent.model.encoder(view, vitals))
    torch.testing.assert_close(agent.policy_logits(q), q.mean(0) / 0.05)
    expected = torch.multinomial(torch.softmax(q.mean(0) / 0.05, 1), 1,
                                 generator=torch.Generator().set_state(agent.generator.get_state())).squeeze(1)
    assert agent.act(obs).tolist() == expected.tolist()
    with torch.no_grad():
        agent.log_alpha.fill_(math.log(1e-4))  # a cold Boltzmann: the critics' greedy action
    greedy = q.mean(0).argmax(1).tolist()
    assert all(agent.act(obs).tolist() == greedy for _ in range(5))


@pytest.mark.parametrize(("ratio", "moves"), [(0.5, "down"), (0.999, "up")])
def test_the_temperature_moves_the_policys_entropy_towards_the_target(ratio: float, moves: str) -> None:
    envs = meadow(2)
    agent = DiscreteSoftQ(*spaces_of(envs), 2, seed=0, target_entropy_ratio=ratio, init_temperature=0.1,
                          **{**TINY, "learning_starts": 2})
    with torch.no_grad():  # Q = 0, 0.05, .., 0.3 in every state: at alpha 0.1 the entropy is 0.80 of log 7
        for critics in (agent.model.critics, agent.target["critics"]):
            critics.out.weight.zero_()
            critics.out.bias.copy_(torch.linspace(0.0, 0.3, 7))
    before = float(agent.log_alpha.detach())
    for step in range(3):
        step_by_hand(agent, step, [False, False])
    assert agent.updates == 3
    assert (float(agent.log_alpha.detach()) < before) == (moves == "down")


def test_the_first_update_starts_every_critic_at_the_value_of_the_reward_rate() -> None:
    envs = meadow(2)
    agent = DiscreteSoftQ(*spaces_of(envs), 2, seed=0, gamma=0.9, reward_scale=0.5, n_step=1,
                          **{**TINY, "learning_starts": 2})
    online, target = agent.model.critics.out.bias.clone(), agent.target["critics"].out.bias.clone()
    step_by_hand(agent, 0, [False, False])  # every stored reward is 1, no death: level 0.5 * 1 / (1 - 0.9) = 5
    assert agent.updates == 1
    # The online biases moved by the level and one Adam step (about the learning rate); the target's by the
    # level, then a Polyak step towards the online ones.
    assert torch.allclose(agent.model.critics.out.bias, online + 5.0, atol=1e-2)
    assert torch.allclose(agent.target["critics"].out.bias, target + 5.0, atol=1e-2)
    step_by_hand(agent, 1, [False, False])  # later updates do not add it again
    assert torch.allclose(agent.target["critics"].out.bias, target + 5.0, atol=2e-2)
    q = agent.target["critics"](agent.target["encoder"](*observation_tensors(envs.reset(seed=0)[0])))
    assert 3.0 < float(q.mean()) < 7.0  # about the value of earning 0.5 a step forever at gamma 0.9


class WithExtraTerm(DiscreteSoftQ):
    """A subclass using the hooks: a network trained by an extra loss term."""

    def build_extra_modules(self, generator: torch.Generator) -> nn.ModuleDict:
        return nn.ModuleDict({"reward_model": nn.Linear(16, 1)})

    def extra_losses(self, batch: Batch, terms: UpdateTerms) -> dict[str, torch.Tensor]:
        prediction = self.extra["reward_model"](terms.features.detach()).squeeze(1)
        return {"reward_model": ((prediction - batch.rewards) ** 2).mean()}


def test_an_extra_loss_term_trains_its_module_is_logged_and_is_in_the_state() -> None:
    envs = meadow(2)
    agent = WithExtraTerm(*spaces_of(envs), 2, seed=0, **{**TINY, "learning_starts": 2})
    before = agent.extra["reward_model"].weight.clone()
    step_by_hand(agent, 0, [False, False])
    assert agent.updates == 1 and "losses/reward_model" in agent.metrics
    assert not torch.equal(before, agent.extra["reward_model"].weight)
    assert torch.equal(agent.state_dict()["extra"]["reward_model.weight"], agent.extra["reward_model"].weight)


def test_check_agent_from_scratch_with_deaths() -> None:
    report = check_agent("rlpd", num_envs=3, steps=40, config=TINY, world_overrides=DEADLY)
    assert report.terminations > 0


# ---------------------------------------------------------------------------------------------- prior data
def test_check_agent_with_a_dataset_and_symmetric_sampling(prior_stores: Path,
                                                           make_dataset: Callable[..., str]) -> None:
    dataset = small_dataset(make_dataset)
    check_agent("rlpd", num_envs=2, steps=30, config={**TINY, "dataset": dataset})

    envs = meadow(2)
    agent = RLPD(*spaces_of(envs), 2, seed=0, dataset=dataset, **{**TINY, "batch_size": 10, "n_step": 1})
    assert agent.experience == {"dataset": {"id": dataset, "card_sha256": card_sha256(dataset)}}
    for step in range(3):
        step_by_hand(agent, step, [False, False])
    batch = agent.sample_batch()
    assert batch.from_prior.tolist() == [False] * 5 + [True] * 5  # half online, half the dataset
    assert (batch.vitals[:5, 1] <= 1).all() and (batch.vitals[:5, 0] <= 2).all()  # the hand-made online rows
    data = agent.prior_data
    assert data is not None and data.num_steps == 120
    for i in range(5, 10):  # each prior row's next observation is the dataset's next one (of a row that matches)
        matches = np.flatnonzero((data.data.vitals == batch.vitals[i].numpy()).all(1)
                                 & (data.data.view == batch.view[i].numpy()).all((1, 2, 3)))
        assert any(torch.equal(batch.next_vitals[i], torch.from_numpy(data.data.vitals[row + 1]))
                   and torch.equal(batch.next_view[i], torch.from_numpy(data.data.view[row + 1])) for row in matches)
    scratch = RLPD(*spaces_of(envs), 2, seed=0, **{**TINY, "batch_size": 10})
    step_by_hand(scratch, 0, [False, False])
    assert scratch.experience == {} and not scratch.sample_batch().from_prior.any()


def test_reward_free_and_mismatched_datasets_are_refused(prior_stores: Path,
                                                         make_dataset: Callable[..., str]) -> None:
    from openworld.data.datasets import strip_rewards

    dataset = small_dataset(make_dataset)
    observation_space, action_space = spaces_of(meadow(1))
    with pytest.raises(DatasetError, match="reward-free.*agent=explore"):
        RLPD(observation_space, action_space, 2, seed=0, dataset=strip_rewards(dataset, "tiny-noreward"), **TINY)
    small_view = spaces.Dict({"view": spaces.Box(0, 255, (5, 5, 3), np.uint8),
                              "vitals": observation_space["vitals"]})
    with pytest.raises(DatasetError, match="its observations are"):
        RLPD(small_view, action_space, 2, seed=0, dataset=dataset, **TINY)
    with pytest.raises(DatasetError, match="its actions are Discrete"):
        RLPD(observation_space, spaces.Discrete(5), 2, seed=0, dataset=dataset, **TINY)
    with pytest.raises(DatasetError, match="none-v0"):
        RLPD(observation_space, action_space, 2, seed=0, dataset="openworld/meadow/none-v0", **TINY)


def test_cli_run_with_a_dataset_records_its_experience(prior_stores: Path, make_dataset: Callable[..., str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from openworld.tools.cli import main

    dataset = small_dataset(make_dataset)
    monkeypatch.chdir(prior_stores)
    run_dir = prior_stores / "run"
    code = main(["run", "world=meadow", "agent=rlpd", f"agent.dataset={dataset}", "agent.learning_starts=64",
                 "agent.batch_size=16", "agent.buffer_capacity=1000", "steps=200", "num_envs=2", "report=off",
                 "progress=off", f"hydra.run.dir={run_dir}", "hydra/job_logging=disabled",
                 "hydra/hydra_logging=disabled"])
    assert code == 0
    header = read_header(run_dir / "checkpoints" / "last.ckpt")
    assert header["experience"] == {"dataset": {"id": dataset, "card_sha256": card_sha256(dataset)}}


@pytest.mark.parametrize("module", ["openworld.agents.offpolicy", "openworld.agents.rlpd"])
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    failures, attempted = doctest.testmod(importlib.import_module(module), verbose=False)
    assert attempted > 0 and failures == 0


# ---------------------------------------------------------------------------------------------- plasticity
CORE_OPTIONS = ["l2_init", {"shrink_perturb": {"noise_std": 1e-3}}, "adam_betas", "layer_norm", "weight_decay",
                {"head_reset": {"every": 5}}]


def test_the_core_keeps_the_protocol_and_resumes_exactly_with_every_plasticity_option() -> None:
    check_agent("rlpd", num_envs=2, steps=40, checkpoint_at=20,
                config={**TINY, "learning_starts": 8, "plasticity": CORE_OPTIONS, "diagnostics_every": 3})


def test_the_cores_options_act_on_encoder_and_critics_and_leave_the_temperature_alone() -> None:
    envs = meadow(2)
    agent = DiscreteSoftQ(*spaces_of(envs), 2, seed=0, plasticity=[{"shrink_perturb": {"shrink": 0.5, "noise_std": 0}},
                                                                    {"head_reset": {"every": 2}}],
                          diagnostics_every=2, **{**TINY, "learning_starts": 2})
    assert [type(m) for m in agent.model.encoder.project] == [nn.Linear, nn.ReLU]
    step_by_hand(agent, 0, [False, False])  # update 1: the value level, then a halving of every weight
    bias_after_first = agent.model.critics.out.bias.detach().clone()
    alpha = float(agent.log_alpha.detach())
    step_by_hand(agent, 1, [False, False])  # update 2: halved again, then the heads' weights re-drawn
    assert float(agent.log_alpha.detach()) != pytest.approx(alpha / 2)  # the temperature is not shrunk
    assert agent.metrics["plasticity/head_reset/resets"] == 1.0
    assert all(p not in agent.optimizer.state for p in agent.model.critics.out.parameters())
    # the reset keeps the output biases (the value level): they are those of the halving, not zero
    assert float(agent.model.critics.out.bias.detach().abs().mean()) > 0.1 * float(bias_after_first.abs().mean())
    assert {"plasticity/dormant_fraction", "plasticity/stable_rank", "plasticity/weight_norm",
            "plasticity/gradient_norm"} <= agent.metrics.keys()
    plain = DiscreteSoftQ(*spaces_of(envs), 2, seed=0, **TINY)
    with pytest.raises(ValueError, match=r"plasticity options \['shrink_perturb', 'head_reset'\], this agent \[\]"):
        plain.load_state_dict(agent.state_dict())
