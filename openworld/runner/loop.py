"""The lifetime of one run: the loop around ``openworld.agent.lifetime.live`` that records, logs,
evaluates and checkpoints at step boundaries, then summarises.

A run lives ``steps`` world steps in ``num_envs`` worlds at once (one batched vector env), the agent
learning online, the monitor recording every body. There are no episodes: a death is a ``terminated``
for that body, which carries on in the same world after its respawn delay. Every ``checkpoint_every``
steps the loop writes an atomic checkpoint (the engine state with its generators, the agent with its
optimiser and generators, the global generators, the monitor's position and unflushed rows, the step
counter and the next observation); resuming from it produces the same recording and ``summary.json`` as
an uninterrupted run. At each step listed in ``snapshots`` the agent alone is saved
(``openworld.runner.snapshots``); the loop is cut there too, which changes nothing that is recorded.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openworld.agent.protocol import agent_metrics
from openworld.errors import brief
from openworld.runner.build import WorldChoice
from openworld.runner.config import RunConfig
from openworld.runner.counters import Counters
from openworld.runner.evaluation import Evaluator
from openworld.runner.progress import PROGRESS_EVERY, Progress
from openworld.runner.rng import global_rngs, set_global_rngs
from openworld.runner.rundir import CHECKPOINT, Resumption, lifetime_config
from openworld.runner.summary import format_summary, write_run_report
from openworld.runner.tracking import add_run_artifacts, log_scalars
from openworld.scoring.learner_log import append_learner_metrics, truncate_learner_log

if TYPE_CHECKING:
    from openworld.agent.lifetime import LifetimeState
    from openworld.scoring.monitor import Monitor


def variant_split(spec: Any, variant: str) -> str:
    """The split (``train``, ``heldout``, ``dev``) of one of the world's variants."""
    from openworld.variants import world_variants

    return world_variants(spec)[variant].split


def next_multiple(done: int, every: int) -> int:
    """The first multiple of ``every`` after ``done``."""
    return (done // every + 1) * every


@dataclass
class Lifetime:
    """One run's lifetime: the loop, its checkpoints, logs and evaluations."""

    config: RunConfig
    recorded_config: dict[str, Any]  # the composed config: a checkpoint's header holds its lifetime part
    run_dir: Path
    world: WorldChoice
    agent_id: str
    envs: Any
    agent: Any
    identity: dict[str, Any]  # what a checkpoint must match (world, variant, agent, seed, num_envs, bodies)
    progress_mode: str
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    evaluator: Evaluator | None = None  # built at the first evaluation; keeps the worlds' states at span starts

    @property
    def num_envs(self) -> int:
        """Worlds lived in at once (``num_envs: null`` is resolved to the agent's default before a run is built)."""
        assert self.config.num_envs is not None, "run_experiment resolves num_envs before building the lifetime"
        return self.config.num_envs

    @property
    def label(self) -> str:
        variant = f" ({self.world.variant})" if self.world.variant else ""
        return f"{self.world.world_id}{variant} / {self.agent_id} / seed {self.config.seed}"

    def run(self, sacred_run: Any, resumption: Resumption | None) -> dict[str, Any]:
        """Live (or continue) the lifetime as Sacred's ``sacred_run``; returns the run summary."""
        from openworld.agent.lifetime import live

        config, run_dir = self.config, self.run_dir
        steps = config.steps
        world_seeds = self.world.world_seeds(config.seed, self.num_envs)  # a variant's lifetime lives on its own maps
        slots = int(self.envs.num_envs)  # bodies recorded: num_envs worlds x bodies per world
        monitor = self._open_monitor(slots, resumed=resumption is not None)
        state: LifetimeState | None = None
        if resumption is not None:
            state, counters = self._restore(resumption, monitor)
            truncate_learner_log(run_dir, state.step)  # lines a killed run logged past its checkpoint
            sacred_run.info["resumed_from_step"] = state.step
            verb = "finishing" if state.step >= steps else "resuming"  # finishing: lived, not yet scored
            print(f"openworld run: {verb} {self.label} at step {state.step:,} in {run_dir}", flush=True)
        else:
            counters = Counters(clock=[0] * slots)
            print(f"openworld run: {self.label}: {steps:,} steps in {self.num_envs} "
                  f"world{'s' if self.num_envs > 1 else ''} -> {run_dir}", flush=True)
        sacred_run.info["run_dir"] = str(run_dir.resolve())
        sacred_run.info["experience"] = self.identity.get("experience", {})  # the prior and dataset it learnt from

        progress = Progress(steps, self.progress_mode, self.label, start=state.step if state is not None else 0)
        checkpoint_every = config.checkpoint_every or steps
        log_every = max(1, config.log_every)
        evaluate_every = config.evaluation.every

        def on_step(done: int, transition: Any) -> None:
            counters.add(transition.info, transition.next_obs["vitals"])
            if done % PROGRESS_EVERY == 0:
                progress.update(done, counters.current_alive_fraction)

        started = time.perf_counter()
        last_log_time, last_log_step = started, state.step if state is not None else 0
        upcoming_snapshots = self._upcoming_snapshots(state.step if state is not None else 0)
        try:
            while (done := state.step if state is not None else 0) < steps:
                boundary = min(steps, next_multiple(done, checkpoint_every), next_multiple(done, log_every))
                if evaluate_every:
                    boundary = min(boundary, next_multiple(done, evaluate_every))
                if upcoming_snapshots:
                    boundary = min(boundary, upcoming_snapshots[0])
                result = live(self.envs, self.agent, boundary - done, seed=world_seeds if state is None else None,
                              state=state, monitor=monitor, on_step=on_step)
                state = result.state
                done = state.step
                if upcoming_snapshots and done == upcoming_snapshots[0]:
                    self._save_snapshot(upcoming_snapshots.pop(0))
                if done % log_every == 0 or done == steps:
                    now = time.perf_counter()
                    rate = (done - last_log_step) / max(now - last_log_time, 1e-9)  # world steps per second
                    last_log_time, last_log_step = now, done
                    interval = counters.interval()
                    log_scalars(sacred_run, done, interval, counters.deaths, rate, slots, self.agent)
                    append_learner_metrics(run_dir, done, agent_metrics(self.agent))
                    progress.log(done, interval, rate, slots)
                if evaluate_every and done % evaluate_every == 0:
                    self._evaluate(sacred_run, done)
                if done % checkpoint_every == 0 or done == steps:
                    self._save_checkpoint(monitor, state, counters)
        finally:
            progress.close()
        monitor.close()
        self.envs.close()
        sacred_run.info["wall_seconds"] = time.perf_counter() - started
        return self._finish(sacred_run)

    def _open_monitor(self, slots: int, resumed: bool) -> Monitor:
        from openworld.scoring.monitor import Monitor

        # The envs' engine compiled this world's schedule already; the monitor labels rows with it.
        return Monitor(self.run_dir, self.envs.engine.schedule, slots, window=self.config.monitor.window,
                       chunk_rows=self.config.monitor.chunk_rows,
                       metadata={"world": self.world.world_id, "agent": self.agent_id, "seed": self.config.seed,
                                 "variant": self.world.variant},
                       resume=resumed)

    def _restore(self, resumption: Resumption, monitor: Monitor) -> tuple[LifetimeState, Counters]:
        """Put the envs, the agent, the monitor and the global generators back as the checkpoint holds them."""
        from openworld.agent.lifetime import LifetimeState

        payload = resumption.payload
        self.envs.set_state(payload["envs"])
        self.agent.load_state_dict(payload["agent"])
        monitor.load_state_dict(payload["monitor"])
        set_global_rngs(payload["rngs"])
        state = LifetimeState.from_state_dict(payload["lifetime"])
        self.evaluations = list(payload["evaluations"])
        return state, Counters(**payload["counters"])

    def _save_checkpoint(self, monitor: Monitor, state: LifetimeState, counters: Counters) -> None:
        from openworld.runner.checkpoint import save_checkpoint

        monitor.flush()  # the checkpoint then holds no buffered rows
        payload = {"envs": self.envs.get_state(), "agent": self.agent.state_dict(),
                   "monitor": monitor.state_dict(), "rngs": global_rngs(),
                   "lifetime": state.state_dict(), "counters": asdict(counters),
                   "evaluations": list(self.evaluations)}
        save_checkpoint(self.run_dir / CHECKPOINT, payload,
                        {**self.identity, "step": state.step, "config": lifetime_config(self.recorded_config)})

    def _upcoming_snapshots(self, start: int) -> list[int]:
        """The ``snapshots`` steps still to come after ``start``. A resumed run keeps the snapshots written
        before its checkpoint and does not write those it passed then; a missing one is reported."""
        from openworld.runner.snapshots import snapshot_path

        passed = [step for step in self.config.snapshots if step <= start]
        missing = [step for step in passed if not snapshot_path(self.run_dir, step).exists()]
        if missing:
            print(f"openworld run: snapshots at steps {brief(missing)} were passed before step {start:,} (the "
                  "checkpoint resumed from) and are not in snapshots/; they are not written", flush=True)
        return [step for step in self.config.snapshots if step > start]

    def _save_snapshot(self, step: int) -> None:
        """Save the agent as it is at world step ``step`` (``openworld.runner.snapshots``)."""
        from openworld.runner.snapshots import save_agent_snapshot

        agent_config = {key: value for key, value in self.recorded_config["agent"].items() if key != "id"}
        if self.recorded_config.get("prior") is not None:  # the agent was built with its prior (run_experiment)
            agent_config["prior"] = self.recorded_config["prior"]
        identity = {key: self.identity[key] for key in ("world", "variant", "agent", "seed", "num_envs", "bodies")}
        save_agent_snapshot(self.run_dir, step, self.agent, {**identity, "agent_config": agent_config})

    def _evaluate(self, sacred_run: Any, step: int) -> None:
        """Zero-shot scores on the training and held-out variants (``openworld.runner.evaluation``), logged
        and kept."""
        if self.evaluator is None:
            config = self.config
            self.evaluator = Evaluator(self.world.base, config.evaluation.split, before=config.evaluation.before,
                                       after=config.evaluation.after, num_envs=self.num_envs, seed=config.seed,
                                       window=config.metrics.window, tolerance=config.metrics.tolerance,
                                       names=config.evaluation.variants)
        if not self.evaluator.has_held_out:
            return
        for record in self.evaluator.evaluate(self.agent):
            for metric in ("alive_fraction", "mean_wellbeing"):
                sacred_run.log_scalar(f"eval/{record['variant']}/{metric}", record[metric], step)
            self.evaluations.append({"step": step, **record})

    def _finish(self, sacred_run: Any) -> dict[str, Any]:
        """Score the recording (``summary.json``), write the report, attach both to Sacred, print the table."""
        from openworld.scoring.monitor import summarize

        config, run_dir = self.config, self.run_dir
        if config.evaluation.every and not any(record["step"] == config.steps for record in self.evaluations):
            self._evaluate(sacred_run, config.steps)  # the agent as the lifetime leaves it (not checkpointed)
        extra: dict[str, Any] = {"evaluation": self.evaluations} if self.evaluations else {}  # zero-shot scores
        if self.evaluations:
            from openworld.scoring.generalization import generalization_section

            last = [record for record in self.evaluations if record["step"] == self.evaluations[-1]["step"]]
            generalization = generalization_section(last)
            if generalization is not None:
                extra["generalization"] = generalization
        if self.world.variant is not None:  # a continual lifetime in a variant: its split and maps, for the report
            extra["split"] = variant_split(self.world.base, self.world.variant)
            extra["world_seeds"] = self.world.world_seeds(config.seed, self.num_envs)
        plasticity = self.recorded_config["agent"].get("plasticity")
        if plasticity:  # the learner's plasticity options: the report groups its runs apart from the plain agent's
            from openworld.agent.plasticity.config import option_labels

            extra["plasticity"] = option_labels(plasticity)
        if config.label is not None:  # the arm's name, which the report groups by (openworld.scoring.runs)
            extra["label"] = config.label
        if config.bodies > 1:  # "bodies" lists each body (slot = world * bodies + body)
            extra["bodies_per_world"] = config.bodies
        # lifetime_steps: the loop's steps, which world clocks pass by the death waits (the printed table says so).
        summary: dict[str, Any] = summarize(run_dir, window=config.metrics.window, tolerance=config.metrics.tolerance,
                                            world=self.world.world_id, agent=self.agent_id, seed=config.seed,
                                            variant=self.world.variant, lifetime_steps=config.steps, **extra)
        report_dir = write_run_report(run_dir, plots=config.report == "plots") if config.report != "off" else None
        add_run_artifacts(sacred_run, run_dir, report_dir)
        print(format_summary(summary, run_dir, report_dir), flush=True)
        return summary
