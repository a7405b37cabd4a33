"""The forager learns what each resource kind does under the kind's catalogue code, so what it learned
about a kind in one world holds for that kind in any other, and its state loads across worlds."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import openworld  # noqa: F401
from openworld.agent.protocol import Transition, make_agent
from openworld.agents.forager import Forager
from openworld.enums import RESOURCE_CAPACITY, Action, Entity, ResourceKind, ViewChannel, Vital


def forager(world: str = "Commons-v0", num_envs: int = 1, **config: Any) -> Forager:
    envs = gym.make_vec(f"openworld/{world}", num_envs=num_envs, vectorization_mode="vector_entry_point")
    agent = make_agent("forager", envs.single_observation_space, envs.single_action_space, num_envs, seed=0, **config)
    assert isinstance(agent, Forager)
    return agent


def facing_east_at(code: int) -> dict[str, np.ndarray]:
    """One body's observation: facing east, with resource ``code`` on the cell it faces."""
    view = np.zeros((1, 7, 7, 3), np.uint8)
    view[..., ViewChannel.TERRAIN] = 1  # grass
    view[0, 3, 3, ViewChannel.ENTITY] = Entity.SELF_EAST
    view[0, 3, 4, ViewChannel.RESOURCE] = code
    return {"view": view, "vitals": np.full((1, 4), 0.5, np.float32)}


def eat(agent: Forager, code: int, food_gain: float) -> None:
    obs = facing_east_at(code)
    next_obs = {"view": obs["view"].copy(), "vitals": obs["vitals"].copy()}
    next_obs["vitals"][0, Vital.FOOD] += food_gain
    agent.observe(Transition(obs, np.array([Action.INTERACT]), np.ones(1), next_obs,
                             np.zeros(1, bool), np.zeros(1, bool), {}))


def test_an_eaten_kind_is_learned_under_its_catalogue_code() -> None:
    agent = forager("Commons-v0", learning_rate=0.5, prior_effects=(0.0, 0.1, 0.1, 0.0))
    assert agent.effects.shape == (RESOURCE_CAPACITY, 4)
    eat(agent, int(ResourceKind.APPLE), 0.3)  # apple is Commons' first resource, catalogue code 5
    effects = agent.effects
    assert effects[ResourceKind.APPLE - 1, Vital.FOOD] == pytest.approx(0.1 + 0.5 * (0.3 - 0.1))
    assert effects[ResourceKind.APPLE - 1, Vital.WATER] == pytest.approx(0.1 + 0.5 * (0.0 - 0.1))
    untouched = np.delete(effects, ResourceKind.APPLE - 1, axis=0)
    assert (untouched == [0.0, 0.1, 0.1, 0.0]).all(), "no other kind (berry, code 1, included) learned anything"


def test_a_regrowing_cell_teaches_nothing() -> None:
    agent = forager("Commons-v0")
    before = agent.effects.copy()
    eat(agent, int(ResourceKind.APPLE) + RESOURCE_CAPACITY, 0.3)
    assert (agent.effects == before).all()


def test_what_it_learned_in_one_world_loads_into_another() -> None:
    meadow = forager("Meadow-v0")
    eat(meadow, int(ResourceKind.BERRY), -0.4)  # a poisonous berry, learned in Meadow
    drought = forager("Drought-v0")
    drought.load_state_dict(meadow.state_dict())
    assert drought.effects[ResourceKind.BERRY - 1, Vital.FOOD] < 0
    # Offered the faced berry and a spring two cells west, it now walks to the spring.
    obs = facing_east_at(int(ResourceKind.BERRY))
    obs["view"][0, 3, 1, ViewChannel.RESOURCE] = ResourceKind.SPRING
    assert drought.act(obs)[0] == Action.WEST
    fresh = forager("Drought-v0")
    assert fresh.act(obs)[0] == Action.INTERACT  # untaught: eats the faced berry


def test_a_state_from_a_forager_of_per_world_indices_is_refused() -> None:
    agent = forager()
    state = agent.state_dict()
    state["effects"] = state["effects"][:3]
    with pytest.raises(ValueError, match="one row per catalogue resource code"):
        agent.load_state_dict(state)
