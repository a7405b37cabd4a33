"""The Hydra app behind ``openworld pipeline`` (``experiments/pipeline/pipeline.yaml`` and its ``experiment`` group):
compose the pipeline's config and run it (:func:`openworld.tools.pipeline.run_pipeline`); errors a user can act on
become one line on stderr."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openworld.errors import DatasetError, PriorError, RunError, SpecError, UnknownIdError

PIPELINE_CONFIG_PATH = "pkg://openworld.experiments.pipeline"


def pipeline_main(argv: Sequence[str]) -> int:
    """Run ``openworld pipeline`` with these command-line arguments (Hydra overrides); returns the exit code:
    0 done, 1 Hydra refused the command line, 2 a stage refused or failed (one line on stderr, naming it)."""
    from omegaconf import OmegaConf

    from openworld.runner.app import hydra_command

    def job(cfg: Any, overrides: list[str]) -> str:
        from openworld.tools.pipeline import run_pipeline

        report = run_pipeline(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
        return f"the report is {report / 'report.md'}"

    return hydra_command(argv, "openworld pipeline", PIPELINE_CONFIG_PATH, "pipeline", job,
                         (RunError, DatasetError, PriorError, SpecError, UnknownIdError))
