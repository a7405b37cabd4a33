"""Several bodies in one persistent world, as a PettingZoo ``ParallelEnv``.

The same engine as the Gymnasium envs, with one world (``B = 1``) and ``N`` bodies. The bodies share
the world's resources; each sees the others in its view (``Entity.BODY``); when several bodies try to
consume the same cell in one step, the lowest body index gets it and the others get nothing.

Death and respawn (see ``docs/multi-agent.md``): agents are bodies, ``"body_0"`` ... ``"body_{N-1}"``,
and never leave. ``possible_agents == agents`` for the whole life of the world. A body that dies stays
in ``agents``: the step it dies reports ``"death"`` in ``info[agent]["events"]``; while it waits out
``body.respawn_delay`` world steps, its actions are ignored (no-ops), its reward is 0, its vitals read 0
and ``info[agent]["alive"]`` is ``False``; then it comes back inside ``step`` (``"respawn"``), under
the same name. ``terminated`` and ``truncated`` are always ``False``: the world never ends and never
resets, as with the single env's ``on_death="respawn"``.

``reset(seed=s)`` generates the world from ``s``. ``reset()`` without a seed never regenerates and
changes nothing: it returns the current observations (bodies alive or waiting to respawn as they
are). ``options={"regenerate": True}`` makes a new map from the env's own generator.

Observation and action spaces of every agent equal the single-body env's (``observation_space`` of
:mod:`openworld.envs.core`, ``Discrete(len(Action))``). ``info[agent]`` carries ``world_step``, ``alive``,
``events`` (as in the single env) and ``body`` (the body index).

Example:
    >>> import openworld
    >>> env = openworld.make_parallel("openworld/Meadow-v0", num_agents=3)
    >>> observations, infos = env.reset(seed=0)
    >>> env.agents
    ['body_0', 'body_1', 'body_2']
    >>> observations["body_1"]["view"].shape
    (7, 7, 3)
    >>> actions = {agent: int(openworld.Action.NORTH) for agent in env.agents}
    >>> observations, rewards, terminations, truncations, infos = env.step(actions)
    >>> infos["body_2"]["world_step"], infos["body_2"]["body"]
    (1, 2)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo.utils.env import ParallelEnv

from openworld.enums import Action
from openworld.envs.actions import check_action
from openworld.envs.core import EngineCore, observation_space
from openworld.envs.events import consume_event_names, event_names
from openworld.registry import world_entry, world_ids
from openworld.world.engine import MAX_BODIES, StepOutcome
from openworld.world.render import check_render_mode, render_frame
from openworld.world.spec import WorldSpec

NOOP = int(Action.NOOP)
Observation = dict[str, np.ndarray]  # {"view": (V, V, 3) uint8, "vitals": (K,) float32}


def agent_name(body: int) -> str:
    """The agent id of a body: ``"body_<index>"``."""
    return f"body_{body}"


class OpenWorldParallelEnv(ParallelEnv[str, Observation, int]):
    """``N`` bodies in one persistent world (see the module docstring for the contract).

    Args:
        world: a registered world id (``"Commons-v0"``, ``"openworld/Commons-v0"``) or a
            :class:`~openworld.world.spec.WorldSpec`.
        num_agents: bodies in the world, at most :data:`~openworld.world.engine.MAX_BODIES` (64) (default: the
            spec's ``bodies``).
        render_mode: ``"rgb_array"`` or ``"ansi"``: the whole map, with body 0's view and vitals.
        overrides: dotted-path spec overrides, e.g. ``{"resources.apple.regrow": 0.02}``.
        variant: a variant of the world (:mod:`openworld.variants`), applied before ``overrides``; its
            ``bodies`` is the default group size. Recorded as :attr:`variant` (None: as written).
    """

    metadata: dict[str, Any] = {"name": "openworld_parallel_v0", "render_modes": ["rgb_array", "ansi"],
                                "render_fps": 10, "is_parallelizable": True}

    def __init__(self, world: str | WorldSpec = "Meadow-v0", num_agents: int | None = None,
                 render_mode: str | None = None, overrides: Mapping[str, Any] | None = None,
                 variant: str | None = None) -> None:
        check_render_mode(render_mode, self.metadata["render_modes"])
        entry = world_entry(world) if isinstance(world, str) else None
        if entry is not None and entry.kind != "engine":
            raise ValueError(f"{entry.world_id} has its own environment class, not openworld's engine, so it cannot "
                             f"hold several bodies; multi-body worlds: {', '.join(world_ids())}")
        if num_agents is not None and (isinstance(num_agents, bool) or not isinstance(num_agents, int | np.integer)
                                       or not 1 <= num_agents <= MAX_BODIES):
            raise ValueError(f"num_agents must be an integer from 1 to {MAX_BODIES} (the cap on a world's bodies), "
                             f"got {num_agents!r}")
        self.core = EngineCore(world, num_worlds=1, bodies=num_agents, auto_respawn=True, respawn_on_reset=False,
                               overrides=overrides, variant=variant)
        self.world_spec, self.variant, self.engine = self.core.spec, variant, self.core.engine
        self.num_bodies = self.core.bodies
        self.render_mode = render_mode
        self.possible_agents: list[str] = [agent_name(n) for n in range(self.num_bodies)]
        self.agents: list[str] = []  # filled by reset()
        self._body = {agent: n for n, agent in enumerate(self.possible_agents)}
        # One space object per agent, created once: PettingZoo requires the same object on every call,
        # and separate objects let each agent's space be seeded on its own.
        self.observation_spaces: dict[str, spaces.Space[Any]] = {
            agent: observation_space(self.world_spec) for agent in self.possible_agents}
        self.action_spaces: dict[str, spaces.Space[Any]] = {
            agent: spaces.Discrete(len(Action)) for agent in self.possible_agents}
        self._consume_names = consume_event_names(self.world_spec)
        self._actions = np.zeros((1, self.num_bodies), np.int64)

    # ------------------------------------------------------------------ PettingZoo API
    def observation_space(self, agent: str) -> spaces.Space[Any]:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space[Any]:
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, Observation], dict[str, dict[str, Any]]]:
        """``seed=s`` generates the world from ``s``; without a seed the world carries on unchanged.

        Unknown options are ignored with a warning, not an error as in the Gymnasium env, because
        PettingZoo's own conformance tests call ``reset(seed=0, options={"options": 1})``.
        """
        events = self.core.reset(seed, options, unknown_options="warn")
        self.agents = self.possible_agents[:]
        return self._observations(), self._infos(events)

    def step(self, actions: Mapping[str, Any]) -> tuple[
            dict[str, Observation], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]]:
        """One world step for every body.

        Args:
            actions: an action for every living body, keyed by agent id; a dead body's action may be
                left out and is ignored either way.

        Raises:
            RuntimeError: before the first ``reset()``.
            ValueError: an unknown agent id, a living body without an action, or a bad action.
            TypeError: an action that is not an integer.
        """
        if not self.core.started:
            raise RuntimeError("call reset() before step()")
        self._actions[0] = self._check_actions(actions, self.engine.state.alive[0])
        events, rewards = self.core.step(self._actions)
        never = dict.fromkeys(self.agents, False)
        return (self._observations(), dict(zip(self.agents, rewards[0].tolist(), strict=True)), never, dict(never),
                self._infos(events))

    def render(self) -> np.ndarray | str | None:
        return render_frame(self.engine, self.render_mode)

    def close(self) -> None:
        """Nothing to release: no window, no subprocess."""

    # ------------------------------------------------------------------ per-body totals
    @property
    def deaths(self) -> dict[str, int]:
        """Deaths so far of each body, keyed by agent id (one id per body, across all its lives)."""
        return dict(zip(self.possible_agents, self.engine.state.deaths[0].tolist(), strict=True))

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> bytes:
        """The whole world, exactly (engine state with its generators, and the env's generator)."""
        return self.core.get_state()

    def set_state(self, data: bytes) -> None:
        """Restore :meth:`get_state`; raises ``ValueError`` (leaving the env untouched) if it does not fit."""
        self.core.set_state(data, "parallel env")
        self.agents = self.possible_agents[:]

    # ------------------------------------------------------------------ helpers
    def _check_actions(self, actions: Mapping[str, Any], alive: np.ndarray) -> list[int]:
        if not isinstance(actions, Mapping):
            raise TypeError(f"actions must be a dict keyed by agent id, got {type(actions).__name__}")
        unknown = [agent for agent in actions if agent not in self._body]
        if unknown:
            raise ValueError(f"unknown agent id(s) {unknown}; agents are {self.possible_agents}")
        missing = [agent for n, agent in enumerate(self.possible_agents) if alive[n] and agent not in actions]
        if missing:
            raise ValueError(f"no action for living agent(s) {missing}; every living body acts each step "
                             f"(send {NOOP} for noop)")
        checked = [NOOP] * self.num_bodies
        for agent, action in actions.items():
            try:
                a = check_action(action)
            except (TypeError, ValueError) as err:
                raise type(err)(f"{agent}: {err}") from err
            n = self._body[agent]
            checked[n] = a if alive[n] else NOOP  # the dead do nothing
        return checked

    def _observations(self) -> dict[str, Observation]:
        view, vitals = self.core.observe()
        return {agent: {"view": view[0, n], "vitals": vitals[0, n]} for n, agent in enumerate(self.possible_agents)}

    def _infos(self, events: StepOutcome) -> dict[str, dict[str, Any]]:
        state = self.engine.state
        world_step = int(state.clock[0])
        alive = state.alive[0].tolist()
        return {agent: {"world_step": world_step, "alive": alive[n], "body": n,
                        "events": event_names(events, self._consume_names, 0, n)}
                for n, agent in enumerate(self.possible_agents)}


def make_parallel(world: str | WorldSpec, num_agents: int | None = None, render_mode: str | None = None,
                  overrides: Mapping[str, Any] | None = None, variant: str | None = None) -> OpenWorldParallelEnv:
    """A PettingZoo ``ParallelEnv`` of ``num_agents`` bodies in one world of any catalogue world.

    Args:
        world: ``"openworld/Commons-v0"``, ``"Commons-v0"``, ``"commons"`` or a
            :class:`~openworld.world.spec.WorldSpec`.
        num_agents: bodies in the world, 1 to 64 (default: the world's ``bodies``, or its variant's).
        render_mode: ``"rgb_array"`` or ``"ansi"``.
        overrides: dotted-path spec overrides, applied after the variant.
        variant: a variant name of the world (:mod:`openworld.variants`).

    Example:
        >>> import openworld
        >>> env = openworld.make_parallel("openworld/Commons-v0", num_agents=2)
        >>> _ = env.reset(seed=1)
        >>> env.possible_agents
        ['body_0', 'body_1']
    """
    return OpenWorldParallelEnv(world, num_agents=num_agents, render_mode=render_mode, overrides=overrides,
                                variant=variant)
