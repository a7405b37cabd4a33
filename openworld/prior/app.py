"""The Hydra app behind ``openworld pretrain`` (``experiments/pretrain/pretrain.yaml``, its ``prior`` group of kinds,
and the ``world`` group ``openworld run`` generates); errors a user can act on become one line on stderr.

Exit codes: 0 written; 1 Hydra refused the command line; 2 the training refused.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from openworld.errors import CheckpointError, DatasetError, PriorError, RunError, SpecError, UnknownIdError

CONFIG_PATH = "pkg://openworld.experiments.pretrain"
USER_ERRORS = (PriorError, DatasetError, RunError, SpecError, UnknownIdError, CheckpointError)


def pretrain_main(argv: Sequence[str]) -> int:
    """Run ``openworld pretrain`` with these command-line arguments; returns the exit code."""
    import hydra

    from openworld.runner.app import bounded_config_yaml, prepare_command_line

    prepared = prepare_command_line(argv, "openworld pretrain")
    if prepared is None:
        return 2
    argv = prepared
    failures: list[str] = []

    @hydra.main(config_path=CONFIG_PATH, config_name="pretrain", version_base="1.3")
    def app(cfg: Any) -> None:
        from hydra.core.hydra_config import HydraConfig

        try:
            result = pretrain_from_config(cfg, list(HydraConfig.get().overrides.task))
        except USER_ERRORS as err:
            print(f"openworld pretrain: error: {err}", file=sys.stderr, flush=True)
            failures.append(str(err))
            return
        fit = result.fit
        figures = ", ".join(f"{key} {value:.4g}" for key, value in sorted(result.header["metrics"].items())
                            if key.startswith(("val/", "coverage/")))
        print(f"openworld pretrain: {result.header['prior']} -> {result.path} ({fit.samples:,} samples in "
              f"{fit.seconds:.1f} s, {fit.samples / max(fit.seconds, 1e-9):,.0f}/s"
              f"{', stopped early' if fit.stopped_early else ''}); {figures}; report in {result.report_dir}",
              flush=True)

    saved_argv = sys.argv
    sys.argv = ["openworld pretrain", *argv]
    try:
        with bounded_config_yaml():
            app()
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = saved_argv
    return 2 if failures else 0


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
