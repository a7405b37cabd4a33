"""Evidence that continual PPO learns: alive fraction over one lifetime on the stationary Meadow-v0.

For each seed, one agent lives ``--steps`` steps in each of ``--num-envs`` worlds of a vector env
(the worlds are generated from the seed; the agent is seeded with it too), learning online through
the plug-in protocol (``act`` / ``observe``). The random agent lives on the same seeds as the floor.

The score is the **alive fraction in world time**, per block of the lifetime: the fraction of world
steps during which the body was alive. Dead time counts: after a death the vector env fast-forwards
the world through the respawn delay in one step, and ``info["world_step"]`` jumps by that much, so
``alive fraction = sum(info["alive"]) / sum(increase of info["world_step"])`` over the block, pooled
over the seed's worlds. Seeds are the runs: the table gives the interquartile mean over seeds with a
95% stratified-bootstrap interval (``openworld.scoring.stats``), for the first and last block and the whole
lifetime, and the probability that a PPO seed beats a random seed in the last block.

Prints the table (markdown) and the throughput (agent-steps per second, env and learner together,
and the env alone with the random agent), writes ``learning_curve.png`` and ``results.json`` to
``--out``.

Usage::

    python benchmarks/ppo_learning.py                      # the README figures: ~7 minutes on 2 busy cores
    python benchmarks/ppo_learning.py --quick              # smoke run, a few seconds
    python benchmarks/ppo_learning.py --agent ppo-rnd      # the same for PPO with the RND bonus
    python benchmarks/ppo_learning.py --agent forager      # the scripted forager: the ceiling

Budget: 5 seeds x 16 worlds x 12,000 steps = 960,000 PPO agent-steps, run 2 seeds at a time
(``--workers 2``, one torch thread each). Measured on the 2-core development machine while other jobs
ran (load average 6-8): 7 minutes in all, 1,500 agent-steps per second per run (about 2,900 for the
two together); PPO's update is about 70% of that time, acting and the env the rest.
"""

from __future__ import annotations

import os

# One torch and BLAS thread: small networks gain nothing from more, and the development machine's two
# cores are shared. Must be set before numpy and torch load their thread pools.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import openworld  # noqa: E402, F401  (registers the worlds)
import openworld.agents.ppo  # noqa: E402, F401  (registers ppo-v0)
import openworld.agents.rnd  # noqa: E402, F401  (registers ppo-rnd-v0)
from openworld.agent.lifetime import LifetimeState, live  # noqa: E402
from openworld.agent.protocol import Transition, make_agent  # noqa: E402
from openworld.scoring import stats  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--world", default="Meadow-v0", help="registered world id (a stationary one)")
    parser.add_argument("--agent", default="ppo", help="the learning agent's registered id")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                        help="one run per seed: the worlds (seed + i for world i) and the agent")
    parser.add_argument("--num-envs", type=int, default=16, help="worlds per run (one vector env)")
    parser.add_argument("--steps", type=int, default=12_000, help="steps per world (agent-steps per run: x num-envs)")
    parser.add_argument("--blocks", type=int, default=8, help="the lifetime is scored in this many equal blocks")
    parser.add_argument("--config", type=json.loads, default={},
                        help="JSON object of agent keyword arguments, e.g. '{\"learning_rate\": 1e-3}'")
    parser.add_argument("--forager", action="store_true", help="also run the scripted forager (a ceiling)")
    parser.add_argument("--workers", type=int, default=2,
                        help="processes running seeds in parallel (each uses one torch thread)")
    parser.add_argument("--reps", type=int, default=stats.DEFAULT_REPS, help="bootstrap resamples per interval")
    parser.add_argument("--out", type=Path, default=Path("runs/ppo_learning"), help="folder for the PNG and JSON")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 seeds, 4 worlds, 256 steps, 2 blocks, 100 resamples")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.num_envs, args.steps, args.blocks, args.workers, args.reps = [0, 1], 4, 256, 2, 1, 100
        args.config = {"rollout_steps": 32, "num_epochs": 1, **args.config}
    if args.steps % args.blocks:
        parser.error(f"--steps ({args.steps}) must be a multiple of --blocks ({args.blocks})")
    return args


def lifetime(agent_id: str, world: str, seed: int, num_envs: int, steps: int, blocks: int,
             config: dict[str, Any]) -> tuple[np.ndarray, float]:
    """One lifetime (``openworld.agent.lifetime.live``): per-block alive fractions ``(blocks,)`` and wall seconds."""
    torch.set_num_threads(1)
    envs = gym.make_vec(f"openworld/{world}", num_envs=num_envs, vectorization_mode="vector_entry_point")
    agent = make_agent(agent_id, envs.single_observation_space, envs.single_action_space, num_envs,
                       seed=seed, **config)
    alive = np.zeros(blocks)
    world_steps = np.zeros(blocks)
    block_length = steps // blocks
    clock: list[np.ndarray] = []

    def record(lived: int, transition: Transition) -> None:
        info = transition.info
        block = (lived - 1) // block_length
        alive[block] += info["alive"].sum()
        world_steps[block] += (info["world_step"] - clock[0]).sum()  # jumps over the respawn delay
        clock[0] = info["world_step"].copy()

    obs, info = envs.reset(seed=seed * num_envs)  # worlds seed*n .. seed*n + n-1: disjoint across seeds
    clock.append(info["world_step"].copy())
    result = live(envs, agent, steps, state=LifetimeState(0, obs), on_step=record)
    envs.close()
    return alive / world_steps, result.seconds


def iqm_text(scores: np.ndarray, reps: int) -> str:
    point, low, high = stats.interquartile_mean_ci(scores, reps=reps)
    return f"{point:.3f} [{low:.3f}, {high:.3f}]"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    agents = [(args.agent, args.config), ("random", {})] + ([("forager", {})] if args.forager else [])
    curves: dict[str, np.ndarray] = {}
    throughput: dict[str, float] = {}
    total_start = time.perf_counter()
    pool = ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) \
        if args.workers > 1 else None
    for agent_id, config in agents:
        jobs = [(agent_id, args.world, seed, args.num_envs, args.steps, args.blocks, config) for seed in args.seeds]
        runs = [pool.submit(lifetime, *job) for job in jobs] if pool else None
        rows, seconds = [], 0.0
        for i, seed in enumerate(args.seeds):
            fractions, wall = runs[i].result() if runs else lifetime(*jobs[i])
            rows.append(fractions)
            seconds += wall
            print(f"# {agent_id} seed {seed}: alive fraction per block {np.round(fractions, 3).tolist()} "
                  f"({wall:.1f} s)", file=sys.stderr, flush=True)
        curves[agent_id] = np.array(rows)  # (seeds, blocks)
        throughput[agent_id] = len(args.seeds) * args.num_envs * args.steps / seconds
    if pool:
        pool.shutdown()
    total_seconds = time.perf_counter() - total_start

    learner = curves[args.agent]
    print(f"## {args.agent} on {args.world}: {len(args.seeds)} seeds x {args.num_envs} worlds x {args.steps} steps "
          f"({args.num_envs * args.steps:,} agent-steps per seed), {args.blocks} blocks\n")
    print("Alive fraction (world time), IQM over seeds [95% CI]:\n")
    print("| agent | first block | last block | whole lifetime |")
    print("| --- | --- | --- | --- |")
    for agent_id, curve in curves.items():
        print(f"| {agent_id} | {iqm_text(curve[:, 0], args.reps)} | {iqm_text(curve[:, -1], args.reps)} | "
              f"{iqm_text(curve.mean(1), args.reps)} |")
    point, low, high = stats.probability_of_improvement(learner[:, -1], curves["random"][:, -1], reps=args.reps)
    print(f"\nP({args.agent} > random), last block: {point:.2f} [{low:.2f}, {high:.2f}]")
    point, low, high = stats.probability_of_improvement(learner[:, -1], learner[:, 0], reps=args.reps)
    print(f"P(last block > first block) for {args.agent}: {point:.2f} [{low:.2f}, {high:.2f}]")
    print("\nThroughput (agent-steps per second of one run, env and agent together, one torch thread):")
    for agent_id, rate in throughput.items():
        print(f"  {agent_id}: {rate:,.0f}")
    print(f"\nTotal wall time: {total_seconds:.0f} s")

    results = {"world": args.world, "agent": args.agent, "config": args.config, "seeds": args.seeds,
               "num_envs": args.num_envs, "steps": args.steps, "blocks": args.blocks,
               "alive_fraction": {k: v.tolist() for k, v in curves.items()},
               "throughput": throughput, "seconds": total_seconds}
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    plot(curves, args, args.out / "learning_curve.png")
    print(f"Wrote {args.out / 'learning_curve.png'} and {args.out / 'results.json'}")
    return 0


def plot(curves: dict[str, np.ndarray], args: argparse.Namespace, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import trim_mean

    block_length = args.steps // args.blocks
    x = (np.arange(args.blocks) + 0.5) * block_length
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for (agent_id, curve), color in zip(curves.items(), ("tab:blue", "tab:gray", "tab:green"), strict=False):
        for row in curve:
            ax.plot(x, row, color=color, alpha=0.25, linewidth=0.8)
        ax.plot(x, trim_mean(curve, 0.25, axis=0), color=color, linewidth=2.2, marker="o", markersize=3,
                label=f"{agent_id} (IQM of {len(curve)} seeds)", linestyle="--" if agent_id == "random" else "-")
    ax.set_xlabel(f"steps per world (x {args.num_envs} worlds per run)")
    ax.set_ylabel("alive fraction (world time)")
    ax.set_title(f"Continual {args.agent} on {args.world}: one lifetime, learning online")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
