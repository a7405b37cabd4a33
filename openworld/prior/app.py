"""The Hydra app behind ``openworld pretrain`` (``experiments/pretrain/pretrain.yaml``, its ``prior`` group of kinds,
and the ``world`` group ``openworld run`` generates); errors a user can act on become one line on stderr.

Exit codes: 0 written; 1 Hydra refused the command line; 2 the training refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openworld.errors import CheckpointError, DatasetError, PriorError, RunError, SpecError, UnknownIdError

CONFIG_PATH = "pkg://openworld.experiments.pretrain"
USER_ERRORS = (PriorError, DatasetError, RunError, SpecError, UnknownIdError, CheckpointError)


def pretrain_main(argv: Sequence[str]) -> int:
    """Run ``openworld pretrain`` with these command-line arguments; returns the exit code."""
    from openworld.runner.app import hydra_command

    def job(cfg: Any, overrides: list[str]) -> str:
        result = pretrain_from_config(cfg, overrides)
        fit = result.fit
        figures = ", ".join(f"{key} {value:.4g}" for key, value in sorted(result.header["metrics"].items())
                            if key.startswith(("val/", "coverage/")))
        return (f"{result.header['prior']} -> {result.path} ({fit.samples:,} samples in {fit.seconds:.1f} s, "
                f"{fit.samples / max(fit.seconds, 1e-9):,.0f}/s{', stopped early' if fit.stopped_early else ''}); "
                f"{figures}; report in {result.report_dir}")

    return hydra_command(argv, "openworld pretrain", CONFIG_PATH, "pretrain", job, USER_ERRORS)


def pretrain_from_config(cfg: Any, overrides: Sequence[str] = ()) -> Any:
    """Pretrain as a composed ``pretrain.yaml`` says; returns the :class:`~openworld.prior.pretrain.PretrainResult`."""
    from omegaconf import OmegaConf

    from openworld.prior.pretrain import PretrainRequest, pretrain
    from openworld.registry import prior_entry
    from openworld.runner.build import world_spec_from_config

    plain: Any = OmegaConf.to_container(cfg, resolve=True)
    node = plain.get("prior") or {}
    if not isinstance(node, dict) or "id" not in node:
        raise PriorError("prior=<kind> is required (bc, skill-vae, diayn, metra: experiments/pretrain/prior/)")
    for key in node:
        if key not in ("id", "model", "training"):
            raise PriorError(f"prior.{key}: a prior config holds id, model and training (did you mean "
                             f"prior.model.{key} or prior.training.{key}?)")
    try:
        entry = prior_entry(str(node["id"]))
    except UnknownIdError as err:
        raise PriorError(f"prior.id: {err.args[0]}") from None
    datasets = plain.get("dataset")
    datasets = [] if datasets is None else [datasets] if isinstance(datasets, str) else list(datasets)
    world = None
    if plain.get("world") is not None:
        if entry.training == "offline":
            raise PriorError(f"prior {entry.prior_id} learns from datasets: give dataset=<id>, not world= (the "
                             "dataset's card says its world)")
        world = world_spec_from_config(plain["world"], overrides)
    report = str(plain.get("report"))
    if report not in ("plots", "tables"):
        raise PriorError(f"report must be plots or tables, got {report!r}")
    request = PretrainRequest(prior=entry.prior_id, model=dict(node.get("model") or {}),
                              training=dict(node.get("training") or {}), datasets=datasets, world=world,
                              steps=plain["steps"], num_envs=plain["num_envs"], seed=plain["seed"], out=plain["out"],
                              name=plain["name"], overwrite=bool(plain["overwrite"]), heldout=bool(plain["heldout"]),
                              threads=plain["threads"], plots=report == "plots")
    return pretrain(request, mongo_url=(plain.get("tracking") or {}).get("mongo_url"))
