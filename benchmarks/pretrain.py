"""Pretraining costs on this machine, one torch thread: training samples/s of every kind of prior, and the time
one pass over 1M transitions takes, beside the aim (10 minutes for `bc` and `skill-vae`).

Offline kinds are trained with their own config's model and training settings (`experiments/pretrain/prior/`)
for a fixed number of updates on a forager dataset collected here. A sample is one training example: a step for
`bc`, a chunk of H steps for `skill-vae` (it reads H transitions). Every transition starts one example (chunks
overlap), so an epoch over a dataset of 1M transitions is 1M examples: that is the time printed. Online kinds live
`--online-steps` world steps in `--num-envs` worlds of Meadow; a sample is one agent-step (environment and learner
together), and the time printed is that of 1M agent-steps.

    python benchmarks/pretrain.py            # 400 updates per offline kind, 4,000 world steps x 8 worlds online
    python benchmarks/pretrain.py --quick    # 30 updates, 300 world steps (the smoke test)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

AIM_SECONDS = {"bc-v0": 600.0, "skill-vae-v0": 600.0}  # the aim: 1M transitions within 10 minutes, one core
MILLION = 1_000_000


def prior_config(kind: str) -> dict[str, Any]:
    """The kind's pretrain config (``experiments/pretrain/prior/<name>.yaml``), as plain data."""
    from importlib import resources

    import yaml

    name = kind.rsplit("-v", 1)[0]
    text = resources.files("openworld.experiments.pretrain").joinpath("prior", f"{name}.yaml").read_text()
    return dict(yaml.safe_load(text))


def transitions_per_sample(prior: Any) -> int:
    """Transitions one training example reads (a chunk of H steps for a skill prior, a window for a recurrent
    behaviour prior, else 1)."""
    config = prior.config()
    if "horizon" in config:
        return int(config["horizon"])
    return int(config["sequence_length"]) if config.get("recurrent") else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--updates", type=int, default=400, help="updates timed per offline kind")
    parser.add_argument("--online-steps", type=int, default=4000, help="world steps per online kind")
    parser.add_argument("--num-envs", type=int, default=8, help="worlds lived in at once, online")
    args = parser.parse_args()
    updates, online_steps = (30, 300) if args.quick else (args.updates, args.online_steps)
    os.environ["MINARI_DATASETS_PATH"] = tempfile.mkdtemp(prefix="openworld-pretrain-bench-")

    import torch

    import openworld  # noqa: F401
    from openworld.data.collect import CollectRequest, collect
    from openworld.envs.vector import OpenWorldVectorEnv
    from openworld.prior.fitting import OfflineSettings, fit_offline
    from openworld.prior.transitions import load_transitions
    from openworld.registry import prior_entry, prior_ids, world_entry
    from openworld.runner.build import world_spec_from_config
    from openworld.world.spec import to_dict

    torch.set_num_threads(1)
    world = world_spec_from_config({"id": "Meadow-v0", **to_dict(world_entry("Meadow-v0").spec)})
    steps = 500 if args.quick else 2500
    dataset = collect(CollectRequest(world, "forager", {}, steps=steps, seed=0, dataset="bench", num_envs=16,
                                     segment_steps=250)).dataset_ids[0]
    data = load_transitions([dataset])
    print(f"one torch thread; offline kinds: {updates} updates on {data.num_steps:,} forager transitions "
          f"(Meadow-v0); online kinds: {online_steps:,} world steps x {args.num_envs} worlds")
    print(f"{'kind':<14} {'learns':<8} {'samples/s':>10} {'transitions read/s':>19} {'1M transitions':>15} {'aim':>9}"
          "  verdict")
    kinds = [kind for kind in prior_ids() if _has_config(kind)]
    for kind in kinds:
        entry = prior_entry(kind)
        config = prior_config(kind)
        model, training = dict(config.get("model") or {}), dict(config.get("training") or {})
        if entry.training == "offline":
            settings = OfflineSettings.from_mapping({**training, "max_updates": updates, "max_epochs": 10**6,
                                                     "patience": 0, "eval_every": updates})
            prior = entry.factory(data.observation_space, data.action_space, seed=0, **model)
            result = fit_offline(prior, data, settings, seed=0)
            # The one validation pass at the end is part of training's cost; report what training took overall.
            rate = result.samples / result.seconds
            read = rate * transitions_per_sample(prior)
        else:
            envs = OpenWorldVectorEnv(args.num_envs, world=world.spec)
            prior = entry.factory(envs.single_observation_space, envs.single_action_space, seed=0, **model)
            started = time.perf_counter()
            prior.fit_online(envs, online_steps, 0, lambda *_: None, training)
            rate = read = online_steps * args.num_envs / (time.perf_counter() - started)
        seconds = MILLION / rate
        aim = AIM_SECONDS.get(kind)
        verdict = "" if aim is None else ("within the aim" if seconds <= aim else "slower than the aim")
        aim_text = f"{aim / 60:.0f} min" if aim else "-"
        print(f"{kind:<14} {entry.training:<8} {rate:>10,.0f} {read:>19,.0f} {seconds / 60:>11.1f} min {aim_text:>9}  "
              f"{verdict}", flush=True)


def _has_config(kind: str) -> bool:
    try:
        prior_config(kind)
    except (FileNotFoundError, OSError):
        return False
    return True


if __name__ == "__main__":
    main()
