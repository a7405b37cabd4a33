"""What a run lives in and who lives it, built from the config: the world (spec and variant), the vector
env and the agent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from openworld.errors import SpecError, brief

if TYPE_CHECKING:
    from openworld.envs.single import OnDeath


@dataclass(frozen=True)
class WorldChoice:
    """The world of a run: its id, the variant lived in (None: the world as written) and the specs."""

    world_id: str
    variant: str | None
    spec: Any  # the spec lived in: the base with the variant applied
    base: Any  # the world file with the command-line overrides (its variants are the evaluation's)

    def world_seeds(self, seed: int, count: int) -> list[int]:
        """The maps of a run of ``seed`` in ``count`` worlds: world ``i`` from ``seed + i`` for the world as
        written; in a variant that declares seeds, the variant's own (:func:`variant_world_seeds`), so that a
        held-out variant is lived on its unseen maps."""
        from openworld.world.variants import variant_world_seeds

        declared = self.base.variants[self.variant].seeds if self.variant is not None else ()
        if not declared:
            return [seed + i for i in range(count)]
        return variant_world_seeds(declared, seed, count)


def world_spec_from_config(world: Mapping[str, Any], overrides: Sequence[str] = ()) -> WorldChoice:
    """The validated world of a ``world`` config node (command-line overrides included).

    A node with a ``source`` (a world chosen by the path of its file) registers that file first, so that a
    sweep's job rebuilds the world from its config alone, in any process.

    Raises:
        SpecError: naming the key, and the command-line override that set it if one did.
        UnknownVariantError: listing the world's variants.
    """
    from omegaconf import DictConfig, OmegaConf

    from openworld.registry import register_world_file, resolve_world_id, world_entry
    from openworld.world.spec import spec_from_dict

    plain: Any = OmegaConf.to_container(world, resolve=True) if isinstance(world, DictConfig) else world
    data = dict(plain)
    world_file = data.pop("source", None)
    if world_file is not None:
        register_world_file(str(world_file))
    world_id = resolve_world_id(str(data.pop("id")))
    variant = data.pop("variant", None)
    source = f"{world_entry(world_id).spec_path} (with command-line overrides)"
    try:
        base = spec_from_dict(data, source=source)
    except SpecError as err:
        raise SpecError(name_override(str(err), source, overrides)) from err
    declared = f"{base.name}-v{base.version}"
    if declared != world_id:  # an overridden id, name or version would record one world as another
        raise SpecError(f"world.id: the world node's name and version make {declared} but its id is {brief(world_id)}; "
                        "a world's id, name and version are its identity and are not overridden (choose the world "
                        "with world=<name>)")
    if variant is None:
        return WorldChoice(world_id, None, base, base)
    from openworld.variants import apply_variant

    return WorldChoice(world_id, str(variant), apply_variant(base, str(variant)), base)


def name_override(message: str, source: str, overrides: Sequence[str]) -> str:
    """Point a spec error at the command-line override that caused it, when one did."""
    path = message[len(source) + 2:].split(":", 1)[0] if message.startswith(source) else ""
    for override in overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        if path and key in (f"world.{path}", f"world.{path.rsplit('.', 1)[0]}"):
            shown = override if len(override) <= 100 else override[:97] + "..."
            return f"{message}\n  (set on the command line by {shown})"
    return message


def agent_kwargs(agent: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """An ``agent`` config node as the agent's id and its factory's keyword arguments."""
    data = dict(agent)
    return str(data.pop("id")), data


def build_envs_and_agent(world: WorldChoice, agent_id: str, agent_config: Mapping[str, Any], *, num_envs: int,
                         bodies: int, seed: int, on_death: str) -> tuple[Any, Any]:
    """The run's vector env and its agent: ``num_envs`` worlds of one body each, or, with ``bodies > 1``,
    one independent agent per body (``openworld.envs.population``).

    Raises:
        AgentError: the agent does not take a key of ``agent_config``.
    """
    from openworld.agent.protocol import make_agent
    from openworld.envs.vector import OpenWorldVectorEnv

    if bodies > 1:
        from openworld.envs.population import BodiesAsEnvs, IndependentAgents

        envs: Any = BodiesAsEnvs(num_envs, bodies, world=world.spec)
        return envs, IndependentAgents(agent_id, envs, bodies, seed, **agent_config)
    # The env refuses an on_death other than its OnDeath literals.
    envs = OpenWorldVectorEnv(num_envs, world=world.spec, on_death=cast("OnDeath", on_death))
    agent = make_agent(agent_id, envs.single_observation_space, envs.single_action_space, num_envs, seed,
                       **agent_config)
    return envs, agent
