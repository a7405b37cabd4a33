"""The adapter core behind every env view: one engine, and the semantics the views share.

The four envs of :mod:`openworld.envs` (single, vector, population, PettingZoo) are projections of one
:class:`EngineCore`: ``B`` worlds of ``N`` bodies, everything ``(B, N)``. The core owns

* spec resolution (world id or spec, then a variant, then overrides) and the engine;
* the env's own generator (the one ``reset()`` without a seed and ``regenerate`` draw from);
* the seed -> world mapping: ``seed=s`` makes world ``b`` from ``s + b`` (a sequence: one seed per world);
* the reset policy (:meth:`EngineCore.reset`): the one option ``regenerate``; no seed never regenerates;
* respawn waits (a reset that brings the dead back, the vector env's NEXT_STEP autoreset);
* training rewards, and the step's events as named ``(B, N)`` arrays
  (:class:`~openworld.world.engine.StepOutcome`, projected by :mod:`openworld.envs.events`);
* ``get_state``/``set_state`` as bytes (npz: the engine state, the generator, a view's extra arrays).

The views add only their API's shapes: which axis is an agent, what ``terminated`` means, info layout.
"""

from __future__ import annotations

import dataclasses
import io
import json
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding

from openworld.enums import VIEW_CODES, ViewChannel, Vital
from openworld.envs.events import no_events
from openworld.world.engine import Engine, StepOutcome
from openworld.world.spec import WorldSpec
from openworld.world.state import WorldState, generator_from_state

OnDeath = Literal["terminate", "respawn"]
RESET_OPTIONS = frozenset({"regenerate"})
Seed = int | Sequence[int] | np.ndarray | None


def observation_space(spec: WorldSpec) -> spaces.Dict:
    """``Dict(view=uint8 (V, V, 3), vitals=float32 (K,) in [0, 1])``: one body's observation.

    The view's ``high`` is the shared code space (:data:`~openworld.enums.VIEW_CODES` minus one per
    channel), not the kinds this world uses: every engine world with the same view size has the same
    space, so a policy trained in one world loads in any other.
    """
    V = spec.observation.view
    high = np.broadcast_to(np.array(VIEW_CODES, np.uint8) - 1, (V, V, len(ViewChannel))).copy()
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


def drive(vitals: np.ndarray) -> np.ndarray:
    """Homeostatic drive: distance of normalised vitals from their set point (all full)."""
    return np.sqrt(((1.0 - vitals) ** 2).sum(-1))


def body_drives(engine: Engine) -> np.ndarray:
    """``(B, N)`` drive of every body under the maxima in force."""
    return drive(engine.state.vitals / engine.params().vital_max)


def training_rewards(kind: str, engine: Engine, was_alive: np.ndarray, drive_before: np.ndarray | None) -> np.ndarray:
    """``(B, N)`` rewards of the step just taken, for the spec's ``reward`` kind.

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


class EngineCore:
    """``num_worlds`` worlds of ``bodies`` bodies of one world, and the semantics every view shares.

    Args:
        world: a registered world id or a :class:`~openworld.world.spec.WorldSpec`.
        num_worlds: ``B``.
        bodies: ``N`` bodies per world (None: the spec's ``bodies``).
        auto_respawn: dead bodies come back inside :meth:`step` after their delay (``on_death="respawn"``
            and the multi-body views); otherwise they wait for a reset or an autoreset.
        respawn_on_reset: ``reset()`` without a seed brings dead bodies back now, after their delay
            (the Gymnasium single-body views); otherwise it leaves the worlds exactly as they are.
        overrides: dotted-path spec overrides, applied after the variant.
        variant: a variant of the world (:mod:`openworld.variants`).
    """

    def __init__(self, world: str | WorldSpec, *, num_worlds: int, bodies: int | None, auto_respawn: bool,
                 respawn_on_reset: bool, overrides: Mapping[str, Any] | None = None,
                 variant: str | None = None) -> None:
        self.spec = resolve_spec(world, overrides, variant)
        self.variant = variant
        self.respawn_on_reset = respawn_on_reset
        self.engine = Engine(self.spec, num_worlds=int(num_worlds), bodies=bodies, auto_respawn=auto_respawn)
        self.num_worlds, self.bodies = self.engine.num_worlds, self.engine.num_bodies
        # The env's own generator and its seed, as Gymnasium keeps them (``np_random``, ``np_random_seed``).
        self.np_random: np.random.Generator | None = None
        self.np_random_seed: int | None = None

    @property
    def started(self) -> bool:
        """Whether the worlds exist (the first ``reset`` made them)."""
        return self.engine.state is not None

    @property
    def generator(self) -> np.random.Generator:
        """The env's own generator, made from fresh entropy on first use if no seed made it."""
        if self.np_random is None:
            self.np_random, self.np_random_seed = seeding.np_random()
        return self.np_random

    # ------------------------------------------------------------------ reset
    def reset(self, seed: Seed = None, options: Mapping[str, Any] | None = None, *,
              unknown_options: Literal["raise", "warn"] = "raise") -> StepOutcome:
        """Reset the worlds; return the events of the reset (the bodies it brought back).

        * ``seed=s``: seed the env's generator with ``s`` and make world ``b`` from ``s + b``; a sequence
          (or array) gives one seed per world, and seeds the generator with the first.
        * No seed, first reset: the same, from a seed drawn from the env's generator.
        * No seed afterwards: the worlds carry on. ``options={"regenerate": True}`` makes new maps from
          the env's generator; with ``respawn_on_reset`` dead bodies come back (after their delay).

        Unknown options raise ``ValueError``, or with ``unknown_options="warn"`` are ignored with a warning
        (PettingZoo's conformance tests pass ``options={"options": 1}``).
        """
        options = dict(options or {})
        unknown = set(options) - RESET_OPTIONS
        if unknown:
            message = f"unknown reset option(s) {sorted(unknown)}; valid: {sorted(RESET_OPTIONS)}"
            if unknown_options == "raise":
                raise ValueError(message)
            warnings.warn(f"ignoring {message}", stacklevel=3)
        seeds = self._world_seeds(seed)
        if seeds is not None:
            self.engine.reset(seeds, rng_seed=seeds[0])
            return no_events(self.num_worlds, self.bodies)
        if options.get("regenerate"):
            self.engine.regenerate([int(s) for s in self.generator.integers(2**31, size=self.num_worlds)])
        if not self.respawn_on_reset:
            return no_events(self.num_worlds, self.bodies)
        return dataclasses.replace(no_events(self.num_worlds, self.bodies), respawned=self.respawn_dead_now())

    def _world_seeds(self, seed: Seed) -> list[int] | None:
        """The seed of each world for a reset with ``seed``, or None when the worlds carry on; seeds the
        env's generator when ``seed`` is given. See :meth:`reset`."""
        if isinstance(seed, np.ndarray):
            seed = [int(s) for s in seed.reshape(-1)]
        if isinstance(seed, Sequence) and not isinstance(seed, str):
            if len(seed) != self.num_worlds:
                raise ValueError(f"expected {self.num_worlds} seeds, got {len(seed)}")
            seeds = [int(s) for s in seed]
            self.np_random, self.np_random_seed = seeding.np_random(seeds[0])
            return seeds
        if seed is None and self.started:
            return None
        if seed is not None:
            self.np_random, self.np_random_seed = seeding.np_random(seed)
        first = int(seed) if seed is not None else int(self.generator.integers(2**31))
        return [first + b for b in range(self.num_worlds)]

    def respawn_dead_now(self) -> np.ndarray:
        """Let the worlds of dead bodies run until those may come back, and bring them back: ``(B, N)``
        mask of the bodies respawned."""
        dead = ~self.engine.state.alive
        self.engine.wait_for_respawn(np.flatnonzero(dead.any(axis=1)))
        self.engine.respawn_when_ready(dead)
        return dead & self.engine.state.alive

    # ------------------------------------------------------------------ step
    def step(self, actions: np.ndarray, autoreset: np.ndarray | None = None) -> tuple[StepOutcome, np.ndarray]:
        """One world step: ``(B, N)`` int64 actions in, the step's events and ``(B, N)`` rewards out.

        ``autoreset`` (``(B,)`` bool) marks worlds whose dead bodies come back with this step (NEXT_STEP
        autoreset): they first run alone until one step before the bodies may return, then take part in
        the batched step (the dead ignore their actions), then the bodies respawn, with a ``respawn``
        event; those worlds' rewards are 0. A delay of 0 therefore behaves as 1.
        """
        if not self.started:
            raise RuntimeError("call reset() before step()")
        resetting = np.flatnonzero(autoreset) if autoreset is not None else np.zeros(0, np.int64)
        if resetting.size:
            self.engine.wait_for_respawn(resetting, short_by=1)
        was_alive = self.engine.state.alive.copy()
        drive_before = body_drives(self.engine) if self.spec.reward == "homeostatic" else None
        outcome = self.engine.step(actions)
        if resetting.size:
            back = np.zeros_like(was_alive)  # the dead bodies of the autoreset worlds
            back[resetting] = ~was_alive[resetting]
            self.engine.respawn_when_ready(back)
        rewards = training_rewards(self.spec.reward, self.engine, was_alive, drive_before)
        if resetting.size:
            rewards[resetting] = 0.0
            outcome = dataclasses.replace(outcome, respawned=outcome.respawned | back)
        return outcome, rewards

    def observe(self) -> tuple[np.ndarray, np.ndarray]:
        """Views ``(B, N, V, V, 3)`` uint8 and vitals ``(B, N, K)`` float32 of every body."""
        return self.engine.observe()

    # ------------------------------------------------------------------ persistence
    def get_state(self, **extra: np.ndarray) -> bytes:
        """The worlds, exactly, as bytes: the engine state (with its generators), the env's generator and
        a view's ``extra`` arrays (e.g. which envs autoreset next). See :meth:`set_state`."""
        if self.engine.state is None:
            raise RuntimeError("call reset() before get_state(): there is no world yet")
        buffer = io.BytesIO()
        rng_state = json.dumps(self.np_random.bit_generator.state if self.np_random is not None else None)
        arrays: dict[str, Any] = {"engine": np.frombuffer(self.engine.state.to_bytes(), dtype=np.uint8),
                                  "np_random": np.array(rng_state), **extra}
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    def set_state(self, data: bytes, what: str,
                  extra_shapes: Mapping[str, tuple[int, ...]] | None = None) -> dict[str, np.ndarray]:
        """Restore :meth:`get_state` and return its extra arrays.

        Raises ``ValueError`` naming ``what`` (leaving everything untouched) if the bytes are not a saved
        state of these worlds or lack one of ``extra_shapes`` (name -> shape).
        """
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
            engine_bytes, rng_json = arrays.pop("engine").tobytes(), str(arrays.pop("np_random"))
        except Exception as err:  # zip and format errors of many kinds
            raise ValueError(f"not a saved {what} state: {err}") from err
        saved = self.engine.state
        self.engine.load_state(WorldState.from_bytes(engine_bytes))
        for name, shape in (extra_shapes or {}).items():
            if name not in arrays or arrays[name].shape != shape:
                self.engine.state = saved
                raise ValueError(f"saved state is not one of {self.num_worlds} {what}s")
        rng_state = json.loads(rng_json)
        self.np_random = None if rng_state is None else generator_from_state(rng_state)
        return arrays


class GeneratorInCore:
    """Mixin for the Gymnasium views: Gymnasium keeps an env's generator in ``_np_random`` and its seed in
    ``_np_random_seed`` (``reset(seed=...)``, ``np_random`` and Gymnasium's checkers read them there); these
    views keep both in their :class:`EngineCore`, which seeds, draws from and saves them."""

    core: EngineCore

    @property
    def _np_random(self) -> np.random.Generator | None:
        return self.core.np_random

    @_np_random.setter
    def _np_random(self, value: np.random.Generator | None) -> None:
        self.core.np_random = value

    @property
    def _np_random_seed(self) -> int | None:
        return self.core.np_random_seed

    @_np_random_seed.setter
    def _np_random_seed(self, value: int | None) -> None:
        self.core.np_random_seed = value
