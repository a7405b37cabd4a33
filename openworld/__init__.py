"""openworld: reset-free, shifting worlds for continual reinforcement learning.

Importing ``openworld`` registers every world catalogue (through the ``openworld.worlds`` entry
point group) with Gymnasium, so that ``gymnasium.make("openworld/Meadow-v0")`` works.

Example:
    >>> import gymnasium as gym
    >>> import openworld
    >>> env = gym.make("openworld/Shiftlands-v0")
    >>> obs, info = env.reset(seed=1)
"""

from __future__ import annotations

from openworld.enums import Action, Direction, Entity, Terrain, Vital
from openworld.parallel import make_parallel as make_parallel  # PettingZoo ParallelEnv
from openworld.registry import load_plugins, load_world_spec, register_agent, register_world, world_ids
from openworld.spec import SpecError, WorldSpec, load_spec

__version__ = "0.1.0"

__all__ = [
    "Action", "Direction", "Entity", "SpecError", "Terrain", "Vital", "WorldSpec", "__version__",
    "load_spec", "load_world_spec", "register_agent", "register_world", "world_ids",
]

load_plugins("openworld.worlds")
