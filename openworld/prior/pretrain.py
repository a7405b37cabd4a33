"""``openworld pretrain``: train a prior from datasets (or online, for skill discovery), save it, report it.

One call of :func:`pretrain`:

1. checks everything before any work: the kind, the destination (an existing prior file is kept unless
   ``overwrite``), the settings, the datasets' or world's spaces (a held-out variant is refused without
   ``heldout``);
2. trains: offline kinds with :func:`~openworld.prior.fitting.fit_offline` on a validation split of whole episodes,
   with early stopping; online kinds with their own ``fit_online`` in a vector env;
3. writes the prior file (:mod:`openworld.prior.format`: weights, config, spaces, datasets with card hashes,
   validation figures) atomically, and beside it a report folder ``<file stem>.report/``: ``report.json``
   (settings, figures, curves, cost), ``curves.png`` (training and validation curves) and the Sacred record
   (``sacred/<n>/``: config, metrics, host, the report as artifacts).

A failed or interrupted training writes no prior file (an old one stays); its Sacred record says it failed.

Example:
    >>> request = PretrainRequest(prior="bc", out="x.prior", datasets=["openworld/meadow/smoke-v0"])
    >>> request.report_dir().name
    'x.report'
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openworld.errors import PriorError, UnknownIdError, brief
from openworld.prior.base import FitResult, LogFunction, Prior

REPORT_FILE = "report.json"
CURVES_FILE = "curves.png"


@dataclass
class PretrainRequest:
    """What to pretrain (the keys of ``experiments/pretrain/pretrain.yaml``).

    Attributes:
        prior: the kind (``bc``, ``bc-v0``, ``skill-vae``, ``diayn``, ``metra``).
        model: the kind's constructor settings (saved in the prior file).
        training: the training settings (offline: :class:`~openworld.prior.fitting.OfflineSettings` fields).
        datasets: the dataset ids an offline kind learns from.
        world: the world an online kind lives in (a :class:`~openworld.runner.build.WorldChoice`).
        steps: world steps of online training.
        num_envs: worlds lived in at once, online.
        seed: every draw (initial weights, the split, minibatches, the worlds).
        out: the prior file to write; or
        name: save into the prior store as ``<name>-v0``.
        overwrite: replace an existing prior file.
        heldout: allow living in a held-out variant (online).
        threads: torch threads.
        plots: write ``curves.png``.
    """

    prior: str
    model: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    world: Any = None
    steps: int = 0
    num_envs: int = 8
    seed: int = 0
    out: str | None = None
    name: str | None = None
    overwrite: bool = False
    heldout: bool = False
    threads: int = 1
    plots: bool = True

    def destination(self) -> Path:
        """The prior file this request writes.

        Raises:
            PriorError: neither or both of ``out`` and ``name``.
        """
        from openworld.prior.format import PRIOR_SUFFIX, prior_id, priors_root

        if (self.out is None) == (self.name is None):
            raise PriorError("give the prior file's place: out=<path> (e.g. out=priors/meadow-bc.prior) or name=<name> "
                             "(saved in the prior store as <name>-v0), not both")
        if self.out is not None:
            return Path(self.out)
        return priors_root() / f"{prior_id(str(self.name))}{PRIOR_SUFFIX}"

    def report_dir(self) -> Path:
        """The report folder beside the prior file: ``<stem>.report/``."""
        path = self.destination()
        return path.with_name(f"{path.stem}.report")


@dataclass
class PretrainResult:
    """What :func:`pretrain` wrote."""

    path: Path
    report_dir: Path
    header: dict[str, Any]
    fit: FitResult


def pretrain(request: PretrainRequest, mongo_url: str | None = None) -> PretrainResult:
    """Check, train, save and report, as the module docstring says.

    Raises:
        PriorError, DatasetError, SpecError: a request refused before anything is written.
    """
    import torch

    from openworld.registry import prior_entry

    try:
        entry = prior_entry(request.prior)
    except UnknownIdError as err:
        raise PriorError(f"prior={brief(request.prior)}: {err.args[0]}") from None
    path = request.destination()
    if path.exists() and not request.overwrite:
        raise PriorError(f"{path} already exists; nothing was trained. Choose another out= or name=, or give "
                         "overwrite=true to replace it")
    if path.suffix != ".prior":
        raise PriorError(f"out={brief(str(path))}: a prior file's name ends in .prior")
    check_integer("seed", request.seed, 0, 2**32 - 1)
    check_integer("threads", request.threads, 1, 256)
    check_model_keys(entry.prior_id, entry.factory, request.model)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(request.threads)
    try:  # a library call leaves the process's thread count as it found it
        return _pretrain(request, entry, path, mongo_url)
    finally:
        torch.set_num_threads(previous_threads)


def _pretrain(request: PretrainRequest, entry: Any, path: Path, mongo_url: str | None) -> PretrainResult:
    from openworld.runner.tracking import make_observers, run_tracked, sacred_safe

    started = time.perf_counter()
    if entry.training == "offline":
        prior, provenance, train = _prepare_offline(entry.prior_id, entry.factory, request)
        world_id = None
    else:
        prior, train = _prepare_online(entry.prior_id, entry.factory, request)
        provenance, world_id = [], request.world.world_id
    report_dir = request.report_dir()
    config = {"prior": entry.prior_id, "model": request.model, "training": request.training,
              "datasets": request.datasets, "world": world_id,
              "variant": request.world.variant if request.world is not None else None, "steps": request.steps,
              "num_envs": request.num_envs, "seed": request.seed, "out": str(path), "threads": request.threads}

    outcome: dict[str, Any] = {}

    def main(sacred_run: Any) -> dict[str, Any]:
        def log(name: str, value: float, step: int) -> None:
            sacred_run.log_scalar(name, float(value), step)

        fit = outcome["fit"] = train(log)
        header = outcome["header"] = _save(path, prior, request, provenance, world_id, fit)
        report = write_report(report_dir, header, fit, time.perf_counter() - started, request.plots)
        for item in sorted(report_dir.iterdir()):
            if item.is_file():
                sacred_run.add_artifact(str(item), item.name)
        sacred_run.info["prior_sha256"] = header["sha256"]
        return {"prior": str(path), "sha256": header["sha256"], "metrics": report["metrics"]}

    report_dir.mkdir(parents=True, exist_ok=True)
    run_tracked("openworld-pretrain", sacred_safe(config), make_observers(report_dir, mongo_url), main)
    return PretrainResult(path, report_dir, outcome["header"], outcome["fit"])


def _save(path: Path, prior: Prior, request: PretrainRequest, provenance: list[dict[str, Any]],
          world_id: str | None, fit: FitResult) -> dict[str, Any]:
    from openworld.prior.format import save_prior

    training = {**fit.settings, "samples": fit.samples, "seconds": round(fit.seconds, 3),
                "stopped_early": fit.stopped_early}
    if world_id is not None:
        training.update(steps=request.steps, num_envs=request.num_envs,
                        variant=request.world.variant)
    return save_prior(path, prior, seed=request.seed, datasets=provenance, world=world_id, training=training,
                      metrics=fit.metrics)


def check_model_keys(prior_id: str, factory: Any, model: Mapping[str, Any]) -> None:
    """Refuse a model key the kind's constructor does not take (before any data is read)."""
    import inspect

    accepted = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    unknown = sorted(key for key in model if key not in accepted and not takes_any)
    if unknown or "seed" in model:
        known = [name for name in accepted if name not in ("observation_space", "action_space", "seed")]
        raise PriorError(f"prior {prior_id}: unknown model key(s) {', '.join(unknown or ['seed'])} (seed is the root "
                         f"key); known: {', '.join(known)}")


def _build(prior_id: str, factory: Any, observation_space: Any, action_space: Any, request: PretrainRequest) -> Prior:
    """The untrained prior; settings its constructor refuses become a :class:`PriorError`."""
    try:
        prior: Prior = factory(observation_space, action_space, seed=request.seed, **request.model)
    except (TypeError, ValueError) as err:
        raise PriorError(f"prior {prior_id}: its model settings are refused: {err}") from None
    return prior


def _prepare_offline(prior_id: str, factory: Any, request: PretrainRequest) -> tuple[Prior, list[dict[str, Any]], Any]:
    from openworld.prior.fitting import OfflineSettings, fit_offline
    from openworld.prior.transitions import load_transitions

    if request.world is not None:
        raise PriorError(f"prior {prior_id} learns from datasets: give dataset=<id>, not world=")
    if not request.datasets:
        raise PriorError(f"prior {prior_id} learns from datasets: dataset=<id> is required (openworld datasets lists "
                         "the local ones; several: dataset=[id1,id2])")
    settings = OfflineSettings.from_mapping(request.training)
    data = load_transitions(request.datasets)
    prior = _build(prior_id, factory, data.observation_space, data.action_space, request)

    def train(log: LogFunction) -> FitResult:
        return fit_offline(prior, data, settings, request.seed, log)

    return prior, data.datasets, train


def _prepare_online(prior_id: str, factory: Any, request: PretrainRequest) -> tuple[Prior, Any]:
    from openworld.data.collect import variant_split
    from openworld.envs.vector import OpenWorldVectorEnv

    if request.datasets:
        raise PriorError(f"prior {prior_id} discovers skills by living in a world, without data: give world=<name> "
                         "steps=N, not dataset=")
    if request.world is None:
        raise PriorError(f"prior {prior_id} discovers skills online: world=<name> is required")
    check_integer("steps", request.steps, 1, 10**10)
    check_integer("num_envs", request.num_envs, 1, 4096)
    if variant_split(request.world) == "heldout" and not request.heldout:
        raise PriorError(f"world.variant={request.world.variant} is a held-out variant of {request.world.world_id}: "
                         "skills learnt there would leak into what the evaluation holds out. Give heldout=true to "
                         "train there anyway (the prior file says so)")
    envs = OpenWorldVectorEnv(request.num_envs, world=request.world.spec)
    world_seeds = request.world.world_seeds(request.seed, request.num_envs)  # a variant is lived on its own maps
    prior = _build(prior_id, factory, envs.single_observation_space, envs.single_action_space, request)
    prior.check_training(request.training)

    def train(log: LogFunction) -> FitResult:
        return prior.fit_online(envs, request.steps, request.seed, log, request.training, world_seeds)

    return prior, train


def check_integer(key: str, value: Any, low: int, high: int) -> None:
    """Refuse a setting that is not an integer in ``[low, high]`` (a :class:`PriorError` naming it)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PriorError(f"{key} must be an integer from {low:,} to {high:,}, got {brief(value)}")


# ---------------------------------------------------------------------------------------------- the report
def write_report(report_dir: Path, header: Mapping[str, Any], fit: FitResult, seconds: float,
                 plots: bool) -> dict[str, Any]:
    """``report.json`` (and ``curves.png`` when ``plots``) in ``report_dir``; returns the report."""
    from openworld.files import atomic_write_text

    report = {"prior": header["prior"], "file_sha256": header["sha256"], "config": header["config"],
              "datasets": header["datasets"], "world": header["world"], "seed": header["seed"],
              "metrics": dict(fit.metrics), "training": dict(header["training"]),
              "samples": fit.samples, "train_seconds": round(fit.seconds, 3), "total_seconds": round(seconds, 3),
              "samples_per_second": round(fit.samples / max(fit.seconds, 1e-9), 1),
              "stopped_early": fit.stopped_early, "curves": fit.curves}
    report_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(report_dir / REPORT_FILE, json.dumps(report, indent=1, default=float) + "\n")
    if plots and fit.curves:
        plot_curves(fit.curves, report_dir / CURVES_FILE, f"{header['prior']} (seed {header['seed']})")
    return report


def plot_curves(curves: Sequence[Mapping[str, float]], path: Path, title: str) -> Path:
    """One panel per figure (``nll``, ``accuracy``, ...), training and validation lines against updates."""
    from matplotlib.figure import Figure

    names = sorted({key.split("/", 1)[1] for point in curves for key in point if "/" in key})
    columns = min(3, len(names)) or 1
    rows = -(-len(names) // columns) or 1
    figure = Figure(figsize=(4.2 * columns, 3.0 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    steps = [point["step"] for point in curves]
    for ax, name in zip(axes, names, strict=False):
        for prefix, style in (("train", "-"), ("val", "-")):
            key = f"{prefix}/{name}"
            values = [point.get(key, float("nan")) for point in curves]
            if any(value == value for value in values):
                ax.plot(steps, values, style, marker="." if len(steps) < 30 else None, label=prefix)
        for key in sorted({k for point in curves for k in point if k.endswith(f"/{name}")} - {f"train/{name}",
                                                                                                f"val/{name}"}):
            ax.plot(steps, [point.get(key, float("nan")) for point in curves], "--", label=key.split("/")[0])
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("updates" if "epoch" in curves[0] else "steps", fontsize=8)
        ax.legend(fontsize=7)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    figure.suptitle(title, fontsize=10)
    figure.savefig(path, dpi=90)
    return path
