"""Several bodies per world, for the runner: bodies as the slots of a vector env, one agent per body.

:class:`BodiesAsEnvs` exposes ``B`` worlds with ``N`` bodies each as a Gymnasium vector env of
``B * N`` single-body slots (slot ``b * N + n`` is body ``n`` of world ``b``), stepped as one batch by
the engine. It follows the PettingZoo env's conventions (:mod:`openworld.envs.parallel`): a dead body stays
in its slot, its action is ignored and its reward is 0 until it respawns inside ``step`` after the
respawn delay; nothing ever terminates and no world resets. ``info["world_step"]`` repeats each
world's clock for its bodies, so the monitor records one stream per body, keyed by body. Like the other
envs it takes a ``variant``, a ``render_mode`` (world 0, body 0) and ``options={"regenerate": True}``.

:class:`IndependentAgents` drives body ``n`` of every world with its own agent (any registered agent,
seeded ``seed + n``), which sees only its bodies' observations and transitions.

Example:
    >>> import numpy as np
    >>> import openworld
    >>> envs = BodiesAsEnvs(num_worlds=2, bodies=3, world="Commons-v0")
    >>> obs, info = envs.reset(seed=0)
    >>> obs["view"].shape, info["world_step"].tolist()
    ((6, 7, 7, 3), [0, 0, 0, 0, 0, 0])
    >>> agents = IndependentAgents("random", envs, bodies=3, seed=0)
    >>> obs, rewards, terminated, truncated, info = envs.step(agents.act(obs))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from openworld.agent.protocol import Agent, Transition, agent_metrics, make_agent
from openworld.enums import Action
from openworld.envs.actions import check_actions
from openworld.envs.core import EngineCore, GeneratorInCore, observation_space
from openworld.envs.events import event_arrays
from openworld.world.engine import StepOutcome
from openworld.world.render import check_render_mode, render_frame
from openworld.world.spec import WorldSpec


class BodiesAsEnvs(GeneratorInCore, VectorEnv):  # type: ignore[type-arg]
    """``num_worlds`` worlds of ``bodies`` bodies each, as a vector env of single-body slots.

    Args:
        num_worlds: ``B``.
        bodies: ``N`` bodies per world (sharing its resources; claims go to the lower body index).
        world: a registered world id or a spec.
        overrides: dotted-path spec overrides, applied after the variant.
        variant: a variant of the world (see :mod:`openworld.variants`); recorded as :attr:`variant`.
        render_mode: ``"rgb_array"`` or ``"ansi"``: renders world 0 with body 0's view and vitals.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 10, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_worlds: int, bodies: int, world: str | WorldSpec = "Commons-v0",
                 overrides: Mapping[str, Any] | None = None, variant: str | None = None,
                 render_mode: str | None = None) -> None:
        if num_worlds < 1 or bodies < 1:
            raise ValueError(f"num_worlds and bodies must be >= 1, got {num_worlds} and {bodies}")
        check_render_mode(render_mode, self.metadata["render_modes"])
        self.core = EngineCore(world, num_worlds=num_worlds, bodies=bodies, auto_respawn=True,
                               respawn_on_reset=False, overrides=overrides, variant=variant)
        self.world_spec, self.variant, self.engine = self.core.spec, variant, self.core.engine
        self.num_worlds, self.bodies = int(num_worlds), int(bodies)
        self.num_envs = self.num_worlds * self.bodies
        self.render_mode = render_mode
        self.single_observation_space = observation_space(self.world_spec)
        self.single_action_space = spaces.Discrete(len(Action))
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """``seed=s`` generates world ``b`` from ``s + b``; without a seed nothing changes, unless
        ``options={"regenerate": True}`` makes new maps from the env's own generator."""
        events = self.core.reset(seed, options)
        return self._observations(), self._info(events)

    def step(self, actions: Any) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self.core.started:
            raise RuntimeError("call reset() before step()")
        checked = check_actions(actions, self.num_envs)
        events, rewards = self.core.step(checked.reshape(self.num_worlds, self.bodies))
        never = np.zeros(self.num_envs, dtype=bool)
        return self._observations(), rewards.reshape(-1), never, never.copy(), self._info(events)

    def render(self) -> Any:
        """World 0's frame, with body 0's view and vitals."""
        return render_frame(self.engine, self.render_mode)

    def get_state(self) -> bytes:
        return self.core.get_state()

    def set_state(self, data: bytes) -> None:
        self.core.set_state(data, "population")

    def _observations(self) -> dict[str, np.ndarray]:
        view, vitals = self.core.observe()
        return {"view": view.reshape(self.num_envs, *view.shape[2:]), "vitals": vitals.reshape(self.num_envs, -1)}

    def _info(self, events: StepOutcome) -> dict[str, Any]:
        state = self.engine.state
        return {"world_step": np.repeat(state.clock, self.bodies), "alive": state.alive.reshape(-1).copy(),
                "body": np.tile(np.arange(self.bodies), self.num_worlds), "events": event_arrays(events)}


class IndependentAgents:
    """One agent per body index: agent ``n`` drives body ``n`` of every world and learns only from it.

    Args:
        agent: a registered agent id.
        envs: the :class:`BodiesAsEnvs` it will drive.
        bodies: ``N``.
        seed: agent ``n`` is seeded ``seed + n``.
        **config: the agents' keyword arguments.
    """

    def __init__(self, agent: str, envs: BodiesAsEnvs, bodies: int, seed: int, **config: Any) -> None:
        self.bodies = bodies
        self.num_worlds = envs.num_envs // bodies
        self.agents: list[Agent] = [
            make_agent(agent, envs.single_observation_space, envs.single_action_space, self.num_worlds, seed + n,
                       **config)
            for n in range(bodies)]

    def _part(self, value: Any, n: int) -> Any:
        """Body ``n``'s slice of a batched value (arrays over slots, nested dicts of them)."""
        if isinstance(value, dict):
            return {key: self._part(item, n) for key, item in value.items()}
        if isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == self.num_worlds * self.bodies:
            return value[n::self.bodies]
        return value

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        actions = np.empty((self.num_worlds, self.bodies), dtype=np.int64)
        for n, agent in enumerate(self.agents):
            actions[:, n] = agent.act(self._part(obs, n))
        return actions.reshape(-1)

    def observe(self, transition: Transition) -> None:
        for n, agent in enumerate(self.agents):
            agent.observe(Transition(*(self._part(getattr(transition, field), n) for field in
                                       ("obs", "action", "reward", "next_obs", "terminated", "truncated", "info"))))

    def state_dict(self) -> dict[str, Any]:
        return {"agents": [agent.state_dict() for agent in self.agents]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["agents"]) != len(self.agents):
            raise ValueError(f"saved state has {len(state['agents'])} agents, this population {len(self.agents)}")
        for agent, saved in zip(self.agents, state["agents"], strict=True):
            agent.load_state_dict(saved)

    def metrics(self) -> dict[str, float]:
        """The agents' own metrics, averaged (learners report losses)."""
        collected: dict[str, list[float]] = {}
        for agent in self.agents:
            for key, value in agent_metrics(agent).items():
                collected.setdefault(key, []).append(value)
        return {key: float(np.mean(values)) for key, values in collected.items()}
