"""Rollouts for :func:`~openworld.testing.check_world`: one pre-drawn action sequence replayed in fresh
environments, every ``reset()`` and ``step()`` output yielded (and labelled) as it happens."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from openworld.enums import MOVE_ACTIONS, Action
from openworld.testing.world_report import WorldCheckError


@dataclass(frozen=True)
class Output:
    """What one ``reset()`` or ``step()`` returned, labelled with the action index it belongs to."""

    kind: str  # "reset" or "step"
    step: int  # index of the action taken (step) or about to be taken (reset)
    values: dict[str, Any]  # obs, info (+ reward, terminated, truncated for a step)
    terrain_kept: bool | None = None  # reset only: terrain unchanged by it (None if not observable)

    @property
    def at(self) -> str:
        return f"step {self.step}" if self.kind == "step" else f"reset() before step {self.step}"


def draw_actions(space: spaces.Space[Any], steps: int, seed: int) -> list[Any]:
    """``steps`` actions drawn uniformly with ``default_rng(seed)``; openworld's set gets an interact and a move."""
    rng = np.random.default_rng(seed)
    if not isinstance(space, spaces.Discrete):
        sampler = copy.deepcopy(space)  # do not reseed the env's own space
        sampler.seed(int(rng.integers(2**32)))
        return [sampler.sample() for _ in range(steps)]
    actions = rng.integers(int(space.n), size=steps) + int(space.start)
    if int(space.n) == len(Action) and int(space.start) == 0 and steps >= 2:
        if not (actions == Action.INTERACT).any():
            actions[rng.integers(steps)] = Action.INTERACT
        if not np.isin(actions, MOVE_ACTIONS).any():
            free = np.flatnonzero(actions != Action.INTERACT)
            actions[rng.choice(free if free.size else np.arange(1, steps))] = rng.choice(MOVE_ACTIONS)
    return [int(a) for a in actions]


def rollout(env: gym.Env[Any, Any], actions: Sequence[Any], seed: int, prop: str) -> Iterator[Output]:
    """``reset(seed=seed)``, then every action (with ``reset()`` after each end of life)."""
    return play(env, actions, 0, len(actions), need_reset=False, prop=prop, seed=seed)


def play(env: gym.Env[Any, Any], actions: Sequence[Any], start: int, stop: int, *, need_reset: bool,
         prop: str, seed: int | None = None) -> Iterator[Output]:
    """Take ``actions[start:stop]``, yielding every output; ``reset()`` (no seed) after an end of life.

    With ``seed``, begin with ``reset(seed=seed)``. The generator pauses right after each output, so
    the caller can look at (or save) the env's state at that point.
    """
    if seed is not None:
        with blame(prop, f"reset(seed={seed})"):
            obs, info = env.reset(seed=seed)
        yield Output("reset", start, {"obs": obs, "info": info})
    for i in range(start, stop):
        if need_reset:
            terrain = world_terrain(env)
            with blame(prop, f"reset() before step {i}", i):
                obs, info = env.reset()
            kept = None if terrain is None else same_terrain(terrain, world_terrain(env))
            yield Output("reset", i, {"obs": obs, "info": info}, terrain_kept=kept)
        with blame(prop, f"step {i} (action {actions[i]!r})", i):
            obs, reward, terminated, truncated, info = env.step(actions[i])
        out = Output("step", i, {"obs": obs, "reward": reward, "terminated": terminated,
                                  "truncated": truncated, "info": info})
        need_reset = ends_life(out)
        yield out


def ends_life(out: Output) -> bool:
    return bool(out.values["terminated"]) or bool(out.values["truncated"])


def is_save_point(out: Output, save_at: int) -> bool:
    """The output after which the state is saved: that of step ``save_at - 1`` (or the first reset)."""
    if save_at == 0:
        return out.kind == "reset" and out.step == 0
    return out.kind == "step" and out.step == save_at - 1


@contextmanager
def blame(prop: str, at: str, step: int | None = None) -> Iterator[None]:
    """Re-raise an exception from the env as a :class:`WorldCheckError` naming the property and the call."""
    try:
        yield
    except WorldCheckError:
        raise
    except Exception as err:
        raise WorldCheckError(prop, at, "exception", f"raised {type(err).__name__}: {err}", step) from err


def world_state(env: gym.Env[Any, Any]) -> Any:
    """``env.unwrapped.engine.state`` if the env has an openworld-style engine, else ``None``."""
    state = getattr(getattr(env.unwrapped, "engine", None), "state", None)
    return state if dataclasses.is_dataclass(state) else None


def world_terrain(env: gym.Env[Any, Any]) -> np.ndarray | None:
    """A copy of ``env.unwrapped.engine.state.terrain``, or ``None`` where the env has none."""
    terrain = getattr(getattr(getattr(env.unwrapped, "engine", None), "state", None), "terrain", None)
    return terrain.copy() if isinstance(terrain, np.ndarray) else None


def same_terrain(before: np.ndarray, after: np.ndarray | None) -> bool:
    return after is not None and bool(np.array_equal(before, after))
