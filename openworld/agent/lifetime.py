"""The continual loop: an agent lives in a vector env, step after step, with no episodes.

:func:`live` drives an openworld vector env and an :class:`~openworld.agent.protocol.Agent` for a number
of steps: ``act``, ``step``, ``observe``, and (optionally) records every body into a
:class:`~openworld.scoring.monitor.Monitor`. It keeps no state of its own between calls: what it needs to go
on is returned as a :class:`LifetimeState` and passed back in, so a runner can cut a lifetime into
pieces, checkpoint between them (env, agent, monitor and this state) and resume exactly.

Deaths need no special handling: the vector env autoresets (NEXT_STEP), a death shows up as
``terminated`` for that body, and its world's clock jumps over the respawn delay, which the monitor
records as dead time.

Example:
    >>> import gymnasium as gym
    >>> import openworld
    >>> from openworld.agent.lifetime import live
    >>> from openworld.agent.protocol import make_agent
    >>> envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    >>> agent = make_agent("random", envs.single_observation_space, envs.single_action_space, 2, seed=0)
    >>> first = live(envs, agent, 100, seed=0)
    >>> second = live(envs, agent, 50, state=first.state)  # carries on where the first left off
    >>> second.state.step
    150
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium.vector import VectorEnv

from openworld.agent.protocol import Agent, Transition
from openworld.scoring.monitor import Monitor


@dataclass
class LifetimeState:
    """Where a lifetime stands between two calls of :func:`live`.

    Attributes:
        step: steps lived so far (agent steps, not world time).
        obs: the observation the agent acts on next.
    """

    step: int
    obs: dict[str, np.ndarray]

    def state_dict(self) -> dict[str, Any]:
        """Plain values for a checkpoint."""
        return {"step": self.step, "obs": {key: value.copy() for key, value in self.obs.items()}}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> LifetimeState:
        return cls(int(state["step"]), {key: np.array(value) for key, value in state["obs"].items()})


@dataclass
class LifetimeResult:
    """What one call of :func:`live` did.

    Attributes:
        state: pass it to the next call to carry on.
        steps: steps lived in this call.
        deaths: ``(n,)`` deaths of each body in this call.
        seconds: wall time of this call.
        stopped: ``on_step`` asked to stop (possibly at the last step).
    """

    state: LifetimeState
    steps: int
    deaths: np.ndarray
    seconds: float
    stopped: bool


StepCallback = Callable[[int, Transition], "bool | None"]


def live(envs: VectorEnv, agent: Agent, steps: int, *,  # type: ignore[type-arg]
         seed: int | Sequence[int] | None = None, state: LifetimeState | None = None, monitor: Monitor | None = None,
         on_step: StepCallback | None = None) -> LifetimeResult:
    """Let ``agent`` live ``steps`` more steps in ``envs``.

    Args:
        envs: an openworld vector env (``info`` with ``world_step``, ``alive``, ``events``).
        agent: acts on and learns from batched steps.
        steps: steps to live in this call (``>= 0``).
        seed: seed of the first ``reset`` (only when ``state`` is None): world ``i`` from ``seed + i``, or a
            list with one seed per world.
        state: where a previous call left off; the envs must be in the state they had then.
            None starts the lifetime with ``envs.reset(seed=seed)``.
        monitor: records every body after each step; on a fresh start it is told the clocks of the
            reset (:meth:`Monitor.start`).
        on_step: called after each step with the number of steps lived so far and the transition;
            returning True stops after this step (e.g. a wall-time budget).

    Returns:
        A :class:`LifetimeResult`; its ``state`` continues the lifetime.

    Raises:
        ValueError: if ``steps`` is negative, or ``seed`` is given together with ``state``.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if state is None:
        obs, info = envs.reset(seed=seed)  # type: ignore[arg-type]  # openworld's vector envs take a seed per world
        if monitor is not None:
            monitor.start(info["world_step"])
        state = LifetimeState(0, obs)
    elif seed is not None:
        raise ValueError("seed only applies to a fresh start; a resumed lifetime's worlds already exist")
    obs = state.obs
    deaths = np.zeros(envs.num_envs, dtype=np.int64)
    start = time.perf_counter()
    lived, stopped = 0, False
    while lived < steps and not stopped:
        actions = agent.act(obs)
        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        transition = Transition(obs, actions, rewards, next_obs, terminated, truncated, info)
        agent.observe(transition)
        if monitor is not None:
            monitor.record_info(next_obs["vitals"], info)
        deaths += info["events"]["death"]
        obs = next_obs
        lived += 1
        if on_step is not None:
            stopped = bool(on_step(state.step + lived, transition))
    return LifetimeResult(LifetimeState(state.step + lived, obs), lived, deaths, time.perf_counter() - start, stopped)


class StepRecord:
    """In-memory per-step streams of a short lifetime in ``num_envs`` worlds (one body each): pass it as
    :func:`live`'s ``on_step``; row ``done - 1`` holds the step that made ``done`` steps.

    For lifetimes short enough to keep whole (the demo, held-out evaluation spans); a run records into a
    :class:`~openworld.scoring.monitor.Monitor` on disk instead.

    Attributes:
        alive: ``(steps, num_envs)`` bool, alive after the step.
        wellbeing: ``(steps, num_envs)`` float, :func:`~openworld.scoring.metrics.observed_wellbeing`.
        deaths: ``(steps, num_envs)`` bool, died in the step.
    """

    def __init__(self, steps: int, num_envs: int) -> None:
        self.alive = np.zeros((steps, num_envs), bool)
        self.wellbeing = np.zeros((steps, num_envs))
        self.deaths = np.zeros((steps, num_envs), bool)

    def __call__(self, done: int, transition: Transition) -> None:
        from openworld.scoring.metrics import observed_wellbeing

        info = transition.info
        self.alive[done - 1] = info["alive"]
        self.wellbeing[done - 1] = observed_wellbeing(info["alive"], transition.next_obs["vitals"])
        self.deaths[done - 1] = info["events"]["death"]
