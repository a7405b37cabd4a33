"""The Hydra app behind ``openworld collect`` (``experiments/conf/collect.yaml``, with the ``world`` and
``agent`` groups ``openworld run`` generates); errors a user can act on become one line on stderr.

Exit codes: 0 written; 1 Hydra refused the command line; 2 the collection refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openworld.errors import AgentError, CheckpointError, DatasetError, RunError, SpecError, UnknownIdError

USER_ERRORS = (DatasetError, RunError, SpecError, UnknownIdError, CheckpointError, AgentError)


def collect_main(argv: Sequence[str]) -> int:
    """Run ``openworld collect`` with these command-line arguments; returns the exit code."""
    from openworld.runner.app import CONFIG_PATH, hydra_command

    def job(cfg: Any, overrides: list[str]) -> str:
        result = collect_from_config(cfg, overrides)
        rate = result.steps / max(result.seconds, 1e-9)
        return (f"{', '.join(result.dataset_ids)}: {result.steps:,} steps in {result.seconds:.1f} s ({rate:,.0f} "
                f"steps/s); the collecting policy's alive fraction {result.alive_fraction:.3f}")

    return hydra_command(argv, "openworld collect", CONFIG_PATH, "collect", job, USER_ERRORS)


def collect_from_config(cfg: Any, overrides: Sequence[str] = ()) -> Any:
    """Collect as a composed ``collect.yaml`` says; returns the :class:`~openworld.data.collect.CollectResult`."""
    from omegaconf import OmegaConf

    from openworld.data.collect import CollectRequest, collect
    from openworld.data.store import check_dataset_name
    from openworld.registry import agent_entry
    from openworld.runner.build import agent_kwargs, world_spec_from_config
    from openworld.runner.config import PROGRESS_MODES
    from openworld.runner.progress import progress_mode

    if OmegaConf.is_missing(cfg, "dataset"):
        raise DatasetError("dataset=<name> is required: the dataset's name, e.g. dataset=smoke")
    plain: Any = OmegaConf.to_container(cfg, resolve=True)
    check_dataset_name(plain["dataset"])
    agent_name, kwargs = agent_kwargs(plain["agent"])
    registered = agent_entry(agent_name)
    num_envs = plain["num_envs"] if plain["num_envs"] is not None else registered.num_envs
    mode = str(plain["progress"])
    if mode not in PROGRESS_MODES:
        raise DatasetError(f"progress must be auto, bar, plain or off, got {mode!r}")
    world = world_spec_from_config(plain["world"], overrides)
    return collect(CollectRequest(world, registered.agent_id, kwargs, steps=plain["steps"], seed=plain["seed"],
                                  dataset=plain["dataset"], num_envs=num_envs, segment_steps=plain["segment_steps"],
                                  bodies=plain["bodies"], epsilon=plain["epsilon"], learn=plain["learn"],
                                  heldout=plain["heldout"], overwrite=plain["overwrite"],
                                  agent_snapshot=plain["agent_snapshot"], progress=progress_mode(mode)))
