"""The single-body Gymnasium environment: the batched engine at ``B = 1``.

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

import io
import json
from collections.abc import Mapping
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from openworld.enums import Action, Entity, Terrain, Vital
from openworld.world.engine import Engine, StepOutcome
from openworld.world.render import check_render_mode, render_frame
from openworld.world.spec import WorldSpec

OnDeath = Literal["terminate", "respawn"]
RESET_OPTIONS = frozenset({"regenerate"})


def observation_space(spec: WorldSpec) -> spaces.Dict:
    """``Dict(view=uint8 (V, V, 3), vitals=float32 (K,) in [0, 1])``."""
    V = spec.observation.view
    high = np.empty((V, V, 3), np.uint8)
    high[..., 0] = len(Terrain) - 1
    high[..., 1] = 2 * len(spec.resources)  # 1 + k available, 1 + R + k regrowing
    high[..., 2] = len(Entity) - 1
    return spaces.Dict({
        "view": spaces.Box(0, high, (V, V, 3), np.uint8),
        "vitals": spaces.Box(0.0, 1.0, (len(Vital),), np.float32),
    })


def resolve_spec(world: str | WorldSpec, overrides: Mapping[str, Any] | None = None,
                 variant: str | None = None) -> WorldSpec:
    """The spec of a world id or spec, with a variant (:mod:`openworld.variants`) and then overrides applied."""
    from openworld.registry import load_world_spec
    from openworld.variants import apply_variant

    spec = world if isinstance(world, WorldSpec) else load_world_spec(world)
    if variant is not None:
        spec = apply_variant(spec, variant)
    return spec.with_overrides(overrides) if overrides else spec


def check_on_death(on_death: str) -> None:
    if on_death not in ("terminate", "respawn"):
        raise ValueError(f"on_death must be 'terminate' or 'respawn', got {on_death!r}")


def check_action(action: Any) -> int:
    """A valid action as an int, or a ``ValueError``/``TypeError`` that says what is wrong."""
    if isinstance(action, np.ndarray):
        if action.size != 1:
            raise ValueError(f"expected one action, got an array of shape {action.shape}")
        action = action.reshape(()).item()
    if isinstance(action, bool | np.bool_):
        raise TypeError(f"action must be an integer in [0, {len(Action) - 1}], got a bool ({action})")
    if isinstance(action, float | np.floating):
        if np.isnan(action):
            raise ValueError("action is NaN; this world takes discrete actions "
                             f"(integers in [0, {len(Action) - 1}]: {', '.join(a.name.lower() for a in Action)})")
        raise TypeError(f"action must be an integer in [0, {len(Action) - 1}], got the float {action!r}")
    if not isinstance(action, int | np.integer):
        raise TypeError(f"action must be an integer in [0, {len(Action) - 1}], got {type(action).__name__}")
    if not 0 <= action < len(Action):
        raise ValueError(f"action {int(action)} is outside the action space [0, {len(Action) - 1}] "
                         f"({', '.join(a.name.lower() for a in Action)})")
    return int(action)


def consume_event_names(spec: WorldSpec) -> list[str]:
    """``drink:<resource>`` for resources that mostly quench thirst, ``eat:<resource>`` otherwise."""
    return [f"{'drink' if r.effects.water > r.effects.food else 'eat'}:{name}"
            for name, r in spec.resources.items()]


def drive(vitals: np.ndarray) -> np.ndarray:
    """Homeostatic drive: distance of normalised vitals from their set point (all full)."""
    return np.sqrt(((1.0 - vitals) ** 2).sum(-1))


def body_drives(engine: Engine) -> np.ndarray:
    """``(B, N)`` drive of every body under the maxima in force."""
    return drive(engine.state.vitals / engine.params().vital_max)


def training_rewards(kind: str, engine: Engine, was_alive: np.ndarray, drive_before: np.ndarray | None) -> np.ndarray:
    """``(B, N)`` rewards of the step just taken, for the spec's ``reward`` kind (every env uses this).

    ``alive``: 1 for a living body. ``homeostatic``: the drop in drive, only for a body alive before and
    after the step (a respawn is not a reward). ``none``: 0. Pass ``was_alive`` and, for ``homeostatic``,
    ``drive_before = body_drives(engine)`` as they were before the step.
    """
    alive = engine.state.alive
    if kind == "alive":
        return alive.astype(np.float64)
    if kind == "homeostatic":
        assert drive_before is not None
        return np.where(alive & was_alive, drive_before - body_drives(engine), 0.0)
    return np.zeros(alive.shape)


def body_events(outcome: StepOutcome, consume_events: list[str], world: int, body: int) -> list[str]:
    """What happened to one body this step, as ``info["events"]`` of the single and PettingZoo envs."""
    events = []
    if outcome.consumed[world, body] >= 0:
        events.append(consume_events[outcome.consumed[world, body]])
    if outcome.predator_damage[world, body] > 0:
        events.append("damage:predator")
    if outcome.damage[world, body] > outcome.predator_damage[world, body]:
        events.append("damage:starvation")
    if outcome.died[world, body]:
        events.append("death")
    if outcome.respawned[world, body]:
        events.append("respawn")
    return events


def event_arrays(outcome: StepOutcome | None, size: int) -> dict[str, np.ndarray]:
    """``info["events"]`` of the vector envs: one entry per body, bodies flattened world by world."""
    if outcome is None:
        return {"death": np.zeros(size, bool), "respawn": np.zeros(size, bool),
                "consumed": np.full(size, -1, np.int64), "damage": np.zeros(size)}
    return {"death": outcome.died.reshape(-1).copy(), "respawn": outcome.respawned.reshape(-1).copy(),
            "consumed": outcome.consumed.reshape(-1).copy(), "damage": outcome.damage.reshape(-1).copy()}


def pack_state(engine: Engine, np_random: np.random.Generator | None, **extra: np.ndarray) -> bytes:
    """An env's whole state as bytes: the engine state (with its generators), the env's own generator
    and any ``extra`` arrays (e.g. which envs autoreset next). See :func:`unpack_state`."""
    if engine.state is None:
        raise RuntimeError("call reset() before get_state(): there is no world yet")
    buffer = io.BytesIO()
    rng_state = json.dumps(np_random.bit_generator.state if np_random is not None else None)
    arrays: dict[str, Any] = {"engine": np.frombuffer(engine.state.to_bytes(), dtype=np.uint8),
                              "np_random": np.array(rng_state), **extra}
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def unpack_state(engine: Engine, data: bytes, what: str) -> tuple[dict[str, np.ndarray], np.random.Generator | None]:
    """Install :func:`pack_state`'s engine state into ``engine``; return the extra arrays and the env's
    generator. Raises ``ValueError`` naming ``what`` (leaving the engine untouched) if it does not fit."""
    from openworld.world.state import WorldState

    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        engine_bytes, rng_json = arrays.pop("engine").tobytes(), str(arrays.pop("np_random"))
    except Exception as err:  # zip and format errors of many kinds
        raise ValueError(f"not a saved {what} state: {err}") from err
    engine.load_state(WorldState.from_bytes(engine_bytes))
    rng_state = json.loads(rng_json)
    if rng_state is None:
        return arrays, None
    generator = np.random.Generator(np.random.PCG64())
    generator.bit_generator.state = rng_state
    return arrays, generator


class OpenWorldEnv(gym.Env[dict[str, Any], Any]):
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
        self.world_spec = resolve_spec(world, overrides, variant)
        self.variant = variant
        self.on_death = on_death
        self.render_mode = render_mode
        self.engine = Engine(self.world_spec, num_worlds=1, bodies=1, auto_respawn=on_death == "respawn")
        self.observation_space: spaces.Dict = observation_space(self.world_spec)  # type: ignore[assignment]
        self.action_space: spaces.Discrete = spaces.Discrete(len(Action))  # type: ignore[assignment]
        self._reward = self.world_spec.reward
        self._consume_events = consume_event_names(self.world_spec)
        self._action_buffer = np.zeros((1, 1), np.int64)

    # ------------------------------------------------------------------ Gymnasium API
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        options = dict(options or {})
        unknown = set(options) - RESET_OPTIONS
        if unknown:
            raise ValueError(f"unknown reset option(s) {sorted(unknown)}; valid: {sorted(RESET_OPTIONS)}")
        events: list[str] = []
        if seed is not None or self.engine.state is None:
            super().reset(seed=seed)
            world_seed = seed if seed is not None else int(self.np_random.integers(2**31))
            self.engine.reset([world_seed], rng_seed=world_seed)
        elif options.get("regenerate"):
            self.engine.regenerate([int(self.np_random.integers(2**31))])
            if not self.engine.state.alive[0, 0]:
                self._respawn_now()
                events.append("respawn")
        elif not self.engine.state.alive[0, 0]:
            self._respawn_now()
            events.append("respawn")
        return self._observation(), self._info(events)

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        if self.engine.state is None:
            raise RuntimeError("call reset() before step()")
        a = check_action(action)
        state = self.engine.state
        if self.on_death == "terminate" and not state.alive[0, 0]:
            raise RuntimeError("the body is dead (the last step returned terminated=True): call reset() "
                               "to respawn it in the same world")
        was_alive = state.alive.copy()
        drive_before = body_drives(self.engine) if self._reward == "homeostatic" else None
        self._action_buffer[0, 0] = a
        outcome = self.engine.step(self._action_buffer)
        obs = self._observation()
        reward = float(training_rewards(self._reward, self.engine, was_alive, drive_before)[0, 0])
        terminated = bool(outcome.died[0, 0]) and self.on_death == "terminate"
        return obs, reward, terminated, False, self._info(body_events(outcome, self._consume_events, 0, 0))

    def render(self) -> np.ndarray | str | None:  # type: ignore[override]
        return render_frame(self.engine, self.render_mode)

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> bytes:
        """The whole world and the env's generator, exactly (see :meth:`set_state`)."""
        return pack_state(self.engine, self._np_random)

    def set_state(self, data: bytes) -> None:
        """Restore :meth:`get_state`; raises ``ValueError`` (leaving the env untouched) if it does not fit."""
        _, self._np_random = unpack_state(self.engine, data, "single env")

    # ------------------------------------------------------------------ helpers
    def _respawn_now(self) -> None:
        """Let world time pass until the body may come back, then bring it back."""
        self.engine.wait_for_respawn(np.zeros(1, dtype=np.int64))
        self.engine.respawn_when_ready(np.ones((1, 1), bool))

    def _observation(self) -> dict[str, np.ndarray]:
        view, vitals = self.engine.observe()
        return {"view": view[0, 0], "vitals": vitals[0, 0]}

    def _info(self, events: list[str]) -> dict[str, Any]:
        state = self.engine.state
        return {"world_step": int(state.clock[0]), "alive": bool(state.alive[0, 0]), "events": events}
