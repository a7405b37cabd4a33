"""Agent throughput: every registered agent, environment and learner together, one process per core.

For each agent of ``openworld.registry.agent_ids()`` (so agents registered later appear by themselves), a fresh
subprocess pinned to one core with one torch thread builds the agent at its registered ``num_envs`` and the
defaults of ``agents/<name>.yaml``, lives in ``--world`` through the plug-in protocol (``act`` / ``observe``, as
``openworld.agent.lifetime.live`` drives it), warms up (past a replay agent's ``learning_starts``, through two of
PPO's rollouts), then times ``--seconds`` of steps. Printed as a markdown table and written as JSON (``--out``):

* ``agent_steps_per_s``: ``num_envs * steps / seconds`` of the timed part, and ``agent_steps_per_cpu_s`` the same
  per second of the process's CPU time (``time.process_time``): on a shared machine, where other jobs take turns on
  the core, the CPU figure is the one closer to a quiet core's wall-clock rate;
* ``ratio_to_ppo`` and ``quarter_of_ppo`` (the issue's floor: every agent at least 1/4 of ``ppo`` at its defaults);
* ``peak_rss_mib``: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of the agent's own process (the env, the agent
  and, for a replay agent, its buffer at its default capacity), and ``state_mib``: the tensors and arrays of
  ``agent.state_dict()`` (the buffer's full capacity even where pages were never written).

Agents that need a file get one made here, in a temporary store (``MINARI_DATASETS_PATH``,
``OPENWORLD_PRIORS_PATH``): a ``prior: ???`` is an **untrained** prior of the first kind the agent accepts (``bc``,
``skill-vae``, ``diayn``, ``metra``; each at its own default sizes, saved with ``save_prior``): throughput does not
depend on what a prior has learnt, only on its sizes. A ``dataset: ???`` is a small dataset the forager collects
(``openworld.data.collect``). An agent with another required key (``sb3``: a saved model ``path``) is skipped with
the reason printed.

``--wallclock``: learning against wall time. For ``ppo`` (and every agent named by ``--agents``), ``--seeds`` runs
(default 5) in ``--world``: the seconds of wall time until the alive fraction of a sliding window of ``--window``
steps (1,000) first exceeds ``--threshold`` (0.9). The alive fraction is in world time, as
``benchmarks/ppo_learning.py`` defines it (``sum(info["alive"]) / sum(increase of info["world_step"])``: dead time
counts), pooled over the run's worlds. Median over seeds (a seed that never gets there within ``--max-seconds``
counts as never). ``--baseline-config`` (a JSON object of ppo keywords, ``num_envs`` included) runs the same seeds
beside it, so before and after are one run; ``--workers`` runs go at once, each pinned to its own core.

Usage::

    python benchmarks/agent_throughput.py                         # every agent, ~15 s each
    python benchmarks/agent_throughput.py --quick                 # smoke run, a few seconds
    python benchmarks/agent_throughput.py --agents ppo rlpd --seconds 20
    python benchmarks/agent_throughput.py --wallclock --baseline-config \\
        '{"num_envs": 16, "num_epochs": 2, "num_minibatches": 8}'
"""

from __future__ import annotations

import os

# One thread per process: the figures are per core (as in benchmarks/throughput.py). Set before numpy and torch
# load their thread pools.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import deque  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import yaml  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
AGENTS_DIR = REPO_ROOT / "agents"
PRIOR_KINDS = ("bc", "skill-vae", "diayn", "metra")  # tried in order until the agent accepts one
SKILL_STEPS = 50  # a skill-discovery prior's default skill_steps (priors/skill_discovery.py), recorded in its file
REQUIRED = "???"


# ---------------------------------------------------------------------------------------------- agent configs
def yaml_config(agent_id: str) -> dict[str, Any] | None:
    """The keyword arguments of ``agents/<name>.yaml`` whose ``id`` is ``agent_id`` (None when it has none)."""
    for path in sorted(AGENTS_DIR.glob("*.yaml")):
        config = yaml.safe_load(path.read_text())
        if isinstance(config, dict) and config.get("id") == agent_id:
            config.pop("id")
            return dict(config)
    return None


def pin(cpu: int | None) -> list[int] | None:
    """Pin this process to one core (``cpu`` modulo the allowed ones, default the first); the new affinity."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    try:
        os.sched_setaffinity(0, {allowed[(cpu or 0) % len(allowed)]})
    except OSError:
        return allowed
    return sorted(os.sched_getaffinity(0))


def tensor_bytes(value: Any) -> int:
    """Bytes of the tensors and arrays inside a (nested) state dict."""
    import torch

    if isinstance(value, torch.Tensor):
        return int(value.numel() * value.element_size())
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(tensor_bytes(v) for v in value)
    return 0


# ---------------------------------------------------------------------------------------------- files for agents
def make_prior(kind: str, folder: Path, world: str) -> Path:
    """An untrained prior of ``kind`` at its default sizes, saved (throughput does not depend on training)."""
    import gymnasium as gym

    import openworld  # noqa: F401  (registers the worlds)
    from openworld.prior.format import save_prior
    from openworld.registry import prior_entry

    env = gym.make(f"openworld/{world}")
    prior = prior_entry(kind).factory(env.observation_space, env.action_space, seed=0)
    env.close()
    path = folder / f"{kind}.prior"
    training = {"skill_steps": SKILL_STEPS} if kind in ("diayn", "metra") else None
    save_prior(path, prior, seed=0, training=training)
    return path


def make_dataset(world: str, steps: int) -> str:
    """A small forager dataset in the current store (as ``openworld collect`` makes one); its id."""
    import openworld  # noqa: F401
    from openworld.data.collect import CollectRequest, collect
    from openworld.registry import world_entry
    from openworld.runner.build import world_spec_from_config
    from openworld.world.spec import to_dict

    spec = world_spec_from_config({"id": world, "variant": None, **to_dict(world_entry(world).spec)})
    result = collect(CollectRequest(world=spec, agent_id="forager", agent_config={}, steps=steps, seed=0,
                                    dataset="throughput", num_envs=4, segment_steps=max(steps // 2, 10),
                                    epsilon=0.0, learn=True))
    return str(result.dataset_ids[0])


def fill_required(agent_id: str, config: dict[str, Any], folder: Path, world: str,
                  dataset_steps: int) -> tuple[dict[str, Any], list[str], str | None]:
    """Replace the config's required (``???``) entries with files made here. Returns the config, notes on what was
    made, and a reason to skip the agent (a required key this script cannot make)."""
    import gymnasium as gym

    from openworld.agent.protocol import make_agent
    from openworld.errors import PriorError

    notes: list[str] = []
    required = [key for key, value in config.items() if value == REQUIRED]
    other = [key for key in required if key not in ("prior", "dataset")]
    if other:
        return config, notes, f"needs {', '.join(other)} (e.g. a saved model): nothing to make one from"
    config = dict(config)
    if "dataset" in required:
        config["dataset"] = make_dataset(world, dataset_steps)
        notes.append(f"dataset: {dataset_steps} forager steps x 4 worlds (made here)")
    if "prior" in required:
        envs = gym.make_vec(f"openworld/{world}", num_envs=1, vectorization_mode="vector_entry_point")
        refusals = []
        for kind in PRIOR_KINDS:
            path = make_prior(kind, folder, world)
            try:
                make_agent(agent_id, envs.single_observation_space, envs.single_action_space, 1, seed=0,
                           **{**config, "prior": str(path)})
            except PriorError as err:
                refusals.append(f"{kind}: {err}")
                continue
            config["prior"] = str(path)
            notes.append(f"prior: an untrained {kind} at its default sizes (made here; training does not change "
                         "throughput)")
            break
        envs.close()
        if config["prior"] == REQUIRED:
            return config, notes, "accepts none of the priors made here: " + "; ".join(refusals)
    return config, notes, None


def warmup_steps(config: dict[str, Any], num_envs: int, minimum: int) -> int:
    """Steps before timing: past a replay agent's ``learning_starts`` (valid transitions, all worlds together),
    through two of PPO's rollouts (or a skill controller's two updates)."""
    steps = minimum
    if isinstance(config.get("learning_starts"), int):
        steps = max(steps, math.ceil(config["learning_starts"] / num_envs) * 2)
    if isinstance(config.get("rollout_steps"), int):
        steps = max(steps, 2 * config["rollout_steps"] + 1)
    if isinstance(config.get("rollout_decisions"), int):
        steps = max(steps, 2 * config["rollout_decisions"] * int(config.get("skill_steps") or 10) + 1)
    return steps


# ---------------------------------------------------------------------------------------------- one agent (child)
def measure_agent(agent_id: str, world: str, seconds: float, min_warmup: int, dataset_steps: int,
                  overrides: dict[str, Any]) -> dict[str, Any]:
    """Run in a fresh, pinned process: build, warm up, time. Returns the agent's record."""
    import gymnasium as gym
    import torch

    import openworld  # noqa: F401
    from openworld.agent.protocol import Transition, make_agent
    from openworld.registry import agent_entry

    torch.set_num_threads(1)
    entry = agent_entry(agent_id)
    config = yaml_config(entry.agent_id)
    record: dict[str, Any] = {"agent": entry.agent_id, "world": world}
    if config is None:
        config = {}
        record["notes"] = ["no agents/<name>.yaml: the constructor's defaults"]
    config = {**config, **overrides}
    num_envs = int(config.pop("num_envs", entry.num_envs))
    folder = Path(tempfile.mkdtemp(prefix="agent-throughput-"))
    os.environ["MINARI_DATASETS_PATH"] = str(folder / "minari")
    os.environ["OPENWORLD_PRIORS_PATH"] = str(folder / "priors")
    config, notes, skip = fill_required(entry.agent_id, config, folder, world, dataset_steps)
    record["notes"] = record.get("notes", []) + notes
    record["num_envs"] = num_envs
    if skip is not None:
        record["skipped"] = skip
        return record

    envs = gym.make_vec(f"openworld/{world}", num_envs=num_envs, vectorization_mode="vector_entry_point")
    agent = make_agent(entry.agent_id, envs.single_observation_space, envs.single_action_space, num_envs, seed=0,
                       **config)
    obs, _ = envs.reset(seed=0)

    def step() -> None:
        nonlocal obs
        actions = agent.act(obs)
        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        agent.observe(Transition(obs, actions, rewards, next_obs, terminated, truncated, info))
        obs = next_obs

    warm = warmup_steps(config, num_envs, min_warmup)
    start = time.perf_counter()
    for _ in range(warm):
        step()
    record["warmup_steps"], record["warmup_seconds"] = warm, time.perf_counter() - start
    steps, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while True:  # whole steps until the budget is spent (the budget spans many updates)
        step()
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    cpu = time.process_time() - cpu_start
    record.update({"steps": steps, "seconds": elapsed, "agent_steps_per_s": num_envs * steps / elapsed,
                   "cpu_seconds": cpu, "agent_steps_per_cpu_s": num_envs * steps / cpu,
                   "updates": getattr(agent, "updates", None),
                   "state_mib": tensor_bytes(agent.state_dict()) / 2**20,
                   "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    envs.close()
    return record


# ---------------------------------------------------------------------------------------------- wall-clock learning
def time_to_threshold(agent_id: str, world: str, seed: int, config: dict[str, Any], window: int, threshold: float,
                      max_seconds: float) -> dict[str, Any]:
    """One lifetime until the sliding window's alive fraction first exceeds ``threshold`` (or ``max_seconds``)."""
    import gymnasium as gym
    import torch

    import openworld  # noqa: F401
    from openworld.agent.lifetime import LifetimeState, live
    from openworld.agent.protocol import Transition, make_agent
    from openworld.registry import agent_entry

    torch.set_num_threads(1)
    entry = agent_entry(agent_id)
    config = {**(yaml_config(entry.agent_id) or {}), **config}
    num_envs = int(config.pop("num_envs", entry.num_envs))
    envs = gym.make_vec(f"openworld/{world}", num_envs=num_envs, vectorization_mode="vector_entry_point")
    agent = make_agent(entry.agent_id, envs.single_observation_space, envs.single_action_space, num_envs,
                       seed=seed, **config)
    start = time.perf_counter()  # the lifetime's clock: building the worlds and the agent is a one-off
    obs, info = envs.reset(seed=seed * num_envs)  # disjoint worlds across seeds, as ppo_learning.py
    clock = info["world_step"].copy()
    alive: deque[float] = deque()
    world_time: deque[float] = deque()
    sums = [0.0, 0.0]
    reached: dict[str, Any] = {}
    best = [0.0]  # the highest full-window alive fraction seen (how close a run that never got there came)

    def record(lived: int, transition: Transition) -> bool:
        nonlocal clock
        info = transition.info
        a, w = float(info["alive"].sum()), float((info["world_step"] - clock).sum())  # w jumps over respawn delays
        clock = info["world_step"].copy()
        alive.append(a)
        world_time.append(w)
        sums[0] += a
        sums[1] += w
        if len(alive) > window:
            sums[0] -= alive.popleft()
            sums[1] -= world_time.popleft()
        elapsed = time.perf_counter() - start
        if len(alive) == window:
            best[0] = max(best[0], sums[0] / sums[1])
        if len(alive) == window and sums[0] / sums[1] > threshold:
            reached.update(seconds=elapsed, steps=lived, fraction=sums[0] / sums[1])
            return True
        return elapsed >= max_seconds

    result = live(envs, agent, 10**9, state=LifetimeState(0, obs), on_step=record)
    envs.close()
    return {"agent": entry.agent_id, "seed": seed, "num_envs": num_envs, "config": config,
            "reached": bool(reached), "seconds": reached.get("seconds"), "steps": result.steps,
            "agent_steps": result.steps * num_envs, "fraction": reached.get("fraction"),
            "best_fraction": best[0],
            "wall_seconds": time.perf_counter() - start}


# ---------------------------------------------------------------------------------------------- parent
def run_child(payload: dict[str, Any], cpu: int | None, no_pin: bool) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter (its own peak RSS, its own core)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(payload)]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    if no_pin:
        command.append("--no-pin")
    proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"agent": payload.get("agent"), "error": " | ".join(tail) or f"exit {proc.returncode}"}
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def child(payload: dict[str, Any], cpu: int | None, no_pin: bool) -> int:
    affinity = None if no_pin else pin(cpu)
    kind = payload.pop("kind")
    record = measure_agent(**payload) if kind == "throughput" else time_to_threshold(**payload)
    record["affinity"] = affinity
    print(json.dumps(record), flush=True)
    return 0


def throughput_table(records: list[dict[str, Any]]) -> list[str]:
    ppo = next((r for r in records if r.get("agent") == "ppo-v0" and "agent_steps_per_s" in r), None)
    rate = ppo["agent_steps_per_s"] if ppo else None
    lines = ["| agent | num_envs | agent-steps/s | per CPU second | ratio to ppo | >= 1/4 of ppo | peak RSS (MiB) | "
             "state (MiB) | notes |", "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |"]
    for r in records:
        if "agent_steps_per_s" not in r:
            reason = r.get("skipped") or f"error: {r.get('error')}"
            lines.append(f"| {r.get('agent')} | {r.get('num_envs', '')} | - | - | - | - | - | - | skipped: {reason} |")
            continue
        ratio = r["agent_steps_per_s"] / rate if rate else None
        r["ratio_to_ppo"] = ratio
        r["quarter_of_ppo"] = None if ratio is None else ratio >= 0.25
        notes = "; ".join(r.get("notes", []))
        lines.append(f"| {r['agent']} | {r['num_envs']} | {r['agent_steps_per_s']:,.0f} | "
                     f"{r['agent_steps_per_cpu_s']:,.0f} | "
                     f"{'-' if ratio is None else f'{ratio:.2f}'} | "
                     f"{'-' if ratio is None else ('yes' if ratio >= 0.25 else 'no')} | "
                     f"{r['peak_rss_mib']:.0f} | {r['state_mib']:.1f} | {notes} |")
    return lines


def median_seconds(runs: list[dict[str, Any]]) -> float:
    """Median of the seconds to the threshold over seeds; a seed that never got there counts as infinite."""
    return float(statistics.median([r["seconds"] if r.get("reached") else math.inf for r in runs]))


def wallclock(args: argparse.Namespace) -> dict[str, Any]:
    agents = list(dict.fromkeys(["ppo", *(args.agents or [])]))
    labels: list[tuple[str, str, dict[str, Any]]] = [(a, "defaults", dict(args.config)) for a in agents]
    if args.baseline_config is not None:
        labels.append(("ppo", "baseline", args.baseline_config))
    # seed-major: the configs of one seed run side by side, so a change in the machine's load hits both alike
    jobs = [(agent, label, config, seed) for seed in args.seeds for agent, label, config in labels]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1

    def submit(i: int) -> dict[str, Any]:
        agent, _, config, seed = jobs[i]
        payload = {"kind": "wallclock", "agent_id": agent, "world": args.world, "seed": seed, "config": config,
                   "window": args.window, "threshold": args.threshold, "max_seconds": args.max_seconds}
        result = run_child(payload, i % cores, args.no_pin)
        done = result.get("error") or (f"{result['seconds']:.1f} s" if result.get("reached") else "over budget")
        print(f"# {agent} {jobs[i][1]} seed {seed}: {done}", file=sys.stderr, flush=True)
        return result

    with ThreadPoolExecutor(args.workers) as pool:
        results = list(pool.map(submit, range(len(jobs))))
    summary: dict[str, Any] = {"window": args.window, "threshold": args.threshold, "max_seconds": args.max_seconds,
                               "world": args.world, "seeds": args.seeds, "workers": args.workers, "rows": []}
    print(f"\n## Wall-clock learning on {args.world}: seconds until a {args.window}-step window's alive fraction "
          f"(world time, pooled over the run's worlds) first exceeds {args.threshold}; {len(args.seeds)} seeds, "
          f"{args.workers} at once, one core each, at most {args.max_seconds:.0f} s\n")
    print("| agent | config | num_envs | median seconds | per seed (s; '-' not within the budget: (best window)) | "
          "agent-steps/s while learning |")
    print("| --- | --- | ---: | ---: | --- | ---: |")
    for agent, label, config in labels:
        runs = [r for (a, lab, _, _), r in zip(jobs, results, strict=True) if a == agent and lab == label]
        errors = [r["error"] for r in runs if "error" in r]
        if errors:
            print(f"| {agent} | {label} | - | - | error: {errors[0]} | - |")
            summary["rows"].append({"agent": agent, "label": label, "config": config, "errors": errors})
            continue
        median = median_seconds(runs)
        per_seed = ", ".join(f"{r['seconds']:.0f}" if r["reached"] else f"- ({r['best_fraction']:.3f})" for r in runs)
        rate = sum(r["agent_steps"] for r in runs) / sum(r["wall_seconds"] for r in runs)
        shown = label if not config else f"{label}: {json.dumps(config)}"
        print(f"| {agent} | {shown} | {runs[0]['num_envs']} | "
              f"{'never' if math.isinf(median) else f'{median:.0f}'} | {per_seed} | {rate:,.0f} |")
        summary["rows"].append({"agent": agent, "label": label, "config": config,
                                "median_seconds": None if math.isinf(median) else median, "runs": runs})
    return summary


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--world", default="Meadow-v0")
    p.add_argument("--agents", nargs="+", default=None,
                   help="agent ids (default: every registered one; with --wallclock: agents beside ppo)")
    p.add_argument("--seconds", type=float, default=None, help="timed seconds per agent (default 10)")
    p.add_argument("--config", type=json.loads, default={},
                   help="JSON keywords applied to every agent measured (num_envs included), e.g. a tuning trial")
    p.add_argument("--out", type=Path, default=Path("runs/agent_throughput.json"), help="JSON results")
    p.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the first allowed one)")
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to one core")
    p.add_argument("--quick", action="store_true", help="smoke run: ppo and random, a fraction of a second each")
    p.add_argument("--wallclock", action="store_true", help="time to a 0.9 alive fraction instead (see above)")
    p.add_argument("--baseline-config", type=json.loads, default=None,
                   help="with --wallclock: JSON ppo keywords run beside the defaults (e.g. the old defaults)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--window", type=int, default=1000, help="steps of the sliding window (--wallclock)")
    p.add_argument("--threshold", type=float, default=0.9, help="alive fraction to exceed (--wallclock)")
    p.add_argument("--max-seconds", type=float, default=300.0, help="wall budget of one run (--wallclock)")
    p.add_argument("--workers", type=int, default=None,
                   help="--wallclock runs at once (default: the allowed cores)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.seconds = 0.3 if args.seconds is None else args.seconds
        if not args.wallclock:
            args.agents = args.agents or ["ppo", "random"]
        args.min_warmup, args.dataset_steps = 2, 40
        if args.wallclock:
            args.seeds, args.window, args.max_seconds = args.seeds[:2], min(args.window, 20), min(args.max_seconds, 2)
    else:
        args.seconds = 10.0 if args.seconds is None else args.seconds
        args.min_warmup, args.dataset_steps = 100, 500
    if args.workers is None:
        args.workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        return child(json.loads(args.child), args.cpu, args.no_pin)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.wallclock:
        summary = wallclock(args)
        args.out.write_text(json.dumps({"wallclock": summary}, indent=2))
        print(f"\nWrote {args.out}")
        return 0

    import openworld  # noqa: F401
    from openworld.registry import agent_entry, agent_ids

    ids = [agent_entry(a).agent_id for a in args.agents] if args.agents else agent_ids()
    if "ppo-v0" not in ids:
        ids.insert(0, "ppo-v0")  # the reference every ratio is taken to
    records = []
    for agent_id in ids:
        payload = {"kind": "throughput", "agent_id": agent_id, "world": args.world, "seconds": args.seconds,
                   "min_warmup": args.min_warmup, "dataset_steps": args.dataset_steps, "overrides": args.config}
        record = run_child(payload, args.cpu, args.no_pin)
        print(f"# {agent_id}: {record.get('agent_steps_per_s', record.get('skipped') or record.get('error'))}",
              file=sys.stderr, flush=True)
        records.append(record)
    print(f"## Agent throughput on {args.world}: env + agent through act/observe, one process per agent, one core, "
          f"one torch thread, {args.seconds:g} s timed after the warm-up\n")
    print("\n".join(throughput_table(records)))
    args.out.write_text(json.dumps({"world": args.world, "seconds": args.seconds, "agents": records}, indent=2))
    print(f"\nWrote {args.out}")
    failed = [r for r in records if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
