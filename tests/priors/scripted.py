"""A deterministic, Markov scripted agent for the prior tests: its action is a function of the current observation
only, so a behaviour prior that reads the same observation can imitate it exactly (a known answer: near 100 %).

The rules, first match wins (``c`` is the view's centre, the body's own cell; its facing is the entity code there):

1. **Eat**: the faced neighbour holds an available resource -> ``interact``.
2. **Face food**: a neighbour (north, east, south, west, in that order) holds an available resource -> move towards
   it (resource cells are not walkable, so the move only turns the body to face it).
3. **Go on**: the faced neighbour is free (walkable terrain, no resource, no predator) -> move that way.
4. **Turn**: else the first free neighbour clockwise from the facing -> move there.
5. **Rest**: no free neighbour at all -> ``rest``.

There is no low-energy rest rule: a Markov "rest below a threshold" parks the body *at* the threshold (rest once,
move a few steps, rest again), where the action depends on the third decimal of the energy; the prior would then be
tested on resolving a threshold, not on imitation. The walk (straight on, turn clockwise when blocked) never
repeats one action forever: the map's ``VOID`` border blocks every straight line.

Only the tests import this module; importing it registers ``scripted-greedy-v0`` once (the check makes a second
import, e.g. by doctest collection under another module name, harmless).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from openworld.agent.protocol import Transition
from openworld.enums import RESOURCE_CAPACITY, WALKABLE_TERRAIN, Action, Entity, ViewChannel
from openworld.registry import agent_ids, register_agent

AGENT_ID = "scripted-greedy-v0"
STEPS = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)])  # (row, column) of north, east, south, west
WALKABLE = np.zeros(256, bool)  # indexed by a uint8 terrain code
WALKABLE[[int(terrain) for terrain in WALKABLE_TERRAIN]] = True


class ScriptedGreedy:
    """The deterministic Markov policy of the module docstring, batched over ``num_envs`` bodies."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, num_envs: int, seed: int,
                 **config: Any) -> None:
        if config:
            raise TypeError(f"{AGENT_ID} takes no settings, got {', '.join(config)}")
        if not isinstance(observation_space, spaces.Dict) or not isinstance(observation_space["view"], spaces.Box):
            raise TypeError(f"{AGENT_ID} needs openworld's Dict(view, vitals) observations, got {observation_space}")
        self.centre = int(observation_space["view"].shape[0]) // 2
        self.num_envs = num_envs

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        view = np.asarray(obs["view"])
        n, c = view.shape[0], self.centre
        rows, cols = c + STEPS[:, 0], c + STEPS[:, 1]  # the four neighbours, in direction order
        neighbours = view[:, rows, cols]  # (n, 4, C)
        resource = neighbours[..., ViewChannel.RESOURCE].astype(np.int64)
        food = (resource >= 1) & (resource <= RESOURCE_CAPACITY)  # available (a regrowing one is code + capacity)
        free = WALKABLE[neighbours[..., ViewChannel.TERRAIN]] & (resource == 0) & \
            (neighbours[..., ViewChannel.ENTITY] != Entity.PREDATOR)
        facing = np.clip(view[:, c, c, ViewChannel.ENTITY].astype(np.int64) - Entity.SELF_NORTH, 0, 3)
        everyone = np.arange(n)
        clockwise = (facing[:, None] + np.arange(1, 4)[None, :]) % 4  # (n, 3): right, back, left
        turn_free = free[everyone[:, None], clockwise]
        actions = np.where(turn_free.any(1), Action.NORTH + clockwise[everyone, turn_free.argmax(1)], Action.REST)
        actions = np.where(free[everyone, facing], Action.NORTH + facing, actions)
        actions = np.where(food.any(1), Action.NORTH + food.argmax(1), actions)
        actions = np.where(food[everyone, facing], Action.INTERACT, actions)
        return actions.astype(np.int64)

    def observe(self, transition: Transition) -> None:
        pass  # a fixed policy

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


if AGENT_ID not in agent_ids():
    register_agent(AGENT_ID, ScriptedGreedy, "tests only: deterministic Markov forager (eat, face food, walk)")
