"""The single-body Gymnasium environment: the engine core at ``B = N = 1``.

Reset-free semantics (see ``docs/worlds.md``):

* ``reset(seed=s)`` generates the world from ``s``; the same seed gives the same observation.
* ``reset()`` without a seed never regenerates. A dead body comes back in the same, persistent world
  after the spec's ``respawn_delay`` steps of world time (the world keeps running meanwhile); a living
  body just carries on (a reset is never a free heal).
* ``reset(options={"regenerate": True})`` makes a new map from the environment's own generator.
* ``on_death="terminate"`` (default): death returns ``terminated=True``; call ``reset()`` to respawn.
  ``on_death="respawn"``: never terminates; the body respawns inside ``step`` after the delay, and the
  steps in between return its (empty) vitals and reward 0.
* ``truncated`` is never set by the world; lifetimes are budgeted by the caller.

Example:
    >>> import gymnasium as gym
    >>> import openworld
    >>> env = gym.make("openworld/Meadow-v0")
    >>> obs, info = env.reset(seed=0)
    >>> obs["view"].shape, obs["vitals"].shape
    ((7, 7, 3), (4,))
    >>> obs, reward, terminated, truncated, info = env.step(openworld.Action.NORTH)
    >>> info["world_step"]
    1
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from openworld.enums import Action
from openworld.envs.actions import check_action
from openworld.envs.core import EngineCore, GeneratorInCore, OnDeath, check_on_death, observation_space
from openworld.envs.events import consume_event_names, event_names
from openworld.world.engine import StepOutcome
from openworld.world.render import check_render_mode, render_frame
from openworld.world.spec import WorldSpec


class OpenWorldEnv(GeneratorInCore, gym.Env[dict[str, Any], Any]):
    """One body in one persistent world.

    Args:
        world: a registered world id (``"Meadow-v0"``) or a :class:`~openworld.world.spec.WorldSpec`.
        render_mode: ``"rgb_array"`` or ``"ansi"``.
        on_death: ``"terminate"`` or ``"respawn"`` (see the module docstring).
        overrides: dotted-path spec overrides, e.g. ``{"resources.berry.regrow": 0.02}``.
        variant: a variant of the world (``"heldout_early"``, see :mod:`openworld.variants`), applied
            before ``overrides``; recorded as :attr:`variant` (None: the world as written).
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 10}

    def __init__(self, world: str | WorldSpec = "Meadow-v0", render_mode: str | None = None,
                 on_death: OnDeath = "terminate", overrides: Mapping[str, Any] | None = None,
                 variant: str | None = None) -> None:
        check_on_death(on_death)
        check_render_mode(render_mode, self.metadata["render_modes"])
        self.core = EngineCore(world, num_worlds=1, bodies=1, auto_respawn=on_death == "respawn",
                               respawn_on_reset=True, overrides=overrides, variant=variant)
        self.world_spec, self.variant, self.engine = self.core.spec, variant, self.core.engine
        self.on_death = on_death
        self.render_mode = render_mode
        self.observation_space: spaces.Dict = observation_space(self.world_spec)  # type: ignore[assignment]
        self.action_space: spaces.Discrete = spaces.Discrete(len(Action))  # type: ignore[assignment]
        self._consume_names = consume_event_names(self.world_spec)
        self._action_buffer = np.zeros((1, 1), np.int64)

    # ------------------------------------------------------------------ Gymnasium API
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        events = self.core.reset(seed, options)
        return self._observation(), self._info(events)

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        if not self.core.started:
            raise RuntimeError("call reset() before step()")
        self._action_buffer[0, 0] = check_action(action)
        if self.on_death == "terminate" and not self.engine.state.alive[0, 0]:
            raise RuntimeError("the body is dead (the last step returned terminated=True): call reset() "
                               "to respawn it in the same world")
        events, rewards = self.core.step(self._action_buffer)
        terminated = bool(events.died[0, 0]) and self.on_death == "terminate"
        return self._observation(), float(rewards[0, 0]), terminated, False, self._info(events)

    def render(self) -> np.ndarray | str | None:  # type: ignore[override]
        return render_frame(self.engine, self.render_mode)

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> bytes:
        """The whole world and the env's generator, exactly (see :meth:`set_state`)."""
        return self.core.get_state()

    def set_state(self, data: bytes) -> None:
        """Restore :meth:`get_state`; raises ``ValueError`` (leaving the env untouched) if it does not fit."""
        self.core.set_state(data, "single env")

    # ------------------------------------------------------------------ helpers
    def _observation(self) -> dict[str, np.ndarray]:
        view, vitals = self.core.observe()
        return {"view": view[0, 0], "vitals": vitals[0, 0]}

    def _info(self, events: StepOutcome) -> dict[str, Any]:
        state = self.engine.state
        return {"world_step": int(state.clock[0]), "alive": bool(state.alive[0, 0]),
                "events": event_names(events, self._consume_names, 0, 0)}
