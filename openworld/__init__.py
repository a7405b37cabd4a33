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

from typing import Any

from openworld.enums import Action, Direction, Entity, ResourceKind, Terrain, Vital
from openworld.registry import load_plugins, load_world_spec, register_agent, register_world, world_ids
from openworld.world.spec import SpecError, WorldSpec, load_spec

__version__ = "0.1.0"

__all__ = [
    "Action", "Direction", "Entity", "ResourceKind", "SpecError", "Terrain", "Vital", "WorldSpec", "__version__",
    "load_spec", "load_world_spec", "make_parallel", "register_agent", "register_world", "world_ids",
]



def make_parallel(*args: Any, **kwargs: Any) -> Any:
    """A PettingZoo ``ParallelEnv`` of one world with several bodies (see :mod:`openworld.envs.parallel`).

    Imported on first use, so that ``import openworld`` does not pay for PettingZoo.
    """
    from openworld.envs.parallel import make_parallel as make

    return make(*args, **kwargs)


load_plugins("openworld.worlds")
