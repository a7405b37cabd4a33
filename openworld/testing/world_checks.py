"""The world conformance check, :func:`check_world` (public as ``openworld.testing.check_world``)."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import inspect
import math
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from openworld.enums import Action

__all__ = ["PROPERTIES", "WorldCheckError", "WorldCheckReport", "check_world"]

PROPERTIES = ("reset", "determinism", "spaces", "clock", "save_restore", "render")
"""The properties :func:`check_world` checks, in the order it checks them."""

MOVE_ACTIONS = (Action.NORTH, Action.EAST, Action.SOUTH, Action.WEST)
RENDER_STEPS = 5  # steps rendered per render mode: enough to see a frame change, cheap
RESET_STEPS = 20  # steps between the two reset(seed=s) calls of the reset property
REPR_LIMIT = 120  # longest value repr quoted in an error message

EnvFactory = Callable[..., gym.Env[Any, Any]]


class WorldCheckError(AssertionError):
    """A world failed a :func:`check_world` property.

    Attributes:
        property: the failed property, one of :data:`PROPERTIES`.
        step: index of the action at (or before) which it failed, ``None`` outside the rollout.
        key: what differed or was wrong, e.g. ``"obs['vitals'][1]"`` or ``"info['world_step']"``.
    """

    def __init__(self, prop: str, at: str, key: str, problem: str, step: int | None = None) -> None:
        self.property = prop
        self.step = step
        self.key = key
        super().__init__(f"{prop}: {at}: {key}: {problem}")


@dataclass(frozen=True)
class WorldCheckReport:
    """What :func:`check_world` checked; ``print`` it for a short summary.

    Attributes:
        world: the environment's registered id, or its class name.
        steps: actions taken in each rollout.
        seed: the seed given to ``reset`` and to the action generator.
        checked: the properties that were checked (and passed).
        skipped: property -> why it was not checked; ``"<property> (in part)"`` -> which part of a
            checked property could not be checked for this env (e.g. no engine state to compare).
        render_modes: the render modes that were checked.
        terminations: how often the rollout ended a life (``terminated``, or ``truncated`` where
            allowed) and called ``reset()``.
        final_world_step: ``info["world_step"]`` after the last step, if the world reports it.
    """

    world: str
    steps: int
    seed: int
    checked: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)
    render_modes: tuple[str, ...] = ()
    terminations: int = 0
    final_world_step: int | None = None

    def __str__(self) -> str:
        lines = [f"check_world({self.world}, steps={self.steps}, seed={self.seed}): passed",
                 f"  checked: {', '.join(self.checked) or 'nothing'}"]
        if self.render_modes:
            lines.append(f"  render modes: {', '.join(self.render_modes)}")
        lines.extend(f"  skipped {name}: {why}" for name, why in self.skipped.items())
        clock = "" if self.final_world_step is None else f", world clock at {self.final_world_step}"
        lines.append(f"  {self.terminations} termination(s){clock}")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Output:
    """What one ``reset()`` or ``step()`` returned, labelled with the action index it belongs to."""

    kind: str  # "reset" or "step"
    step: int  # index of the action taken (step) or about to be taken (reset)
    values: dict[str, Any]  # obs, info (+ reward, terminated, truncated for a step)
    terrain_kept: bool | None = None  # reset only: terrain unchanged by it (None if not observable)

    @property
    def at(self) -> str:
        return f"step {self.step}" if self.kind == "step" else f"reset() before step {self.step}"


def check_skip(skip: Collection[str], properties: Sequence[str]) -> None:
    """Raise ``ValueError`` for a name in ``skip`` that is not one of a checker's ``properties``."""
    for name in skip:
        if name not in properties:
            close = difflib.get_close_matches(name, properties, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"skip: unknown property {name!r}{hint}; properties: {', '.join(properties)}")


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
            self.actions = _draw_actions(env.action_space, self.steps, self.seed)
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
        with _blame(prop, call):
            env = self.make_env(**kwargs)
        if not isinstance(env, gym.Env):
            raise TypeError(f"{call} must return a gymnasium.Env, got {type(env).__name__}")
        stack.callback(env.close)
        return env

    # ------------------------------------------------------------------ reset
    def check_reset(self, env: gym.Env[Any, Any]) -> None:
        """``reset(seed=s)`` twice gives one observation; ``reset()`` keeps the terrain and the clock."""
        at = f"reset(seed={self.seed})"
        with _blame("reset", at):
            first = copy.deepcopy(env.reset(seed=self.seed)[0])  # an env may reuse its output buffers
        between = min(self.steps, RESET_STEPS)
        for _ in _play(env, self.actions, 0, between, need_reset=False, prop="reset"):
            pass
        with _blame("reset", f"{at} again"):
            again, _ = env.reset(seed=self.seed)
        problem = _difference(first, again, "obs")
        if problem:
            raise WorldCheckError("reset", f"{at} twice, {between} steps apart", problem[0], f"differs: {problem[1]}")
        last = list(_play(env, self.actions, 0, between, need_reset=False, prop="reset"))[-1]  # between >= 1
        terrain = _world_terrain(env)
        at = f"reset() without a seed, {between} steps after {at}"
        with _blame("reset", at):
            _, info = env.reset()
        clock, clock_after = _get(last.values["info"], "world_step"), _get(info, "world_step")
        if self.wants("clock") and _is_int(clock) and _is_int(clock_after) and clock_after < clock:
            raise WorldCheckError("clock", at, "info['world_step']",
                                  f"went back from {clock} to {clock_after}: reset() without a seed must not set "
                                  "the world clock back")
        if terrain is None:
            self.note("reset", "no env.unwrapped.engine.state.terrain, so reset() was not checked to keep the world")
        elif not _same_terrain(terrain, _world_terrain(env)):
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
        after_save: list[_Output] = []
        same = "two envs given the same seed and actions"

        outputs_b = _rollout(env_b, self.actions, self.seed, "determinism") if env_b is not None else None
        for out in _rollout(env_a, self.actions, self.seed, lead):
            self.check_output(out, env_a.observation_space)
            if outputs_b is not None:
                self.compare("determinism", out, next(outputs_b, None), same)
            if saving and out.step >= save_at and not (out.kind == "reset" and out.step == 0):
                after_save.append(copy.deepcopy(out))  # an env may reuse its output buffers
            if saving and _is_save_point(out, save_at):
                with _blame("save_restore", f"get_state() after {save_at} steps"):
                    saved = env_a.unwrapped.get_state()  # type: ignore[attr-defined]
                need_reset_at_save = out.kind == "step" and _ends_life(out)
        if env_b is not None and outputs_b is not None:
            extra = next(outputs_b, None)
            if extra is not None:
                raise WorldCheckError("determinism", extra.at, "terminated",
                                      f"only the second env needed a reset() ({same})", extra.step)
            self.compare_states("determinism", env_a, env_b, same)
        if saving:
            self.check_restore(stack, env_a, saved, save_at, need_reset_at_save, after_save)

    def check_restore(self, stack: ExitStack, env_a: gym.Env[Any, Any], saved: Any, save_at: int,
                      need_reset: bool, expected: Sequence[_Output]) -> None:
        """A third env, reset with the seed and then given the saved state, continues like the first."""
        env_c = self.new_env(stack, "save_restore")
        with _blame("save_restore", f"reset(seed={self.seed}) then set_state()"):
            env_c.reset(seed=self.seed)
            env_c.unwrapped.set_state(saved)  # type: ignore[attr-defined]
        how = f"restored from get_state() after {save_at} steps vs uninterrupted"
        replay = _play(env_c, self.actions, save_at, self.steps, need_reset=need_reset, prop="save_restore")
        for want in expected:
            self.compare("save_restore", want, next(replay, None), how)
        extra = next(replay, None)
        if extra is not None:
            raise WorldCheckError("save_restore", extra.at, "terminated",
                                  f"only the restored env needed a reset() ({how})", extra.step)
        self.compare_states("save_restore", env_a, env_c, how)

    def check_output(self, out: _Output, space: spaces.Space[Any]) -> None:
        """The spaces, clock and (after a death) reset properties of one output of the lead rollout."""
        if out.kind == "reset" and out.step > 0:
            self.terminations += 1
            if out.terrain_kept is False and self.wants("reset"):
                raise WorldCheckError("reset", out.at, "engine.state.terrain",
                                      "changed: reset() without a seed must not regenerate the world", out.step)
        if self.wants("spaces"):
            self.check_spaces(out, space)
        info = out.values["info"]
        clock = _get(info, "world_step")
        previous, self.final_world_step = self.final_world_step, int(clock) if _is_int(clock) else None
        if not self.wants("clock"):
            return
        if not _is_int(clock):
            raise WorldCheckError("clock", out.at, "info['world_step']", _not_an_int(info), out.step)
        if previous is None or (out.kind == "reset" and out.step == 0):  # the first reset(seed=s) sets it
            return
        if out.kind == "step" and clock < previous + 1:
            raise WorldCheckError("clock", out.at, "info['world_step']",
                                  f"went from {previous} to {clock}; it must grow by >= 1 per step", out.step)
        if out.kind == "reset" and clock < previous:
            raise WorldCheckError("clock", out.at, "info['world_step']",
                                  f"went back from {previous} to {clock}: reset() without a seed must not set "
                                  "the world clock back", out.step)

    def check_spaces(self, out: _Output, space: spaces.Space[Any]) -> None:
        """Observation in its space (exact dtypes); reward a finite float; flags bools; never truncated."""
        values, at, step = out.values, out.at, out.step
        problem = _space_problem(space, values["obs"], "obs")
        if problem:
            raise WorldCheckError("spaces", at, problem[0], problem[1], step)
        if not isinstance(values["info"], dict):
            raise WorldCheckError("spaces", at, "info", f"is a {type(values['info']).__name__}, not a dict", step)
        if out.kind == "reset":
            return
        reward = values["reward"]
        if not isinstance(reward, float | np.floating) or not math.isfinite(float(reward)):
            raise WorldCheckError("spaces", at, "reward",
                                  f"is {_short(reward)} ({type(reward).__name__}), not a finite float", step)
        for flag in ("terminated", "truncated"):
            if not isinstance(values[flag], bool | np.bool_):
                raise WorldCheckError("spaces", at, flag,
                                      f"is {_short(values[flag])} ({type(values[flag]).__name__}), not a bool", step)
        if self.expect_never_truncated and values["truncated"]:
            raise WorldCheckError("spaces", at, "truncated",
                                  "is True, but openworld worlds never truncate (pass expect_never_truncated=False "
                                  "for a world with a time limit)", step)

    def compare(self, prop: str, want: _Output, got: _Output | None, how: str) -> None:
        if got is None or (got.kind, got.step) != (want.kind, want.step):
            seen = "nothing more" if got is None else got.at
            raise WorldCheckError(prop, want.at, "terminated",
                                  f"one env gave {want.at}, the other {seen} ({how})", want.step)
        problem = _difference(want.values, got.values, "")
        if problem:
            raise WorldCheckError(prop, want.at, problem[0], f"differs ({how}): {problem[1]}", want.step)

    def compare_states(self, prop: str, env_1: gym.Env[Any, Any], env_2: gym.Env[Any, Any], how: str) -> None:
        """The whole engine state (arrays and generators), where the env exposes one."""
        state_1, state_2 = _world_state(env_1), _world_state(env_2)
        if state_1 is None or state_2 is None:
            self.note(prop, "no env.unwrapped.engine.state, so only the outputs were compared")
            return
        problem = _difference(state_1, state_2, "engine.state")
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
        for out in _play(env, self.actions, 0, min(self.steps, RENDER_STEPS), need_reset=False, prop="render",
                        seed=self.seed):
            at = f"render() in mode {mode!r} after {out.at}"
            with _blame("render", at, out.step):
                frame = env.render()
            if mode != base and not isinstance(frame, list):
                raise WorldCheckError("render", at, "frame", f"is a {type(frame).__name__}, not a list", out.step)
            for item in frame if mode != base else [frame]:  # type: ignore[union-attr]
                shape = _check_frame(item, base, shape, at, out.step)


# ---------------------------------------------------------------------- rollouts


def _draw_actions(space: spaces.Space[Any], steps: int, seed: int) -> list[Any]:
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


def _rollout(env: gym.Env[Any, Any], actions: Sequence[Any], seed: int, prop: str) -> Iterator[_Output]:
    """``reset(seed=seed)``, then every action (with ``reset()`` after each end of life)."""
    return _play(env, actions, 0, len(actions), need_reset=False, prop=prop, seed=seed)


def _play(env: gym.Env[Any, Any], actions: Sequence[Any], start: int, stop: int, *, need_reset: bool,
         prop: str, seed: int | None = None) -> Iterator[_Output]:
    """Take ``actions[start:stop]``, yielding every output; ``reset()`` (no seed) after an end of life.

    With ``seed``, begin with ``reset(seed=seed)``. The generator pauses right after each output, so
    the caller can look at (or save) the env's state at that point.
    """
    if seed is not None:
        with _blame(prop, f"reset(seed={seed})"):
            obs, info = env.reset(seed=seed)
        yield _Output("reset", start, {"obs": obs, "info": info})
    for i in range(start, stop):
        if need_reset:
            terrain = _world_terrain(env)
            with _blame(prop, f"reset() before step {i}", i):
                obs, info = env.reset()
            kept = None if terrain is None else _same_terrain(terrain, _world_terrain(env))
            yield _Output("reset", i, {"obs": obs, "info": info}, terrain_kept=kept)
        with _blame(prop, f"step {i} (action {actions[i]!r})", i):
            obs, reward, terminated, truncated, info = env.step(actions[i])
        out = _Output("step", i, {"obs": obs, "reward": reward, "terminated": terminated,
                                  "truncated": truncated, "info": info})
        need_reset = _ends_life(out)
        yield out


def _ends_life(out: _Output) -> bool:
    return bool(out.values["terminated"]) or bool(out.values["truncated"])


def _is_save_point(out: _Output, save_at: int) -> bool:
    """The output after which the state is saved: that of step ``save_at - 1`` (or the first reset)."""
    if save_at == 0:
        return out.kind == "reset" and out.step == 0
    return out.kind == "step" and out.step == save_at - 1


@contextmanager
def _blame(prop: str, at: str, step: int | None = None) -> Iterator[None]:
    """Re-raise an exception from the env as a :class:`WorldCheckError` naming the property and the call."""
    try:
        yield
    except WorldCheckError:
        raise
    except Exception as err:
        raise WorldCheckError(prop, at, "exception", f"raised {type(err).__name__}: {err}", step) from err


# ---------------------------------------------------------------------- comparisons


def _difference(a: Any, b: Any, path: str) -> tuple[str, str] | None:
    """The first place where ``a`` and ``b`` differ, as ``(path, description)``, or ``None``.

    Exact, deep equality: mappings (same keys), lists and tuples, numpy arrays (shape, dtype and
    every element; NaN equals NaN), dataclasses (field by field), random generators (their states),
    and scalars of the same type.
    """
    if type(a) is not type(b):
        return path or "value", f"types differ: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, Mapping):
        if set(a) != set(b):
            return path or "keys", (f"keys differ: only in the first {sorted(map(str, set(a) - set(b)))}, "
                                    f"only in the second {sorted(map(str, set(b) - set(a)))}")
        for key in a:
            found = _difference(a[key], b[key], f"{path}[{key!r}]" if path else str(key))
            if found:
                return found
        return None
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return path, f"lengths differ: {len(a)} vs {len(b)} ({_short(a)} vs {_short(b)})"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(a, np.ndarray):
        return _array_difference(a, b, path)
    if isinstance(a, np.random.Generator):
        return _difference(a.bit_generator.state, b.bit_generator.state, f"{path}.bit_generator.state")
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        for f in dataclasses.fields(a):
            found = _difference(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
            if found:
                return found
        return None
    if isinstance(a, float | complex | np.inexact) and _both_nan(a, b):
        return None
    try:
        equal = bool(a == b)
    except Exception:  # an object whose == is not a truth value: identical objects only
        equal = a is b
    return None if equal else (path, f"{_short(a)} vs {_short(b)}")


def _array_difference(a: np.ndarray, b: np.ndarray, path: str) -> tuple[str, str] | None:
    if a.shape != b.shape or a.dtype != b.dtype:
        return path, f"shape/dtype differ: {a.shape} {a.dtype} vs {b.shape} {b.dtype}"
    if a.dtype.kind in "fc":
        differ = (a != b) & ~(np.isnan(a) & np.isnan(b))
    elif a.dtype.kind == "O":
        differ = np.array([_difference(x, y, "") is not None for x, y in zip(a.flat, b.flat, strict=True)],
                          bool).reshape(a.shape)
    else:
        differ = a != b
    if not differ.any():
        return None
    index = tuple(int(i) for i in np.argwhere(differ)[0])
    where = f"{path}[{', '.join(map(str, index))}]" if index else path
    return where, f"{_short(a[index])} vs {_short(b[index])} ({int(differ.sum())} of {a.size} elements differ)"


def _both_nan(a: Any, b: Any) -> bool:
    return bool(np.isnan(a)) and bool(np.isnan(b))


def _space_problem(space: spaces.Space[Any], x: Any, path: str) -> tuple[str, str] | None:
    """Why ``x`` is not in ``space`` (or has another dtype than it declares), as ``(path, problem)``."""
    if isinstance(space, spaces.Dict):
        if not isinstance(x, Mapping):
            return path, f"is a {type(x).__name__}, not a dict"
        missing, extra = set(space.spaces) - set(x), set(x) - set(space.spaces)
        if missing or extra:
            return path, f"keys differ from the space's: missing {sorted(missing)}, unexpected {sorted(extra)}"
        for key, sub in space.spaces.items():
            found = _space_problem(sub, x[key], f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(space, spaces.Tuple):
        if not isinstance(x, tuple) or len(x) != len(space.spaces):
            return path, f"is {_short(x)}, not a tuple of {len(space.spaces)}"
        for i, sub in enumerate(space.spaces):
            found = _space_problem(sub, x[i], f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(space, spaces.Box | spaces.MultiDiscrete | spaces.MultiBinary):
        if not isinstance(x, np.ndarray):
            return path, f"is a {type(x).__name__}, not a numpy array ({space})"
        if x.dtype != space.dtype:
            return path, f"has dtype {x.dtype}, but its space declares {space.dtype} ({space})"
        if x.shape != space.shape:
            return path, f"has shape {x.shape}, but its space declares {space.shape} ({space})"
    if isinstance(space, spaces.Box):
        inside = (x >= space.low) & (x <= space.high)  # NaN is outside
        if not inside.all():
            index = tuple(int(i) for i in np.argwhere(~inside)[0])
            low, high = np.broadcast_to(space.low, x.shape)[index], np.broadcast_to(space.high, x.shape)[index]
            where = f"{path}[{', '.join(map(str, index))}]" if index else path
            return where, f"is {x[index]!r}, outside its space's bounds [{low!r}, {high!r}] ({space})"
    if not space.contains(x):
        return path, f"{_short(x)} is not in its space {space}"
    return None


# ---------------------------------------------------------------------- render frames


def _check_frame(frame: Any, base: str, shape: tuple[int, ...] | None, at: str, step: int) -> tuple[int, ...] | None:
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


# ---------------------------------------------------------------------- small helpers


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


def _world_state(env: gym.Env[Any, Any]) -> Any:
    """``env.unwrapped.engine.state`` if the env has an openworld-style engine, else ``None``."""
    state = getattr(getattr(env.unwrapped, "engine", None), "state", None)
    return state if dataclasses.is_dataclass(state) else None


def _world_terrain(env: gym.Env[Any, Any]) -> np.ndarray | None:
    """A copy of ``env.unwrapped.engine.state.terrain``, or ``None`` where the env has none."""
    terrain = getattr(getattr(getattr(env.unwrapped, "engine", None), "state", None), "terrain", None)
    return terrain.copy() if isinstance(terrain, np.ndarray) else None


def _same_terrain(before: np.ndarray, after: np.ndarray | None) -> bool:
    return after is not None and bool(np.array_equal(before, after))


def _get(info: Any, key: str) -> Any:
    return info.get(key) if isinstance(info, Mapping) else None


def _is_int(x: Any) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool | np.bool_)


def _not_an_int(info: Any) -> str:
    if not isinstance(info, Mapping) or "world_step" not in info:
        keys = sorted(map(str, info)) if isinstance(info, Mapping) else type(info).__name__
        return f"missing (info: {keys}); openworld worlds report their clock in every info"
    return f"is {_short(info['world_step'])} ({type(info['world_step']).__name__}), not an int"


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= REPR_LIMIT else text[:REPR_LIMIT - 3] + "..."
