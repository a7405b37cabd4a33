"""The experiment runner: one run (or its resumption) from a composed config, recorded with Sacred.

:func:`run_experiment` checks everything that can be refused (the config's values, the world spec, the
agent, the run directory, the checkpoint) before anything is written, builds the envs and the agent, and
lives the lifetime (``openworld.runner.loop``) as a Sacred run whose recorded sources are this file, the
lifetime loop, the agent's module and every module that defines a rule the world uses (with the world file
as the artifact ``world.yaml``).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openworld.agent.protocol import agent_experience
from openworld.errors import RunError
from openworld.runner.build import WorldChoice, agent_kwargs, build_envs_and_agent, world_spec_from_config
from openworld.runner.config import check_run_config, read_run_config, resolve_num_envs
from openworld.runner.loop import Lifetime
from openworld.runner.progress import progress_mode
from openworld.runner.rng import global_rngs, set_global_rngs
from openworld.runner.rundir import (
    check_experience,
    check_run_dir,
    clear_run_dir,
    finished_run_summary,
    read_resumption,
    resolve_resume,
    save_hydra_files,
)
from openworld.runner.tracking import make_observers, run_tracked, sacred_safe


def run_experiment(cfg: Any, run_dir: Path, overrides: Sequence[str] = (), mongo_client: Any = None,
                   hydra_config: Any = None) -> dict[str, Any]:
    """Run (or resume) one lifetime as configured; returns the run summary.

    Everything that can be refused (the world spec, the agent, the run directory, the checkpoint) is
    checked before anything is written.

    Args:
        cfg: the composed config (``experiments/conf/config.yaml``).
        run_dir: the run directory.
        overrides: the command-line overrides (named in error messages).
        mongo_client: a MongoDB client for the MongoObserver (tests pass a mongomock one).
        hydra_config: Hydra's config, saved into ``.hydra/hydra.yaml`` on a fresh start.

    Raises:
        RunError, SpecError, UnknownIdError, CheckpointError, AgentError: what the user can act on
            (``openworld.runner.app`` prints them without a traceback).
    """
    from openworld.registry import agent_entry, world_entry

    composed = read_run_config(cfg)
    config = composed.typed
    agent_name, kwargs = agent_kwargs(config.agent)
    registered_agent = agent_entry(agent_name)
    num_envs = resolve_num_envs(composed, registered_agent.num_envs)  # null: the agent's own default
    check_run_config(config)
    resume, overwrite = resolve_resume(run_dir, config.resume, config.overwrite)
    mode = progress_mode(config.progress)
    world = world_spec_from_config(config.world, overrides)
    if world.base.bodies != world_entry(world.world_id).spec.bodies:
        raise RunError(f"world.bodies is the world file's bodies for make_parallel; a run's bodies per world is the "
                       f"root key: bodies={world.base.bodies}")
    agent_id = registered_agent.agent_id
    if composed.prior is not None:  # the agent loads its prior (DESIGN section 6)
        kwargs["prior"] = composed.prior
    identity: dict[str, Any] = {"world": world.world_id, "variant": world.variant, "agent": agent_id,
                                "seed": config.seed, "num_envs": num_envs, "bodies": config.bodies}
    if config.evaluation.every and config.evaluation.variants is not None:  # refused before anything is written
        from openworld.runner.evaluation import TRAIN_SPLIT, evaluated_variants

        evaluated_variants(world.base, [TRAIN_SPLIT, config.evaluation.split], before=config.evaluation.before,
                           after=config.evaluation.after, names=config.evaluation.variants)
    if config.resume == "auto" and not config.overwrite:
        finished = finished_run_summary(run_dir, identity, composed.plain, config.steps)
        if finished is not None:  # a rerun sweep or pipeline: this lifetime is already lived and scored
            print(f"{run_dir}: a finished run of steps={config.steps:,} (resume=auto): nothing to do")
            return finished
    check_run_dir(run_dir, resume, overwrite, overrides)
    resumption = read_resumption(run_dir, identity, composed.plain, config.steps) if resume else None
    try:  # writes nothing yet
        observers = make_observers(run_dir, config.tracking.mongo_url, config.tracking.mongo_db, mongo_client)
    except ImportError as err:
        raise RunError(str(err)) from err

    import torch  # after the checks above: a refusal comes before torch has loaded

    previous_threads, previous_rngs = torch.get_num_threads(), global_rngs()
    torch.set_num_threads(config.threads)
    try:
        envs, agent = build_envs_and_agent(world, agent_id, kwargs, num_envs=num_envs, bodies=config.bodies,
                                           seed=config.seed, on_death=config.on_death)
        experience = agent_experience(agent)  # a prior or dataset: part of the run's identity
        if resumption is not None:
            check_experience(run_dir, resumption, experience)
        identity["experience"] = experience
        # From here on the run writes.
        run_dir.mkdir(parents=True, exist_ok=True)
        if overwrite:
            clear_run_dir(run_dir)
        if resumption is None:
            save_hydra_files(run_dir, with_num_envs(cfg, num_envs), hydra_config, overrides)
        lifetime = Lifetime(config, composed.plain, run_dir, world, agent_id, envs, agent, identity, mode)
        result: dict[str, Any] = run_tracked(
            f"{world.world_id}/{agent_id}", sacred_safe(composed.plain), observers,
            lambda run: lifetime.run(run, resumption), capture="no" if mode == "bar" else "sys",
            artifacts=[(world_entry(world.world_id).spec_path, "world.yaml")],
            sources=[*sources(agent), *rule_sources(world)])
        return result
    finally:  # a library call leaves the process as it found it (a resumed run sets the global generators)
        torch.set_num_threads(previous_threads)
        set_global_rngs(previous_rngs)


def with_num_envs(cfg: Any, num_envs: int) -> Any:
    """The composed config as Hydra gave it, with ``num_envs`` as resolved (for ``.hydra/config.yaml``)."""
    from omegaconf import OmegaConf

    out = OmegaConf.create(OmegaConf.to_container(cfg))
    out.num_envs = num_envs
    return out


def sources(agent: Any) -> list[str]:
    """The Python files that define this run's behaviour, for Sacred: the runner, the loop, the agent."""
    from openworld.agent import lifetime
    from openworld.runner import loop

    files = [__file__, str(loop.__file__), str(lifetime.__file__)]
    agent_file = inspect.getsourcefile(type(agent))
    if agent_file:
        files.append(agent_file)
    return files


def rule_sources(world: WorldChoice) -> list[str]:
    """The Python files that define the rules of the world lived in and of its variants (the ones the
    held-out evaluation lives in), each once, for Sacred."""
    from openworld.world.rules import rule_source_file

    rule_ids = dict.fromkeys([*world.base.rules, *world.spec.rules])
    files = (rule_source_file(rule_id) for rule_id in rule_ids)
    return list(dict.fromkeys(file for file in files if file is not None))
