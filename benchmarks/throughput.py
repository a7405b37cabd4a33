"""Throughput benchmark: openworld against MiniGrid, in steps per second on one CPU core.

Prints one JSON object per line (flushed as soon as it is measured):

* ``machine``: Python, numpy, gymnasium, minigrid and openworld versions, CPU count, processor, pinning;
* ``openworld/single``: one env from ``gymnasium.make("openworld/<World>")``, random actions,
  ``env.reset()`` whenever an episode ends;
* ``openworld/vector/B=<B>``: ``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")`` for
  each batch size; ``steps_per_s`` is agent-steps per second (``B * steps / seconds``); the vector env
  autoresets itself (NEXT_STEP), so the loop just keeps stepping;
* ``openworld/parallel/N=<N>``: ``openworld.make_parallel("openworld/<World>", num_agents=N)``, the
  PettingZoo ``ParallelEnv`` (one world, ``N`` bodies), random actions as a dict per step;
  ``steps_per_s`` is body-steps per second (``N * steps / seconds``); nothing ever terminates;
* ``minigrid/single``: ``MiniGrid-Empty-16x16-v0`` from ``gymnasium.make``, reset on terminated/truncated;
* ``minigrid/sync_vector/N=16``: ``gymnasium.vector.SyncVectorEnv`` of 16 such envs (agent-steps per second);
* ``ratio/...`` and ``target/...`` lines comparing the above.

Each measurement warms up, estimates the step rate, then times a *fixed* number of steps chosen to take
about ``--seconds`` of wall time. Actions are drawn before the timed loop from a seeded generator.

Usage::

    python benchmarks/throughput.py                      # full run, well under a minute
    python benchmarks/throughput.py --quick              # smoke run (a couple of seconds)
    python benchmarks/throughput.py --world Meadow-v0 --batch-sizes 64 4096 --seconds 3
    python benchmarks/throughput.py --world Commons-v0 --num-agents 4 8 32
"""

from __future__ import annotations

import os

# The targets are per CPU core, so the process must not borrow more cores through a threaded BLAS or
# OpenMP pool (numpy's ufuncs are single-threaded, but matmul-like calls would otherwise fan out).
# These variables are read once, when numpy loads its BLAS, so they must be set before numpy is imported
# (gymnasium and openworld import numpy too).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterable, Sequence  # noqa: E402
from typing import Any  # noqa: E402

import gymnasium as gym  # noqa: E402
import minigrid  # noqa: E402  (importing registers the MiniGrid ids)
import numpy as np  # noqa: E402

import openworld  # noqa: E402  (importing registers the openworld ids)

MINIGRID_ID = "MiniGrid-Empty-16x16-v0"
SYNC_ENVS = 16
DEFAULT_BATCH_SIZES = (1, 64, 1024, 4096)
QUICK_BATCH_SIZES = (1, 64)
DEFAULT_NUM_AGENTS = (8,)
TARGET_BATCH = 4096
# Targets from the project issue (one core): single env at least MiniGrid's speed (aim 2x),
# B = 4096 at least 1M agent-steps/s (aim 3M).
SINGLE_RATIO_MIN, SINGLE_RATIO_AIM = 1.0, 2.0
VECTOR_MIN, VECTOR_AIM = 1_000_000.0, 3_000_000.0
# Cap on pre-drawn action elements per measurement; longer runs cycle through the buffer.
MAX_ACTION_ELEMENTS = 4_000_000


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def pin_to_one_core(cpu: int | None) -> list[int] | None:
    """Pin this process to one core (``cpu``, or the first allowed one); return the new affinity."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    target = allowed[0] if cpu is None else cpu
    try:
        os.sched_setaffinity(0, {target})
    except OSError:
        return allowed
    return sorted(os.sched_getaffinity(0))


def cpu_model() -> str | None:
    """The CPU model name from /proc/cpuinfo (``platform.processor()`` is often empty on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_record(pinned: list[int] | None) -> dict[str, Any]:
    return {
        "name": "machine",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "numpy": np.__version__,
        "gymnasium": gym.__version__,
        "minigrid": getattr(minigrid, "__version__", "unknown"),
        "openworld": openworld.__version__,
        "cpu_count": os.cpu_count(),
        "processor": platform.processor(),
        "cpu_model": cpu_model(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "affinity": pinned,
        "threads_env": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
    }


def draw_actions(rng: np.random.Generator, n_actions: int, steps: int, batch: int | None) -> list[Any]:
    """Pre-draw actions: python ints for a single env, int64 arrays of shape (batch,) for a vector env."""
    per_step = 1 if batch is None else batch
    count = max(1, min(steps, MAX_ACTION_ELEMENTS // per_step))
    if batch is None:
        return rng.integers(0, n_actions, size=count).tolist()
    return list(rng.integers(0, n_actions, size=(count, batch), dtype=np.int64))


def measure(name: str, run: Callable[[Iterable[Any]], None], actions_for: Callable[[int], list[Any]],
            batch: int, seconds: float, warmup_steps: int, min_steps: int, extra: dict[str, Any]) -> dict[str, Any]:
    """Warm up, estimate the rate, then time a fixed number of steps sized to take about ``seconds``."""
    run(actions_for(warmup_steps))
    # Calibration: step in growing chunks for ~10% of the budget to estimate the rate.
    calib_budget = max(0.1 * seconds, 0.01)
    done, chunk, t0 = 0, max(1, warmup_steps), time.perf_counter()
    while True:
        run(actions_for(chunk))
        done += chunk
        elapsed = time.perf_counter() - t0
        if elapsed >= calib_budget:
            break
        chunk *= 2
    rate = done / elapsed
    steps = max(min_steps, math.ceil(rate * seconds))
    buffer = actions_for(steps)
    schedule = itertools.islice(itertools.cycle(buffer), steps)
    start = time.perf_counter()
    run(schedule)
    wall = time.perf_counter() - start
    record = {"name": name, "steps_per_s": batch * steps / wall, "batch": batch, "steps": steps,
              "agent_steps": batch * steps, "seconds": wall}
    record.update(extra)
    emit(record)
    return record


def single_runner(env: gym.Env[Any, Any]) -> Callable[[Iterable[Any]], None]:
    step, reset = env.step, env.reset

    def run(actions: Iterable[Any]) -> None:
        for a in actions:
            _, _, terminated, truncated, _ = step(a)
            if terminated or truncated:
                reset()

    return run


def vector_runner(envs: gym.vector.VectorEnv[Any, Any, Any]) -> Callable[[Iterable[Any]], None]:
    step = envs.step

    def run(actions: Iterable[Any]) -> None:
        for a in actions:
            step(a)  # NEXT_STEP autoreset: the env resets finished sub-envs itself

    return run


def bench_single(name: str, env_id: str, args: argparse.Namespace, extra: dict[str, Any]) -> dict[str, Any]:
    env = gym.make(env_id)
    env.reset(seed=args.seed)
    env.action_space.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    n = int(env.action_space.n)  # type: ignore[attr-defined]
    try:
        return measure(name, single_runner(env), lambda k: draw_actions(rng, n, k, None), 1, args.seconds,
                       args.warmup_single, args.min_steps, {"env_id": env_id, **extra})
    finally:
        env.close()


def parallel_runner(env: Any) -> Callable[[Iterable[Any]], None]:
    step = env.step

    def run(actions: Iterable[Any]) -> None:
        for a in actions:
            step(a)  # a body that dies respawns inside step; nothing terminates

    return run


def bench_parallel(name: str, num_agents: int, env_id: str, args: argparse.Namespace,
                   extra: dict[str, Any]) -> dict[str, Any]:
    """The PettingZoo ParallelEnv: one world, ``num_agents`` bodies; body-steps per second."""
    t0 = time.perf_counter()
    env = openworld.make_parallel(env_id, num_agents=num_agents)
    build = time.perf_counter() - t0
    env.reset(seed=args.seed)
    rng = np.random.default_rng(args.seed)
    n = int(env.action_space(env.possible_agents[0]).n)
    agents = env.possible_agents

    def actions_for(k: int) -> list[dict[str, int]]:  # dicts built before the timed loop
        return [dict(zip(agents, row.tolist(), strict=True)) for row in draw_actions(rng, n, k, num_agents)]

    try:
        return measure(name, parallel_runner(env), actions_for, num_agents, args.seconds, args.warmup_single,
                       max(2, args.min_steps // num_agents),
                       {"env_id": env_id, "num_agents": num_agents, "construct_seconds": build, **extra})
    finally:
        env.close()


def bench_vector(name: str, envs: gym.vector.VectorEnv[Any, Any, Any], env_id: str, args: argparse.Namespace,
                 extra: dict[str, Any]) -> dict[str, Any]:
    envs.reset(seed=args.seed)
    rng = np.random.default_rng(args.seed)
    B = envs.num_envs
    n = int(envs.single_action_space.n)  # type: ignore[attr-defined]
    try:
        return measure(name, vector_runner(envs), lambda k: draw_actions(rng, n, k, B), B, args.seconds,
                       args.warmup_vector, max(2, args.min_steps // B), {"env_id": env_id, **extra})
    finally:
        envs.close()


def ratio(name: str, numerator: dict[str, Any], denominator: dict[str, Any]) -> float:
    value = numerator["steps_per_s"] / denominator["steps_per_s"]
    emit({"name": name, "value": value, "numerator": numerator["name"], "denominator": denominator["name"]})
    return value


def target(name: str, value: float, minimum: float, aim: float, **extra: Any) -> None:
    emit({"name": name, "value": value, "min": minimum, "aim": aim, "met": value >= minimum,
          "aim_met": value >= aim, **extra})


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--world", default="Shiftlands-v0", help="openworld world id (default Shiftlands-v0)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=None,
                   help=f"vector batch sizes (default {' '.join(map(str, DEFAULT_BATCH_SIZES))})")
    p.add_argument("--num-agents", type=int, nargs="+", default=None,
                   help=f"bodies in the one world of the PettingZoo ParallelEnv measurement "
                        f"(default {' '.join(map(str, DEFAULT_NUM_AGENTS))})")
    p.add_argument("--seconds", type=float, default=None, help="timed seconds per measurement (default 2.5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the first allowed one)")
    p.add_argument("--no-pin", action="store_true", help="do not pin the process to one core")
    p.add_argument("--quick", action="store_true", help="tiny smoke run: few steps, small batches")
    args = p.parse_args(argv)
    if args.quick:
        args.seconds = 0.05 if args.seconds is None else args.seconds
        args.batch_sizes = list(QUICK_BATCH_SIZES) if args.batch_sizes is None else args.batch_sizes
        args.warmup_single, args.warmup_vector, args.min_steps = 5, 1, 10
    else:
        args.seconds = 2.5 if args.seconds is None else args.seconds
        args.batch_sizes = list(DEFAULT_BATCH_SIZES) if args.batch_sizes is None else args.batch_sizes
        args.warmup_single, args.warmup_vector, args.min_steps = 200, 3, 1000
    args.num_agents = list(DEFAULT_NUM_AGENTS) if args.num_agents is None else args.num_agents
    if any(b < 1 for b in args.batch_sizes):
        p.error("batch sizes must be positive")
    if any(n < 1 for n in args.num_agents):
        p.error("--num-agents values must be positive")
    return args


def guarded(name: str, fn: Callable[[], dict[str, Any]], errors: list[str]) -> dict[str, Any] | None:
    """Run one measurement; on failure print an error line and carry on with the others."""
    try:
        return fn()
    except Exception as exc:  # any failure is reported; it must not hide the other figures
        errors.append(name)
        emit({"name": name, "error": f"{type(exc).__name__}: {exc}"})
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run every measurement; return 1 if any of them failed (its line then has an ``error`` key)."""
    args = parse_args(argv)
    pinned = None if args.no_pin else pin_to_one_core(args.cpu)

    emit(machine_record(pinned))
    ow_id = f"openworld/{args.world}"
    errors: list[str] = []

    ow_single = guarded("openworld/single",
                        lambda: bench_single("openworld/single", ow_id, args, {"world": args.world}), errors)

    def vector(B: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        envs = gym.make_vec(ow_id, num_envs=B, vectorization_mode="vector_entry_point")
        build = time.perf_counter() - t0
        return bench_vector(f"openworld/vector/B={B}", envs, ow_id, args,
                            {"world": args.world, "construct_seconds": build})

    ow_vector: dict[int, dict[str, Any]] = {}
    for B in args.batch_sizes:
        record = guarded(f"openworld/vector/B={B}", lambda B=B: vector(B), errors)
        if record is not None:
            ow_vector[B] = record

    ow_parallel: dict[int, dict[str, Any]] = {}
    for N in args.num_agents:
        record = guarded(f"openworld/parallel/N={N}",
                         lambda N=N: bench_parallel(f"openworld/parallel/N={N}", N, ow_id, args, {"world": args.world}),
                         errors)
        if record is not None:
            ow_parallel[N] = record

    mg_single = guarded("minigrid/single", lambda: bench_single("minigrid/single", MINIGRID_ID, args, {}), errors)

    def sync_vector() -> dict[str, Any]:
        sync = gym.vector.SyncVectorEnv([lambda: gym.make(MINIGRID_ID) for _ in range(SYNC_ENVS)])
        return bench_vector(f"minigrid/sync_vector/N={SYNC_ENVS}", sync, MINIGRID_ID, args, {})

    mg_sync = guarded(f"minigrid/sync_vector/N={SYNC_ENVS}", sync_vector, errors)

    if ow_single is not None and mg_single is not None:
        single_ratio = ratio("ratio/openworld_single_vs_minigrid_single", ow_single, mg_single)
        target("target/openworld_single_vs_minigrid_single", single_ratio, SINGLE_RATIO_MIN, SINGLE_RATIO_AIM)
    if ow_single is not None:
        for N, record in ow_parallel.items():
            ratio(f"ratio/openworld_parallel_N{N}_vs_openworld_single", record, ow_single)
    if ow_vector:
        big = TARGET_BATCH if TARGET_BATCH in ow_vector else max(ow_vector)
        if mg_sync is not None:
            ratio(f"ratio/openworld_vector_B{big}_vs_minigrid_sync_vector_N{SYNC_ENVS}", ow_vector[big], mg_sync)
        target(f"target/openworld_vector_B{big}_agent_steps_per_s", ow_vector[big]["steps_per_s"],
               VECTOR_MIN, VECTOR_AIM, batch=big, target_batch=TARGET_BATCH)
    if errors:
        print(f"throughput: {len(errors)} measurement(s) failed: {', '.join(errors)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
