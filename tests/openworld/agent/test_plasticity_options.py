"""Plasticity options: building them from config, each option's defining property on a tiny network, and PPO with
them (exact resume, a refused resume with other options, the command line)."""

from __future__ import annotations

import doctest
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
import torch
from torch import nn

import openworld  # noqa: F401
from openworld.agent.lifetime import live
from openworld.agent.plasticity import (
    OPTIONS,
    PlasticityOption,
    adam_betas,
    base,
    build_options,
    head_reset,
    l2_init,
    layer_norm,
    shrink_perturb,
    weight_decay,
)
from openworld.agent.plasticity.head_reset import HeadReset
from openworld.agent.plasticity.l2_init import L2Init
from openworld.agent.plasticity.shrink_perturb import ShrinkPerturb
from openworld.agent.protocol import make_agent
from openworld.testing import check_agent

TINY_PPO = {"rollout_steps": 8, "num_minibatches": 2, "channels": 4, "hidden_size": 16}


@pytest.mark.parametrize("module", [base, l2_init, shrink_perturb, adam_betas, layer_norm, weight_decay, head_reset])
def test_the_module_examples_pass(module: Any) -> None:
    assert doctest.testmod(module).failed == 0


# ---------------------------------------------------------------------------------------------- config
def test_options_are_built_from_names_or_names_with_settings() -> None:
    options = build_options(["l2_init", {"shrink_perturb": {"shrink": 0.9, "every": 3}}, {"adam_betas": None}])
    assert [o.name for o in options] == ["l2_init", "shrink_perturb", "adam_betas"]
    assert isinstance(options[1], ShrinkPerturb) and (options[1].shrink, options[1].every) == (0.9, 3)
    assert build_options(None) == [] and build_options([]) == []


@pytest.mark.parametrize(("spec", "message"), [
    (["dropout"], "unknown plasticity option 'dropout'; known: adam_betas, cbp, head_reset, l2_init, layer_norm, "
                  "redo, shrink_perturb, weight_decay"),
    ([{"weight_decay": {"coef": -1}}], "coef must be >= 0"),
    ([{"head_reset": {"every": 0}}], "every must be >= 1"),
    (["l2_init", "l2_init"], "given twice"),
    ([{"l2_init": {"strength": 1.0}}], "plasticity option 'l2_init': .*strength"),
    ([{"l2_init": {"coef": -1.0}}], "coef must be >= 0"),
    ([{"shrink_perturb": {"shrink": 1.5}}], "0 < shrink <= 1"),
    ([{"adam_betas": {"beta": 1.0}}], r"\[0, 1\)"),
    ([{"l2_init": {}, "adam_betas": {}}], "a name or"),
    ([3], "a name or"),
])
def test_bad_options_are_refused_with_what_is_wrong(spec: list[Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_options(spec)


def test_two_options_that_set_the_same_optimiser_setting_are_refused() -> None:
    class OtherBetas(PlasticityOption):
        name = "other_betas"

        def optimizer_settings(self) -> dict[str, Any]:
            return {"betas": (0.5, 0.5)}

    base.register_option(OtherBetas)
    try:
        with pytest.raises(ValueError, match="'adam_betas' and 'other_betas' both set the optimiser's 'betas'"):
            build_options(["adam_betas", "other_betas"])
    finally:
        del OPTIONS["other_betas"]


# ---------------------------------------------------------------------------------------------- properties
def test_l2_init_pulls_every_parameter_towards_its_initial_value() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    option = L2Init(coef=0.3)
    option.attach(net)
    initial = [p.detach().clone() for p in net.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.linspace(-1, 1, p.numel()).view_as(p))
    option.loss(net).backward()  # type: ignore[no-untyped-call]
    for p, p0 in zip(net.parameters(), initial, strict=True):
        assert p.grad is not None
        torch.testing.assert_close(p.grad, 2 * 0.3 * (p.detach() - p0))  # the gradient points back to the start


def twos() -> nn.Linear:
    """A 100 x 100 linear layer whose every parameter is 2."""
    net = nn.Linear(100, 100)
    with torch.no_grad():
        net.weight.fill_(2.0)
        net.bias.fill_(2.0)
    return net


def test_shrink_and_perturb_scales_and_adds_noise_of_the_stated_size_every_nth_step() -> None:
    net = twos()
    option = ShrinkPerturb(shrink=0.5, noise_std=0.1, every=2)
    generator = torch.Generator().manual_seed(0)
    option.after_step(net, None, generator)  # step 1 of every 2: untouched
    assert bool((net.weight == 2.0).all())
    option.after_step(net, None, generator)  # step 2: 2 * 0.5 + N(0, 0.1)
    change = net.weight.detach() - 1.0
    assert abs(float(change.mean())) < 0.005 and float(change.std()) == pytest.approx(0.1, rel=0.05)
    again = twos()
    replay = ShrinkPerturb(shrink=0.5, noise_std=0.1, every=2)
    generator = torch.Generator().manual_seed(0)
    replay.after_step(again, None, generator)
    replay.after_step(again, None, generator)
    assert torch.equal(again.weight, net.weight)  # the noise comes from the generator: reproducible


def test_adam_betas_sets_both_moment_rates_of_ppos_optimiser() -> None:
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    agent = make_agent("ppo", envs.single_observation_space, envs.single_action_space, 2, seed=0,
                       plasticity=[{"adam_betas": {"beta": 0.95}}], **TINY_PPO)
    assert agent.optimizer.param_groups[0]["betas"] == (0.95, 0.95)
    assert agent.optimizer.param_groups[0]["eps"] == 1e-5  # PPO's own setting stays


def test_weight_decay_shrinks_the_models_parameters_by_the_learning_rate_times_coef() -> None:
    model, other = nn.Linear(3, 3), nn.Linear(3, 3)
    optimizer = torch.optim.Adam([{"params": model.parameters(), "lr": 0.1},
                                  {"params": other.parameters(), "lr": 0.1}])
    before, other_before = [p.detach().clone() for p in model.parameters()], other.weight.detach().clone()
    weight_decay.WeightDecay(coef=0.2).after_step(model, optimizer, torch.Generator())
    for p, p0 in zip(model.parameters(), before, strict=True):
        torch.testing.assert_close(p.detach(), p0 * (1 - 0.1 * 0.2))
    assert torch.equal(other.weight, other_before)  # only the model's own parameters decay


def test_head_reset_reinitialises_only_the_heads_every_nth_step_and_drops_their_optimiser_state() -> None:
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    agent = make_agent("ppo", envs.single_observation_space, envs.single_action_space, 2, seed=0,
                       plasticity=[{"head_reset": {"every": 4}}], **TINY_PPO)
    option = agent.plasticity[0]
    assert isinstance(option, HeadReset)
    initial_encoder = [p.detach().clone() for p in agent.model.encoder.parameters()]
    live(envs, agent, 8, seed=0)  # one update: 2 epochs x 2 minibatches = 4 optimiser steps, the 4th resets
    assert option.resets == 1 and agent.metrics["plasticity/head_reset/resets"] == 1.0
    heads = [p for head in agent.model.heads() for p in head.parameters()]
    assert all(p not in agent.optimizer.state for p in heads)  # Adam starts the heads afresh
    assert all(p in agent.optimizer.state for p in agent.model.encoder.parameters())
    assert float(agent.model.policy.bias.detach().abs().sum()) == 0.0
    assert float(agent.model.value.bias.detach().abs().sum()) == 0.0
    assert float(agent.model.policy.weight.detach().norm()) < 0.05  # re-initialised small, as at the start
    assert any(not torch.equal(a, b) for a, b in zip(agent.model.encoder.parameters(), initial_encoder,
                                                     strict=True))  # the encoder keeps what it learnt


def test_layer_norm_builds_the_encoder_with_a_layer_norm_before_its_last_relu() -> None:
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    spaces = (envs.single_observation_space, envs.single_action_space)
    normed = make_agent("ppo", *spaces, 2, seed=0, plasticity=["layer_norm"], **TINY_PPO)
    plain = make_agent("ppo", *spaces, 2, seed=0, **TINY_PPO)
    assert [type(m) for m in normed.model.encoder.project] == [nn.Linear, nn.LayerNorm, nn.ReLU]
    assert [type(m) for m in plain.model.encoder.project] == [nn.Linear, nn.ReLU]
    seen: list[torch.Tensor] = []
    normed.model.encoder.project[1].register_forward_hook(lambda _m, _i, output: seen.append(output))
    obs, _ = envs.reset(seed=0)
    normed.act(obs)
    torch.testing.assert_close(seen[0].mean(1), torch.zeros(2), atol=1e-5, rtol=0)  # normalised per sample
    with pytest.raises(ValueError, match="plasticity options"):
        plain.load_state_dict(normed.state_dict())


# ---------------------------------------------------------------------------------------------- ppo
ALL = ["l2_init", {"shrink_perturb": {"noise_std": 1e-3}}, "adam_betas", "layer_norm", "weight_decay",
       {"head_reset": {"every": 6}}]


def test_ppo_with_every_option_keeps_the_protocol_and_resumes_exactly() -> None:
    check_agent("ppo", num_envs=2, steps=40, checkpoint_at=16, config={**TINY_PPO, "plasticity": ALL})


def test_l2_init_keeps_ppo_closer_to_its_initial_weights() -> None:
    distances = []
    for options in (None, [{"l2_init": {"coef": 10.0}}]):
        envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
        agent = make_agent("ppo", envs.single_observation_space, envs.single_action_space, 2, seed=0,
                           plasticity=options, learning_rate=1e-2, **TINY_PPO)
        initial = [p.detach().clone() for p in agent.model.parameters()]
        live(envs, agent, 32, seed=0)
        distances.append(sum(float(((p.detach() - p0) ** 2).sum())
                             for p, p0 in zip(agent.model.parameters(), initial, strict=True)))
    assert distances[1] < 0.5 * distances[0]


def test_a_state_with_other_options_is_refused() -> None:
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    spaces = (envs.single_observation_space, envs.single_action_space)
    with_l2 = make_agent("ppo", *spaces, 2, seed=0, plasticity=["l2_init"], **TINY_PPO)
    plain = make_agent("ppo", *spaces, 2, seed=0, **TINY_PPO)
    with pytest.raises(ValueError, match=r"plasticity options \['l2_init'\], this agent \[\]"):
        plain.load_state_dict(with_l2.state_dict())
    with pytest.raises(ValueError, match=r"plasticity options \[\], this agent \['l2_init'\]"):
        with_l2.load_state_dict(plain.state_dict())


def test_the_command_line_takes_options_and_refuses_an_unknown_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from openworld.tools.cli import main

    monkeypatch.chdir(tmp_path)
    args = ["run", "world=meadow", "agent=ppo", "agent.channels=4", "agent.hidden_size=16", "agent.rollout_steps=16",
            "agent.num_minibatches=2", "num_envs=2", "steps=64", "report=off", "progress=off",
            "hydra/job_logging=disabled", "hydra/hydra_logging=disabled"]
    assert main([*args, "agent.plasticity=[l2_init,{shrink_perturb:{shrink:0.999}}]", "hydra.run.dir=good"]) == 0
    capsys.readouterr()
    assert main([*args, "agent.plasticity=[dropout]", "hydra.run.dir=bad"]) != 0
    assert "unknown plasticity option 'dropout'" in capsys.readouterr().err
