"""Memory of the fast-forward over a long respawn wait: peak traced memory, side by side with what drawing the
whole wait at once allocated before (issue 13: ``body.respawn_delay: 100000`` cost 436 MB per death).

While every body of a world is dead, the engine skips ahead to the next respawn in one call
(``Engine.advance_worlds``); the predators still move, on uniforms drawn for each step. Drawing the whole wait's
uniforms at once took ``steps x 2 x worlds x predators x 8`` bytes; they are now drawn a block at a time
(``openworld.world.fast_forward.DRAW_BLOCK_SIZE``), the same stream in the same order.

    python benchmarks/fast_forward_memory.py            # 16 worlds: 100,000 steps x 4 and x 256 predators (~1 min)
    python benchmarks/fast_forward_memory.py --quick    # 2,000 steps

Prints one line per case: the reference (the whole-wait allocation, computed) and the measured peak.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from openworld.registry import load_world_spec
from openworld.world.engine import Engine
from openworld.world.parsing import to_dict
from openworld.world.spec import spec_from_dict

WORLDS = 16


def predators_world(slots: int) -> object:
    """Predators-v0 on a 64 x 64 map with ``slots`` predators, all active, no shifts."""
    data = to_dict(load_world_spec("Predators-v0"))
    data["body"]["respawn_delay"] = 100_000
    data["hazards"]["predator"]["max_count"] = data["hazards"]["predator"]["count"] = slots
    data["shifts"], data["variants"], data["map"]["size"] = [], {}, [64, 64]
    return spec_from_dict(data, source=f"predators-{slots}")


def measure(steps: int, slots: int) -> dict[str, float]:
    engine = Engine(predators_world(slots), num_worlds=WORLDS)  # type: ignore[arg-type]
    engine.reset(seeds=list(range(WORLDS)), rng_seed=0)
    engine.state.alive[:] = False  # every body dead and far from respawning: the wait is all fast-forward
    engine.state.respawn_at[:] = 10**9
    tracemalloc.start()
    start = time.perf_counter()
    engine.advance_worlds(np.arange(WORLDS), steps)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"peak_mib": peak / 2**20, "seconds": seconds,
            "whole_wait_mib": steps * 2 * WORLDS * slots * 8 / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 steps (a smoke run)")
    args = parser.parse_args()
    steps = 2_000 if args.quick else 100_000
    print(f"fast-forward of {steps:,} steps in {WORLDS} worlds, every body dead")
    print(f"{'predators':>9} | {'reference: whole wait drawn at once':>36} | {'measured peak (blocks)':>22} | time")
    for slots in (4, 256):
        result = measure(steps, slots)
        print(f"{slots:>9} | {result['whole_wait_mib']:>32,.1f} MiB | {result['peak_mib']:>18,.1f} MiB | "
              f"{result['seconds']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
