"""``openworld run``: one continual lifetime, configured with Hydra, recorded with Sacred, checkpointed
and exactly resumable.

A run lives ``steps`` world steps in ``num_envs`` worlds at once (one batched vector env), the agent
learning online, the monitor recording every body. There are no episodes: a death is a ``terminated``
for that body, which carries on in the same world after its respawn delay. Every ``checkpoint_every``
steps the run writes an atomic checkpoint (the engine state with its generators, the agent with its
optimiser and generators, the global generators, the monitor's position and unflushed rows, the step
counter and the next observation); ``resume=true`` continues from it and produces the same recording
and ``summary.json`` as an uninterrupted run. Every ``evaluation.every`` steps the agent is evaluated
zero-shot on the world's held-out variants, in separate world instances that never feed learning.

The ``world`` and ``agent`` config groups are generated from the registries: a world's node is its
whole spec (so ``world.resources.berry.regrow=0.02`` overrides a key of the world file and is validated
like one), plus ``id`` and ``variant``; an agent's node is ``id`` plus the constructor's keyword
defaults, with ``agents/<name>.yaml`` (if any) on top. See ``docs/experiments.md``.

Run directory (``hydra.run.dir``; default ``runs/<world>/<agent>/seed<seed>``)::

    .hydra/                 the resolved config, Hydra's config and the overrides (of the first start)
    monitor.json, stream/   the recording (openworld.scoring.monitor)
    checkpoints/last.ckpt   the latest checkpoint (openworld.runner.checkpoint)
    sacred/<id>/            Sacred's FileStorageObserver: config, run (host, versions, sources), metrics,
                            artifacts; one <id> per invocation (a resumed run adds one)
    summary.json            the run summary contract (docs/metrics.md)
    report/                 tables and plots of this run (openworld.scoring.report)
"""

from __future__ import annotations

import difflib
import inspect
import json
import random
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from openworld.agent.protocol import agent_metrics
from openworld.scoring import metrics

CONFIG_PATH = "pkg://openworld.experiments.conf"
CHECKPOINT = Path("checkpoints") / "last.ckpt"
SUMMARY = "summary.json"
REPORT = "report"
# Everything a run writes into its directory; ``overwrite=true`` removes these and nothing else.
RUN_FILES = (".hydra", "monitor.json", "stream", SUMMARY, REPORT, "checkpoints", "sacred")
# Config keys that may differ between a run and its resumption: they do not change the lifetime.
RESUME_FREE_KEYS = frozenset({"steps", "resume", "overwrite", "progress", "report", "log_every",
                              "checkpoint_every", "tracking", "evaluation", "metrics"})
ARTIFACT_BYTES = 16 << 20  # the recording's chunk files become Sacred artifacts only below this total
PROGRESS_EVERY = 50  # steps between progress-bar refreshes


class RunError(RuntimeError):
    """A run that cannot start as asked (an occupied run directory, nothing to resume...)."""


# ================================================================== config groups
def register_config_groups() -> None:
    """Store one ``world`` node per registered world and one ``agent`` node per agent (and agent config).

    A world node is ``{id, variant, **spec}``; an agent node is ``{id, **keyword defaults}`` of the
    agent's factory, with ``agents/<name>.yaml`` merged on top (a YAML config under another name than
    its agent's adds a choice of that name).
    """
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    from openworld.errors import UnknownIdError
    from openworld.registry import agent_entry, agent_ids, load_world_spec, world_ids
    from openworld.world.spec import to_dict

    key = (tuple(world_ids()), tuple(agent_ids()))
    if _registered.get("key") == key:  # the nodes of these registries are stored already
        return
    store = ConfigStore.instance()
    for world_id in world_ids():  # the worlds openworld's engine runs (the runner's vector env)
        node = {"id": world_id, "variant": None, **to_dict(load_world_spec(world_id))}
        store.store(group="world", name=_choice_name(world_id), node=node)
    nodes: dict[str, dict[str, Any]] = {}
    for agent_id in agent_ids():
        nodes[_choice_name(agent_id)] = {"id": agent_id, **factory_defaults(agent_entry(agent_id).factory)}
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
    _registered["key"] = key


_registered: dict[str, Any] = {}


def _choice_name(entry_id: str) -> str:
    """The group choice of a registry id: ``Shiftlands-v0`` -> ``shiftlands``."""
    return entry_id.rsplit("-v", 1)[0].lower()


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


@dataclass(frozen=True)
class WorldChoice:
    """The world of a run: its id, the variant lived in (None: the world as written) and the specs."""

    world_id: str
    variant: str | None
    spec: Any  # the spec lived in: the base with the variant applied
    base: Any  # the world file with the command-line overrides (its variants are the evaluation's)


def world_spec_from_config(world: Mapping[str, Any], overrides: Sequence[str] = ()) -> WorldChoice:
    """The validated world of a ``world`` config node (command-line overrides included).

    Raises:
        SpecError: naming the key, and the command-line override that set it if one did.
        UnknownVariantError: listing the world's variants.
    """
    from omegaconf import DictConfig, OmegaConf

    from openworld.registry import _WORLDS, resolve_world_id
    from openworld.world.spec import SpecError, spec_from_dict

    plain: Any = OmegaConf.to_container(world, resolve=True) if isinstance(world, DictConfig) else world
    data = dict(plain)
    world_id = resolve_world_id(str(data.pop("id")))
    variant = data.pop("variant", None)
    source = f"{_WORLDS[world_id].spec_path} (with command-line overrides)"
    try:
        base = spec_from_dict(data, source=source)
    except SpecError as err:
        raise SpecError(_name_override(str(err), source, overrides)) from err
    if variant is None:
        return WorldChoice(world_id, None, base, base)
    from openworld.variants import apply_variant

    return WorldChoice(world_id, str(variant), apply_variant(base, str(variant)), base)


def _name_override(message: str, source: str, overrides: Sequence[str]) -> str:
    """Point a spec error at the command-line override that caused it, when one did."""
    path = message[len(source) + 2:].split(":", 1)[0] if message.startswith(source) else ""
    for override in overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        if path and key in (f"world.{path}", f"world.{path.rsplit('.', 1)[0]}"):
            return f"{message}\n  (set on the command line by {override})"
    return message


def agent_kwargs(agent: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    data = dict(agent)
    return str(data.pop("id")), data


# ================================================================== the run directory
def check_run_dir(run_dir: Path, resume: bool, overwrite: bool, overrides: Sequence[str] = ()) -> None:
    """Refuse to clobber recorded work: a finished run needs ``overwrite=true``; an unfinished one
    ``resume=true`` (continue) or ``overwrite=true`` (start over). Touches nothing. The messages spell
    out the commands, with this invocation's ``overrides``."""
    def command(*drop: str) -> str:
        kept = [shlex.quote(override) for override in overrides
                if override.split("=", 1)[0].lstrip("+~") not in ("resume", "overwrite", "hydra.run.dir", *drop)]
        return " ".join(["openworld run", *kept])

    finished = (run_dir / SUMMARY).exists()
    started = (run_dir / "monitor.json").exists() or (run_dir / CHECKPOINT).exists()
    if resume:
        if overwrite:
            raise RunError("resume=true and overwrite=true contradict each other: pass one")
        if not (run_dir / CHECKPOINT).exists():
            raise RunError(f"{run_dir}: nothing to resume (no {CHECKPOINT}); start it without resume=true")
        return
    if finished and not overwrite:
        raise RunError(
            f"{run_dir} already holds a finished run ({SUMMARY}).\n"
            f"  To run it again, replacing it:  {command()} overwrite=true\n"
            f"  To keep it and run elsewhere:   {command()} hydra.run.dir=<another directory>\n"
            f"  To extend it to more steps:     {command('steps')} steps=<more> resume=true\n"
            f"  To look at it:                  {run_dir / REPORT / 'report.md'}")
    if started and not overwrite:
        raise RunError(
            f"{run_dir} already holds an unfinished run.\n"
            f"  To continue it from its last checkpoint:  {command()} resume=true\n"
            f"  To start it over:                         {command()} overwrite=true\n"
            f"  To keep it and run elsewhere:             {command()} hydra.run.dir=<another directory>")


def clear_run_dir(run_dir: Path) -> None:
    """Remove what a previous run wrote (``RUN_FILES``), nothing else."""
    for name in RUN_FILES:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def lifetime_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the config that determines the lifetime (what a resumption must not change)."""
    return {key: value for key, value in config.items() if key not in RESUME_FREE_KEYS}


def _differences(there: Any, here: Any, prefix: str = "") -> list[str]:
    if isinstance(there, dict) and isinstance(here, dict):
        out = []
        for key in sorted(set(there) | set(here), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in there or key not in here:
                out.append(f"{path} is {'missing' if key not in there else repr(there[key])} there, "
                           f"{'missing' if key not in here else repr(here[key])} here")
            else:
                out += _differences(there[key], here[key], path)
        return out
    return [] if there == here else [f"{prefix} is {there!r} there, {here!r} here"]


@dataclass
class Resumption:
    """A checked checkpoint, ready to continue from."""

    step: int
    payload: dict[str, Any]


def read_resumption(run_dir: Path, identity: Mapping[str, Any], config: Mapping[str, Any], steps: int) -> Resumption:
    """Read and check the run directory's checkpoint against this run, writing nothing.

    Raises:
        CheckpointError: corrupt, truncated, or from another run (naming what differs).
        RunError: nothing left to do, or recorded chunks the checkpoint needs are missing.
    """
    from openworld.runner.checkpoint import CheckpointError, load_checkpoint
    from openworld.scoring.monitor import STREAM_DIR, _chunk_files

    path = run_dir / CHECKPOINT
    header, payload = load_checkpoint(path, expect=identity)
    differing = _differences(header.get("config"), json.loads(json.dumps(lifetime_config(config))))
    if differing:
        raise CheckpointError(f"{path}: checkpoint belongs to a differently configured run: "
                              + "; ".join(differing[:5]) + (" ..." if len(differing) > 5 else "")
                              + " (only " + ", ".join(sorted(RESUME_FREE_KEYS)) + " may change on resume)")
    step = int(header["step"])
    if step >= steps:
        raise RunError(f"{run_dir}: the checkpoint is at step {step:,} and steps={steps:,}: nothing left to do "
                       "(pass a larger steps= to extend the run)")
    needed = int(payload["monitor"]["chunks"])
    missing = sorted(set(range(needed)) - set(_chunk_files(run_dir / STREAM_DIR)))
    if missing:
        raise RunError(f"{run_dir}: the checkpoint needs recorded chunks {missing[:5]} that are missing; "
                       "the run cannot be resumed (start over with overwrite=true)")
    return Resumption(step, payload)


# ================================================================== the run
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
    """
    from omegaconf import OmegaConf

    from openworld.registry import _WORLDS, agent_entry

    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise RunError(f"{', '.join(missing)}: must be given (??? in the config), e.g. {missing[0]}=<value>")
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    config: dict[str, Any] = {str(key): value for key, value in container.items()}
    steps, seed, num_envs = int(config["steps"]), int(config["seed"]), int(config["num_envs"])
    bodies = int(config.get("bodies", 1))
    if bodies > 1 and int(config["evaluation"]["every"]):
        raise RunError("evaluation on held-out variants drives single-body worlds; with bodies > 1 set "
                       "evaluation.every=0")
    for key, value in (("steps", steps), ("num_envs", num_envs), ("bodies", bodies)):
        if value < 1:
            raise RunError(f"{key} must be >= 1, got {value}")
    resume, overwrite = config["resume"], bool(config["overwrite"])
    if resume == "auto":  # continue an unfinished run, else start (e.g. a requeued cluster job)
        unfinished = not (run_dir / SUMMARY).exists()
        resume = unfinished and (run_dir / CHECKPOINT).exists()
        overwrite = overwrite or (unfinished and not resume)  # killed before its first checkpoint: start over
    if not isinstance(resume, bool):
        raise RunError(f"resume must be true, false or auto, got {resume!r}")
    if config["report"] not in ("plots", "tables", "off"):
        raise RunError(f"report must be plots, tables or off, got {config['report']!r}")
    mode = progress_mode(str(config["progress"]))
    world = world_spec_from_config(config["world"], overrides)
    world_id, variant = world.world_id, world.variant
    agent_name, kwargs = agent_kwargs(config["agent"])
    agent_id = agent_entry(agent_name).agent_id
    if config.get("prior") is not None:  # the agent loads its prior (DESIGN section 6)
        kwargs["prior"] = config["prior"]
    from openworld.runner.tracking import make_observers, run_tracked

    identity = {"world": world_id, "variant": variant, "agent": agent_id, "seed": seed, "num_envs": num_envs,
                "bodies": bodies}
    check_run_dir(run_dir, resume, overwrite, overrides)
    resumption = read_resumption(run_dir, identity, config, steps) if resume else None
    try:  # writes nothing yet
        observers = make_observers(run_dir, config["tracking"]["mongo_url"], str(config["tracking"]["mongo_db"]),
                                   mongo_client)
    except ImportError as err:
        raise RunError(str(err)) from err

    import torch  # after the checks above: a refusal comes before torch has loaded

    from openworld.agent.protocol import make_agent
    from openworld.envs.vector import OpenWorldVectorEnv

    previous_threads, previous_rngs = torch.get_num_threads(), _global_rngs()
    torch.set_num_threads(int(config["threads"]))
    try:
        if bodies > 1:  # one independent agent per body (openworld.envs.population)
            from openworld.envs.population import BodiesAsEnvs, IndependentAgents

            envs: Any = BodiesAsEnvs(num_envs, bodies, world=world.spec)
            agent: Any = IndependentAgents(agent_id, envs, bodies, seed, **kwargs)
        else:
            envs = OpenWorldVectorEnv(num_envs, world=world.spec, on_death=config["on_death"])
            agent = make_agent(agent_id, envs.single_observation_space, envs.single_action_space, num_envs, seed,
                               **kwargs)
        # From here on the run writes.
        run_dir.mkdir(parents=True, exist_ok=True)
        if overwrite:
            clear_run_dir(run_dir)
        if resumption is None:
            _save_hydra_files(run_dir, cfg, hydra_config, overrides)
        lifetime = Lifetime(config, run_dir, world, agent_id, envs, agent, identity, mode)

        result: dict[str, Any] = run_tracked(
            f"{world_id}/{agent_id}", _sacred_safe(config), observers, lambda run: lifetime.run(run, resumption),
            capture="no" if mode == "bar" else "sys", artifacts=[(_WORLDS[world_id].spec_path, "world.yaml")],
            sources=_sources(agent))
        return result
    finally:  # a library call leaves the process as it found it (a resumed run sets the global generators)
        torch.set_num_threads(previous_threads)
        _set_global_rngs(previous_rngs)


def _sources(agent: Any) -> list[str]:
    """The Python files that define this run's behaviour, for Sacred: the runner, the loop, the agent."""
    from openworld.agent import lifetime

    files = [__file__, str(lifetime.__file__)]
    agent_file = inspect.getsourcefile(type(agent))
    if agent_file:
        files.append(agent_file)
    return files


def _save_hydra_files(run_dir: Path, cfg: Any, hydra_config: Any, overrides: Sequence[str]) -> None:
    """What Hydra's ``output_subdir`` would hold, written only once the run is allowed to start (Hydra
    itself would rewrite it before a refused resume or overwrite)."""
    from omegaconf import OmegaConf

    folder = run_dir / ".hydra"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    if hydra_config is not None:
        (folder / "hydra.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create({"hydra": hydra_config})))
    (folder / "overrides.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(list(overrides))))


def _sacred_safe(value: Any) -> Any:
    """Sacred (and MongoDB) refuse config keys with dots: a shift's ``set`` keys (``resources.berry.regrow``)
    are written with slashes (``resources/berry/regrow``) in Sacred's copy; ``.hydra/config.yaml`` has the
    original."""
    if isinstance(value, dict):
        return {str(key).replace(".", "/"): _sacred_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_sacred_safe(item) for item in value]
    return value


# ================================================================== counters
@dataclass
class Counters:
    """Running sums over world time for the logged scalars and the progress display.

    ``body_steps`` counts world steps of every body (a world's clock jumps over a dead body's respawn
    delay, and those steps count as dead); ``alive`` and ``wellbeing`` sum over the recorded steps.
    The ``interval_*`` sums restart at each log line.
    """

    clock: list[int]
    alive: float = 0.0
    deaths: int = 0
    body_steps: int = 0
    interval_alive: float = 0.0
    interval_wellbeing: float = 0.0
    interval_deaths: int = 0
    interval_body_steps: int = 0

    def add(self, info: Mapping[str, Any], vitals: np.ndarray) -> None:
        alive = np.asarray(info["alive"], dtype=bool)
        clock = np.asarray(info["world_step"], dtype=np.int64)
        lived = int(np.sum(clock - np.asarray(self.clock, dtype=np.int64)))
        living = float(np.count_nonzero(alive))
        deaths = int(np.count_nonzero(info["events"]["death"]))
        wellbeing = float(np.sum(metrics.wellbeing(alive, vitals, np.ones(vitals.shape[1]))))
        self.clock = clock.tolist()
        self.alive += living
        self.deaths += deaths
        self.body_steps += lived
        self.interval_alive += living
        self.interval_wellbeing += wellbeing
        self.interval_deaths += deaths
        self.interval_body_steps += lived

    def interval(self) -> dict[str, float]:
        """The interval's means, then restart it."""
        steps = max(1, self.interval_body_steps)
        out = {"alive_fraction": self.interval_alive / steps, "wellbeing": self.interval_wellbeing / steps,
               "deaths_per_10k": self.interval_deaths * 10_000 / steps}
        self.interval_alive = self.interval_wellbeing = 0.0
        self.interval_deaths = self.interval_body_steps = 0
        return out

    @property
    def current_alive_fraction(self) -> float:
        if self.interval_body_steps:
            return self.interval_alive / self.interval_body_steps
        return self.alive / max(1, self.body_steps)


# ================================================================== the lifetime
@dataclass
class Lifetime:
    """One run's lifetime: the loop, its checkpoints, logs and evaluations."""

    config: dict[str, Any]
    run_dir: Path
    world: WorldChoice
    agent_id: str
    envs: Any
    agent: Any
    identity: dict[str, Any]
    progress_mode: str
    evaluations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        variant = f" ({self.world.variant})" if self.world.variant else ""
        return f"{self.world.world_id}{variant} / {self.agent_id} / seed {self.config['seed']}"

    def run(self, sacred_run: Any, resumption: Resumption | None) -> dict[str, Any]:
        from openworld.agent.lifetime import LifetimeState, live
        from openworld.scoring.monitor import Monitor, summarize
        from openworld.world.shifts import ShiftSchedule

        config, run_dir = self.config, self.run_dir
        steps, seed, num_envs = int(config["steps"]), int(config["seed"]), int(config["num_envs"])
        slots = int(self.envs.num_envs)  # bodies recorded: num_envs worlds x bodies per world
        monitor = Monitor(run_dir, ShiftSchedule(self.world.spec), slots, window=int(config["monitor"]["window"]),
                          chunk_rows=int(config["monitor"]["chunk_rows"]),
                          metadata={"world": self.world.world_id, "agent": self.agent_id, "seed": seed,
                                    "variant": self.world.variant},
                          resume=resumption is not None)
        state: LifetimeState | None = None
        if resumption is not None:
            payload = resumption.payload
            self.envs.set_state(payload["envs"])
            self.agent.load_state_dict(payload["agent"])
            monitor.load_state_dict(payload["monitor"])
            _set_global_rngs(payload["rngs"])
            state = LifetimeState.from_state_dict(payload["lifetime"])
            counters = Counters(**payload["counters"])
            self.evaluations = list(payload["evaluations"])
            sacred_run.info["resumed_from_step"] = state.step
            print(f"openworld run: resuming {self.label} at step {state.step:,} in {run_dir}", flush=True)
        else:
            counters = Counters(clock=[0] * slots)
            print(f"openworld run: {self.label}: {steps:,} steps in {num_envs} world{'s' if num_envs > 1 else ''} "
                  f"-> {run_dir}", flush=True)
        sacred_run.info["run_dir"] = str(run_dir.resolve())

        progress = Progress(steps, self.progress_mode, self.label,
                            start=state.step if state is not None else 0)
        checkpoint_every = int(config["checkpoint_every"]) or steps
        log_every = max(1, int(config["log_every"]))
        evaluate_every = int(config["evaluation"]["every"])

        def on_step(done: int, transition: Any) -> None:
            counters.add(transition.info, transition.next_obs["vitals"])
            if done % PROGRESS_EVERY == 0:
                progress.update(done, counters.current_alive_fraction)

        started = time.perf_counter()
        last_log_time, last_log_step = started, state.step if state is not None else 0
        try:
            while (done := state.step if state is not None else 0) < steps:
                boundary = min(steps, _next_multiple(done, checkpoint_every), _next_multiple(done, log_every))
                if evaluate_every:
                    boundary = min(boundary, _next_multiple(done, evaluate_every))
                result = live(self.envs, self.agent, boundary - done, seed=seed if state is None else None,
                              state=state, monitor=monitor, on_step=on_step)
                state = result.state
                done = state.step
                if done % log_every == 0 or done == steps:
                    now = time.perf_counter()
                    rate = (done - last_log_step) / max(now - last_log_time, 1e-9)  # world steps per second
                    last_log_time, last_log_step = now, done
                    interval = counters.interval()
                    self._log_scalars(sacred_run, done, interval, counters, rate)
                    progress.log(done, interval, rate, slots)
                if evaluate_every and done % evaluate_every == 0:
                    self._evaluate(sacred_run, done)
                if done % checkpoint_every == 0 or done == steps:
                    monitor.flush()  # the checkpoint then holds no buffered rows
                    payload = {"envs": self.envs.get_state(), "agent": self.agent.state_dict(),
                               "monitor": monitor.state_dict(), "rngs": _global_rngs(),
                               "lifetime": state.state_dict(), "counters": asdict(counters),
                               "evaluations": list(self.evaluations)}
                    from openworld.runner.checkpoint import save_checkpoint

                    save_checkpoint(run_dir / CHECKPOINT, payload,
                                    {**self.identity, "step": done, "config": lifetime_config(config)})
        finally:
            progress.close()
        monitor.close()
        self.envs.close()
        sacred_run.info["wall_seconds"] = time.perf_counter() - started
        metric_config = config["metrics"]
        extra: dict[str, Any] = {"evaluation": self.evaluations} if self.evaluations else {}  # zero-shot scores
        if int(config.get("bodies", 1)) > 1:  # "bodies" lists each body (slot = world * bodies + body)
            extra["bodies_per_world"] = int(config["bodies"])
        summary: dict[str, Any] = summarize(run_dir, window=int(metric_config["window"]),
                                            tolerance=float(metric_config["tolerance"]), world=self.world.world_id,
                                            agent=self.agent_id, seed=seed, variant=self.world.variant, **extra)
        report_dir = write_run_report(run_dir, plots=config["report"] == "plots") if config["report"] != "off" else None
        self._add_artifacts(sacred_run, report_dir)
        print(format_summary(summary, run_dir, report_dir), flush=True)
        return summary

    # ------------------------------------------------------------------ logging
    def _log_scalars(self, sacred_run: Any, step: int, interval: Mapping[str, float], counters: Counters,
                     steps_per_second: float) -> None:
        """cleanrl's namespaces: ``charts/...`` for the run, ``losses/...`` from the learner."""
        for name, value in interval.items():
            sacred_run.log_scalar(f"charts/{name}", value, step)
        sacred_run.log_scalar("charts/deaths", counters.deaths, step)
        sacred_run.log_scalar("charts/steps_per_second", steps_per_second, step)
        sacred_run.log_scalar("charts/body_steps_per_second", steps_per_second * int(self.envs.num_envs), step)
        for key, value in agent_metrics(self.agent).items():
            sacred_run.log_scalar(key, value, step)

    def _add_artifacts(self, sacred_run: Any, report_dir: Path | None) -> None:
        run_dir = self.run_dir
        # Renamed so that tools looking for run directories (summary.json, monitor.json) under a sweep
        # folder do not take Sacred's copies for runs of their own.
        sacred_run.add_artifact(str(run_dir / SUMMARY), f"run-{SUMMARY}")
        sacred_run.add_artifact(str(run_dir / "monitor.json"), "run-monitor.json")
        chunks = sorted((run_dir / "stream").glob("chunk-*.parquet"))
        total = sum(path.stat().st_size for path in chunks)
        if total <= ARTIFACT_BYTES:
            for path in chunks:
                sacred_run.add_artifact(str(path), f"stream-{path.name}")
        else:  # a long recording stays in the run directory only
            sacred_run.info["recording_not_attached"] = f"{total:,} bytes in {run_dir / 'stream'}"
        if report_dir is not None:
            for path in sorted(report_dir.iterdir()):
                if path.suffix in (".md", ".png", ".csv", ".json"):
                    sacred_run.add_artifact(str(path), f"{REPORT}-{path.name}")

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, sacred_run: Any, step: int) -> None:
        """Zero-shot evaluation on the held-out variants, in fresh worlds that never feed learning.

        The agent acts in separate world instances without ``observe``; its state (parameters,
        optimiser, generators, memory) is saved before and restored after, so evaluating never
        changes the lifetime.
        """
        held_out = held_out_variants(self.world.base, str(self.config["evaluation"]["split"]))
        if not held_out:
            return
        from openworld.agent.lifetime import LifetimeState, live
        from openworld.envs.vector import OpenWorldVectorEnv

        evaluation = self.config["evaluation"]
        num_envs, seed = int(self.config["num_envs"]), int(self.config["seed"])
        saved = self.agent.state_dict()
        frozen = _Frozen(self.agent)
        try:
            for name, (variant_spec, variant_seeds) in held_out.items():
                envs = OpenWorldVectorEnv(num_envs, world=variant_spec, on_death="respawn")
                counters = Counters(clock=[0] * num_envs)
                # The variant's own (unseen) maps; the run's seed picks which when it lists more than num_envs.
                seeds = [variant_seeds[(seed + i) % len(variant_seeds)] for i in range(num_envs)] \
                    if variant_seeds else [seed + 1_000_003 + i for i in range(num_envs)]
                try:
                    obs, _ = envs.reset(seed=seeds)
                    live(envs, frozen, int(evaluation["steps"]), state=LifetimeState(0, obs),
                         on_step=lambda _, t: counters.add(t.info, t.next_obs["vitals"]))  # noqa: B023 (called now)
                finally:
                    envs.close()
                scores = counters.interval()
                for metric in ("alive_fraction", "wellbeing"):
                    sacred_run.log_scalar(f"eval/{name}/{metric}", scores[metric], step)
                self.evaluations.append({"step": step, "variant": name, **scores})
        finally:
            self.agent.load_state_dict(saved)


class _Frozen:
    """An agent that acts but never learns (``observe`` does nothing)."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.agent.act(obs))

    def observe(self, transition: Any) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return dict(self.agent.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent.load_state_dict(state)


def held_out_variants(spec: Any, split: str) -> dict[str, tuple[Any, list[int]]]:
    """``{name: (spec, seeds)}`` of the world's variants in ``split`` (``openworld.variants``)."""
    if not getattr(spec, "variants", None):
        return {}
    from openworld.variants import world_variants

    return {variant.name: (variant.world_spec(), list(variant.seeds))
            for variant in world_variants(spec).split(split)}


def _next_multiple(done: int, every: int) -> int:
    return (done // every + 1) * every


def _global_rngs() -> dict[str, Any]:
    """The process-wide generators (openworld never draws from them, a user's agent might)."""
    import torch

    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _set_global_rngs(state: Mapping[str, Any]) -> None:
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


# ================================================================== output
def write_run_report(run_dir: Path, plots: bool = True) -> Path | None:
    """The run's ``report/`` (``openworld.scoring.report``), or None while that module is absent."""
    try:
        from openworld.scoring import report
    except ImportError:
        return None
    out = run_dir / REPORT
    build = getattr(report, "write_report", None) or getattr(report, "build_report", None)
    if build is None:
        return None
    build([run_dir], out, plots=plots)
    return out


def format_summary(summary: Mapping[str, Any], run_dir: Path, report_dir: Path | None) -> str:
    """The short table printed at the end of a run: survival, then each shift's drop and recovery."""
    survival = summary["survival"]
    bodies = int(summary.get("num_bodies", 1))
    lines = [f"{summary['world']} / {summary['agent']} / seed {summary['seed']}: {summary['steps']:,} world steps "
             f"x {bodies} bod{'ies' if bodies > 1 else 'y'}",
             f"  alive fraction {survival['alive_fraction']:.3f}   deaths per 10k {survival['deaths_per_10k']:.2f}   "
             f"mean lifetime {survival['mean_lifetime']:,.0f}   mean wellbeing {summary.get('mean_wellbeing', 0):.3f}"]
    if summary["shifts"]:
        lines.append(f"  {'t':>7}  {'shift':<24} {'baseline':>8} {'drop':>7} {'recovery':>10}")
        for shift in summary["shifts"]:
            recovery = f">={shift['observed_steps']:,}" if shift["censored"] else f"{shift['recovery_time']:,}"
            label = f"{shift['kind']}:{shift.get('name', '')}"
            lines.append(f"  {shift['t']:>7,}  {label:<24} {shift['baseline']:>8.3f} {shift['drop']:>+7.3f} "
                         f"{recovery:>10}")
    if summary.get("forgetting") is not None:
        lines.append(f"  forgetting {summary['forgetting']:+.3f}")
    lines.append(f"  run directory: {run_dir}")
    if report_dir is not None:
        lines.append(f"  report: {report_dir / 'report.md'}")
    return "\n".join(lines)


# ================================================================== progress
def progress_mode(mode: str) -> str:
    """``auto`` -> ``bar`` on a terminal, ``plain`` otherwise; ``bar``, ``plain`` and ``off`` as given."""
    if mode not in ("auto", "bar", "plain", "off"):
        raise RunError(f"progress must be auto, bar, plain or off, got {mode!r}")
    if mode == "auto":
        return "bar" if sys.stdout.isatty() else "plain"
    return mode


class Progress:
    """A rich progress bar (steps, steps per second, current survival) or plain periodic lines."""

    def __init__(self, total: int, mode: str, label: str, start: int = 0) -> None:
        self.total, self.label, self.mode = total, label, mode
        self.start_step, self.start_time = start, time.perf_counter()
        self.bar: Any = None
        if self.mode == "bar":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            # progress=bar draws the bar even where stdout is not a terminal (auto picks plain lines there).
            self.bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                    TextColumn("{task.fields[rate]} steps/s  alive {task.fields[alive]}"),
                                    TimeElapsedColumn(), TimeRemainingColumn(), console=Console(force_terminal=True))
            self.bar.start()
            self.task = self.bar.add_task(label, total=total, completed=start, rate="-", alive="-")

    def update(self, done: int, alive_fraction: float) -> None:
        if self.bar is not None:
            rate = (done - self.start_step) / max(time.perf_counter() - self.start_time, 1e-9)
            self.bar.update(self.task, completed=done, rate=f"{rate:,.0f}", alive=f"{alive_fraction:.3f}")

    def log(self, done: int, interval: Mapping[str, float], steps_per_second: float, num_envs: int) -> None:
        """One plain line: steps, world steps per second (and body steps: times the worlds), the interval's
        alive fraction and wellbeing."""
        if self.mode != "plain":
            return
        print(f"[{self.label}] step {done:,}/{self.total:,}  {steps_per_second:,.0f} steps/s "
              f"({steps_per_second * num_envs:,.0f} body steps/s)  alive {interval['alive_fraction']:.3f}  "
              f"wellbeing {interval['wellbeing']:.3f}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


# ================================================================== the Hydra app
def hydra_main(argv: Sequence[str]) -> int:
    """Run the Hydra app with these command-line arguments (``-m`` for a multirun); returns the exit code."""
    import hydra
    from hydra.core.hydra_config import HydraConfig

    from openworld.plugins import load_plugins

    load_plugins("openworld.worlds")  # registers the catalogues

    register_config_groups()
    failures: list[str] = []

    @hydra.main(config_path=CONFIG_PATH, config_name="config", version_base="1.3")
    def app(cfg: Any) -> None:
        hydra_config = HydraConfig.get()
        run_dir = Path(hydra_config.runtime.output_dir)
        overrides = list(hydra_config.overrides.task)
        try:
            run_experiment(cfg, run_dir, overrides, hydra_config=hydra_config)
        except Exception as err:
            message = user_error(err)
            if message is None:
                raise
            print(f"openworld run: error: {message}", file=sys.stderr, flush=True)
            failures.append(message)
            if hydra_config.mode is not None and hydra_config.mode.name == "MULTIRUN":
                raise RunError(message) from None  # a failed job fails the sweep (its exit code)

    saved_argv = sys.argv
    sys.argv = ["openworld run", *argv]
    try:
        app()
    except SystemExit as exit_:  # Hydra exits on its own errors (unknown choice, bad override)
        code = exit_.code if isinstance(exit_.code, int) else 1
        if code:
            hint = override_hint(argv)
            if hint:
                print(f"openworld run: {hint}", file=sys.stderr, flush=True)
        return code
    finally:
        sys.argv = saved_argv
    return 2 if failures else 0


def user_error(err: BaseException) -> str | None:
    """The message of an error the user can act on (printed without a traceback), else None."""
    from openworld.errors import SpecError, UnknownIdError
    from openworld.runner.checkpoint import CheckpointError

    if isinstance(err, (RunError, SpecError, UnknownIdError, CheckpointError)):
        return str(err)
    if isinstance(err, TypeError) and str(err).startswith("agent '"):  # make_agent: a bad agent config
        return str(err)
    return None


def override_hint(argv: Sequence[str]) -> str | None:
    """After Hydra refused a ``world.<key>=`` or ``agent.<key>=`` override: the nearest existing key of
    the chosen world or agent (``world=...`` on the command line, else the root config's default)."""
    from hydra.core.config_store import ConfigStore

    repository = ConfigStore.instance().repo
    choices = dict(_default_choices())
    for argument in argv:
        key, _, value = argument.partition("=")
        if key in ("world", "agent"):
            choices[key] = value
    for argument in argv:
        if "=" not in argument or argument.startswith(("+", "~", "-")):
            continue
        key = argument.split("=", 1)[0]
        group = key.split(".", 1)[0]
        if group not in ("world", "agent") or "." not in key:
            continue
        entry = repository.get(group, {}).get(f"{choices.get(group)}.yaml")
        if entry is None:
            continue
        node, path = entry.node, key.split(".")[1:]
        if _has_path(node, path):
            continue
        parent, known = _longest_prefix(node, path)
        close = difflib.get_close_matches(path[len(parent)], known, n=1)
        where = ".".join([group, *parent])
        suggestion = f"Did you mean {where}.{close[0]}? " if close else ""
        keys = f"Keys of {where} ({group}={choices.get(group)}): {', '.join(known)}." if known else \
            f"{where} ({group}={choices.get(group)}) has no keys yet."
        return f"{key}: no such key. {suggestion}{keys} A new key is added with +{argument} (docs/experiments.md)."
    return None


def _default_choices() -> dict[str, str]:
    """The root config's default ``world`` and ``agent``."""
    import yaml

    text = resources.files("openworld.experiments").joinpath("conf", "config.yaml").read_text()
    out = {}
    for item in yaml.safe_load(text).get("defaults", []):
        if isinstance(item, dict):
            out.update({str(k): str(v) for k, v in item.items()})
    return out


def _has_path(node: Any, path: Sequence[str]) -> bool:
    for part in path:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, Sequence) and not isinstance(node, str) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def _longest_prefix(node: Any, path: Sequence[str]) -> tuple[list[str], list[str]]:
    """The longest existing prefix of ``path`` in ``node``, and the keys found under it."""
    prefix: list[str] = []
    for part in path[:-1]:
        if isinstance(node, Mapping) and part in node and isinstance(node[part], Mapping):
            node, prefix = node[part], [*prefix, part]
        else:
            break
    return prefix, sorted(map(str, node)) if isinstance(node, Mapping) else []


def main(argv: Sequence[str] | None = None) -> int:
    return hydra_main(list(sys.argv[1:] if argv is None else argv))

