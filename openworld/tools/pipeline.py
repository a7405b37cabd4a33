"""``openworld pipeline``: an experiment that needs data and priors before its lifetimes, run stage by stage.

``experiment=prior_bootstrap`` (``experiments/pipeline/experiment/``, docs/headline.md) is the project's headline:
does prior experience keep agents alive when the world shifts? Its four stages, each a Hydra multirun of an
openworld command (so the same config runs on this machine with ``launcher=local``, Hydra's joblib launcher, or on
a cluster with ``launcher=slurm`` or ``ray_local``):

1. **collect** (``openworld collect -m``): each data source (``collect.sources``, collect presets: the forager, the
   forager with 30% random actions, random actions) lives in each world's training variant; then, in this process,
   each world's garbage heap (``openworld datasets mix``: the sources in ``collect.mix``'s shares, named
   ``garbage``) and its reward-free copy (``garbage-no-reward``);
2. **pretrain** (``openworld pretrain -m``): each prior of ``pretrain.priors`` for each world, from the world's own
   garbage heap (``data: own``), from the *other* worlds' only (``data: other_worlds``: leave-one-world-out), or
   living in the world without reward (``data: online``); saved as ``<world>-<prior>-v0``;
3. **live** (``openworld run -m``): every arm (``experiments/conf/arm``: an agent with the experience it takes) in
   every world's training and held-out variant, ``live.seeds`` seeds each, ``resume=auto``;
4. **report** (``openworld report --baseline``): the tables and plots of every group, each arm against ``ppo`` from
   scratch, training against held-out variants.

Everything lands under ``out``: ``datasets/`` (Minari's root for every stage: ``MINARI_DATASETS_PATH``),
``priors/`` (``OPENWORLD_PRIORS_PATH``), ``live/`` (the run directories), ``report/``, ``logs/`` (each multirun's
command line and output) and ``stages/`` (what each finished stage was run with).

Resumable stage by stage: a stage whose record in ``stages/`` matches this config is skipped; within an
interrupted stage only what is missing runs (a dataset or prior that exists is not made again; a finished
lifetime is skipped by ``resume=auto``, an interrupted one resumes from its checkpoint). A finished collect or
pretrain stage that was run with other settings is refused (its datasets or priors would not be what this config
says); the live stage reruns (each lifetime's ``resume=auto`` keeps what still matches: more seeds or arms add
runs, more steps extend them). Each multirun's outputs are checked after it, so a job that failed inside a
launcher is named even where the launcher does not pass its failure on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openworld.errors import RunError, brief

STAGES = ("collect", "pretrain", "live", "report")
DATA_KINDS = ("own", "other_worlds", "online")
GARBAGE = "garbage"  # the mixed dataset's name; the arms name it (experiments/conf/arm)
REWARD_FREE = "garbage-no-reward"
SWEEP_BATCH = 64  # jobs a live multirun composes and launches at a time


@dataclass(frozen=True)
class Multirun:
    """One Hydra multirun of an openworld command: ``openworld <command> -m <overrides>``."""

    command: str  # collect | pretrain | run
    overrides: tuple[str, ...]
    name: str  # for the log file and the progress lines

    def argv(self, launcher: str) -> list[str]:
        return [sys.executable, "-m", "openworld.tools.cli", self.command, "-m", *self.overrides,
                f"hydra/launcher={launcher}"]


@dataclass
class Pipeline:
    """The stages of one pipeline config (``experiments/pipeline/pipeline.yaml`` composed), and where they write."""

    config: dict[str, Any]
    out: Path = field(init=False)

    def __post_init__(self) -> None:
        check_config(self.config)
        self.out = Path(self.config["out"])

    # --- the stages' settings: what each stage's record holds, and what a rerun compares -------------------------

    def settings(self, stage: str) -> dict[str, Any]:
        c = self.config
        base = {"worlds": list(c["worlds"])}
        if stage == "collect":
            return {**base, "collect": c["collect"]}
        if stage == "pretrain":
            return {**base, "collect_variant": c["collect"]["variant"], "pretrain": c["pretrain"]}
        if stage == "live":
            return {**base, "live": c["live"]}
        return {**base, "live": c["live"], "report": c["report"]}

    # --- outputs ----------------------------------------------------------------------------------------------------

    def dataset_ids(self, world: str) -> list[str]:
        names = [*self.config["collect"]["sources"], GARBAGE]  # a collect preset's dataset is named as the preset
        if self.config["collect"]["reward_free"]:
            names.append(REWARD_FREE)
        return [_dataset_id(world, name) for name in names]

    def prior_path(self, world: str, prior: str) -> Path:
        return self.out / "priors" / f"{world}-{prior}-v0.prior"

    def variants(self, world: str) -> list[str]:
        """The variants the arms live in, in ``world``: ``live.variants`` is one list for every world, or a list
        per world (variant names differ between worlds)."""
        variants = self.config["live"]["variants"]
        return list(variants[world] if isinstance(variants, Mapping) else variants)

    def run_dirs(self) -> list[Path]:
        live = self.config["live"]
        return [self.out / "live" / world / variant / arm / f"seed{seed}" for world in self.config["worlds"]
                for variant in self.variants(world) for arm in live["arms"] for seed in range(live["seeds"])]

    # --- the multiruns of each stage, for what is still missing -----------------------------------------------------

    def collect_multiruns(self) -> list[Multirun]:
        """One multirun over the sources (collect presets) and the worlds that lack them (one per set of worlds
        when an interrupted stage left some)."""
        c, collect = self.config, self.config["collect"]
        groups: dict[tuple[str, ...], list[str]] = {}
        for source in collect["sources"]:
            worlds = tuple(w for w in c["worlds"] if not _dataset_exists(self.out, _dataset_id(w, source)))
            if worlds:
                groups.setdefault(worlds, []).append(source)
        return [Multirun("collect", (
            f"preset={','.join(sources)}", f"world={','.join(worlds)}", f"world.variant={collect['variant']}",
            f"steps={collect['steps']}", f"num_envs={collect['num_envs']}", f"seed={collect['seed']}", "progress=off",
            f"hydra.sweep.dir={self.out / 'logs' / 'collect'}"), f"collect-{index}")
            for index, (worlds, sources) in enumerate(groups.items())]

    def pretrain_multiruns(self) -> list[Multirun]:
        c, pretrain = self.config, self.config["pretrain"]
        groups: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
        for prior, how in pretrain["priors"].items():
            online = how["data"] == "online"
            key = (how["kind"], "online" if online else "offline", tuple(how.get("overrides") or ()))
            groups.setdefault(key, []).append(prior)
        out = []
        for (kind, mode, overrides), priors in groups.items():
            common = (f"prior={kind}", f"seed={pretrain['seed']}", *overrides)
            if mode == "online":  # one job per (world, prior): the world is the swept group
                for prior in priors:
                    worlds = [w for w in c["worlds"] if not self.prior_path(w, prior).exists()]
                    if worlds:
                        out.append(Multirun("pretrain", (
                            # ++: pretrain's world group is null until the sweep chooses one, which Hydra's
                            # check of the sweep's overrides does not
                            *common, f"world={','.join(worlds)}", f"++world.variant={c['collect']['variant']}",
                            f"name=${{hydra:runtime.choices.world}}-{prior}",
                            f"hydra.sweep.dir={self.out / 'logs' / 'pretrain' / prior}"), f"pretrain-{prior}"))
                continue
            jobs = []  # offline: one job per (world, prior), each a dict of its name and datasets
            for prior in priors:
                for world in c["worlds"]:
                    if self.prior_path(world, prior).exists():
                        continue
                    sources = [world] if pretrain["priors"][prior]["data"] == "own" else \
                        [w for w in c["worlds"] if w != world]
                    datasets = ",".join(f"'{_dataset_id(w, GARBAGE)}'" for w in sources)
                    jobs.append(f"{{name:'{world}-{prior}',datasets:[{datasets}]}}")
            if jobs:
                out.append(Multirun("pretrain", (
                    *common, f"+job={','.join(jobs)}", "dataset=${job.datasets}", "name=${job.name}",
                    f"hydra.sweep.dir={self.out / 'logs' / 'pretrain' / kind}"), f"pretrain-{kind}"))
        return out

    def live_multiruns(self) -> list[Multirun]:
        c, live = self.config, self.config["live"]
        groups: dict[tuple[str, ...], list[str]] = {}
        for arm in live["arms"]:
            groups.setdefault(tuple((live.get("arm_overrides") or {}).get(arm) or ()), []).append(arm)
        # One multirun for all worlds when they share the variants' names, else one per world.
        per_world = isinstance(live["variants"], Mapping)
        world_sets = [[w] for w in c["worlds"]] if per_world else [list(c["worlds"])]
        out = []
        for worlds in world_sets:
            for overrides, arms in groups.items():
                name = "-".join([*(worlds if per_world else []), *(arms if len(arms) < 3 else [f"{len(arms)}-arms"])])
                out.append(Multirun("run", (  # seed first: Hydra runs the product in this order, so every world
                    # and arm has its first seeds before any has its last (an interrupted stage reports them all)
                    f"seed=range(0,{live['seeds']})", f"world={','.join(worlds)}", f"steps={live['steps']}",
                    f"world.variant={','.join(self.variants(worlds[0]))}", f"arm={','.join(arms)}",
                    f"num_envs={live['num_envs']}", "resume=auto", "report=off", "progress=off",
                    # Hydra's sweeper composes every job's config in the launching process before it launches
                    # any (about a second each: 960 jobs kept the workers waiting 15 minutes); in batches of 64 the
                    # first lifetimes start at once, and an interruption loses one batch's setup at most.
                    f"hydra.sweeper.max_batch_size={SWEEP_BATCH}",
                    *live.get("overrides", ()), *overrides,
                    f"hydra.sweep.dir={self.out / 'live'}",
                    "hydra.sweep.subdir=${hydra:runtime.choices.world}/${world.variant}/${hydra:runtime.choices.arm}"
                    "/seed${seed}"), f"live-{name}"))
        return out

    # --- checks after each stage ------------------------------------------------------------------------------------

    def missing(self, stage: str) -> list[str]:
        """What the stage should have made and is not there (empty: the stage is complete)."""
        worlds = self.config["worlds"]
        if stage == "collect":
            return [d for w in worlds for d in self.dataset_ids(w) if not _dataset_exists(self.out, d)]
        if stage == "pretrain":
            return [str(self.prior_path(w, p)) for w in worlds for p in self.config["pretrain"]["priors"]
                    if not self.prior_path(w, p).exists()]
        if stage == "live":
            return [str(d) for d in self.run_dirs() if not (d / "summary.json").exists()]
        return [str(self.out / "report" / "report.md")] if not (self.out / "report" / "report.md").exists() else []


def check_config(config: Mapping[str, Any]) -> None:
    """Refuse a pipeline config that cannot run, naming the key.

    Raises:
        RunError: a missing or malformed key.
    """
    for key in ("out", "launcher", "worlds", "collect", "pretrain", "live", "report"):
        if config.get(key) in (None, "???"):
            raise RunError(f"pipeline: {key} must be given")
    worlds = config["worlds"]
    if not isinstance(worlds, list) or not worlds or len(set(worlds)) != len(worlds):
        raise RunError(f"pipeline: worlds must be a list of distinct world names, got {brief(worlds)}")
    collect = config["collect"]
    if not isinstance(collect.get("sources"), list) or not collect["sources"]:
        raise RunError(f"pipeline: collect.sources must list at least one collect preset (experiments/conf/preset), "
                       f"got {brief(collect.get('sources'))}")
    mix = collect.get("mix") or {}
    unknown = sorted(set(mix) - set(collect["sources"]))
    if unknown or not mix:
        raise RunError(f"pipeline: collect.mix must give shares of collect.sources ({', '.join(collect['sources'])}), "
                       f"got {brief(dict(mix))}")
    for prior, how in (config["pretrain"].get("priors") or {}).items():
        if not isinstance(how, Mapping) or how.get("data") not in DATA_KINDS or not how.get("kind"):
            raise RunError(f"pipeline: pretrain.priors.{prior} needs kind and data ({', '.join(DATA_KINDS)}), "
                           f"got {brief(how)}")
        if how["data"] == "other_worlds" and len(worlds) < 2:
            raise RunError(f"pipeline: pretrain.priors.{prior} learns from the other worlds: give at least two worlds")
    live = config["live"]
    for key in ("seeds", "steps", "num_envs"):
        if isinstance(live.get(key), bool) or not isinstance(live.get(key), int) or live[key] < 1:
            raise RunError(f"pipeline: live.{key} must be a positive integer, got {brief(live.get(key))}")
    if not live.get("arms") or not live.get("variants"):
        raise RunError("pipeline: live.arms and live.variants must each name at least one")
    if isinstance(live["variants"], Mapping):
        lacking = [w for w in worlds if not live["variants"].get(w)]
        if lacking:
            raise RunError(f"pipeline: live.variants gives each world its variants; none for {', '.join(lacking)}")
    unknown = sorted(set(live.get("arm_overrides") or {}) - set(live["arms"]))
    if unknown:
        raise RunError(f"pipeline: live.arm_overrides names arms not in live.arms: {', '.join(unknown)}")
    baseline = config["report"].get("baseline")
    if baseline is not None and baseline not in live["arms"]:
        raise RunError(f"pipeline: report.baseline {brief(baseline)} is not one of live.arms")


def run_pipeline(config: Mapping[str, Any], echo: Callable[[str], None] = print) -> Path:
    """Run (or finish) every stage of the pipeline; returns the report's folder.

    Raises:
        RunError: a stage that failed or left something missing (naming it and its log), or a finished stage
            recorded with other settings.
    """
    pipeline = Pipeline(dict(config))
    out = pipeline.out
    out.mkdir(parents=True, exist_ok=True)
    stores = {"MINARI_DATASETS_PATH": str((out / "datasets").resolve()),
              "OPENWORLD_PRIORS_PATH": str((out / "priors").resolve())}
    env = {**os.environ, **stores}
    started = time.perf_counter()
    with _environment(stores):  # the mix, strip and report run in this process, against the same stores
        for stage in STAGES:
            record = out / "stages" / f"{stage}.json"
            settings = json.loads(json.dumps(pipeline.settings(stage)))
            if record.exists():
                previous = json.loads(record.read_text())
                if previous["settings"] == settings and not pipeline.missing(stage):
                    echo(f"pipeline: {stage}: done ({previous['seconds']:.0f} s on {previous['finished']}); skipped")
                    continue
                if stage in ("collect", "pretrain") and previous["settings"] != settings:
                    from openworld.runner.rundir import differences

                    differing = differences(previous["settings"], settings)
                    raise RunError(f"pipeline: the {stage} stage in {out} was finished with other settings: "
                                   + "; ".join(differing[:5]) + (" ..." if len(differing) > 5 else "")
                                   + f". Give another out=, or remove {record} and what the stage made")
            clock = time.perf_counter()
            echo(f"pipeline: {stage}: starting")
            STAGE_RUNNERS[stage](pipeline, env, echo)
            missing = pipeline.missing(stage)
            if missing:
                raise RunError(f"pipeline: the {stage} stage left {len(missing)} missing: "
                               + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
                               + f" (see {out / 'logs'}); run the same command again to finish it")
            seconds = time.perf_counter() - clock
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({"settings": settings, "seconds": seconds,
                                          "finished": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1))
            echo(f"pipeline: {stage}: done in {seconds:.0f} s")
    echo(f"pipeline: finished in {time.perf_counter() - started:.0f} s; report: {out / 'report' / 'report.md'}")
    return out / "report"


def _collect(pipeline: Pipeline, env: Mapping[str, str], echo: Callable[[str], None]) -> None:
    from openworld.data.datasets import strip_rewards
    from openworld.data.mix import mix_datasets

    _launch(pipeline, pipeline.collect_multiruns(), env, echo)
    collect = pipeline.config["collect"]
    for world in pipeline.config["worlds"]:
        missing = [s for s in collect["sources"] if not _dataset_exists(pipeline.out, _dataset_id(world, s))]
        if missing:
            raise RunError(f"pipeline: collect left no {', '.join(missing)} dataset for {world} "
                           f"(see {pipeline.out / 'logs' / 'collect'}); run the same command again")
        garbage = _dataset_id(world, GARBAGE)
        if not _dataset_exists(pipeline.out, garbage):
            shares = {_dataset_id(world, source): float(share) for source, share in collect["mix"].items()}
            echo(f"pipeline: {mix_datasets(GARBAGE, shares, seed=collect['seed'])}: the garbage heap")
        if collect["reward_free"] and not _dataset_exists(pipeline.out, _dataset_id(world, REWARD_FREE)):
            echo(f"pipeline: {strip_rewards(garbage, REWARD_FREE)}: without rewards")


def _pretrain(pipeline: Pipeline, env: Mapping[str, str], echo: Callable[[str], None]) -> None:
    _launch(pipeline, pipeline.pretrain_multiruns(), env, echo)


def _live(pipeline: Pipeline, env: Mapping[str, str], echo: Callable[[str], None]) -> None:
    _launch(pipeline, pipeline.live_multiruns(), env, echo)


def _report(pipeline: Pipeline, env: Mapping[str, str], echo: Callable[[str], None]) -> None:
    from openworld.scoring.report import write_report

    report = pipeline.config["report"]
    for path in write_report([pipeline.out / "live"], pipeline.out / "report", plots=bool(report["plots"]),
                             baseline=report.get("baseline")):
        echo(f"pipeline: {path}")


STAGE_RUNNERS: dict[str, Callable[[Pipeline, Mapping[str, str], Callable[[str], None]], None]] = {
    "collect": _collect, "pretrain": _pretrain, "live": _live, "report": _report}


def _launch(pipeline: Pipeline, multiruns: Sequence[Multirun], env: Mapping[str, str],
            echo: Callable[[str], None]) -> None:
    """Run a stage's multiruns at once, each in a subprocess with its output in ``logs/<name>.log``; a failed one
    raises once all have ended. At once: they are independent, and a multirun's start (the command's imports, the
    launcher's workers) costs about 10 s that a small multirun would otherwise wait for alone."""
    logs = pipeline.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    running = []
    clock = time.perf_counter()
    for multirun in multiruns:
        argv = multirun.argv(pipeline.config["launcher"])
        log = logs / f"{multirun.name}.log"
        echo(f"pipeline: {' '.join(_quoted(argv[2:]))}  (log: {log})")
        handle = log.open("w")
        handle.write(" ".join(_quoted(argv)) + "\n")
        handle.flush()
        running.append((multirun, log, handle, subprocess.Popen(argv, env=dict(env), stdout=handle,
                                                                stderr=subprocess.STDOUT)))
    failed = []
    for multirun, log, handle, process in running:
        code = process.wait()
        handle.close()
        echo(f"pipeline: {multirun.name}: exit {code} after {time.perf_counter() - clock:.0f} s")
        if code != 0:
            tail = log.read_text().strip().splitlines()[-5:]
            failed.append(f"{multirun.name} failed (exit {code}; {log}):\n  " + "\n  ".join(tail))
    if failed:
        raise RunError("pipeline: " + "\npipeline: ".join(failed))


def _quoted(argv: Sequence[str]) -> list[str]:
    import shlex

    return [shlex.quote(arg) for arg in argv]


def _dataset_id(world: str, name: str) -> str:
    from openworld.data.store import dataset_id

    return dataset_id(world, name)


def _dataset_exists(out: Path, dataset: str) -> bool:
    return (out / "datasets" / dataset / "data" / "metadata.json").is_file()


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for a block (this process's mix, strip and report), restoring them after."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

