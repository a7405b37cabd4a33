"""Which shift costs whom, and for how long? The catalogue audited with the shift scores of docs/metrics.md.

Lives the forager, the fixed forager (learning off) and PPO through every shifting world of the catalogue
(``openworld run world=<w> agent=<a> num_envs=16 seed=<s> steps=<n>``, each world long enough to see its last
shift's regime: see :data:`PLAN`), and through Blight's held-out early blight (``heldout_early``, where PPO's delayed
decline motivated these scores), then prints one Markdown table: per world, shift and agent, the wellbeing
baseline, drop, deficit, plateau, adaptation time and sustained return, the alive fraction's deficit and
sustained return, and the noise of the run's ``W``-step mean (docs/metrics.md: the bands of the times are at
least three times as wide).
With several seeds every cell is the IQM across seeds (``openworld.scoring.stats``) and a ``[low, high]`` 95%
interval; a censored time counts at its observed steps and is marked ``≥``.

Runs already in ``--runs`` are not run again: they are scored again with today's scores
(:func:`openworld.scoring.summary.rescore`), so the table always uses the current definitions.

Cost, measured on the 2-core development machine (2026-12-02), one seed: 21 runs in 80 minutes of wall time, two
or three at a time; PPO's seven runs are the slowest (71 minutes of their own wall time). Five seeds on 16 cores
(``--seeds 5 --jobs 16``, 105 runs): about half an hour, estimated from those speeds. The table of
``docs/scoring.md`` ("The catalogue, audited") is this script's output for seed 0.

Usage::

    python benchmarks/shift_audit.py --runs runs/audit                   # seed 0
    python benchmarks/shift_audit.py --runs runs/audit --seeds 3 --jobs 2
    python benchmarks/shift_audit.py --runs runs/audit --table-only      # the table of the runs there
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

AGENTS = ("forager", "fixed-forager", "ppo")
NUM_ENVS = 16
PLAN: tuple[tuple[str, str | None, int], ...] = (
    ("blight", None, 35_000),             # the blight at 20,000; 15,000 steps of it
    ("blight", "heldout_early", 15_000),  # the blight at 5,000 (held out): PPO's delayed decline
    ("predators", None, 80_000),          # the pack at 20,000; the hunt ramps over 40,000-60,000
    ("seasons", None, 40_000),            # summer and winter trade places every 10,000 steps
    ("drift", None, 60_000),              # mud at 20,000; remapped controls and noisy sight at 40,000
    ("drought", None, 80_000),            # the drought ramps over 20,000-60,000
    ("shiftlands", None, 29_000),         # every kind, a shift every 1,000-4,000 steps (the main job's world)
)
"""``(world, variant, steps)`` of every audited lifetime. MiniGridStream is left out: the foragers read the engine
worlds' views, not MiniGrid's."""


def run_directory(root: Path, world: str, variant: str | None, agent: str, seed: int) -> Path:
    return root / (world + (f"-{variant}" if variant else "")) / agent / f"seed{seed}"


def live(root: Path, world: str, variant: str | None, steps: int, agent: str, seed: int) -> Path:
    """One audited lifetime through ``openworld run`` (its own process), unless its summary exists already."""
    directory = run_directory(root, world, variant, agent, seed)
    if not (directory / "summary.json").is_file():
        overrides = [f"world={world}", f"agent={agent}", f"seed={seed}", f"steps={steps}", f"num_envs={NUM_ENVS}",
                     "report=off", "checkpoint_every=0", "progress=off", f"hydra.run.dir={directory}",
                     "overwrite=true", *([f"world.variant={variant}"] if variant else [])]
        subprocess.run([sys.executable, "-m", "openworld.tools.cli", "run", *overrides], check=True,
                       stdout=subprocess.DEVNULL)
    return directory


def audit_table(root: Path, seeds: int, reps: int = 2000) -> str:
    """The Markdown table of the audited runs under ``root`` (seeds ``0 .. seeds - 1``), scored again today."""
    from openworld.scoring import stats
    from openworld.scoring.summary import rescore

    def cell(values: list[float], censored: int, digits: int) -> str:
        if not values:
            return "—"
        if len(values) == 1:
            text = f"{values[0]:,.{digits}f}"
        else:
            point, low, high = stats.interquartile_mean_ci(values, reps=reps)
            text = f"{point:,.{digits}f} [{low:,.{digits}f}, {high:,.{digits}f}]"
        return ("≥ " if censored else "") + text

    def time_cell(shifts: list[dict[str, Any]], key: str, flag: str) -> str:
        defined = [s for s in shifts if s[key] is not None or s[flag]]
        values = [float(s["observed_steps"] if s[flag] else s[key]) for s in defined]
        return cell(values, sum(bool(s[flag]) for s in defined), 0)

    lines = ["| world | shift | t | agent | baseline | drop | deficit | plateau | adaptation time | sustained return "
             "| alive deficit | alive sustained return | noise |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for world, variant, _ in PLAN:
        summaries = {agent: [rescore(run_directory(root, world, variant, agent, seed)) for seed in range(seeds)]
                     for agent in AGENTS}
        first = summaries[AGENTS[0]][0]
        label = first["world"] + (f" ({variant})" if variant else "")
        onsets = [(s["t"], s["name"]) for s in first["shifts"] if s["t"] > first["start"]]
        for t, name in onsets:
            for agent in AGENTS:
                shifts = [s for run in summaries[agent] for s in run["shifts"] if (s["t"], s["name"]) == (t, name)
                          and s["observed"]]
                if not shifts:
                    lines.append(f"| {label} | {name} | {t:,} | {agent} | unobserved | | | | | | | | |")
                    continue

                def values(key: str, shifts: list[dict[str, Any]] = shifts) -> list[float]:
                    return [float(s[key]) for s in shifts if s[key] is not None]

                lines.append(
                    f"| {label} | {name} | {t:,} | {agent} | {cell(values('baseline'), 0, 3)} | "
                    f"{cell(values('drop'), 0, 3)} | {cell(values('deficit'), 0, 3)} | "
                    f"{cell(values('plateau'), 0, 3)} | "
                    f"{time_cell(shifts, 'adaptation_time', 'adaptation_censored')} | "
                    f"{time_cell(shifts, 'sustained_return', 'return_censored')} | "
                    f"{cell(values('alive_deficit'), 0, 3)} | "
                    f"{time_cell(shifts, 'alive_sustained_return', 'alive_return_censored')} | "
                    f"{cell(values('noise'), 0, 3)} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=Path, required=True, help="run directories: kept, and reused when present")
    parser.add_argument("--seeds", type=int, default=1, help="runs per world and agent (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once, each its own process (default: %(default)s)")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (default: %(default)s)")
    parser.add_argument("--table-only", action="store_true", help="print the table of the runs already there")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if not args.table_only:
        tasks = [(args.runs, world, variant, steps, agent, seed) for seed in range(args.seeds)
                 for agent in reversed(AGENTS) for world, variant, steps in PLAN]  # PPO, the slowest, first
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for future in [pool.submit(live, *task) for task in tasks]:
                future.result()
    table = audit_table(args.runs, args.seeds, args.reps)
    print(f"{len(AGENTS)} agents x {args.seeds} seed(s), {NUM_ENVS} worlds per run, W = "
          f"{json.loads(next(args.runs.rglob('summary.json')).read_text())['window']} steps; "
          "IQM across seeds [95% CI] when there are several; ≥: censored (counted at its observed steps).\n")
    print(table)
    print(f"\n({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
