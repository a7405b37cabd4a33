"""``openworld run``: one continual lifetime, configured with Hydra, recorded with Sacred, checkpointed
and exactly resumable (``docs/experiments.md``).

One module per job:

    app.py         the Hydra app: composes, runs, reports user errors (exit codes, nearest-key hints)
    config.py      the structured config (types of the root config's keys) and the checks of its values
    groups.py      the ``world`` and ``agent`` config groups, generated from the registries
    runner.py      run_experiment: check everything, build, then live the lifetime as a Sacred run
    build.py       the world (spec, variant), the vector env and the agent, from the config
    rundir.py      the run directory: layout, clobber and resume policy, the checked checkpoint
    loop.py        the lifetime loop: record, log, evaluate, checkpoint; then summarise
    counters.py    the live counters behind the logged scalars and the progress display
    evaluation.py  zero-shot evaluation on the training and held-out variants, through their shifts
    rng.py         the process-wide generators a checkpoint holds
    progress.py    the progress bar and the plain log lines
    summary.py     the report folder and the printed table
    tracking.py    Sacred: observers, the tracked run, logged scalars, artifacts
    checkpoint.py  atomic, checksummed checkpoint files
"""

from __future__ import annotations

from openworld.errors import RunError
from openworld.runner.app import hydra_main, user_error
from openworld.runner.build import WorldChoice, agent_kwargs, world_spec_from_config
from openworld.runner.config import RunConfig
from openworld.runner.groups import register_config_groups
from openworld.runner.rundir import check_run_dir
from openworld.runner.runner import run_experiment

__all__ = ["RunConfig", "RunError", "WorldChoice", "agent_kwargs", "check_run_dir", "hydra_main",
           "register_config_groups", "run_experiment", "user_error", "world_spec_from_config"]
