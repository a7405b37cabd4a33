"""The small, batched protocol through which the runner drives an agent (DESIGN §6).

An agent lives one lifetime in ``num_envs`` worlds at once. It is built by a registered factory::

    factory(observation_space, action_space, num_envs, seed, **config) -> Agent

where the spaces are those of ONE env (Gymnasium's ``single_observation_space``). The runner then
alternates ``act`` and ``observe``; there are no episodes: a death shows up as ``terminated`` for that
env, and the body carries on in the same world after its respawn delay.

Example:
    >>> import gymnasium as gym
    >>> import openworld
    >>> from openworld.agent.protocol import make_agent
    >>> envs = gym.make_vec("openworld/Meadow-v0", num_envs=2, vectorization_mode="vector_entry_point")
    >>> agent = make_agent("random", envs.single_observation_space, envs.single_action_space, 2, seed=0)
    >>> obs, info = envs.reset(seed=0)
    >>> actions = agent.act(obs)
    >>> actions.shape
    (2,)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from gymnasium import spaces

from openworld.errors import AgentError


@dataclass
class Transition:
    """One batched step, as the runner hands it to :meth:`Agent.observe` (arrays over envs)."""

    obs: dict[str, np.ndarray]
    action: np.ndarray  # (n,)
    reward: np.ndarray  # (n,) the world's training signal (never a score)
    next_obs: dict[str, np.ndarray]
    terminated: np.ndarray  # (n,) the body died this step
    truncated: np.ndarray  # (n,)
    info: dict[str, Any]


@runtime_checkable
class Agent(Protocol):
    """What the runner needs from an agent."""

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Actions ``(n,)`` for a batch of observations."""
        ...

    def observe(self, transition: Transition) -> None:
        """Learn online from one batched step (no episodes assumed)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (parameters, optimiser, generators)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        ...


def agent_experience(agent: Any) -> dict[str, Any]:
    """The prior experience an agent brings (its ``experience`` attribute, plain JSON data), e.g.
    ``{"prior": {"reference": "meadow-bc-v0", "sha256": "..."}, "dataset": {"id": ..., "card_sha256": ...}}``.

    The runner records it (Sacred's ``info``, the checkpoint header) and refuses to resume a run whose agent now
    brings other experience: a prior file or dataset replaced under the same path or id is another run.
    ``{}`` for an agent that brings none.

    Raises:
        AgentError: an ``experience`` that is not a mapping.
    """
    experience = getattr(agent, "experience", None)
    if experience is None:
        return {}
    if not isinstance(experience, Mapping):
        raise AgentError(f"{type(agent).__name__}.experience must be a mapping (the priors and datasets it learnt "
                         f"from), got {type(experience).__name__}")
    return dict(experience)


def agent_metrics(agent: Any) -> dict[str, float]:
    """A learner's latest diagnostics (``{"losses/...": value}``): its ``metrics`` dict or method."""
    metrics = getattr(agent, "metrics", None)
    if callable(metrics):
        metrics = metrics()
    if not isinstance(metrics, Mapping):
        return {}
    out = {}
    for key, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[str(key)] = number
    return out


def make_agent(name: str, observation_space: spaces.Space, action_space: spaces.Space, num_envs: int,
               seed: int, **config: Any) -> Agent:
    """Build a registered agent by id (``"forager"``, ``"forager-v0"``, ...).

    Raises:
        UnknownIdError: listing the registered agents.
        AgentError: when ``config`` has a key the agent does not take (a ``TypeError``).
    """
    from openworld.registry import agent_entry

    entry = agent_entry(name)
    try:
        return entry.factory(observation_space, action_space, num_envs, seed, **config)  # type: ignore[no-any-return]
    except AgentError:  # the agent's own refusal (an SB3 file not trusted) says what is wrong already
        raise
    except TypeError as err:
        raise AgentError(f"agent '{entry.agent_id}': bad configuration {sorted(config)}: {err}") from err
