"""``openworld demo``: live a scripted agent through a shifting world and say what each shift did.

The demo runs ``num_envs`` copies of one world (different seeds) in one batched vector env with
``on_death="respawn"``, so every world step is recorded and death costs the respawn delay. For each
shift onset it prints the mean wellbeing before (the baseline) and after (over ``window`` steps), the drop,
the deficit over the whole regime, how long until wellbeing was back for good, and deaths around the shift. The shifts
are scored as a run's summary scores them: on the mean wellbeing over worlds at each step
(``docs/metrics.md``), so the demo and ``openworld run`` answer the same question.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from openworld.agent.lifetime import StepRecord, live
from openworld.agent.protocol import make_agent
from openworld.registry import resolve_world_id
from openworld.scoring import metrics
from openworld.world.shifts import ShiftSchedule, describe


@dataclass
class DemoResult:
    world: str
    agent: str
    steps: int
    alive: np.ndarray  # (T, n)
    wellbeing: np.ndarray  # (T, n)
    deaths: np.ndarray  # (T, n)
    shifts: list[metrics.ShiftScores]  # per shift, on the mean wellbeing over worlds
    seconds: float


def run_demo(world: str = "Shiftlands-v0", agent: str = "forager", steps: int = 17_500, num_envs: int = 4,
             seed: int = 0, window: int = 500) -> DemoResult:
    """Run the demo and return what was recorded (printing is left to :func:`format_demo`)."""
    world_id = resolve_world_id(world)
    envs = gym.make_vec(f"openworld/{world_id}", num_envs=num_envs, vectorization_mode="vector_entry_point",
                        on_death="respawn")
    policy = make_agent(agent, envs.single_observation_space, envs.single_action_space, num_envs, seed=seed)
    record = StepRecord(steps, num_envs)
    seconds = live(envs, policy, steps, seed=seed, on_step=record).seconds
    schedule = ShiftSchedule(envs.unwrapped.world_spec)  # type: ignore[attr-defined]
    # Step t of the stream is world time t + 1 (clocks stay aligned with on_death="respawn").
    events = schedule.events(1, steps)
    times, kinds = [e.t - 1 for e in events], [f"{e.kind}:{e.name}" for e in events]
    # Scored like a run's summary (openworld.scoring.summary): on the mean stream over worlds.
    shifts = metrics.shift_metrics(record.wellbeing.mean(axis=1), times, kinds, window=window)
    envs.close()
    return DemoResult(world_id, agent, steps, record.alive, record.wellbeing, record.deaths, shifts, seconds)


def format_demo(result: DemoResult, window: int = 500) -> str:
    from openworld.registry import load_world_spec

    spec = load_world_spec(result.world)
    n = result.alive.shape[1]
    lines = [f"openworld demo: {result.agent} lives {result.steps:,} steps in {n} worlds of {result.world} "
             f"({result.steps * n / result.seconds:,.0f} agent-steps/s with the agent)", "", "shift schedule:"]
    lines += [f"  {line}" for line in describe(spec)] or ["  (none)"]
    baseline_steps = metrics.BASELINE_WINDOWS * window
    lines += ["", f"what each shift did (mean wellbeing over {n} worlds: {baseline_steps:,} steps before, "
              f"{window} after; the deficit over the regime):",
              f"  {'step':>6}  {'shift':<26} {'before':>6} {'after':>6} {'drop':>6} {'deficit':>7} "
              f"{'back for good in':>16}  deaths -/+"]
    for s in result.shifts:
        t = s["t"]
        before = result.deaths[max(0, t - window):t].sum()
        after = result.deaths[t:t + window].sum()
        drop = s["drop"]
        if drop is None:  # fewer than `window` steps seen after the shift
            lines.append(f"  {t + 1:>6}  {s['kind']:<26} {s['baseline']:>6.2f} {'—':>6} {'—':>6} {'—':>7} "
                         f"{'unobserved':>16}  {before:>3} / {after:<3}")
            continue
        # Censored: not seen back for good by the next shift or the end, as `openworld run` prints it.
        back = f">={s['observed_steps']:,} steps" if s["return_censored"] else f"{s['sustained_return']:,} steps"
        lines.append(f"  {t + 1:>6}  {s['kind']:<26} {s['baseline']:>6.2f} {s['baseline'] - drop:>6.2f} "
                     f"{drop:>+6.2f} {s['deficit']:>7.3f} {back:>16}  {before:>3} / {after:<3}")
    survival = [metrics.survival(result.alive[:, i]) for i in range(n)]
    lines += ["", f"overall: alive fraction {np.mean([s['alive_fraction'] for s in survival]):.3f}, "
              f"deaths per 10k steps {np.mean([s['deaths_per_10k'] for s in survival]):.2f}, "
              f"mean wellbeing {result.wellbeing.mean():.3f}",
              "(wellbeing = alive * the lowest vital as a fraction of its maximum; see docs/metrics.md)"]
    return "\n".join(lines)
