"""The world conformance check, :func:`check_world` (public as ``openworld.testing.check_world``).

The properties it checks are listed in the package docstring (:mod:`openworld.testing`); the rollouts
it replays are in :mod:`openworld.testing.rollouts`, the comparisons in :mod:`openworld.testing.differences`.
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
from collections.abc import Callable, Collection, Sequence
from contextlib import ExitStack
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from openworld.testing.differences import difference, info_value, is_int, not_an_int, short, space_problem
from openworld.testing.rollouts import (
    Output,
    blame,
    draw_actions,
    ends_life,
    is_save_point,
    play,
    rollout,
    same_terrain,
    world_state,
    world_terrain,
)
from openworld.testing.world_report import PROPERTIES, WorldCheckError, WorldCheckReport, check_skip

__all__ = ["PROPERTIES", "WorldCheckError", "WorldCheckReport", "check_world"]

RENDER_STEPS = 5  # steps rendered per render mode: enough to see a frame change, cheap
RESET_STEPS = 20  # steps between the two reset(seed=s) calls of the reset property

EnvFactory = Callable[..., gym.Env[Any, Any]]


def check_world(make_env: EnvFactory | str, steps: int = 1000, seed: int = 0, *,
                expect_never_truncated: bool = True, skip: Collection[str] = ()) -> WorldCheckReport:
    """Check that a world keeps the openworld contract; raise :class:`WorldCheckError` if not.

    The actions are drawn once, uniformly from the action space, with ``numpy.random.default_rng(seed)``
    (for openworld's action set, at least one ``interact`` and one move are always among them), and
    every rollout replays that same sequence. See the module docstring for the properties.

    Args:
        make_env: returns a fresh ``gymnasium.Env`` each call. It is called with no arguments, and with
            ``render_mode=<mode>`` for the render property, so forward keyword arguments:
            ``lambda **kwargs: gymnasium.make("openworld/Meadow-v0", **kwargs)``. An env class such as
            :class:`openworld.envs.single.OpenWorldEnv` works as it is. A zero-argument callable is accepted;
            the render property is then skipped (and the report says so). A string is a shortcut
            for ``functools.partial(gymnasium.make, make_env)``.
        steps: actions per rollout (the save/restore point is ``steps // 2``); at least 1.
        seed: seed for ``reset(seed=...)`` and for the action sequence.
        expect_never_truncated: require ``truncated`` to be False (openworld worlds never truncate;
            lifetimes are budgeted by the runner). Pass False for worlds with a time limit; a
            ``TimeLimit`` wrapper also needs ``skip=("save_restore",)``, as its step count lies outside
            ``get_state()``, so a restored env truncates at another step.
        skip: properties not to check (names from :data:`PROPERTIES`); the report lists them.

    Returns:
        A :class:`WorldCheckReport` of what was checked and what was skipped, and why.

    Raises:
        WorldCheckError: naming the failed property, the step index and the key that differed or
            was wrong. An exception raised by the environment is re-raised as one, too.
        ValueError: for a bad ``steps`` or an unknown name in ``skip``.

    Example:
        >>> import gymnasium as gym
        >>> import openworld
        >>> from openworld.testing import check_world
        >>> report = check_world(lambda **kwargs: gym.make("openworld/Meadow-v0", **kwargs), steps=30)
        >>> report.checked
        ('reset', 'determinism', 'spaces', 'clock', 'save_restore', 'render')
        >>> print(report)
        check_world(openworld/Meadow-v0, steps=30, seed=0): passed
          checked: reset, determinism, spaces, clock, save_restore, render
          render modes: rgb_array, ansi
          0 termination(s), world clock at 30
    """
    if isinstance(make_env, str):
        make_env = functools.partial(gym.make, make_env)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    check_skip(skip, PROPERTIES)
    checker = _Checker(make_env, steps, seed, expect_never_truncated, frozenset(skip))
    return checker.run()


class _Checker:
    """One :func:`check_world` call: the shared action sequence and the rollouts that replay it."""

    def __init__(self, make_env: EnvFactory, steps: int, seed: int, expect_never_truncated: bool,
                 skip: frozenset[str]) -> None:
        self.make_env = make_env
        self.steps = steps
        self.seed = seed
        self.expect_never_truncated = expect_never_truncated
        self.skipped: dict[str, str] = {name: "skipped by the caller" for name in PROPERTIES if name in skip}
        self.render_modes: list[str] = []
        self.terminations = 0
        self.final_world_step: int | None = None
        self.actions: list[Any] = []

    def wants(self, prop: str) -> bool:
        return prop not in self.skipped

    def note(self, prop: str, why: str) -> None:
        """Record that part of a property could not be checked (the rest of it was)."""
        key = f"{prop} (in part)"
        self.skipped[key] = f"{self.skipped[key]}; {why}" if key in self.skipped else why

    def run(self) -> WorldCheckReport:
        with ExitStack() as stack:
            env = self.new_env(stack, "reset")
            world = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
            self.actions = draw_actions(env.action_space, self.steps, self.seed)
            if self.wants("reset"):
                self.check_reset(env)
            self.check_rollouts(stack)
            self.check_render(list(env.metadata.get("render_modes", [])))
        checked = tuple(prop for prop in PROPERTIES if prop not in self.skipped)
        return WorldCheckReport(world=world, steps=self.steps, seed=self.seed, checked=checked,
                                skipped=dict(self.skipped), render_modes=tuple(self.render_modes),
                                terminations=self.terminations, final_world_step=self.final_world_step)

    def new_env(self, stack: ExitStack, prop: str, **kwargs: Any) -> gym.Env[Any, Any]:
        call = f"make_env({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
        with blame(prop, call):
            env = self.make_env(**kwargs)
        if not isinstance(env, gym.Env):
            raise TypeError(f"{call} must return a gymnasium.Env, got {type(env).__name__}")
        stack.callback(env.close)
        return env

    # ------------------------------------------------------------------ reset
    def check_reset(self, env: gym.Env[Any, Any]) -> None:
        """``reset(seed=s)`` twice gives one observation; ``reset()`` keeps the terrain and the clock."""
        at = f"reset(seed={self.seed})"
        with blame("reset", at):
            first = copy.deepcopy(env.reset(seed=self.seed)[0])  # an env may reuse its output buffers
        between = min(self.steps, RESET_STEPS)
        for _ in play(env, self.actions, 0, between, need_reset=False, prop="reset"):
            pass
        with blame("reset", f"{at} again"):
            again, _ = env.reset(seed=self.seed)
        problem = difference(first, again, "obs")
        if problem:
            raise WorldCheckError("reset", f"{at} twice, {between} steps apart", problem[0], f"differs: {problem[1]}")
        last = list(play(env, self.actions, 0, between, need_reset=False, prop="reset"))[-1]  # between >= 1
        terrain = world_terrain(env)
        at = f"reset() without a seed, {between} steps after {at}"
        with blame("reset", at):
            _, info = env.reset()
        clock, clock_after = info_value(last.values["info"], "world_step"), info_value(info, "world_step")
        if self.wants("clock") and is_int(clock) and is_int(clock_after) and clock_after < clock:
            raise WorldCheckError("clock", at, "info['world_step']",
                                  f"went back from {clock} to {clock_after}: reset() without a seed must not set "
                                  "the world clock back")
        if terrain is None:
            self.note("reset", "no env.unwrapped.engine.state.terrain, so reset() was not checked to keep the world")
        elif not same_terrain(terrain, world_terrain(env)):
            raise WorldCheckError("reset", at, "engine.state.terrain",
                                  "changed: reset() without a seed must not regenerate the world")

    # ------------------------------------------------------------------ determinism, spaces, clock, save/restore
    def check_rollouts(self, stack: ExitStack) -> None:
        """One rollout checked for spaces and clock, mirrored by a second (determinism), half replayed."""
        lead = next((p for p in ("determinism", "spaces", "clock", "save_restore") if self.wants(p)), None)
        if lead is None:
            return
        env_a = self.new_env(stack, lead)
        env_b = self.new_env(stack, "determinism") if self.wants("determinism") else None
        if self.wants("save_restore") and not all(
                callable(getattr(env_a.unwrapped, name, None)) for name in ("get_state", "set_state")):
            self.skipped["save_restore"] = "the env has no get_state()/set_state()"
        saving = self.wants("save_restore")
        save_at = self.steps // 2
        saved: Any = None
        need_reset_at_save = False
        after_save: list[Output] = []
        same = "two envs given the same seed and actions"

        outputs_b = rollout(env_b, self.actions, self.seed, "determinism") if env_b is not None else None
        for out in rollout(env_a, self.actions, self.seed, lead):
            self.check_output(out, env_a.observation_space)
            if outputs_b is not None:
                self.compare("determinism", out, next(outputs_b, None), same)
            if saving and out.step >= save_at and not (out.kind == "reset" and out.step == 0):
                after_save.append(copy.deepcopy(out))  # an env may reuse its output buffers
            if saving and is_save_point(out, save_at):
                with blame("save_restore", f"get_state() after {save_at} steps"):
                    saved = env_a.unwrapped.get_state()  # type: ignore[attr-defined]
                need_reset_at_save = out.kind == "step" and ends_life(out)
        if env_b is not None and outputs_b is not None:
            extra = next(outputs_b, None)
            if extra is not None:
                raise WorldCheckError("determinism", extra.at, "terminated",
                                      f"only the second env needed a reset() ({same})", extra.step)
            self.compare_states("determinism", env_a, env_b, same)
        if saving:
            self.check_restore(stack, env_a, saved, save_at, need_reset_at_save, after_save)

    def check_restore(self, stack: ExitStack, env_a: gym.Env[Any, Any], saved: Any, save_at: int,
                      need_reset: bool, expected: Sequence[Output]) -> None:
        """A third env, reset with the seed and then given the saved state, continues like the first."""
        env_c = self.new_env(stack, "save_restore")
        with blame("save_restore", f"reset(seed={self.seed}) then set_state()"):
            env_c.reset(seed=self.seed)
            env_c.unwrapped.set_state(saved)  # type: ignore[attr-defined]
        how = f"restored from get_state() after {save_at} steps vs uninterrupted"
        replay = play(env_c, self.actions, save_at, self.steps, need_reset=need_reset, prop="save_restore")
        for want in expected:
            self.compare("save_restore", want, next(replay, None), how)
        extra = next(replay, None)
        if extra is not None:
            raise WorldCheckError("save_restore", extra.at, "terminated",
                                  f"only the restored env needed a reset() ({how})", extra.step)
        self.compare_states("save_restore", env_a, env_c, how)

    def check_output(self, out: Output, space: spaces.Space[Any]) -> None:
        """The spaces, clock and (after a death) reset properties of one output of the lead rollout."""
        if out.kind == "reset" and out.step > 0:
            self.terminations += 1
            if out.terrain_kept is False and self.wants("reset"):
                raise WorldCheckError("reset", out.at, "engine.state.terrain",
                                      "changed: reset() without a seed must not regenerate the world", out.step)
        if self.wants("spaces"):
            self.check_spaces(out, space)
        info = out.values["info"]
        clock = info_value(info, "world_step")
        previous, self.final_world_step = self.final_world_step, int(clock) if is_int(clock) else None
        if not self.wants("clock"):
            return
        if not is_int(clock):
            raise WorldCheckError("clock", out.at, "info['world_step']", not_an_int(info), out.step)
        if previous is None or (out.kind == "reset" and out.step == 0):  # the first reset(seed=s) sets it
            return
        if out.kind == "step" and clock < previous + 1:
            raise WorldCheckError("clock", out.at, "info['world_step']",
                                  f"went from {previous} to {clock}; it must grow by >= 1 per step", out.step)
        if out.kind == "reset" and clock < previous:
            raise WorldCheckError("clock", out.at, "info['world_step']",
                                  f"went back from {previous} to {clock}: reset() without a seed must not set "
                                  "the world clock back", out.step)

    def check_spaces(self, out: Output, space: spaces.Space[Any]) -> None:
        """Observation in its space (exact dtypes); reward a finite float; flags bools; never truncated."""
        values, at, step = out.values, out.at, out.step
        problem = space_problem(space, values["obs"], "obs")
        if problem:
            raise WorldCheckError("spaces", at, problem[0], problem[1], step)
        if not isinstance(values["info"], dict):
            raise WorldCheckError("spaces", at, "info", f"is a {type(values['info']).__name__}, not a dict", step)
        if out.kind == "reset":
            return
        reward = values["reward"]
        if not isinstance(reward, float | np.floating) or not math.isfinite(float(reward)):
            raise WorldCheckError("spaces", at, "reward",
                                  f"is {short(reward)} ({type(reward).__name__}), not a finite float", step)
        for flag in ("terminated", "truncated"):
            if not isinstance(values[flag], bool | np.bool_):
                raise WorldCheckError("spaces", at, flag,
                                      f"is {short(values[flag])} ({type(values[flag]).__name__}), not a bool", step)
        if self.expect_never_truncated and values["truncated"]:
            raise WorldCheckError("spaces", at, "truncated",
                                  "is True, but openworld worlds never truncate (pass expect_never_truncated=False "
                                  "for a world with a time limit)", step)

    def compare(self, prop: str, want: Output, got: Output | None, how: str) -> None:
        if got is None or (got.kind, got.step) != (want.kind, want.step):
            seen = "nothing more" if got is None else got.at
            raise WorldCheckError(prop, want.at, "terminated",
                                  f"one env gave {want.at}, the other {seen} ({how})", want.step)
        problem = difference(want.values, got.values, "")
        if problem:
            raise WorldCheckError(prop, want.at, problem[0], f"differs ({how}): {problem[1]}", want.step)

    def compare_states(self, prop: str, env_1: gym.Env[Any, Any], env_2: gym.Env[Any, Any], how: str) -> None:
        """The whole engine state (arrays and generators), where the env exposes one."""
        state_1, state_2 = world_state(env_1), world_state(env_2)
        if state_1 is None or state_2 is None:
            self.note(prop, "no env.unwrapped.engine.state, so only the outputs were compared")
            return
        problem = difference(state_1, state_2, "engine.state")
        if problem:
            raise WorldCheckError(prop, f"after step {self.steps - 1}", problem[0],
                                  f"differs ({how}): {problem[1]}", self.steps - 1)

    # ------------------------------------------------------------------ render
    def check_render(self, modes: list[str]) -> None:
        if not self.wants("render"):
            return
        if not modes:
            self.skipped["render"] = "metadata['render_modes'] is empty"
            return
        if not _accepts_keyword(self.make_env, "render_mode"):
            self.skipped["render"] = ("make_env takes no render_mode= keyword; pass one that forwards it, e.g. "
                                      "lambda **kwargs: gymnasium.make(world_id, **kwargs)")
            return
        for mode in modes:
            base = mode.removesuffix("_list")
            if base not in ("rgb_array", "ansi"):
                self.note("render", f"mode {mode!r} returns nothing to check")
                continue
            with ExitStack() as stack:
                self.check_render_mode(self.new_env(stack, "render", render_mode=mode), mode, base)
            self.render_modes.append(mode)

    def check_render_mode(self, env: gym.Env[Any, Any], mode: str, base: str) -> None:
        if env.render_mode != mode:
            raise WorldCheckError("render", f"make_env(render_mode={mode!r})", "render_mode",
                                  f"the env has render_mode {env.render_mode!r}")
        shape: tuple[int, ...] | None = None
        for out in play(env, self.actions, 0, min(self.steps, RENDER_STEPS), need_reset=False, prop="render",
                        seed=self.seed):
            at = f"render() in mode {mode!r} after {out.at}"
            with blame("render", at, out.step):
                frame = env.render()
            if mode != base and not isinstance(frame, list):
                raise WorldCheckError("render", at, "frame", f"is a {type(frame).__name__}, not a list", out.step)
            for item in frame if mode != base else [frame]:  # type: ignore[union-attr]
                shape = check_frame(item, base, shape, at, out.step)


# ---------------------------------------------------------------------- render frames
def check_frame(frame: Any, base: str, shape: tuple[int, ...] | None, at: str, step: int) -> tuple[int, ...] | None:
    """An ``rgb_array`` frame is a uint8 ``(H, W, 3)`` array of constant shape; an ``ansi`` one a non-empty str."""
    if base == "ansi":
        if not isinstance(frame, str):
            raise WorldCheckError("render", at, "frame", f"is a {type(frame).__name__}, not a str", step)
        if not frame.strip():
            raise WorldCheckError("render", at, "frame", f"is an empty text frame ({frame!r})", step)
        return shape
    if not isinstance(frame, np.ndarray):
        raise WorldCheckError("render", at, "frame", f"is a {type(frame).__name__}, not a numpy array", step)
    if frame.dtype != np.uint8:
        raise WorldCheckError("render", at, "frame.dtype", f"is {frame.dtype}, not uint8", step)
    if frame.ndim != 3 or frame.shape[2] != 3 or 0 in frame.shape:
        raise WorldCheckError("render", at, "frame.shape", f"is {frame.shape}, not (H, W, 3)", step)
    if shape is not None and frame.shape != shape:
        raise WorldCheckError("render", at, "frame.shape", f"changed from {shape} to {frame.shape}", step)
    return tuple(frame.shape)


def _accepts_keyword(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn(name=...)`` binds (True when the signature cannot be read: then we just try)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    try:
        signature.bind_partial(**{name: None})
    except TypeError:
        return False
    return True
