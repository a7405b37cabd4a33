"""Conformance checks for agents (re-exported as ``openworld.testing.check_agent``).

:func:`check_agent` builds an agent the way the runner does (``factory(observation_space,
action_space, num_envs, seed, **config)``) and drives it through a vector env of a registered world
for ``steps`` steps, learning as it goes (``act``, step, ``observe``, every step). Three agents run in
lockstep on three environments, interleaved call by call, so that an agent drawing from a global
random generator gets caught:

============== ==================================================================================
property       what must hold
============== ==================================================================================
protocol       the agent has callable ``act``, ``observe``, ``state_dict`` and ``load_state_dict``
actions        every ``act`` returns an integer ``numpy`` array of shape ``(num_envs,)`` whose values
               lie in the action space
inputs         ``act`` and ``observe`` leave the arrays they are given unchanged (the runner may
               hand the same observation to a monitor or a second agent)
determinism    two agents built with the same seed, on two environments reset with the same seed,
               choose the same actions at every step while learning, and end with equal
               ``state_dict()`` s (every key, exactly)
save_load      at step ``checkpoint_at``, agent A's ``state_dict()`` is saved as a checkpoint saves it
               (plain data only: dicts, lists, numbers, strings, bytes, arrays, tensors; it is read back
               without running code) and
               loaded into a fresh agent built with **another** seed, which takes over a copy of A's
               environment: it must choose A's actions at every later step and end with A's state
               (so generators, optimiser state and buffers must all be in the state). The kept
               ``state_dict()`` must not change while A runs on (it must be a copy, not live
               references).
============== ==================================================================================

Example:
    >>> from openworld.testing.agent_checks import check_agent
    >>> report = check_agent("random", "Meadow-v0", steps=20)
    >>> report.checked
    ('protocol', 'actions', 'inputs', 'determinism', 'save_load')
    >>> print(report)
    check_agent(random-v0, Meadow-v0, num_envs=4, steps=20, seed=0): passed
      checked: protocol, actions, inputs, determinism, save_load (checkpoint at step 10)
      0 termination(s)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from openworld.agent.protocol import Transition
from openworld.errors import CheckpointError
from openworld.runner.checkpoint import dumps_state, loads_state
from openworld.testing.differences import short
from openworld.testing.world_report import check_skip

__all__ = ["AGENT_PROPERTIES", "AgentCheckError", "AgentCheckReport", "check_agent"]

AGENT_PROPERTIES = ("protocol", "actions", "inputs", "determinism", "save_load")
"""The properties :func:`check_agent` checks, in the order it checks them."""

METHODS = ("act", "observe", "state_dict", "load_state_dict")

AgentFactory = Callable[..., Any]


class AgentCheckError(AssertionError):
    """An agent failed a :func:`check_agent` property.

    Attributes:
        property: the failed property, one of :data:`AGENT_PROPERTIES`.
        step: the step at which it failed (``None`` outside the rollout, e.g. a final state compare).
        key: what differed or was wrong, e.g. ``"actions[2]"`` or ``"state_dict()['optimizer']..."``.
    """

    def __init__(self, prop: str, key: str, problem: str, step: int | None = None) -> None:
        self.property = prop
        self.step = step
        self.key = key
        at = "after the rollout" if step is None else f"step {step}"
        super().__init__(f"{prop}: {at}: {key}: {problem}")


@dataclass(frozen=True)
class AgentCheckReport:
    """What :func:`check_agent` checked; ``print`` it for a short summary.

    Attributes:
        agent: the registered id, or the factory's name.
        world: the world id.
        num_envs: worlds per environment.
        steps: steps of each rollout.
        seed: seed of the agents and of the environments.
        checkpoint_at: the step before which the save/load checkpoint was taken.
        checked: the properties that were checked (and passed).
        skipped: property -> why it was not checked.
        terminations: deaths seen in the reference rollout (all envs together).
    """

    agent: str
    world: str
    num_envs: int
    steps: int
    seed: int
    checkpoint_at: int
    checked: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)
    terminations: int = 0

    def __str__(self) -> str:
        checked = [f"{name} (checkpoint at step {self.checkpoint_at})" if name == "save_load" else name
                   for name in self.checked]
        lines = [f"check_agent({self.agent}, {self.world}, num_envs={self.num_envs}, steps={self.steps}, "
                 f"seed={self.seed}): passed", f"  checked: {', '.join(checked) or 'nothing'}"]
        lines.extend(f"  skipped {name}: {why}" for name, why in self.skipped.items())
        lines.append(f"  {self.terminations} termination(s)")
        return "\n".join(lines)


def check_agent(agent: str | AgentFactory, world: str = "Meadow-v0", *, num_envs: int = 4, steps: int = 300,
                seed: int = 0, checkpoint_at: int | None = None, config: Mapping[str, Any] | None = None,
                world_overrides: Mapping[str, Any] | None = None, skip: Collection[str] = ()) -> AgentCheckReport:
    """Check that an agent keeps the plug-in protocol; raise :class:`AgentCheckError` if not.

    Args:
        agent: a registered agent id (``"ppo"``, ``"forager-v0"``) or a factory
            ``factory(observation_space, action_space, num_envs, seed, **config) -> agent``.
        world: a registered world id.
        num_envs: worlds in each vector env.
        steps: steps of each rollout. A learning agent should update at least once after
            ``checkpoint_at`` (for PPO: ``steps - checkpoint_at >= rollout_steps``), or the save/load
            check cannot see its optimiser state.
        seed: seed of the agents and of the environments (the reloaded agent is built with ``seed + 1``).
        checkpoint_at: the step before which the checkpoint is taken; default ``steps // 2``.
        config: keyword arguments for the factory (e.g. a tiny ``rollout_steps`` to keep it fast).
        world_overrides: dotted-path spec overrides of the world, e.g. ``{"body.water.decay": 0.5}`` for
            a world where deaths (and so autoresets) happen within the check.
        skip: properties not to check (names from :data:`AGENT_PROPERTIES`); the report lists them.

    Returns:
        An :class:`AgentCheckReport`.

    Raises:
        AgentCheckError: naming the failed property, the step and the key that differed or was wrong.
            An exception raised by the agent is re-raised as one, too.
        ValueError: for bad ``steps``, ``checkpoint_at`` or ``skip``.
        UnknownIdError: for an unknown agent or world id.
    """
    from openworld.registry import agent_entry, resolve_world_id

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an int >= 2, got {steps!r}")
    checkpoint = steps // 2 if checkpoint_at is None else checkpoint_at
    if not 0 < checkpoint < steps:
        raise ValueError(f"checkpoint_at must lie in [1, {steps - 1}], got {checkpoint}")
    check_skip(skip, AGENT_PROPERTIES)
    if isinstance(agent, str):
        entry = agent_entry(agent)
        factory, name = entry.factory, entry.agent_id
    else:
        factory, name = agent, getattr(agent, "__qualname__", type(agent).__name__)
    world_id = resolve_world_id(world)
    checker = _AgentChecker(factory, name, world_id, num_envs, steps, seed, checkpoint, dict(config or {}),
                            dict(world_overrides or {}), frozenset(skip))
    return checker.run()


class _AgentChecker:
    """One :func:`check_agent` call: reference agent A, twin B (determinism), reloaded C (save/load)."""

    def __init__(self, factory: AgentFactory, name: str, world: str, num_envs: int, steps: int, seed: int,
                 checkpoint: int, config: dict[str, Any], world_overrides: dict[str, Any],
                 skip: frozenset[str]) -> None:
        self.factory, self.name, self.world, self.world_overrides = factory, name, world, world_overrides
        self.num_envs, self.steps, self.seed, self.checkpoint = num_envs, steps, seed, checkpoint
        self.config, self.skip = config, skip
        self.terminations = 0

    def check(self, prop: str) -> bool:
        return prop not in self.skip

    def make_env(self) -> gym.vector.VectorEnv:  # type: ignore[type-arg]
        kwargs: dict[str, Any] = {"overrides": self.world_overrides} if self.world_overrides else {}
        return gym.make_vec(f"openworld/{self.world}", num_envs=self.num_envs, vectorization_mode="vector_entry_point",
                            **kwargs)

    def build(self, env: gym.vector.VectorEnv, seed: int, step: int | None) -> Any:  # type: ignore[type-arg]
        try:
            agent = self.factory(env.single_observation_space, env.single_action_space, self.num_envs, seed,
                                 **self.config)
        except Exception as err:
            raise AgentCheckError("protocol", "factory(...)", f"raised {type(err).__name__}: {err}", step) from err
        if self.check("protocol"):
            missing = [m for m in METHODS if not callable(getattr(agent, m, None))]
            if missing:
                raise AgentCheckError("protocol", type(agent).__name__, f"has no callable {', '.join(missing)}", step)
        return agent

    def run(self) -> AgentCheckReport:
        envs = {key: self.make_env() for key in "ABC"}
        obs = {key: env.reset(seed=self.seed)[0] for key, env in envs.items()}
        a = self.build(envs["A"], self.seed, None)
        b = self.build(envs["B"], self.seed, None) if self.check("determinism") else None
        c: Any = None
        kept_state: Any = None
        kept_blob = b""
        action_space = envs["A"].single_action_space
        for step in range(self.steps):
            if step == self.checkpoint and self.check("save_load"):
                kept_state = self.call(a, "state_dict", "save_load", step)
                try:
                    kept_blob = dumps_state(kept_state)
                except CheckpointError as err:
                    raise AgentCheckError("save_load", "state_dict()", f"cannot be checkpointed: {err}", step) \
                        from err
                c = self.build(envs["C"], self.seed + 1, step)
                self.call(c, "load_state_dict", "save_load", step, loads_state(kept_blob))
            actions = {"A": self.act(a, obs["A"], action_space, step)}
            if b is not None:
                actions["B"] = self.act(b, obs["B"], action_space, step)
                self.compare_actions("determinism", actions["A"], actions["B"], step)
            if c is not None:
                actions["C"] = self.act(c, obs["C"], action_space, step)
                self.compare_actions("save_load", actions["A"], actions["C"], step)
            else:
                actions["C"] = actions["A"]  # env C replays A until the reloaded agent takes over
            for key, env in envs.items():
                if key == "B" and b is None:
                    continue
                next_obs, rewards, terminated, truncated, info = env.step(actions[key])
                if key == "A":
                    self.terminations += int(np.sum(terminated))
                transition = Transition(obs[key], actions[key], rewards, next_obs, terminated, truncated, info)
                agent = {"A": a, "B": b, "C": c}[key]
                if agent is not None:
                    self.observe(agent, transition, step)
                obs[key] = next_obs
        final_a = self.call(a, "state_dict", "determinism", None)
        if b is not None:
            self.compare_states("determinism", final_a, self.call(b, "state_dict", "determinism", None),
                                "two agents with the same seed ended in different states")
        if c is not None:
            self.compare_states("save_load", final_a, self.call(c, "state_dict", "save_load", None),
                                "the reloaded agent ended in another state than the original")
            self.compare_states("save_load", loads_state(kept_blob), kept_state,
                                "changed while the agent kept running: state_dict() returned live references "
                                "(return copies)")
        for env in envs.values():
            env.close()
        checked = tuple(p for p in AGENT_PROPERTIES if p not in self.skip)
        skipped = {p: "skipped by the caller" for p in AGENT_PROPERTIES if p in self.skip}
        return AgentCheckReport(self.name, self.world, self.num_envs, self.steps, self.seed, self.checkpoint,
                                checked, skipped, self.terminations)

    # ------------------------------------------------------------------ calls
    def call(self, agent: Any, method: str, prop: str, step: int | None, *args: Any) -> Any:
        try:
            return getattr(agent, method)(*args)
        except AgentCheckError:
            raise
        except Exception as err:
            raise AgentCheckError(prop, f"{method}()", f"raised {type(err).__name__}: {err}", step) from err

    def act(self, agent: Any, obs: dict[str, np.ndarray], action_space: spaces.Space, step: int) -> np.ndarray:
        before = copy.deepcopy(obs) if self.check("inputs") else None
        actions = self.call(agent, "act", "actions", step, obs)
        if before is not None:
            self.compare_inputs(before, obs, "act(obs)", step)
        if self.check("actions"):
            if not isinstance(actions, np.ndarray):
                raise AgentCheckError("actions", "act(obs)", f"returned {type(actions).__name__}, expected a numpy "
                                      f"array of shape ({self.num_envs},)", step)
            if actions.shape != (self.num_envs,):
                raise AgentCheckError("actions", "act(obs).shape",
                                      f"{actions.shape}, expected ({self.num_envs},)", step)
            if not np.issubdtype(actions.dtype, np.integer):
                raise AgentCheckError("actions", "act(obs).dtype", f"{actions.dtype}, expected an integer dtype", step)
            for i, action in enumerate(actions):
                if not action_space.contains(np.int64(action)):
                    raise AgentCheckError("actions", f"actions[{i}]", f"{action} is outside {action_space}", step)
        return actions

    def observe(self, agent: Any, transition: Transition, step: int) -> None:
        before = copy.deepcopy(transition) if self.check("inputs") else None
        self.call(agent, "observe", "protocol", step, transition)
        if before is not None:
            self.compare_inputs(vars(before), vars(transition), "observe(transition)", step)

    # ------------------------------------------------------------------ comparisons
    def compare_inputs(self, before: Any, after: Any, where: str, step: int) -> None:
        difference = first_difference(before, after)
        if difference is not None:
            path, problem = difference
            raise AgentCheckError("inputs", f"{where}{path}", f"was modified by the agent ({problem})", step)

    def compare_actions(self, prop: str, expected: np.ndarray, actual: np.ndarray, step: int) -> None:
        if not np.array_equal(np.asarray(expected), np.asarray(actual)):
            i = int(np.flatnonzero(np.asarray(expected) != np.asarray(actual))[0])
            who = "the twin agent" if prop == "determinism" else "the reloaded agent"
            raise AgentCheckError(prop, f"actions[{i}]", f"{who} chose {short(actual[i])}, the reference "
                                  f"{short(expected[i])}; all: {short(actual.tolist())} vs "
                                  f"{short(expected.tolist())}", step)

    def compare_states(self, prop: str, expected: Any, actual: Any, problem: str) -> None:
        difference = first_difference(expected, actual)
        if difference is not None:
            path, detail = difference
            raise AgentCheckError(prop, f"state_dict(){path}", f"{problem}: {detail}")


def first_difference(expected: Any, actual: Any, path: str = "") -> tuple[str, str] | None:
    """The first place where two nested values differ, as ``(path, description)``, or ``None``.

    Understands dicts, lists, tuples, dataclass-free objects with ``__eq__``, numpy arrays and torch
    tensors (exact equality; NaN equals NaN).
    """
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        if set(expected) != set(actual):
            extra = sorted(map(repr, set(actual) - set(expected)))
            missing = sorted(map(repr, set(expected) - set(actual)))
            return path, f"keys differ (missing {missing}, extra {extra})"
        for key in expected:
            found = first_difference(expected[key], actual[key], f"{path}[{key!r}]")
            if found is not None:
                return found
        return None
    if isinstance(expected, list | tuple) and isinstance(actual, list | tuple):
        if len(expected) != len(actual):
            return path, f"length {len(actual)}, expected {len(expected)}"
        for i, (x, y) in enumerate(zip(expected, actual, strict=True)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if _is_tensor(expected) or _is_tensor(actual):
        if not (_is_tensor(expected) and _is_tensor(actual)):
            return path, f"{type(actual).__name__}, expected {type(expected).__name__}"
        expected, actual = expected.detach().cpu().numpy(), actual.detach().cpu().numpy()
    if isinstance(expected, np.ndarray) or isinstance(actual, np.ndarray):
        x, y = np.asarray(expected), np.asarray(actual)
        if x.shape != y.shape or x.dtype != y.dtype:
            return path, f"array {y.dtype}{y.shape}, expected {x.dtype}{x.shape}"
        equal = np.array_equal(x, y, equal_nan=x.dtype.kind in "fc")
        if not equal:
            where = np.argwhere(~((x == y) | ((x != x) & (y != y))) if x.dtype.kind in "fc" else x != y)
            index = tuple(int(i) for i in where[0]) if len(where) else ()
            return path, f"at index {index}: {short(y[index].tolist())} vs expected {short(x[index].tolist())}"
        return None
    if isinstance(expected, float) and isinstance(actual, float) and math.isnan(expected) and math.isnan(actual):
        return None
    try:
        equal = bool(expected == actual)
    except Exception:  # objects whose == is not a bool
        equal = False
    if not equal:
        return path, f"{short(actual)}, expected {short(expected)}"
    return None


def _is_tensor(value: Any) -> bool:
    import sys

    torch = sys.modules.get("torch")  # never import torch just to check
    return torch is not None and isinstance(value, torch.Tensor)

