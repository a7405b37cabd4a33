"""Evidence that every learning agent beats random actions on Meadow-v0: alive fraction, 5 seeds, a short budget.

The issue's test of the agents that bring experience: each one, given the experience it is built for, must keep
its bodies alive longer than random actions do, with disjoint 95% intervals over seeds. The script builds that
experience first, in a private store under ``--out`` (reused on a second run with the same settings):

1. a **dataset**: the scripted forager with ``--epsilon`` random actions (a low-quality "garbage heap" with
   rewards) on Meadow-v0, ``openworld collect``'s code path; and its reward-free copy (``strip_rewards``);
2. **priors** through ``openworld pretrain``'s code path with each kind's own config
   (``experiments/pretrain/prior/<kind>.yaml``): ``bc`` and ``skill-vae`` on that dataset, ``metra`` living
   ``--skill-steps`` steps in Meadow-v0 without reward.

Then every agent lives ``--steps`` steps in each of ``--num-envs`` worlds per seed, learning online (the same
lifetime and score as ``benchmarks/ppo_learning.py``: alive fraction in world time, dead time counted), with its
YAML defaults and the experience it takes: ``ppo-prior`` the bc prior, ``spirl`` the skill-vae prior, ``skills``
the metra skills, ``rlpd`` none and (``rlpd+data``) the dataset, ``explore`` the reward-free copy,
``offline-online`` the dataset. Every agent drives the same number of worlds, so budgets are equal in agent-steps.

The verdict is on the **last quarter** of the lifetime (what the agent has learned by the end of the budget): an
agent *beats random* when the lower end of its 95% interval (IQM over seeds, stratified bootstrap,
``openworld.scoring.stats``) lies above the upper end of random's. The whole lifetime, which also counts the
time spent learning, is printed beside it.

Usage::

    python benchmarks/agent_evidence.py                 # the docs' table: 5 seeds x 16 worlds x 12,000 steps
    python benchmarks/agent_evidence.py --agents ppo rlpd --seeds 0 1 2
    python benchmarks/agent_evidence.py --quick         # smoke run (the test), about a minute

Each lifetime's result is kept under ``--out/lifetimes`` with what determines it (agent, settings, experience,
the agent's resolved defaults and the hash of its classes' source files); a later run reuses what still matches,
so agents can be run a few at a time (``--agents``) and one table printed at the end. ``--fresh`` ignores them.
Writes ``results.json`` to ``--out``. Cost: see docs/agents.md (measured on the 2-core development machine).
"""

from __future__ import annotations

import os

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

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ppo_learning import lifetime  # noqa: E402  (the same lifetime and score as the PPO learning benchmark)
from pretrain import prior_config  # noqa: E402  (a kind's experiments/pretrain config)

WORLD = "Meadow-v0"
#: name in the table -> (registered agent, which piece of experience it takes: a keyword and the store's name).
AGENTS: dict[str, tuple[str, dict[str, str]]] = {
    "random": ("random", {}),
    "ppo": ("ppo", {}),
    "ppo-rnd": ("ppo-rnd", {}),
    "ppo-prior": ("ppo-prior", {"prior": "bc"}),
    "spirl": ("spirl", {"prior": "skill-vae"}),
    "skills": ("skills", {"prior": "metra"}),
    "skills+fine-tune": ("skills", {"prior": "metra"}),
    "rlpd": ("rlpd", {}),
    "rlpd+data": ("rlpd", {"dataset": "forager"}),
    "explore": ("explore", {"dataset": "forager-no-reward"}),
    "offline-online": ("offline-online", {"dataset": "forager"}),
}
#: Settings a row adds to the agent's defaults.
SETTINGS: dict[str, dict[str, Any]] = {"skills+fine-tune": {"fine_tune": True}}
#: Small settings for --quick: every agent acts and learns a little in a few hundred steps.
QUICK_CONFIG: dict[str, dict[str, Any]] = {
    "ppo": {"rollout_steps": 16, "num_epochs": 1},
    "ppo-rnd": {"rollout_steps": 16, "num_epochs": 1},
    "ppo-prior": {"rollout_steps": 16, "num_epochs": 1},
    "rlpd": {"learning_starts": 64, "batch_size": 16},
    "rlpd+data": {"learning_starts": 64, "batch_size": 16},
    "explore": {"learning_starts": 64, "batch_size": 16},
    "offline-online": {"learning_starts": 64, "batch_size": 16, "offline_steps": 10},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--agents", nargs="+", default=list(AGENTS), help=f"from {', '.join(AGENTS)}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="one lifetime per seed")
    parser.add_argument("--num-envs", type=int, default=16, help="worlds per lifetime, the same for every agent")
    parser.add_argument("--steps", type=int, default=12_000, help="steps per world")
    parser.add_argument("--blocks", type=int, default=4, help="the lifetime is scored in this many blocks")
    parser.add_argument("--dataset-steps", type=int, default=2000, help="forager steps per world of the dataset")
    parser.add_argument("--epsilon", type=float, default=0.3, help="the dataset forager's random-action share")
    parser.add_argument("--skill-steps", type=int, default=4000, help="world steps of metra's training (8 worlds)")
    parser.add_argument("--workers", type=int, default=2, help="lifetimes run in parallel (one torch thread each)")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples per interval")
    parser.add_argument("--out", type=Path, default=Path("runs/agent_evidence"), help="the store and results.json")
    parser.add_argument("--fresh", action="store_true", help="run every lifetime again (ignore kept results)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 seeds, 4 worlds, 96 steps, tiny training")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.agents) - set(AGENTS))
    if unknown:
        parser.error(f"unknown agents {unknown}; choose from {list(AGENTS)}")
    if args.quick:
        args.seeds, args.num_envs, args.steps, args.blocks, args.reps = [0, 1], 4, 96, 2, 100
        args.dataset_steps, args.skill_steps, args.workers = 64, 64, 1
    if "random" not in args.agents:
        args.agents.insert(0, "random")
    if args.steps % args.blocks:
        parser.error(f"--steps ({args.steps}) must be a multiple of --blocks ({args.blocks})")
    return args


def prepare_experience(args: argparse.Namespace, needed: set[str]) -> dict[str, str]:
    """Build (or reuse) the dataset and priors the chosen agents take; returns store name -> id or path."""
    from openworld.data.collect import CollectRequest, collect
    from openworld.data.datasets import strip_rewards
    from openworld.data.store import dataset_id, local_dataset_ids
    from openworld.prior.pretrain import PretrainRequest, pretrain
    from openworld.registry import world_entry
    from openworld.runner.build import world_spec_from_config
    from openworld.world.spec import to_dict

    world = world_spec_from_config({"id": WORLD, **to_dict(world_entry(WORLD).spec)})
    tag = f"q{int(args.quick)}-d{args.dataset_steps}-e{args.epsilon:g}-s{args.skill_steps}".replace(".", "p")
    made: dict[str, str] = {"forager": dataset_id("meadow", f"evidence-{tag}"),
                            "forager-no-reward": dataset_id("meadow", f"evidence-{tag}-no-reward")}
    stored = set(local_dataset_ids())
    if needed & {"forager", "forager-no-reward", "bc", "skill-vae"} and made["forager"] not in stored:
        started = time.perf_counter()
        collect(CollectRequest(world, "forager", {}, steps=args.dataset_steps, seed=0, num_envs=16,
                               segment_steps=min(500, args.dataset_steps), epsilon=args.epsilon,
                               dataset=f"evidence-{tag}"))
        print(f"# collected {made['forager']} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    if "forager-no-reward" in needed and made["forager-no-reward"] not in stored:
        strip_rewards(made["forager"], f"evidence-{tag}-no-reward")
    for kind in ("bc", "skill-vae", "metra"):
        if kind not in needed:
            continue
        path = args.out / "priors" / f"{kind}-{tag}.prior"
        made[kind] = str(path)
        if path.exists():
            continue
        config = prior_config(f"{kind}-v0")
        training = dict(config.get("training") or {})
        if args.quick and kind != "metra":
            training.update(max_updates=5, eval_every=5)
        if args.quick and kind == "metra":
            training.update(rollout_steps=16, num_epochs=1)
        request = PretrainRequest(prior=kind, model=dict(config.get("model") or {}), training=training,
                                  datasets=[made["forager"]] if kind != "metra" else [],
                                  world=world if kind == "metra" else None, steps=args.skill_steps, seed=0,
                                  out=str(path), plots=False)
        started = time.perf_counter()
        pretrain(request)
        print(f"# pretrained {kind} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    return made


def lifetime_key(agent_id: str, config: dict[str, Any], seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """What determines one lifetime's result: a kept result is reused only if its key is equal."""
    import hashlib
    import inspect

    from openworld.registry import agent_entry

    factory = agent_entry(f"{agent_id}-v0").factory
    defaults = {name: repr(p.default) for name, p in inspect.signature(factory).parameters.items()
                if p.default is not inspect.Parameter.empty}
    classes = inspect.getmro(factory) if inspect.isclass(factory) else (factory,)
    sources = {inspect.getsourcefile(c) or "" for c in classes if c.__module__.startswith("openworld")}
    if not inspect.isclass(factory):  # a function building an agent (ppo-rnd): the agent modules its module uses
        used = (getattr(value, "__module__", "") for value in vars(sys.modules[factory.__module__]).values())
        sources |= {sys.modules[name].__file__ or "" for name in used
                    if isinstance(name, str) and name.startswith("openworld.agents.")}
    sources = sorted(sources)
    code = hashlib.sha256(b"".join(Path(f).read_bytes() for f in sources if f)).hexdigest()
    return {"agent": agent_id, "config": {k: str(v) for k, v in sorted(config.items())}, "defaults": defaults,
            "code": code, "world": WORLD, "seed": seed, "num_envs": args.num_envs, "steps": args.steps,
            "blocks": args.blocks}


def kept_lifetime(path: Path, key: dict[str, Any]) -> tuple[np.ndarray, float] | None:
    """A kept result of the lifetime ``key`` describes, or None."""
    if not path.exists():
        return None
    kept = json.loads(path.read_text())
    if kept.get("key") != key:
        return None
    return np.array(kept["alive_fraction"]), float(kept["seconds"])


def interval(scores: np.ndarray, reps: int) -> tuple[float, float, float]:
    from openworld.scoring import stats

    point, low, high = stats.interquartile_mean_ci(scores, reps=reps)
    return float(point), float(low), float(high)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    # A private store, set before openworld reads it (the workers inherit the environment).
    os.environ["MINARI_DATASETS_PATH"] = str((args.out / "datasets").resolve())
    os.environ["OPENWORLD_PRIORS_PATH"] = str((args.out / "priors").resolve())
    import torch

    import openworld  # noqa: F401  (registers the worlds)
    from openworld.registry import agent_ids

    torch.set_num_threads(1)
    registered = set(agent_ids())
    chosen = [name for name in args.agents if f"{AGENTS[name][0]}-v0" in registered]
    for name in sorted(set(args.agents) - set(chosen)):
        print(f"# {name}: agent {AGENTS[name][0]} is not registered here; skipped", file=sys.stderr)
    started = time.perf_counter()
    made = prepare_experience(args, {store for name in chosen for store in AGENTS[name][1].values()})
    preparation = time.perf_counter() - started

    pool = ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) \
        if args.workers > 1 else None
    curves: dict[str, np.ndarray] = {}
    rates: dict[str, float] = {}
    for name in chosen:
        agent_id, takes = AGENTS[name]
        config: dict[str, Any] = {key: made[store] for key, store in takes.items()}
        config.update(SETTINGS.get(name, {}))
        if args.quick:
            config.update(QUICK_CONFIG.get(name, {}))
        keys = [lifetime_key(agent_id, config, seed, args) for seed in args.seeds]
        paths = [args.out / "lifetimes" / name / f"seed{seed}.json" for seed in args.seeds]
        kept = [None if args.fresh else kept_lifetime(path, key) for path, key in zip(paths, keys, strict=True)]
        jobs = [(agent_id, WORLD, seed, args.num_envs, args.steps, args.blocks, config) for seed in args.seeds]
        futures = [None if done else (pool.submit(lifetime, *job) if pool else None)
                   for done, job in zip(kept, jobs, strict=True)]
        rows, seconds = [], 0.0
        for i, seed in enumerate(args.seeds):
            outcome = kept[i] or (futures[i].result() if futures[i] else lifetime(*jobs[i]))  # type: ignore[union-attr]
            fractions, wall = outcome
            if kept[i] is None:
                paths[i].parent.mkdir(parents=True, exist_ok=True)
                paths[i].write_text(json.dumps({"key": keys[i], "alive_fraction": fractions.tolist(),
                                                "seconds": wall}, indent=1))
            rows.append(fractions)
            seconds += wall
            print(f"# {name} seed {seed}: alive fraction per block {np.round(fractions, 3).tolist()} ({wall:.0f} s"
                  f"{', kept' if kept[i] else ''})", file=sys.stderr, flush=True)
        curves[name] = np.array(rows)
        rates[name] = len(args.seeds) * args.num_envs * args.steps / seconds
    if pool:
        pool.shutdown()
    total = time.perf_counter() - started

    print(f"## Alive fraction on {WORLD}: {len(args.seeds)} seeds x {args.num_envs} worlds x {args.steps} steps "
          f"({args.num_envs * args.steps:,} agent-steps a lifetime)\n")
    print("IQM over seeds [95% CI]; the verdict compares the last quarter's intervals with random's.\n")
    print("| agent | experience | last quarter | whole lifetime | beats random | agent-steps/s |")
    print("| --- | --- | --- | --- | --- | --- |")
    last_quarter = {name: curve[:, -max(1, args.blocks // 4):].mean(1) for name, curve in curves.items()}
    floor = interval(last_quarter["random"], args.reps)
    results: dict[str, Any] = {}
    for name, curve in curves.items():
        last = interval(last_quarter[name], args.reps)
        whole = interval(curve.mean(1), args.reps)
        verdict = "-" if name == "random" else ("yes" if last[1] > floor[2] else "no")
        takes = ", ".join(f"{key}={store}" for key, store in AGENTS[name][1].items()) or "none"
        print(f"| {name} | {takes} | {last[0]:.3f} [{last[1]:.3f}, {last[2]:.3f}] | "
              f"{whole[0]:.3f} [{whole[1]:.3f}, {whole[2]:.3f}] | {verdict} | {rates[name]:,.0f} |")
        results[name] = {"agent": AGENTS[name][0], "experience": AGENTS[name][1], "alive_fraction": curve.tolist(),
                         "last_quarter": last, "whole": whole, "beats_random": verdict == "yes",
                         "agent_steps_per_s": rates[name]}
    print(f"\nPreparing the experience: {preparation:.0f} s; in all {total:.0f} s "
          f"({args.workers} lifetimes at a time, one torch thread each).")
    summary = {"world": WORLD, "seeds": args.seeds, "num_envs": args.num_envs, "steps": args.steps,
               "blocks": args.blocks, "experience": made, "agents": results, "seconds": total,
               "preparation_seconds": preparation}
    (args.out / "results.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
