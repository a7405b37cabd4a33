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


AGGREGATED = (("drop", 3), ("deficit", 3), ("plateau", 3), ("adaptation_time", 0), ("sustained_return", 0),
              ("alive_deficit", 3), ("alive_sustained_return", 0))
"""The table's shift scores aggregated by the report (:func:`openworld.scoring.report.aggregate`: censored times
counted at their observed steps, undefined ones left out), with their decimals."""


def audit_table(root: Path, seeds: int, reps: int = 2000) -> str:
    """The Markdown table of the audited runs under ``root`` (seeds ``0 .. seeds - 1``), scored again today."""
    from openworld.scoring import stats
    from openworld.scoring.report import aggregate
    from openworld.scoring.runs import load_groups, shift_scores
    from openworld.scoring.summary import rescore

    directories = [run_directory(root, world, variant, agent, seed)
                   for world, variant, _ in PLAN for agent in AGENTS for seed in range(seeds)]
    for directory in directories:
        rescore(directory)
    groups = load_groups(directories)
    group_of = {directory.resolve(): group for group in groups for directory in group.directories}
    rows = {(r["world"], r["variant"], r["agent"], r["metric"], r["shift_t"], r["shift_name"]): r
            for r in aggregate(groups, reps) if r["shift_t"] is not None}

    def text(point: float, low: float, high: float, n: int, digits: int) -> str:
        return f"{point:,.{digits}f}" if n == 1 else f"{point:,.{digits}f} [{low:,.{digits}f}, {high:,.{digits}f}]"

    def direct(values: list[float], digits: int) -> str:  # the two columns the report does not aggregate
        if len(values) == 1:
            return text(values[0], values[0], values[0], 1, digits)
        return text(*stats.interquartile_mean_ci(values, reps=reps), len(values), digits)

    def aggregated(row: dict[str, Any], digits: int) -> str:
        if row["n"] == 0:
            return "—"
        return ("≥ " if row["censored"] else "") + text(row["iqm"], row["ci_low"], row["ci_high"], row["n"], digits)

    lines = ["| world | shift | t | agent | baseline | drop | deficit | plateau | adaptation time | sustained return "
             "| alive deficit | alive sustained return | noise |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for world, variant, _ in PLAN:
        plan_groups = [group_of[run_directory(root, world, variant, agent, 0).resolve()] for agent in AGENTS]
        label = plan_groups[0].world + (f" ({variant})" if variant else "")
        for t, name, kind in shift_scores(plan_groups[0]):
            for agent, group in zip(AGENTS, plan_groups, strict=True):
                key = (group.world, group.variant, group.agent)
                if rows[(*key, "drop", t, name)]["n"] == 0:
                    lines.append(f"| {label} | {name} | {t:,} | {agent} | unobserved | | | | | | | | |")
                    continue
                observed = [s for s in shift_scores(group)[(t, name, kind)] if s["observed"]]
                cells = [direct([float(s["baseline"]) for s in observed], 3),
                         *(aggregated(rows[(*key, metric, t, name)], digits) for metric, digits in AGGREGATED),
                         direct([float(s["noise"]) for s in observed], 3)]
                lines.append(f"| {label} | {name} | {t:,} | {agent} | " + " | ".join(cells) + " |")
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
