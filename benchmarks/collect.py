"""Collecting costs: steps/s of `openworld collect` beside stepping the same vector env with the same agent
without recording, and bytes on disk per million stored steps.

    python benchmarks/collect.py            # forager, Meadow, 64 worlds x 2000 steps
    python benchmarks/collect.py --quick    # 16 worlds x 500 steps
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--agent", default="forager")
    args = parser.parse_args()
    worlds, steps = (16, 500) if args.quick else (64, 2000)
    os.environ["MINARI_DATASETS_PATH"] = tempfile.mkdtemp(prefix="openworld-collect-bench-")

    import openworld  # noqa: F401
    from openworld.agent.lifetime import live
    from openworld.data.collect import CollectRequest, collect
    from openworld.data.store import dataset_path
    from openworld.registry import world_entry
    from openworld.runner.build import build_envs_and_agent, world_spec_from_config
    from openworld.world.spec import to_dict

    world = world_spec_from_config({"id": "Meadow-v0", **to_dict(world_entry("Meadow-v0").spec)})
    envs, agent = build_envs_and_agent(world, args.agent, {}, num_envs=worlds, bodies=1, seed=0, on_death="terminate")
    started = time.perf_counter()
    live(envs, agent, steps, seed=0)
    bare = steps / (time.perf_counter() - started)
    result = collect(CollectRequest(world, args.agent, {}, steps=steps, seed=0, dataset="bench", num_envs=worlds))
    collecting = steps / result.seconds
    folder = dataset_path(result.dataset_ids[0])
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    stored = result.cards[0]["steps"] * worlds  # minus one per death: close enough for bytes per step
    print(f"{args.agent} in Meadow-v0, {worlds} worlds x {steps} steps")
    print(f"  bare stepping   {bare:10,.0f} steps/s ({bare * worlds:,.0f} body steps/s)")
    print(f"  collecting      {collecting:10,.0f} steps/s ({collecting * worlds:,.0f} body steps/s): "
          f"{bare / collecting:.2f}x the bare time")
    print(f"  on disk         {size / stored * 1e6 / 2**20:10,.1f} MiB per million stored steps")


if __name__ == "__main__":
    main()
