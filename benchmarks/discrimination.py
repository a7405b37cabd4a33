"""Does the scoring discriminate? Forager against random, and a policy that cannot adapt, on Shiftlands-v0.

Lives each agent (``random``, ``forager``, ``fixed-forager``) for ``--steps`` steps in
``Shiftlands-v0`` once per seed (``--seeds`` separate runs, each a vector env of ``--envs`` worlds
seeded ``seed, seed + 1, ...``, ``on_death="terminate"``), records every body with the monitor and
scores each run with :func:`openworld.scoring.monitor.summarize`. Then it aggregates across seeds (IQM and
95% stratified-bootstrap CI, :mod:`openworld.scoring.stats`), prints a Markdown table, and checks:

1. the forager's alive fraction is higher than random's, with non-overlapping 95% CIs;
2. the fixed forager (learning off: it keeps eating mushrooms after the blight makes them
   poisonous) shows a positive drop at the abrupt ``blight`` shift at t = 4,000: the whole CI of its
   drop lies above 0.

Exit status 0 when both hold, 1 otherwise.

Usage::

    python benchmarks/discrimination.py                          # 5 seeds x 4 worlds x 6,000 steps: ~100 s CPU
    python benchmarks/discrimination.py --seeds 10 --steps 8000 --jobs 4
    python benchmarks/discrimination.py --runs runs/discrimination --report report/discrimination
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

WORLD = "Shiftlands-v0"
AGENTS = ("random", "forager", "fixed-forager")
BLIGHT_T = 4000


def live_one(directory: Path, agent: str, seed: int, steps: int, envs: int, window: int) -> dict[str, Any]:
    """One run: ``agent`` lives ``steps`` steps in ``envs`` worlds of Shiftlands; returns its summary."""
    import gymnasium as gym

    import openworld  # noqa: F401  (registers the worlds)
    from openworld.agent.lifetime import live
    from openworld.agent.protocol import make_agent
    from openworld.scoring.monitor import Monitor, summarize
    from openworld.world.shifts import ShiftSchedule

    vector = gym.make_vec(f"openworld/{WORLD}", num_envs=envs, vectorization_mode="vector_entry_point")
    policy = make_agent(agent, vector.single_observation_space, vector.single_action_space, envs, seed=seed)
    schedule = ShiftSchedule(vector.unwrapped.world_spec)  # type: ignore[attr-defined]
    with Monitor(directory, schedule, envs, metadata={"world": WORLD, "agent": agent, "seed": seed}) as monitor:
        live(vector, policy, steps, seed=seed, monitor=monitor)
    vector.close()
    return summarize(directory, window=window)


def live_all(root: Path, seeds: int, steps: Mapping[str, int], envs: int, window: int,
             jobs: int) -> list[dict[str, Any]]:
    """Every agent once per seed (``steps[agent]`` steps), ``jobs`` runs at a time; summaries in
    (agent, seed) order. The longest runs are started first, so that the pool finishes together."""
    tasks = [(root / f"{agent}-seed{seed}", agent, seed, steps[agent], envs, window)
             for agent in AGENTS for seed in range(seeds)]
    tasks.sort(key=lambda task: -int(task[3]) * (1 if task[1] == "random" else 4))
    if jobs <= 1:
        summaries = [live_one(*task) for task in tasks]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(live_one, *task) for task in tasks]
            summaries = [future.result() for future in futures]
    return sorted(summaries, key=lambda s: (AGENTS.index(s["agent"]), s["seed"]))


def discrimination(summaries: Sequence[dict[str, Any]], steps: Mapping[str, int],
                   reps: int = 2000) -> tuple[str, dict[str, bool]]:
    """The Markdown table and the two checks (see the module docstring). An agent whose runs end
    before the blight's window gets no blight scores ("—"); the check on the fixed forager then fails."""
    from openworld.scoring import stats

    def ci(values: Sequence[float]) -> tuple[float, float, float]:
        return stats.interquartile_mean_ci(values, reps=reps)

    def fmt(value: tuple[float, float, float], digits: int = 3) -> str:
        return f"{value[0]:.{digits}f} [{value[1]:.{digits}f}, {value[2]:.{digits}f}]"

    rows: dict[str, dict[str, tuple[float, float, float]]] = {}
    censored: dict[str, int] = {}
    for agent in AGENTS:
        runs = [s for s in summaries if s["agent"] == agent]
        rows[agent] = {
            "alive": ci([s["survival"]["alive_fraction"] for s in runs]),
            "deaths": ci([s["survival"]["deaths_per_10k"] for s in runs]),
            "wellbeing": ci([s["mean_wellbeing"] for s in runs]),
        }
        blight = [x for s in runs for x in s["shifts"] if x["name"] == "blight" and x["observed_steps"] >= s["window"]]
        if len(blight) == len(runs):
            rows[agent]["drop"] = ci([b["drop"] for b in blight])
            rows[agent]["deficit"] = ci([b["deficit"] for b in blight])
            rows[agent]["return"] = ci([float(b["observed_steps"] if b["return_censored"] else b["sustained_return"])
                                        for b in blight])
            censored[agent] = sum(b["return_censored"] for b in blight)
    first = summaries[0]
    seeds = len([s for s in summaries if s["agent"] == first["agent"]])
    lines = [f"{WORLD}: {seeds} seeds per agent, each a run in {first['num_bodies']} world(s) (on_death=terminate); "
             f"IQM across seeds [95% CI]; shift scores with W = {first['window']} steps.", "",
             f"| agent | steps lived | alive fraction | deaths / 10k steps | mean wellbeing | drop at blight "
             f"(t={BLIGHT_T}) | deficit after it | sustained return |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for agent in AGENTS:
        r = rows[agent]
        drop = fmt(r["drop"]) if "drop" in r else "—"
        deficit = fmt(r["deficit"]) if "deficit" in r else "—"
        back = "—"
        if "return" in r:
            back = ("≥ " if censored[agent] else "") + fmt(r["return"], 0) + \
                (f" ({censored[agent]} censored)" if censored[agent] else "")
        lines.append(f"| {agent} | {steps[agent]:,} | {fmt(r['alive'])} | {fmt(r['deaths'], 1)} | "
                     f"{fmt(r['wellbeing'])} | {drop} | {deficit} | {back} |")
    fixed = rows["fixed-forager"]
    checks = {
        "forager alive fraction above random, CIs disjoint": rows["forager"]["alive"][1] > rows["random"]["alive"][2],
        f"fixed-forager drop at blight (t={BLIGHT_T}) > 0, whole CI": "drop" in fixed and fixed["drop"][1] > 0,
    }
    lines += [""] + [f"- [{'x' if ok else ' '}] {name}" for name, ok in checks.items()]
    return "\n".join(lines), checks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=5, help="runs per agent (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=6000, help="steps per run (default: %(default)s)")
    parser.add_argument("--envs", type=int, default=4, help="worlds per run (default: %(default)s)")
    parser.add_argument("--window", type=int, default=1000, help="W of the shift scores (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="runs at once, in processes (default: the CPU count, %(default)s)")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (default: %(default)s)")
    parser.add_argument("--runs", type=Path, default=None, help="keep the run directories here")
    parser.add_argument("--report", type=Path, default=None, help="also write `openworld report` output here")
    args = parser.parse_args(argv)
    if args.steps < BLIGHT_T + args.window:
        parser.error(f"--steps must be at least {BLIGHT_T + args.window} to score the blight at t={BLIGHT_T}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="discrimination_") as scratch:
        root = args.runs or Path(scratch)
        steps = dict.fromkeys(AGENTS, args.steps)
        summaries = live_all(root, args.seeds, steps, args.envs, args.window, args.jobs)
        table, checks = discrimination(summaries, steps, args.reps)
        if args.report is not None:
            from openworld.scoring.report import write_report

            write_report([root], args.report, reps=args.reps)
    print(table)
    print(f"\n({time.perf_counter() - start:.0f} s)")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
