"""Plasticity diagnostics: each measure's defining property on tiny networks, and PPO logging them at its cadence."""

from __future__ import annotations

import doctest

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

import openworld  # noqa: F401
from openworld.agent.lifetime import live
from openworld.agent.plasticity import diagnostics
from openworld.agent.plasticity.diagnostics import dormant_fraction, measure, parameter_norm, stable_rank
from openworld.agent.protocol import make_agent


def test_the_module_examples_pass() -> None:
    assert doctest.testmod(diagnostics).failed == 0


def test_dormant_units_are_those_whose_share_of_the_layers_activity_is_at_most_tau() -> None:
    # 4 units: activity 0, 0.1, 1.9, 2.0 on average -> scores 0, 0.1, 1.9, 2.0 (the layer's mean activity is 1).
    layer = torch.tensor([[0.0, 0.1, 1.9, 2.0], [0.0, 0.1, 1.9, 2.0]])
    assert dormant_fraction([layer]) == (0.25, 4)  # tau 0: only the unit that is exactly zero on the whole batch
    assert dormant_fraction([layer], tau=0.1) == (0.5, 4)
    assert dormant_fraction([layer, torch.zeros(3, 2)]) == (3 / 6, 6)  # a silent layer: all its units dormant


def test_a_convolutions_unit_is_a_channel_over_the_batch_and_positions() -> None:
    output = torch.zeros(2, 3, 4, 4)  # (N, channels, H, W)
    output[1, 0, 3, 3] = 5.0  # channel 0 fires once, at one position of one sample: not dormant
    output[:, 2] = 1.0  # channel 2 everywhere
    assert dormant_fraction([output]) == (1 / 3, 3)


def test_stable_rank_counts_the_singular_values_that_hold_all_but_delta_of_their_sum() -> None:
    assert stable_rank(torch.eye(8)) == 8
    assert stable_rank(torch.diag(torch.tensor([100.0, 1.0]))) == 1  # 100/101 > 0.99
    assert stable_rank(torch.diag(torch.tensor([100.0, 1.0])), delta=0.001) == 2
    generator = torch.Generator().manual_seed(0)
    low_rank = torch.randn(64, 3, generator=generator) @ torch.randn(3, 32, generator=generator)
    assert stable_rank(low_rank) <= 3
    assert stable_rank(torch.zeros(4, 4)) == 0


def test_measuring_changes_nothing_and_draws_no_random_number() -> None:
    net = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU())
    before = [p.clone() for p in net.parameters()]
    rng = torch.get_rng_state()
    x = torch.linspace(-1, 1, 40).view(8, 5)
    report = measure(net, lambda: net(x))
    assert report.units == 24 and 0.0 <= report.dormant_fraction <= 1.0 and 1 <= report.stable_rank <= 8
    assert report.weight_norm == pytest.approx(parameter_norm(net.parameters()))
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert not any(m._forward_hooks for m in net.modules())  # the hooks are gone
    with torch.no_grad():  # kill the first layer's units, and the second's biases: every unit goes silent
        net[0].bias.fill_(-100.0)
        net[0].weight.zero_()
        net[2].bias.fill_(-1.0)
    dead = measure(net, lambda: net(x))
    assert dead.dormant_fraction == 1.0 and dead.stable_rank == 0


@pytest.mark.parametrize("every", [0, 2])
def test_ppo_logs_its_plasticity_every_n_updates_and_the_gradient_norm_at_each(every: int) -> None:
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    agent = make_agent("ppo", envs.single_observation_space, envs.single_action_space, 2, seed=0, rollout_steps=8,
                       num_minibatches=2, channels=4, hidden_size=16, diagnostics_every=every)
    first = live(envs, agent, 8, seed=0)  # one update
    assert agent.metrics["plasticity/gradient_norm"] > 0.0
    assert "plasticity/dormant_fraction" not in agent.metrics
    live(envs, agent, 8, state=first.state)  # two updates
    keys = {"plasticity/dormant_fraction", "plasticity/stable_rank", "plasticity/weight_norm"}
    assert (keys <= agent.metrics.keys()) == (every == 2)
    if every:
        assert 0.0 <= agent.metrics["plasticity/dormant_fraction"] <= 1.0
        assert 1 <= agent.metrics["plasticity/stable_rank"] <= 16
        norm = np.sqrt(sum(float((p.detach().double() ** 2).sum()) for p in agent.model.parameters()))
        assert agent.metrics["plasticity/weight_norm"] == pytest.approx(norm)


def test_ppo_refuses_a_negative_cadence() -> None:
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    with pytest.raises(ValueError, match="diagnostics_every"):
        make_agent("ppo", envs.single_observation_space, envs.single_action_space, 2, seed=0, diagnostics_every=-1)


def test_ppo_learns_the_same_with_and_without_diagnostics() -> None:
    weights = []
    for every in (0, 1):
        envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
        agent = make_agent("ppo", envs.single_observation_space, envs.single_action_space, 2, seed=3,
                           rollout_steps=8, num_minibatches=2, channels=4, hidden_size=16, diagnostics_every=every)
        live(envs, agent, 24, seed=0)  # three updates, measured after each when every == 1
        weights.append([p.detach().clone() for p in agent.model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))
