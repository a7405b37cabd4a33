"""One registry per kind (worlds, agents), each entry registered next to its definition.

Catalogues are found through Python entry points, so the core never imports a particular world or
agent: a package declares ``[project.entry-points."openworld.worlds"]`` (or ``"openworld.agents"``)
naming a module whose import registers its entries. openworld's own catalogue is found the same way.

A package whose entry point names a *package* (a folder with or without ``__init__.py``) gets every
``*.yaml`` world file in that folder registered, after its own code ran (files it registered itself are
left alone): a catalogue of world files needs no code (``docs/examples/tidepools/``).

A world file of one's own needs no registration either: every function here that takes a world name
also takes the path of a world file (``path/to/tides.yaml``: a name ending in ``.yaml`` or ``.yml``,
relative to the current directory or absolute), which registers it on first use
(:func:`register_world_file`).

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
from types import ModuleType
from typing import Any, Literal

from openworld.errors import SpecError, UnknownIdError
from openworld.plugins import ID_PATTERN, add_plugin_hook, load_plugins
from openworld.world.spec import WorldSpec, load_spec

NAMESPACE = "openworld"
ENGINE_ENTRY_POINT = "openworld.envs.single:OpenWorldEnv"
ENGINE_VECTOR_ENTRY_POINT = "openworld.envs.vector:OpenWorldVectorEnv"
WORLD_FILE_SUFFIXES = (".yaml", ".yml")  # a world name ending so is the path of a world file
DEFAULT_AGENT_NUM_ENVS = 16  # an agent that declares no num_envs: few worlds, as a per-step learner wants

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
    by_path: bool = False  # registered from a path (register_world_file), not by a catalogue

    @property
    def engine_world(self) -> bool:
        """Whether openworld's engine runs this world (``kind == "engine"``)."""
        return self.kind == "engine"


@dataclass(frozen=True)
class AgentEntry:
    agent_id: str
    factory: Callable[..., Any]
    summary: str
    num_envs: int = DEFAULT_AGENT_NUM_ENVS  # worlds lived in at once when a run does not say (num_envs=null)


PriorTraining = Literal["offline", "online"]
"""``offline``: a prior learned from a dataset (``openworld pretrain prior=bc dataset=<id>``). ``online``: skills
discovered without reward by living in a world (``openworld pretrain prior=diayn world=<name> steps=N``)."""


@dataclass(frozen=True)
class PriorEntry:
    prior_id: str
    factory: Callable[..., Any]  # a Prior class: factory(observation_space, action_space, seed=..., **config)
    summary: str
    training: PriorTraining


_WORLDS: dict[str, WorldEntry] = {}
_AGENTS: dict[str, AgentEntry] = {}
_PRIORS: dict[str, PriorEntry] = {}


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
    spec = load_spec(spec_path)
    world_id = world_id or f"{spec.name}-v{spec.version}"
    if world_id in _WORLDS:
        raise ValueError(f"world id '{world_id}' is already registered (from {_WORLDS[world_id].spec_path}); "
                         f"{spec_path} must give its world another name or version")
    _check_id("world", world_id, _WORLDS)
    if entry_point is None:
        _add_world(WorldEntry(world_id, Path(spec_path), _summary(spec), spec))
    else:
        _add_world(WorldEntry(world_id, Path(spec_path), _summary(spec), spec, "own-env", entry_point,
                              vector_entry_point))


def register_world_file(path: str | Path) -> WorldEntry:
    """The entry of a world file given by its path, registered as its own ``<name>-v<version>`` on first use.

    Asking again for the same file (by any path that resolves to it) returns the same entry, so every
    process of a sweep can call this with the path its config records. A world file may name the Python
    modules that register its rules under ``rule_modules`` (``docs/designing-worlds.md``).

    Args:
        path: the world file, relative to the current directory or absolute.

    Raises:
        SpecError: no such file; the file is invalid (naming the key); or its ``<name>-v<version>`` is
            already registered from another file.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise SpecError(f"{path}: no such world file ({file.resolve()})" if not file.is_dir() else
                        f"{path}: is a folder; a world is one YAML file (name it: {path}/<world>.yaml)")
    resolved = file.resolve()
    load_plugins("openworld.worlds")  # the catalogues first: a clash with one of their ids is named below
    for entry in _WORLDS.values():
        if entry.spec_path.resolve() == resolved:
            return entry
    spec = load_spec(resolved)
    world_id = f"{spec.name}-v{spec.version}"
    if world_id in _WORLDS:
        raise SpecError(f"{resolved}: declares the world {world_id} (name: {spec.name}, version: {spec.version}), "
                        f"which is already registered from {_WORLDS[world_id].spec_path}; give your world its own "
                        "name or version")
    _check_id("world", world_id, _WORLDS)
    entry = WorldEntry(world_id, resolved, _summary(spec), spec, by_path=True)
    _add_world(entry)
    return entry


def register_world_folder(module: ModuleType) -> None:
    """Register every world file in the folder of a package found through the ``openworld.worlds``
    entry-point group that its own code did not register (a plain module registers its worlds itself)."""
    folders = getattr(module, "__path__", None)
    if folders is None:
        return
    registered = {entry.spec_path.resolve() for entry in _WORLDS.values()}
    for folder in folders:
        for path in sorted(p for p in Path(folder).iterdir() if p.suffix in WORLD_FILE_SUFFIXES):
            if path.resolve() not in registered:
                register_world(None, path)


add_plugin_hook("openworld.worlds", register_world_folder)


def _summary(spec: WorldSpec) -> str:
    return spec.description.strip().splitlines()[0] if spec.description.strip() else ""


def _add_world(entry: WorldEntry) -> None:
    import gymnasium

    _WORLDS[entry.world_id] = entry
    gymnasium.register(id=f"{NAMESPACE}/{entry.world_id}", entry_point=entry.entry_point,
                       vector_entry_point=entry.vector_entry_point, kwargs={"world": entry.world_id})


def register_agent(agent_id: str, factory: Callable[..., Any], summary: str = "", *,
                   num_envs: int = DEFAULT_AGENT_NUM_ENVS) -> None:
    """Register an agent class or factory ``factory(observation_space, action_space, num_envs, seed, **config)``.

    Args:
        agent_id: ``name-vN``.
        factory: builds the agent.
        summary: one line, for listings.
        num_envs: the number of worlds ``openworld run`` lives in at once with this agent when the run does
            not say (``num_envs=null``, the root config's default): many for a cheap scripted policy, few
            for a learner that updates per step (``docs/experiments.md``).
    """
    _check_id("agent", agent_id, _AGENTS)
    if num_envs < 1:
        raise ValueError(f"agent '{agent_id}': num_envs must be >= 1, got {num_envs}")
    _AGENTS[agent_id] = AgentEntry(agent_id, factory, summary, num_envs)


def register_prior(prior_id: str, factory: Callable[..., Any], summary: str = "", *,
                   training: PriorTraining = "offline") -> None:
    """Register a kind of prior: a :class:`~openworld.prior.base.Prior` class, built as
    ``factory(observation_space, action_space, seed=seed, **config)``.

    Saved priors name their kind by this id, and :func:`~openworld.prior.format.load_prior` rebuilds them from it
    (a prior file holds data, never code: only registered classes can be built from one).

    Args:
        prior_id: ``name-vN`` (``bc-v0``).
        factory: the class.
        summary: one line, for listings.
        training: how it learns (:data:`PriorTraining`).
    """
    _check_id("prior", prior_id, _PRIORS)
    if training not in ("offline", "online"):
        raise ValueError(f"prior '{prior_id}': training must be 'offline' or 'online', got {training!r}")
    _PRIORS[prior_id] = PriorEntry(prior_id, factory, summary, training)


def prior_ids() -> list[str]:
    """Registered kinds of prior (``bc-v0``, ``skill-vae-v0``, ...)."""
    load_plugins("openworld.priors")
    return sorted(_PRIORS)


def prior_entry(name: str) -> PriorEntry:
    """The registry entry of a kind of prior, by id or unversioned name (``bc``: the latest version)."""
    load_plugins("openworld.priors")
    return _PRIORS[_resolve("prior", name, _PRIORS)]


def world_ids(*, engine_only: bool = True) -> list[str]:
    """Registered world ids. By default the worlds openworld's engine runs (every engine-level tool
    takes them); ``engine_only=False`` adds worlds with their own env class, such as MiniGridStream-v0."""
    load_plugins("openworld.worlds")
    return sorted(i for i, entry in _WORLDS.items() if entry.engine_world or not engine_only)


def world_entries() -> list[WorldEntry]:
    """Every registered world, engine worlds and others alike."""
    return [_WORLDS[i] for i in world_ids(engine_only=False)]


def world_entry(name: str) -> WorldEntry:
    """The registry entry of a world (its world file, summary and validated spec), by id, name or the path
    of its world file."""
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


def is_world_file(name: str | Path) -> bool:
    """Whether a world name is the path of a world file (it ends in ``.yaml`` or ``.yml``)."""
    return str(name).endswith(WORLD_FILE_SUFFIXES)


def resolve_world_id(name: str) -> str:
    """The registered id of a world named by id (``Meadow-v0``, ``openworld/Meadow-v0``), name (``meadow``:
    the latest version) or the path of its world file (registered on first use: :func:`register_world_file`).

    Raises:
        UnknownIdError: naming the nearest registered id.
        SpecError: a world file that is missing or invalid.
    """
    if is_world_file(name):
        return register_world_file(name).world_id
    load_plugins("openworld.worlds")
    return _resolve("world", name, _WORLDS)


def load_world_spec(name: str, overrides: Mapping[str, Any] | None = None) -> WorldSpec:
    """The validated spec of a registered world, with optional dotted-path overrides."""
    spec = _WORLDS[resolve_world_id(name)].spec
    return spec.with_overrides(overrides) if overrides else spec


def agent_entry(name: str) -> AgentEntry:
    load_plugins("openworld.agents")
    return _AGENTS[_resolve("agent", name, _AGENTS)]
