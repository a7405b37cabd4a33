"""Mechanics of continual PPO and RND with tiny budgets: shapes, updates, autoreset exclusion, memory, state."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import openworld  # noqa: F401
from openworld.agent.protocol import Transition, make_agent
from openworld.agents.ppo import PPO, generalized_advantages
from openworld.agents.rnd import RandomNetworkDistillation, ppo_rnd
from openworld.enums import VIEW_CODES

TINY_PPO = {"rollout_steps": 8, "num_epochs": 2, "num_minibatches": 2, "channels": 4, "hidden_size": 16}
DEADLY = {"body.water.decay": 0.5, "body.starvation_damage": 2.0}  # deaths within ~25 steps


def make_envs(num_envs: int = 2, overrides: dict[str, Any] | None = None) -> gym.vector.VectorEnv:  # type: ignore[type-arg]
    kwargs = {"overrides": overrides} if overrides else {}
    return gym.make_vec("openworld/Meadow-v0", num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


def build(envs: Any, name: str = "ppo", seed: int = 0, **config: Any) -> Any:
    return make_agent(name, envs.single_observation_space, envs.single_action_space, envs.num_envs, seed,
                      **{**TINY_PPO, **config})


def run(agent: Any, envs: Any, steps: int, seed: int = 0) -> list[Transition]:
    obs, _ = envs.reset(seed=seed)
    transitions = []
    for _ in range(steps):
        actions = agent.act(obs)
        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        transition = Transition(obs, actions, rewards, next_obs, terminated, truncated, info)
        agent.observe(transition)
        transitions.append(transition)
        obs = next_obs
    return transitions


def parameters(agent: PPO) -> list[torch.Tensor]:
    return [p.detach().clone() for p in agent.trainable_parameters]


# ---------------------------------------------------------------------------------------------- returns
def test_advantages_cut_at_death_skip_the_autoreset_and_bootstrap_truncation() -> None:
    rewards = torch.ones(4, 1)
    values = torch.full((4, 1), 0.5)
    bootstrap = torch.tensor([2.0])
    valid = torch.tensor([[True], [True], [False], [True]])  # step 2 is the autoreset after step 1
    flags = torch.tensor([[False], [True], [False], [False]])
    no = torch.zeros_like(flags)
    died = generalized_advantages(rewards, values, bootstrap, flags, no, valid, 0.9, 1.0).flatten()
    # t=3: 1 + 0.9 * 2 - 0.5; t=2: excluded; t=1: death, no bootstrap: 1 - 0.5; t=0: 0.95 + 0.9 * 0.5
    assert died.tolist() == pytest.approx([1.4, 0.5, 0.0, 2.3])
    truncated = generalized_advantages(rewards, values, bootstrap, no, flags, valid, 0.9, 1.0).flatten()
    # t=1 bootstraps from V(final obs) = values[2], but the chain is cut: 1 + 0.45 - 0.5
    assert truncated.tolist() == pytest.approx([0.95 + 0.9 * 0.95, 0.95, 0.0, 2.3])
    lam = generalized_advantages(rewards, values, bootstrap, no, no, torch.ones_like(valid), 0.9, 0.5).flatten()
    deltas = [0.95, 0.95, 0.95, 2.3]
    expected = [0.0] * 4
    running = 0.0
    for t in reversed(range(4)):
        running = deltas[t] + 0.9 * 0.5 * running
        expected[t] = running
    assert lam.tolist() == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize(("name", "config", "heads", "hidden"), [
    ("ppo", {}, 1, 0), ("ppo", {"recurrent": True}, 1, 16), ("ppo-rnd", {}, 2, 0),
])
def test_network_shapes(name: str, config: dict[str, Any], heads: int, hidden: int) -> None:
    envs = make_envs(3)
    agent = build(envs, name, **config)
    obs, _ = envs.reset(seed=0)
    view, vitals = torch.from_numpy(obs["view"]), torch.from_numpy(obs["vitals"])
    logits, values, state = agent.model(view, vitals, torch.zeros((3, hidden)))
    assert logits.shape == (3, 7) and values.shape == (3, heads) and state.shape == (3, hidden)
    actions = agent.act(obs)
    assert actions.shape == (3,) and actions.dtype == np.int64


def test_rnd_rewards_are_normalised_per_step_and_zero_on_autoresets() -> None:
    envs = make_envs(2)
    bonus = RandomNetworkDistillation(envs.single_observation_space, 2, torch.Generator().manual_seed(0),
                                      hidden_size=16, output_size=8)
    obs, _ = envs.reset(seed=0)
    view = torch.from_numpy(obs["view"]).expand(5, 2, 7, 7, 3)
    valid = torch.ones(5, 2, dtype=torch.bool)
    valid[3, 1] = False
    rewards = bonus.rewards(view, valid)
    assert rewards.shape == (5, 2) and rewards[3, 1] == 0 and (rewards[valid] > 0).all()
    assert bonus.sum_count > 9  # 9 valid steps entered the normaliser
    assert bonus.encode(view[0]).shape == (2, 7 * 7 * sum(VIEW_CODES))  # one-hot over the shared codes


# ---------------------------------------------------------------------------------------------- updates
def test_an_update_happens_every_rollout_and_changes_the_parameters() -> None:
    envs = make_envs(2)
    agent = build(envs)
    before = parameters(agent)
    obs, _ = envs.reset(seed=0)
    for step in range(8):
        assert agent.updates == 0 and agent.position == step
        actions = agent.act(obs)
        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        agent.observe(Transition(obs, actions, rewards, next_obs, terminated, truncated, info))
        obs = next_obs
        if step < 7:
            assert all(torch.equal(a, b) for a, b in zip(before, parameters(agent), strict=True))
    assert agent.updates == 1 and agent.position == 0
    changed = [not torch.equal(a, b) for a, b in zip(before, parameters(agent), strict=True)]
    assert all(changed)  # every layer, the embeddings included, moved
    assert {key.split("/")[0] for key in agent.metrics} == {"losses", "charts", "plasticity"}
    assert np.isfinite([value for key, value in agent.metrics.items() if key != "losses/explained_variance"]).all()


def feed(agent: PPO, envs: Any, tamper: dict[int, dict[str, Any]]) -> None:
    """One rollout in which the transition of step ``t`` gets the fields of ``tamper[t]`` replaced.

    Step 2 of env 0 is made the autoreset step: step 1 reports a (fake) death for env 0."""
    obs, _ = envs.reset(seed=0)
    for t in range(agent.rollout_steps):
        actions = agent.act(obs)
        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        terminated = terminated.copy()
        terminated[0] = t == 1
        fields = {"obs": obs, "action": actions, "reward": rewards, "next_obs": next_obs,
                  "terminated": terminated, "truncated": truncated, "info": info}
        for key, value in tamper.get(t, {}).items():
            fields[key] = value(fields[key].copy())
        agent.observe(Transition(**fields))
        obs = next_obs


def other_action(actions: np.ndarray) -> np.ndarray:
    actions[0] = (actions[0] + 3) % 7
    return actions


def big_reward(rewards: np.ndarray) -> np.ndarray:
    rewards[0] = 100.0
    return rewards


@pytest.mark.parametrize("name", ["ppo", "ppo-rnd"])
def test_autoreset_transitions_are_excluded_from_the_loss(name: str) -> None:
    envs = make_envs(2)
    reference, tampered, control = (build(envs, name) for _ in range(3))
    feed(reference, envs, {})
    feed(tampered, envs, {2: {"action": other_action, "reward": big_reward}})  # the ignored step
    feed(control, envs, {3: {"action": other_action}})  # an ordinary step: must matter
    assert not bool(reference.buffer["valid"][2, 0]) and bool(reference.buffer["valid"][2:, 1].all())
    assert reference.updates == tampered.updates == control.updates == 1
    assert all(torch.equal(a, b) for a, b in zip(parameters(reference), parameters(tampered), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(parameters(reference), parameters(control), strict=True))


@pytest.mark.parametrize("config", [
    {}, {"recurrent": True}, {"recurrent": True, "reset_memory_on_death": True},
])
@pytest.mark.parametrize("name", ["ppo", "ppo-rnd"])
def test_learning_replays_the_rollout_exactly(name: str, config: dict[str, Any],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """With the optimiser switched off, the update recomputes the acting log-probs: every ratio is 1.
    (For recurrent agents this checks the replay from the stored start state, memory resets included.)"""
    envs = make_envs(4, DEADLY)
    agent = build(envs, name, rollout_steps=32, **config)
    monkeypatch.setattr(agent.optimizer, "step", lambda: None)
    transitions = run(agent, envs, 64)
    assert agent.updates == 2
    assert sum(int(t.terminated.sum()) for t in transitions) >= 4  # deaths and autoresets were replayed
    assert agent.metrics["losses/approx_kl"] < 1e-6
    assert agent.metrics["losses/clip_fraction"] == 0.0


@pytest.mark.parametrize("reset_memory_on_death", [False, True])
def test_memory_across_death(reset_memory_on_death: bool) -> None:
    envs = make_envs(4, DEADLY)
    agent = build(envs, recurrent=True, reset_memory_on_death=reset_memory_on_death, rollout_steps=64)
    transitions = run(agent, envs, 63)  # one short of an update: the buffer holds the whole run
    terminated = np.array([t.terminated for t in transitions])
    autoreset = np.zeros_like(terminated)
    autoreset[1:] = terminated[:-1]
    respawned = np.zeros_like(terminated)  # the first observation of a new life
    respawned[1:] = autoreset[:-1]
    buffer = agent.buffer
    assert autoreset.any() and respawned.any()
    assert np.array_equal(buffer["valid"][:63].numpy(), ~autoreset)
    assert np.array_equal(buffer["starts_life"][:63].numpy(), respawned & reset_memory_on_death)


# ---------------------------------------------------------------------------------------------- hygiene
def test_the_global_generators_are_left_alone() -> None:
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    envs = make_envs(2)
    for name in ("ppo", "ppo-rnd"):
        run(build(envs, name, recurrent=True), envs, 9)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)


def test_state_dict_is_a_snapshot_and_checks_what_it_is_loaded_into() -> None:
    envs = make_envs(2)
    agent = build(envs)
    run(agent, envs, 5)
    state = agent.state_dict()
    assert state["position"] == 5 and state["optimizer"]["state"] == {}  # no update yet
    with pytest.raises(ValueError, match="num_envs=3"):
        build(make_envs(3)).load_state_dict(state)
    with pytest.raises(ValueError, match="bonus"):
        build(envs, "ppo-rnd").load_state_dict(state)
    saved = state["model"]["policy.weight"].clone()
    run(agent, envs, 8)
    assert torch.equal(state["model"]["policy.weight"], saved)  # unaffected by the update


def test_observe_needs_act_and_bad_configs_are_refused() -> None:
    envs = make_envs(2)
    agent = build(envs)
    obs, _ = envs.reset(seed=0)
    actions = np.zeros(2, np.int64)
    with pytest.raises(RuntimeError, match="must follow act"):
        agent.observe(Transition(obs, actions, np.zeros(2), obs, np.zeros(2, bool), np.zeros(2, bool), {}))
    with pytest.raises(ValueError, match="cannot exceed num_envs"):
        build(make_envs(3), recurrent=True, num_minibatches=4)
    with pytest.raises(TypeError, match="bad configuration"):
        build(envs, learning_rat=1.0)
    with pytest.raises(TypeError, match="Discrete"):
        PPO(envs.single_observation_space, gym.spaces.Box(0, 1, (2,)), 2, 0)


def test_ppo_rnd_factory_wires_the_bonus() -> None:
    envs = make_envs(2)
    agent = ppo_rnd(envs.single_observation_space, envs.single_action_space, 2, 0, intrinsic_coef=0.3, **TINY_PPO)
    assert isinstance(agent.bonus, RandomNetworkDistillation) and agent.bonus.intrinsic_coef == 0.3
    predictor = {id(p) for p in agent.bonus.predictor.parameters()}
    target = {id(p) for p in agent.bonus.target.parameters()}
    optimised = {id(p) for group in agent.optimizer.param_groups for p in group["params"]}
    assert predictor <= optimised and not target & optimised
    run(agent, envs, 8)
    assert "charts/intrinsic_reward" in agent.metrics and "losses/bonus_loss" in agent.metrics


# ---------------------------------------------------------------------------------------------- across worlds
@pytest.mark.parametrize("world", ["Blight-v0", "Drought-v0"])
def test_a_checkpoint_trained_in_meadow_acts_in_another_world_without_conversion(world: str) -> None:
    """One observation vocabulary: every engine world has Meadow's space, so the state loads as it is."""
    meadow = make_envs(2)
    trained = build(meadow)
    run(trained, meadow, 20)  # rollout_steps=8: it has updated
    assert trained.updates >= 1
    state = trained.state_dict()
    other = gym.make_vec(f"openworld/{world}", num_envs=2, vectorization_mode="vector_entry_point")
    assert other.single_observation_space == meadow.single_observation_space
    agent = build(other, seed=1)
    agent.load_state_dict(state)  # refuses nothing: same spaces, same network shapes
    for name, tensor in agent.model.state_dict().items():
        assert torch.equal(tensor, state["model"][name]), name
    transitions = run(agent, other, 12, seed=5)  # acts, and keeps learning, in the other world
    for transition in transitions:
        assert all(other.single_action_space.contains(int(a)) for a in transition.action)
    assert agent.updates > state["updates"]  # it learned from the other world's transitions too


def test_rnd_networks_read_the_one_hot_view_without_building_it() -> None:
    """The first layer as a sum of weight columns gives what the dense layer on encode() gives, gradients too."""
    envs = make_envs(2)
    bonus = RandomNetworkDistillation(envs.single_observation_space, 2, torch.Generator().manual_seed(0),
                                      hidden_size=16, output_size=8)
    obs, _ = envs.reset(seed=0)
    view = torch.from_numpy(obs["view"])
    dense = ((bonus.predictor(bonus.encode(view)) - bonus.target(bonus.encode(view))) ** 2).mean(1)
    assert torch.allclose(bonus.novelty(view), dense, atol=1e-6)
    dense.sum().backward()
    expected = bonus.predictor[0].weight.grad.clone()
    bonus.zero_grad()
    bonus.novelty(view).sum().backward()
    assert torch.allclose(bonus.predictor[0].weight.grad, expected, atol=1e-6)
