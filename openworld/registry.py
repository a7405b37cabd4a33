"""One registry per kind (worlds, agents), each entry registered next to its definition.

Catalogues are found through Python entry points, so the core never imports a particular world or
agent: a package declares ``[project.entry-points."openworld.worlds"]`` (or ``"openworld.agents"``)
naming a module whose import registers its entries. openworld's own catalogue is found the same way.

Ids carry a version (``Meadow-v0``); registering an id twice is an error. World ids are also
registered with Gymnasium as ``openworld/<Name>-v<N>``.

Example:
    >>> import openworld
    >>> "Meadow-v0" in openworld.registry.world_ids()
    True
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from openworld.errors import UnknownIdError
from openworld.plugins import ID_PATTERN, load_plugins
from openworld.world.spec import WorldSpec, load_spec

NAMESPACE = "openworld"
ENGINE_ENTRY_POINT = "openworld.envs.single:OpenWorldEnv"
ENGINE_VECTOR_ENTRY_POINT = "openworld.envs.vector:OpenWorldVectorEnv"

WorldKind = Literal["engine", "own-env"]
"""``engine``: openworld's engine runs the world (every env of :mod:`openworld.envs`, any number of
bodies). ``own-env``: the world brings its own Gymnasium env class, wrapping another simulator (such as
``MiniGridStream-v0``); its world file holds only what the engine-independent tools read."""


@dataclass(frozen=True)
class WorldEntry:
    world_id: str
    spec_path: Path
    summary: str
    spec: WorldSpec  # validated once, at registration (specs are frozen)
    kind: WorldKind = "engine"
    entry_point: str = ENGINE_ENTRY_POINT  # its Gymnasium env class, "module:Class"
    vector_entry_point: str | None = ENGINE_VECTOR_ENTRY_POINT  # its vector env for gymnasium.make_vec, if any

    @property
    def engine_world(self) -> bool:
        """Whether openworld's engine runs this world (``kind == "engine"``)."""
        return self.kind == "engine"


@dataclass(frozen=True)
class AgentEntry:
    agent_id: str
    factory: Callable[..., Any]
    summary: str


_WORLDS: dict[str, WorldEntry] = {}
_AGENTS: dict[str, AgentEntry] = {}


def _check_id(kind: str, entry_id: str, existing: Mapping[str, object]) -> None:
    if not ID_PATTERN.match(entry_id):
        raise ValueError(f"{kind} id '{entry_id}' must look like 'Name-v0' (a name, '-v', a version)")
    if entry_id in existing:
        raise ValueError(f"{kind} id '{entry_id}' is already registered")


def register_world(world_id: str | None, spec_path: str | Path, *, entry_point: str | None = None,
                   vector_entry_point: str | None = None) -> None:
    """Register a world file under ``world_id`` (and with Gymnasium as ``openworld/<world_id>``).

    The file is validated now, once, so a broken catalogue fails at import, not mid-experiment; the
    validated spec is kept and :func:`load_world_spec` serves it without reading the file again.

    Args:
        world_id: ``Name-vN``; None: the file's own ``<name>-v<version>``.
        spec_path: the world file.
        entry_point: only for a world that openworld's engine does not run (one wrapping another
            simulator, like ``MiniGridStream-v0``): its Gymnasium entry point, ``"module:Class"``,
            called with ``world=<world_id>`` and the caller's keyword arguments. Its world file then
            holds what the engine-independent tools read: name, description, body, rules, shifts,
            variants. The entry records the world's kind as ``"own-env"`` (:data:`WorldKind`); such
            worlds are left out of :func:`world_ids` unless ``engine_only=False``.
        vector_entry_point: its vector env, for ``gymnasium.make_vec`` (only with ``entry_point``).
    """
    import gymnasium

    spec = load_spec(spec_path)
    world_id = world_id or f"{spec.name}-v{spec.version}"
    _check_id("world", world_id, _WORLDS)
    summary = spec.description.strip().splitlines()[0] if spec.description.strip() else ""
    if entry_point is None:
        entry = WorldEntry(world_id, Path(spec_path), summary, spec)
    else:
        entry = WorldEntry(world_id, Path(spec_path), summary, spec, "own-env", entry_point, vector_entry_point)
    _WORLDS[world_id] = entry
    gymnasium.register(id=f"{NAMESPACE}/{world_id}", entry_point=entry.entry_point,
                       vector_entry_point=entry.vector_entry_point, kwargs={"world": world_id})


def register_agent(agent_id: str, factory: Callable[..., Any], summary: str = "") -> None:
    """Register an agent class or factory ``factory(observation_space, action_space, num_envs, seed, **config)``."""
    _check_id("agent", agent_id, _AGENTS)
    _AGENTS[agent_id] = AgentEntry(agent_id, factory, summary)


def world_ids(*, engine_only: bool = True) -> list[str]:
    """Registered world ids. By default the worlds openworld's engine runs (every engine-level tool
    takes them); ``engine_only=False`` adds worlds with their own env class, such as MiniGridStream-v0."""
    load_plugins("openworld.worlds")
    return sorted(i for i, entry in _WORLDS.items() if entry.engine_world or not engine_only)


def world_entries() -> list[WorldEntry]:
    """Every registered world, engine worlds and others alike."""
    return [_WORLDS[i] for i in world_ids(engine_only=False)]


def world_entry(name: str) -> WorldEntry:
    """The registry entry of a world (its world file, summary and validated spec), by id or name."""
    return _WORLDS[resolve_world_id(name)]


def agent_ids() -> list[str]:
    load_plugins("openworld.agents")
    return sorted(_AGENTS)


def _resolve(kind: str, name: str, table: Mapping[str, Any]) -> str:
    """Accept ``Meadow-v0``, ``openworld/Meadow-v0``, or an unversioned, any-case ``meadow`` (latest)."""
    bare = name.split("/", 1)[1] if name.startswith(f"{NAMESPACE}/") else name
    if bare in table:
        return bare
    versions = [i for i in table if i.rsplit("-v", 1)[0].lower() == bare.lower()]
    if versions:
        return max(versions, key=lambda i: int(i.rsplit("-v", 1)[1]))
    close = difflib.get_close_matches(bare, list(table), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise UnknownIdError(f"unknown {kind} '{name}'.{hint} Registered {kind}s: {', '.join(sorted(table)) or 'none'}")


def resolve_world_id(name: str) -> str:
    load_plugins("openworld.worlds")
    return _resolve("world", name, _WORLDS)


def load_world_spec(name: str, overrides: Mapping[str, Any] | None = None) -> WorldSpec:
    """The validated spec of a registered world, with optional dotted-path overrides."""
    spec = _WORLDS[resolve_world_id(name)].spec
    return spec.with_overrides(overrides) if overrides else spec


def agent_entry(name: str) -> AgentEntry:
    load_plugins("openworld.agents")
    return _AGENTS[_resolve("agent", name, _AGENTS)]
