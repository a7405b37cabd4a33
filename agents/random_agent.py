"""The random agent: uniform actions from its own seeded generator. The floor every agent must beat."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from openworld.agent.protocol import Transition
from openworld.registry import register_agent


class RandomAgent:
    """Uniformly random actions, reproducible from ``seed`` and checkpointable."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, num_envs: int,
                 seed: int) -> None:
        if not isinstance(action_space, spaces.Discrete):
            raise TypeError(f"RandomAgent needs a Discrete action space, got {action_space}")
        self.num_actions = int(action_space.n)
        self.num_envs = num_envs
        self.rng = np.random.default_rng(seed)

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return self.rng.integers(0, self.num_actions, self.num_envs)

    def observe(self, transition: Transition) -> None:
        pass  # learns nothing

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]


register_agent("random-v0", RandomAgent, "uniformly random actions", num_envs=256)  # cheap: many worlds at once
