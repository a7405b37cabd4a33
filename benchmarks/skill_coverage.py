"""Discovered skills compared: DIAYN (``diayn-v0``) against METRA (``metra-v0``) at the same budget on Meadow-v0.

For each seed and method, a skill library of ``--skills`` skills is trained online without reward for ``--steps``
world steps in ``--num-envs`` worlds (``fit_online`` with the pretrain configs' training settings, except
``skill_steps``), then measured by :func:`openworld.priors.skill_discovery.measure_skills`: each skill is held for
``skill_steps`` steps in every world from the same snapshot, and the body positions (from the engine state, never
observed by the agent) give ``coverage/cells`` (distinct (world, cell) pairs, all skills together),
``coverage/cells_per_skill`` and ``coverage/skill_distance`` (mean pairwise total-variation distance between the
skills' visit maps); ``val/discriminator_accuracy`` is the skill read off each state (DIAYN: ``argmax q(z | s')``;
METRA: the skill whose direction best matches ``phi(s') - phi(s_0)``) against the skill acting (chance: ``1 / K``).
The untrained library (the same networks, 0 steps: a near-uniform random policy) is measured as the floor.

Seeds are the runs: the table gives the interquartile mean over seeds with a 95% stratified-bootstrap interval
(``openworld.scoring.stats``). It prints; it asserts nothing.

Usage::

    python benchmarks/skill_coverage.py                     # 3 seeds x 8 worlds x 4,000 steps per method
    python benchmarks/skill_coverage.py --steps 25000       # the issue's budget (about 10x longer)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import yaml

import openworld  # noqa: F401  (registers the worlds)
from openworld.registry import prior_entry
from openworld.scoring import stats

FIGURES = ("coverage/cells", "coverage/cells_per_skill", "coverage/skill_distance", "val/discriminator_accuracy")
CONFIGS = Path(__file__).resolve().parent.parent / "experiments" / "pretrain" / "prior"


def run(kind: str, seed: int, args: argparse.Namespace, steps: int) -> dict[str, float]:
    config = yaml.safe_load((CONFIGS / f"{kind}.yaml").read_text())
    envs = gym.make_vec(f"openworld/{args.world}", num_envs=args.num_envs, vectorization_mode="vector_entry_point")
    model = {**config["model"], "num_skills": args.skills}
    prior = prior_entry(config["id"]).factory(envs.single_observation_space, envs.single_action_space, seed=seed,
                                              **model)
    started = time.perf_counter()
    result = prior.fit_online(envs, steps, seed, lambda *a: None,
                              {**config["training"], "skill_steps": args.skill_steps})
    seconds = time.perf_counter() - started
    row = {key: float(result.metrics[key]) for key in FIGURES}
    row["seconds"] = seconds
    row["env_steps_per_second"] = steps * args.num_envs / seconds if steps else float("nan")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="Meadow-v0")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4000, help="world steps of training per run")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--skills", type=int, default=8)
    parser.add_argument("--skill-steps", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows: dict[str, list[dict[str, float]]] = {}
    for label, kind, steps in (("untrained", "diayn", 0), ("diayn-v0", "diayn", args.steps),
                               ("metra-v0", "metra", args.steps)):
        rows[label] = []
        for seed in range(args.seeds):
            rows[label].append(run(kind, seed, args, steps))
            print(label, seed, {key: round(value, 3) for key, value in rows[label][-1].items()}, flush=True)
    print(f"\n{args.world}, {args.skills} skills, {args.num_envs} worlds x {args.steps} world steps, "
          f"skill_steps {args.skill_steps}, {args.seeds} seeds: IQM [95% CI]\n")
    columns = (*FIGURES, "seconds", "env_steps_per_second")
    print("| method | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for label, runs in rows.items():
        cells: list[str] = []
        for key in columns:
            values = np.array([r[key] for r in runs])
            if not np.isfinite(values).all():
                cells.append("-")
            elif len(values) >= 3:
                point, low, high = stats.interquartile_mean_ci(values)
                cells.append(f"{point:.3g} [{low:.3g}, {high:.3g}]")
            else:
                cells.append(f"{values.mean():.3g}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(f"\nchance accuracy 1/K = {1 / args.skills:.3f}")




if __name__ == "__main__":
    main()
