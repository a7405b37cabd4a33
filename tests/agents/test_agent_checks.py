"""check_agent passes every registered agent and fails agents built to break each property."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from gymnasium import spaces

import openworld.agents.ppo
import openworld.agents.rnd
import openworld.agents.sb3_adapter  # noqa: F401  (registers sb3-v0)
from openworld.agent.protocol import Transition
from openworld.agents.random_agent import RandomAgent
from openworld.registry import agent_ids
from openworld.testing.agent_checks import AGENT_PROPERTIES, AgentCheckError, check_agent, first_difference

TINY_PPO = {"rollout_steps": 8, "num_epochs": 2, "num_minibatches": 2, "channels": 4, "hidden_size": 16}
DEADLY = {"body.water.decay": 0.5, "body.starvation_damage": 2.0}  # deaths within ~25 steps
NEEDS_A_FILE = {"sb3-v0", "ppo-prior-v0", "spirl-v0", "skills-v0", "explore-v0", "offline-online-v0"}  # need a
# model, prior or dataset: checked in their own test files (test_sb3.py, test_ppo_prior.py, ...) with the file
# made there


@pytest.mark.parametrize("agent_id", [i for i in agent_ids() if i not in NEEDS_A_FILE])
def test_every_registered_agent_passes(agent_id: str, config_for: Any) -> None:
    config = config_for(agent_id)
    report = check_agent(agent_id, "Meadow-v0", steps=40, checkpoint_at=19, config=config)
    assert report.checked == AGENT_PROPERTIES
    assert str(report).startswith(f"check_agent({agent_id}, Meadow-v0")


@pytest.mark.parametrize("reset_memory_on_death", [False, True])
def test_recurrent_ppo_passes_on_a_deadly_world(reset_memory_on_death: bool) -> None:
    # Deaths, autoresets and memory resets happen inside the check, around the checkpoint.
    report = check_agent("ppo", "Meadow-v0", steps=60, checkpoint_at=27, world_overrides=DEADLY,
                         config={**TINY_PPO, "recurrent": True, "reset_memory_on_death": reset_memory_on_death})
    assert report.checked == AGENT_PROPERTIES
    assert report.terminations >= 4


def test_ppo_rnd_passes_on_a_deadly_world(tiny: dict[str, Any]) -> None:
    report = check_agent("ppo-rnd", "Meadow-v0", steps=60, checkpoint_at=27, world_overrides=DEADLY,
                         config=tiny["ppo-rnd-v0"])
    assert report.terminations >= 4


def test_the_shifting_world_works_too(tiny: dict[str, Any]) -> None:
    check_agent("ppo-rnd", "Shiftlands-v0", steps=24, checkpoint_at=11, config=tiny["ppo-rnd-v0"])


# ---------------------------------------------------------------------------------------------- agents built to fail
class Unseeded(RandomAgent):
    """Ignores its seed: draws from fresh OS entropy."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, num_envs: int, seed: int) -> None:
        super().__init__(observation_space, action_space, num_envs, seed)
        self.rng = np.random.default_rng()


class GlobalGenerator(RandomAgent):
    """Seeds and draws from NumPy's global generator: two agents in one process disturb each other."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, num_envs: int, seed: int) -> None:
        super().__init__(observation_space, action_space, num_envs, seed)
        np.random.seed(seed)

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.random.randint(0, self.num_actions, self.num_envs)


class ForgetsItsGenerator(RandomAgent):
    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class LiveReferences(RandomAgent):
    """Learns action counts in place and hands out the live array as its state."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, num_envs: int, seed: int) -> None:
        super().__init__(observation_space, action_space, num_envs, seed)
        self.counts = np.zeros(self.num_actions)

    def observe(self, transition: Transition) -> None:
        np.add.at(self.counts, transition.action, 1)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "counts": self.counts}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.counts = np.array(state["counts"])


class OutOfRange(RandomAgent):
    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        actions = super().act(obs)
        actions[-1] = self.num_actions
        return actions


class FloatActions(RandomAgent):
    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return super().act(obs).astype(np.float64)


class MutatesObservations(RandomAgent):
    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        obs["vitals"] *= 2.0  # "normalising" in place
        return super().act(obs)


class NoObserve:
    def __init__(self, *args: Any) -> None:
        pass

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.zeros(len(obs["vitals"]), np.int64)


class Crashes(RandomAgent):
    def observe(self, transition: Transition) -> None:
        if transition.info["world_step"][0] > 5:
            raise ZeroDivisionError("oops")


class ForgetsTheOptimiser(openworld.agents.ppo.PPO):
    """PPO whose checkpoint leaves the optimiser (Adam's moments and step count) out."""

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        del state["optimizer"]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict({**state, "optimizer": self.optimizer.state_dict()})


class ForgetsTheBuffer(openworld.agents.ppo.PPO):
    """PPO whose checkpoint leaves out the half-filled rollout."""

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["buffer"] = {key: value.zero_() for key, value in state["buffer"].items()}
        return state


@pytest.mark.parametrize(("factory", "prop", "key"), [
    (Unseeded, "determinism", "actions["),
    (GlobalGenerator, "determinism", "actions["),
    (ForgetsItsGenerator, "save_load", "actions["),
    (LiveReferences, "save_load", "state_dict()['counts']"),
    (OutOfRange, "actions", "actions[3]"),
    (FloatActions, "actions", "act(obs).dtype"),
    (MutatesObservations, "inputs", "act(obs)['vitals']"),
    (NoObserve, "protocol", "NoObserve"),
    (Crashes, "protocol", "observe()"),
])
def test_agents_built_to_fail_are_caught(factory: Any, prop: str, key: str) -> None:
    with pytest.raises(AgentCheckError) as caught:
        check_agent(factory, "Meadow-v0", steps=30)
    assert caught.value.property == prop, caught.value
    assert caught.value.key.startswith(key), caught.value


@pytest.mark.parametrize("factory", [ForgetsTheOptimiser, ForgetsTheBuffer])
def test_ppo_that_forgets_part_of_its_state_fails_save_load(factory: Any) -> None:
    # The checkpoint falls mid-rollout and an update follows it: the reloaded agent diverges.
    with pytest.raises(AgentCheckError) as caught:
        check_agent(factory, "Meadow-v0", steps=40, checkpoint_at=19, config=TINY_PPO)
    assert caught.value.property == "save_load", caught.value
    assert caught.value.key.startswith(("actions[", "state_dict()['model']", "state_dict()['buffer']")), caught.value


def test_the_full_ppo_passes_the_same_setting() -> None:
    check_agent(openworld.agents.ppo.PPO, "Meadow-v0", steps=40, checkpoint_at=19, config=TINY_PPO)


def test_skip_and_bad_arguments() -> None:
    report = check_agent(Unseeded, steps=10, skip=("determinism", "save_load"))
    assert report.checked == ("protocol", "actions", "inputs")
    assert report.skipped == {"determinism": "skipped by the caller", "save_load": "skipped by the caller"}
    with pytest.raises(ValueError, match="did you mean 'save_load'"):
        check_agent("random", skip=("save_loads",))
    with pytest.raises(ValueError, match="checkpoint_at"):
        check_agent("random", steps=10, checkpoint_at=10)
    with pytest.raises(KeyError, match="Registered agents"):
        check_agent("no-such-agent")


def test_first_difference_names_the_path() -> None:
    import torch

    a = {"x": [1, np.arange(3)], "t": torch.tensor([1.0, float("nan")]), "f": float("nan")}
    assert first_difference(a, {"x": [1, np.arange(3)], "t": torch.tensor([1.0, float("nan")]), "f": float("nan")}) \
        is None
    assert first_difference(a, {**a, "x": [1, np.array([0, 1, 5])]}) == ("['x'][1]", "at index (2,): 5 vs expected 2")
    assert first_difference(a, {**a, "t": torch.tensor([2.0, 0.0])})[0] == "['t']"
    assert "keys differ" in first_difference(a, {"x": 1})[1]
