"""ReDo and continual backpropagation: the unit structure they share, each option's defining property on a tiny PPO
network, PPO with them (exact resume, metrics, the command line, a recurrent model refused) and the off-policy core
with them (its encoder's units, read by every critic)."""

from __future__ import annotations

import doctest
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

import openworld  # noqa: F401
from openworld.agent.lifetime import live
from openworld.agent.networks import observation_tensors
from openworld.agent.plasticity import build_options, cbp, redo, units
from openworld.agent.plasticity.cbp import ContinualBackprop
from openworld.agent.plasticity.diagnostics import unit_scores
from openworld.agent.plasticity.redo import ReDo
from openworld.agent.plasticity.units import UnitActivations, outgoing_magnitude, reinitialise_units, unit_layers
from openworld.agent.protocol import make_agent
from openworld.testing import check_agent

TINY_PPO = {"rollout_steps": 8, "num_minibatches": 2, "channels": 4, "hidden_size": 16}


@pytest.fixture(autouse=True)
def one_thread() -> Any:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_agent(plasticity: list[Any] | None = None, **config: Any) -> tuple[Any, gym.vector.VectorEnv]:
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    agent = make_agent("ppo", envs.single_observation_space, envs.single_action_space, 2, seed=0,
                       plasticity=plasticity, **{**TINY_PPO, **config})
    return agent, envs


def observations(envs: gym.vector.VectorEnv, rows: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """``rows`` observations of random play (a batch to score units on)."""
    obs, _ = envs.reset(seed=0)
    views, vitals = [], []
    rng = np.random.default_rng(0)
    while sum(len(v) for v in views) < rows:
        view, vital = observation_tensors(obs)
        views.append(view.clone())
        vitals.append(vital.clone())
        obs, *_ = envs.step(rng.integers(0, envs.single_action_space.n, envs.num_envs))
    return torch.cat(views)[:rows], torch.cat(vitals)[:rows]


def learning_step(agent: Any, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    """One forward pass with gradients and one optimiser step of the agent's Adam (so its moments are non-zero)."""
    logits, values, _ = agent.model(*batch, torch.zeros((len(batch[0]), 0)))
    agent.optimizer.zero_grad()
    (logits.square().mean() + values.square().mean()).backward()
    agent.optimizer.step()


@pytest.mark.parametrize("module", [units, redo, cbp])
def test_the_module_examples_pass(module: Any) -> None:
    assert doctest.testmod(module).failed == 0


# ---------------------------------------------------------------------------------------------- units
def test_the_outgoing_slices_are_exactly_the_weights_that_read_each_unit() -> None:
    agent, envs = tiny_agent()
    model, batch = agent.model, observations(envs)
    layers = unit_layers(model, "test")
    assert [(layer.name, layer.units) for layer in layers] == [
        ("encoder.conv.1", 4), ("encoder.conv.3", 4), ("encoder.project.1", 16)]
    empty = torch.zeros((len(batch[0]), 0))
    for layer in layers:
        for unit in (0, layer.units - 1):
            # silencing the unit's activity and zeroing its outgoing slices must give the same network output
            def silence(_module: nn.Module, _inputs: Any, output: torch.Tensor, unit: int = unit) -> torch.Tensor:
                output = output.clone()
                output[:, unit] = 0.0
                return output

            handle = layer.activation.register_forward_hook(silence)
            with torch.no_grad():
                silenced = model(*batch, empty)[:2]
            handle.remove()
            saved = [piece.parameter.detach().clone() for piece in layer.outgoing]
            with torch.no_grad():
                for piece in layer.outgoing:
                    piece.parameter.index_fill_(piece.dim, piece.indices(torch.tensor([unit])), 0.0)
                cut = model(*batch, empty)[:2]
                for piece, value in zip(layer.outgoing, saved, strict=True):
                    piece.parameter.copy_(value)
            for a, b in zip(silenced, cut, strict=True):
                torch.testing.assert_close(a, b)


def test_the_hooks_change_nothing_and_keep_only_passes_with_gradients() -> None:
    agent, envs = tiny_agent()
    batch, empty = observations(envs), torch.zeros((32, 0))
    with torch.no_grad():
        before = agent.model(*batch, empty)[:2]
    activations = UnitActivations(unit_layers(agent.model, "test"))
    with torch.no_grad():
        after = agent.model(*batch, empty)[:2]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert activations.outputs == [None, None, None]  # a pass without gradients (acting) is not kept
    agent.model(*batch, empty)
    assert [tuple(o.shape) for o in activations.outputs if o is not None] == [(32, 4, 7, 7), (32, 4, 5, 5), (32, 16)]
    activations.remove()


def test_a_recurrent_ppo_is_refused_with_the_option_named() -> None:
    for name in ("redo", "cbp"):
        with pytest.raises(ValueError, match=f"'{name}' does not support a recurrent model"):
            tiny_agent([name], recurrent=True)


def test_a_reset_units_incoming_weights_are_rows_of_a_fresh_orthogonal_draw() -> None:
    agent, _ = tiny_agent()
    layer = unit_layers(agent.model, "test")[2]
    before = layer.incoming.weight.detach().clone()
    reinitialise_units([(layer, torch.tensor([0, 3, 9]))], None, torch.Generator().manual_seed(0))
    rows = layer.incoming.weight.detach()[[0, 3, 9]]
    torch.testing.assert_close(rows @ rows.T, 2.0 * torch.eye(3))  # gain sqrt 2, as initialise_module (ppo)
    assert torch.equal(layer.incoming.weight.detach()[[1, 2, 4]], before[[1, 2, 4]])


# ---------------------------------------------------------------------------------------------- redo
def test_redo_resets_only_the_dormant_units_and_their_adam_moments() -> None:
    agent, envs = tiny_agent()
    model, batch = agent.model, observations(envs)
    encoder = model.encoder
    with torch.no_grad():  # dead by hand: channel 2 of the first convolution, units 1 and 5 of the projection
        encoder.conv[0].bias[2] = -1e4
        encoder.project[0].bias[[1, 5]] = -1e4
    option = ReDo(every=1)
    option.attach(model)
    learning_step(agent, batch)
    dormant = [torch.nonzero(unit_scores(o) <= option.tau).flatten()
               for o in option.activations.outputs]  # type: ignore[union-attr]
    # the hand-made ones, and whatever a tiny random network has dormant on 32 rows besides
    assert {2} <= set(dormant[0].tolist()) and {1, 5} <= set(dormant[2].tolist())
    for p in model.parameters():  # a dead unit's weights get no gradient: give every moment a value to see reset
        agent.optimizer.state[p]["exp_avg"].add_(0.5)
        agent.optimizer.state[p]["exp_avg_sq"].add_(0.25)
    params = {name: p.detach().clone() for name, p in model.named_parameters()}
    moments = {name: {key: value.clone() for key, value in agent.optimizer.state[p].items()}
               for name, p in model.named_parameters()}
    option.after_step(model, agent.optimizer, torch.Generator().manual_seed(1))
    count = sum(len(d) for d in dormant)
    assert option.metrics() == {"units_reset": count, "last_reset": count, "dormant_fraction": count / 24}

    # where the reset may write: the dormant units' incoming rows (re-drawn) and outgoing slices (zeroed)
    redrawn: dict[int, torch.Tensor] = {}
    masks = {id(p): torch.zeros_like(p, dtype=torch.bool) for p in model.parameters()}
    for layer, chosen in zip(option.layers, dormant, strict=True):
        for piece in layer.incoming_slices():
            masks[id(piece.parameter)].index_fill_(piece.dim, piece.indices(chosen), True)
        redrawn[id(layer.incoming.weight)] = chosen
        for piece in layer.outgoing:
            masks[id(piece.parameter)].index_fill_(piece.dim, piece.indices(chosen), True)
            assert bool((piece.parameter.index_select(piece.dim, piece.indices(chosen)) == 0).all())
        if layer.incoming.bias is not None:
            assert bool((layer.incoming.bias[chosen] == 0).all())
    for name, p in model.named_parameters():
        mask = masks[id(p)]
        assert torch.equal(p.detach()[~mask], params[name][~mask]), name  # every other weight untouched
        for key in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(agent.optimizer.state[p][key][~mask], moments[name][key][~mask]), (name, key)
            assert bool((agent.optimizer.state[p][key][mask] == 0).all()), (name, key)
        if id(p) in redrawn:
            chosen = redrawn[id(p)]
            kept = p.detach()[chosen] != 0  # what a later reset unit's outgoing zeros left of the rows
            assert bool((p.detach()[chosen] != params[name][chosen])[kept].all()), name  # re-drawn
    assert float(model.encoder.conv[0].bias[2].detach()) == 0.0 and bool((model.policy.weight[:, [1, 5]] == 0).all())


def test_redo_waits_every_steps_and_counts_across_a_resume() -> None:
    agent, envs = tiny_agent()
    batch = observations(envs)
    with torch.no_grad():
        agent.model.encoder.project[0].bias[3] = -1e4
    option = ReDo(every=3)
    option.attach(agent.model)
    generator = torch.Generator().manual_seed(0)
    for _ in range(2):
        learning_step(agent, batch)
        option.after_step(agent.model, agent.optimizer, generator)
    assert option.metrics()["units_reset"] == 0.0 and float(agent.model.encoder.project[0].bias[3].detach()) == -1e4
    again = ReDo(every=3)
    again.load_state_dict(option.state_dict())
    again.attach(agent.model)
    option.activations.remove()  # type: ignore[union-attr]
    learning_step(agent, batch)
    again.after_step(agent.model, agent.optimizer, generator)
    assert again.metrics()["units_reset"] >= 1.0 and float(agent.model.encoder.project[0].bias[3].detach()) == 0.0


# ---------------------------------------------------------------------------------------------- cbp
def test_cbp_utility_is_the_running_contribution_of_each_unit() -> None:
    agent, envs = tiny_agent()
    batch = observations(envs)
    option = ContinualBackprop(replacement_rate=0.0, decay=0.9)
    option.attach(agent.model)
    generator = torch.Generator().manual_seed(0)
    expected = torch.zeros(16)
    for _ in range(3):
        with torch.no_grad():  # the features the step's forward pass sees (the weights before the step)
            h = agent.model.encoder(*batch)
        learning_step(agent, batch)
        outgoing = agent.model.policy.weight.abs().sum(0) + agent.model.value.weight.abs().sum(0)
        expected = 0.9 * expected + 0.1 * h.abs().mean(0) * outgoing.detach()
        option.after_step(agent.model, agent.optimizer, generator)
    torch.testing.assert_close(option.utility[2], expected)
    torch.testing.assert_close(outgoing_magnitude(option.layers[2]), outgoing.detach())
    assert option.ages[2].tolist() == [3.0] * 16 and option.metrics()["units_replaced"] == 0.0


def test_cbp_replaces_the_lowest_utility_mature_units_never_immature_ones() -> None:
    agent, envs = tiny_agent()
    batch = observations(envs)
    option = ContinualBackprop(replacement_rate=0.125, maturity=100)
    option.attach(agent.model)
    option.ages[0].fill_(-1000)  # the convolutions stay immature: only the projection is under test
    option.ages[1].fill_(-1000)
    # utilities 100 * (16 - u): unit 15 is the least useful, but units 12..15 are too young to be replaced
    option.utility[2] = 100.0 * torch.arange(16, 0, -1, dtype=torch.float32)
    option.ages[2] = torch.tensor([1000.0] * 12 + [50.0] * 4, dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    replaced = []
    for _ in range(2):
        learning_step(agent, batch)
        before = agent.model.encoder.project[0].weight.detach().clone()
        option.after_step(agent.model, agent.optimizer, generator)
        replaced.append(torch.nonzero((agent.model.encoder.project[0].weight != before).any(1)).flatten().tolist())
        if len(replaced) == 1:  # 12 mature x 0.125 = 1.5 due: one replaced, half carried over
            assert option.due[2] == pytest.approx(0.5)
    # then 0.5 + 11 x 0.125 = 1.875: one more, the next lowest mature utility
    assert replaced == [[11], [10]] and option.due[2] == pytest.approx(0.875)
    assert option.ages[2][[10, 11]].tolist() == [0.0, 1.0] and option.utility[2][10] == 0.0
    assert bool((agent.model.policy.weight[:, 10] == 0).all()) and option.metrics()["units_replaced"] == 2.0
    assert bool((option.ages[0] < 0).all())  # the convolutions were never replaced


@pytest.mark.parametrize(("maturity", "steps"), [(0, 10), (3, 12)])
def test_cbp_replaces_units_at_the_accumulated_rate(maturity: int, steps: int) -> None:
    agent, envs = tiny_agent()
    batch = observations(envs)
    option = ContinualBackprop(replacement_rate=0.125, maturity=maturity)  # 0.5 per step of 4 channels, 2 of 16
    option.attach(agent.model)
    generator = torch.Generator().manual_seed(0)
    expected_due, expected_total = [0.0, 0.0, 0.0], 0
    for _ in range(steps):
        learning_step(agent, batch)
        ages_before = [a.clone() + 1 for a in option.ages]
        option.after_step(agent.model, agent.optimizer, generator)
        for index, ages in enumerate(ages_before):
            mature = int((ages > maturity).sum())
            if mature:
                expected_due[index] += 0.125 * mature
            due = int(expected_due[index])
            expected_due[index] -= due
            expected_total += due
            replaced = torch.nonzero(option.ages[index] == 0).flatten()
            assert len(replaced) == due and bool((ages[replaced] > maturity).all())  # never an immature unit
    assert option.metrics()["units_replaced"] == expected_total
    if maturity == 0:  # every unit always mature: exactly rate x units x steps
        assert expected_total == steps * (0.5 + 0.5 + 2)


@pytest.mark.parametrize(("spec", "message"), [
    ({"redo": {"tau": -1.0}}, "redo needs tau >= 0"), ({"redo": {"every": 0}}, "every >= 1"),
    ({"cbp": {"replacement_rate": 2.0}}, "0 <= replacement_rate <= 1"), ({"cbp": {"decay": 1.0}}, "0 <= decay < 1"),
    ({"cbp": {"maturity": -1}}, "maturity >= 0"), ({"redo": {"threshold": 0.1}}, "'redo': .*threshold"),
])
def test_bad_settings_are_refused_with_what_is_wrong(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_options([spec])


# ---------------------------------------------------------------------------------------------- ppo
FIRING = [{"redo": {"every": 2, "tau": 0.5}}, {"cbp": {"replacement_rate": 0.125, "maturity": 2}}]


def test_ppo_with_redo_and_cbp_keeps_the_protocol_and_resumes_exactly() -> None:
    check_agent("ppo", num_envs=2, steps=40, checkpoint_at=16, config={**TINY_PPO, "plasticity": FIRING})


def test_ppo_logs_the_options_resets() -> None:
    agent, envs = tiny_agent(FIRING)
    live(envs, agent, 16, seed=0)
    assert agent.metrics["plasticity/redo/units_reset"] > 0 and agent.metrics["plasticity/cbp/units_replaced"] > 0
    assert 0 <= agent.metrics["plasticity/redo/dormant_fraction"] <= 1


def test_the_command_line_takes_redo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openworld.tools.cli import main

    monkeypatch.chdir(tmp_path)
    args = ["run", "world=meadow", "agent=ppo", "agent.channels=4", "agent.hidden_size=16", "agent.rollout_steps=16",
            "agent.num_minibatches=2", "num_envs=2", "steps=64", "report=off", "progress=off",
            "hydra/job_logging=disabled", "hydra/hydra_logging=disabled"]
    assert main([*args, "agent.plasticity=[redo,{cbp:{maturity:1}}]", "hydra.run.dir=good"]) == 0


@pytest.mark.parametrize("option", ["redo", "cbp"])
def test_unit_recycling_with_layer_norm_is_refused_with_both_named(option: str) -> None:
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    with pytest.raises(ValueError, match=f"plasticity option '{option}' does not support the layer_norm option"):
        make_agent("ppo", envs.single_observation_space, envs.single_action_space, 2, seed=0,
                   plasticity=["layer_norm", option], channels=4, hidden_size=16)


# ---------------------------------------------------------------------------------------------- off-policy core
TINY_RLPD = {"batch_size": 8, "learning_starts": 8, "buffer_capacity": 256, "ensemble_size": 2, "channels": 4,
             "hidden_size": 16, "critic_hidden_size": 16}


def test_on_the_off_policy_core_the_encoder_units_feed_every_critic() -> None:
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    agent = make_agent("rlpd", envs.single_observation_space, envs.single_action_space, 2, seed=0, **TINY_RLPD)
    layers = unit_layers(agent.model, "test")
    assert [(layer.name, layer.units) for layer in layers] == [("encoder.conv.1", 4), ("encoder.conv.3", 4),
                                                                ("encoder.project.1", 16)]
    (reader,) = layers[2].outgoing
    assert reader.parameter is agent.model.critics.hidden.weight and reader.dim == 1  # (E, in, out): column u of each
    reinitialise_units([(layers[2], torch.tensor([5]))], agent.optimizer, torch.Generator().manual_seed(0))
    assert not agent.model.critics.hidden.weight[:, 5, :].any() and agent.model.critics.hidden.weight[:, 4, :].any()
    torch.testing.assert_close(outgoing_magnitude(layers[2])[5], torch.tensor(0.0))


def test_off_policy_core_with_redo_and_cbp_recycles_units_and_resumes_exactly() -> None:
    check_agent("rlpd", num_envs=2, steps=40, checkpoint_at=20, config={**TINY_RLPD, "plasticity": FIRING})
    envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    agent = make_agent("rlpd", envs.single_observation_space, envs.single_action_space, 2, seed=0,
                       plasticity=FIRING, **TINY_RLPD)
    live(envs, agent, 24, seed=0)
    assert agent.metrics["plasticity/redo/units_reset"] > 0 and agent.metrics["plasticity/cbp/units_replaced"] > 0
