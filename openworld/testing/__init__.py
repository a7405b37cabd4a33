"""Conformance checks for worlds, shipped with the library so that outside world authors can run them.

:func:`check_world` drives fresh environments with one pre-drawn action sequence and checks six
properties, at *every* step (a checker that stops after the first step misses everything that goes
wrong later, so every comparison runs over the whole rollout):

============== ==================================================================================
property       what must hold
============== ==================================================================================
reset          ``reset(seed=s)`` twice gives the same observation; ``reset()`` without a seed never
               regenerates the world (the terrain grid stays equal) and never winds the clock back
determinism    two fresh environments, reset with the same seed and given the same actions, return
               identical observations (every key, exactly), rewards, flags and infos (deep equality);
               after ``terminated`` both call ``reset()`` and those outputs must agree too
spaces         observations lie in ``observation_space`` with its exact dtypes; rewards are finite
               floats; ``terminated``/``truncated`` are bools; ``truncated`` is never set
clock          ``info["world_step"]`` is an int that grows by at least 1 per step (respawn waits may
               jump it) and that ``reset()`` without a seed never sets back
save_restore   ``get_state()`` half-way, restored with ``set_state()`` into a third environment (reset
               with the same seed first), continues exactly like the uninterrupted run
render         every mode in ``metadata["render_modes"]`` works: ``rgb_array`` gives a ``(H, W, 3)``
               uint8 array of constant shape, ``ansi`` a non-empty str (``*_list`` modes: lists of them)
============== ==================================================================================

Where the environment exposes an openworld engine (``env.unwrapped.engine.state``), the whole world
state (every array and every random generator) is compared at the end of the determinism and
save/restore rollouts as well, which catches differences the observations have not shown yet.

:func:`check_agent` (:mod:`openworld.testing.agent_checks`) does the same for agents that plug into the
runner's protocol, and :func:`check_prior` (:mod:`openworld.testing.prior_checks`) for priors.
"""

from openworld.testing.agent_checks import AGENT_PROPERTIES, AgentCheckError, AgentCheckReport, check_agent
from openworld.testing.prior_checks import PRIOR_PROPERTIES, PriorCheckError, PriorCheckReport, check_prior
from openworld.testing.world_checks import check_world
from openworld.testing.world_report import PROPERTIES, WorldCheckError, WorldCheckReport

__all__ = ["AGENT_PROPERTIES", "PRIOR_PROPERTIES", "PROPERTIES", "AgentCheckError", "AgentCheckReport",
           "PriorCheckError", "PriorCheckReport", "WorldCheckError", "WorldCheckReport", "check_agent", "check_prior",
           "check_world"]
