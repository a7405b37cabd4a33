"""The ``world`` and ``agent`` config groups of ``openworld run``, generated from the registries.

A world's node is its whole spec (so ``world.resources.berry.regrow=0.02`` overrides a key of the world
file and is validated like one), plus ``id`` and ``variant``; an agent's node is ``id`` plus the
factory's keyword defaults, with ``agents/<name>.yaml`` (if any) on top. See ``docs/experiments.md``.

A world file of one's own is chosen by its path, ``world=path/to/tides.yaml``: :func:`choose_world_files`
registers the file and puts its group choice (``tides``) in the command line before Hydra reads it, and
its node records the file as ``source``, so that a sweep's job in another process rebuilds the world
from its config alone (``openworld.runner.build``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

from openworld.errors import RunError
from openworld.runner.config import register_schema

# The registries whose nodes are stored already, as (world ids, agent ids); None before the first call.
_stored_for: tuple[tuple[str, ...], tuple[str, ...]] | None = None


def register_config_groups() -> None:
    """Store the run schema, one ``world`` node per registered world and one ``agent`` node per agent
    (and agent config).

    A world node is ``{id, variant, **spec}``; an agent node is ``{id, **keyword defaults}`` of the
    agent's factory, with ``agents/<name>.yaml`` merged on top (a YAML config under another name than
    its agent's adds a choice of that name).

    Raises:
        RunError: an agent config that is not a mapping with an ``id``.
    """
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    from openworld.errors import UnknownIdError
    from openworld.registry import agent_entry, agent_ids, world_entry, world_ids
    from openworld.world.spec import to_dict

    global _stored_for
    key = (tuple(world_ids()), tuple(agent_ids()))
    if _stored_for == key:  # a plugin registered since adds its nodes
        return
    register_schema()
    store = ConfigStore.instance()
    for world_id in world_ids():  # the worlds openworld's engine runs (the runner's vector env)
        entry = world_entry(world_id)
        source = {"source": str(entry.spec_path)} if entry.by_path else {}
        node = {"id": world_id, "variant": None, **source, **to_dict(entry.spec)}
        store.store(group="world", name=world_choice(world_id), node=node)
    nodes: dict[str, dict[str, Any]] = {}
    for agent_id in agent_ids():
        nodes[choice_name(agent_id)] = {"id": agent_id, **factory_defaults(agent_entry(agent_id).factory)}
    for config in sorted(resources.files("openworld.agents").iterdir(), key=lambda p: p.name):
        if config.name.endswith(".yaml"):
            data: Any = OmegaConf.to_container(OmegaConf.create(config.read_text()))
            if not isinstance(data, dict) or "id" not in data:
                raise RunError(f"agents/{config.name}: an agent config is a mapping with an 'id' key")
            try:
                defaults = factory_defaults(agent_entry(str(data["id"])).factory)
            except UnknownIdError:  # choosing it names the registered agents (make_agent raises)
                defaults = {}
            nodes[config.name[:-5]] = {**defaults, **data}
    for name, node in nodes.items():
        store.store(group="agent", name=name, node=node)
    _stored_for = key


def choice_name(entry_id: str) -> str:
    """The group choice of a registry id: ``Shiftlands-v0`` -> ``shiftlands``."""
    return entry_id.rsplit("-v", 1)[0].lower()


def world_choice(world_id: str) -> str:
    """The ``world`` group choice of a registered world: its :func:`choice_name`, or for a world registered
    by path whose name another world has already (``Meadow-v1`` beside the catalogue's ``Meadow-v0``), its
    id in lower case (``meadow-v1``)."""
    from openworld.registry import world_entry, world_ids

    name = choice_name(world_id)
    if world_entry(world_id).by_path and any(choice_name(other) == name for other in world_ids() if other != world_id):
        return world_id.lower()
    return name


def choose_world_files(argv: Sequence[str]) -> list[str]:
    """The command line with every world file named in ``world=`` (one, or a sweep's comma-separated list)
    replaced by its group choice, each file registered (:func:`openworld.registry.register_world_file`).

    ``world=path/to/tides.yaml`` (a value ending in ``.yaml`` or ``.yml``, relative to the current directory
    or absolute) becomes ``world=tides``; the run directory is then ``runs/tides/...``.

    Raises:
        SpecError: naming a missing or invalid world file.
    """
    from openworld.registry import is_world_file, register_world_file

    out = []
    for argument in argv:
        key, equals, value = argument.partition("=")
        if key.lstrip("+") == "world" and equals and "(" not in value:
            value = ",".join(world_choice(register_world_file(item).world_id) if is_world_file(item) else item
                             for item in value.split(","))
            argument = f"{key}={value}"
        out.append(argument)
    return out


def factory_defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    """The keyword defaults of an agent factory that a config can hold (numbers, strings, flags and
    lists of them), so that ``agent.<name>=...`` overrides are checked by Hydra."""
    try:
        parameters = list(inspect.signature(factory).parameters.values())[4:]  # after spaces, num_envs, seed
    except (TypeError, ValueError):
        return {}
    plain = (bool, int, float, str)
    out: dict[str, Any] = {}
    for parameter in parameters:
        default = parameter.default
        if isinstance(default, plain):
            out[parameter.name] = default
        elif isinstance(default, (tuple, list)) and all(isinstance(v, plain) for v in default):
            out[parameter.name] = list(default)
    return out
