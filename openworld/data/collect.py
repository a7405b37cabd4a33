"""``openworld collect``: an agent lives in the batched vector env and its lifetime is written as a Minari
dataset (one per body with several bodies), with a card.

Everything that can be refused (the dataset name, existing ids without ``overwrite``, a held-out variant
without ``heldout=true``, the values, the agent snapshot) is checked before anything is written. The agent
lives exactly as in ``openworld run`` (``act``, ``step``, ``observe``; its worlds generated from ``seed``, in a
variant from the variant's own seeds), except
that with ``epsilon > 0`` each action is replaced, with probability ``epsilon``, by a uniformly random one
drawn from a generator of its own seeded from ``seed``; the agent observes (and the dataset stores) the action
taken. ``learn=false`` never calls ``observe``: a frozen policy.

Example:
    >>> import os, tempfile
    >>> os.environ["MINARI_DATASETS_PATH"] = tempfile.mkdtemp()
    >>> from openworld.runner.build import world_spec_from_config
    >>> from openworld.registry import world_entry
    >>> world = world_spec_from_config({"id": "Meadow-v0", **__import__("openworld.world.spec",
    ...     fromlist=["to_dict"]).to_dict(world_entry("Meadow-v0").spec)})
    >>> result = collect(CollectRequest(world, "random", {}, steps=50, seed=0, dataset="tiny", num_envs=2))
    >>> result.dataset_ids
    ['openworld/meadow/tiny-v0']
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from openworld.errors import CheckpointError, DatasetError, brief
from openworld.registry import world_entry
from openworld.runner.build import WorldChoice


@dataclass(frozen=True)
class CollectRequest:
    """What to collect (the keys of ``experiments/conf/collect.yaml``)."""

    world: WorldChoice
    agent_id: str
    agent_config: dict[str, Any]
    steps: int
    seed: int
    dataset: str
    num_envs: int
    segment_steps: int = 1000
    bodies: int = 1
    epsilon: float = 0.0
    learn: bool = True
    heldout: bool = False
    overwrite: bool = False
    agent_snapshot: str | None = None
    progress: str = "off"  # bar | plain | off


@dataclass
class CollectResult:
    """What a collection wrote."""

    dataset_ids: list[str]
    steps: int
    seconds: float
    alive_fraction: float
    cards: list[dict[str, Any]] = field(default_factory=list)


def check_request(request: CollectRequest) -> str | None:
    """Refuse values that cannot be collected; returns the split of the variant lived in (None: none).

    Raises:
        DatasetError: naming the key and value.
    """
    from openworld.runner.config import INTEGER_RANGES

    # The run's ranges where the keys are shared.
    ranges = {key: INTEGER_RANGES[key] for key in ("steps", "num_envs", "bodies", "seed")}
    ranges["segment_steps"] = (1, 10**9)
    for key, (lo, hi) in ranges.items():
        value = getattr(request, key)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise DatasetError(f"{key} must be an integer from {lo:,} to {hi:,}, got {brief(value)}")
    if request.seed + request.num_envs - 1 > INTEGER_RANGES["seed"][1]:
        raise DatasetError(f"seed + num_envs - 1 must be at most {INTEGER_RANGES['seed'][1]:,} (world i is generated "
                           f"from seed + i), got {request.seed} + {request.num_envs} - 1")
    for key in ("learn", "heldout", "overwrite"):
        if not isinstance(getattr(request, key), bool):
            raise DatasetError(f"{key} must be true or false, got {brief(getattr(request, key))}")
    if request.world.base.bodies != world_entry(request.world.world_id).spec.bodies:
        raise DatasetError(f"world.bodies is the world file's bodies for make_parallel; the bodies collected from "
                           f"are the root key: bodies={request.world.base.bodies}")
    if isinstance(request.epsilon, bool) or not isinstance(request.epsilon, int | float) \
            or not 0 <= request.epsilon <= 1:
        raise DatasetError(f"epsilon must be a number from 0 to 1, got {brief(request.epsilon)}")
    split = variant_split(request.world)
    if split == "heldout" and not request.heldout:
        raise DatasetError(f"world.variant={request.world.variant} is a held-out variant of {request.world.world_id}: "
                           "its data would leak into what the evaluation holds out. Give heldout=true to collect "
                           "it anyway (the card says so)")
    return split


def variant_split(world: WorldChoice) -> str | None:
    """The split (train, heldout, dev) of the variant lived in; None for the world as written."""
    if world.variant is None:
        return None
    from openworld.variants import world_variants

    return world_variants(world.base)[world.variant].split


def collect(request: CollectRequest) -> CollectResult:
    """Live the agent and write its lifetime as Minari dataset(s); see the module docstring.

    Raises:
        DatasetError: a value, name or id that cannot be collected (nothing is written).
        CheckpointError: an agent snapshot that cannot be loaded.
        AgentError: the agent does not take a key of its config.
    """
    from openworld.data.store import StagedDataset, check_free, dataset_id
    from openworld.runner.build import build_envs_and_agent

    split = check_request(request)
    world_name = request.world.spec.name
    bodies = request.bodies
    ids = [dataset_id(world_name, request.dataset, body if bodies > 1 else None) for body in range(bodies)]
    for each_id in ids:
        check_free(each_id, request.overwrite)
    envs, agent = build_envs_and_agent(request.world, request.agent_id, request.agent_config,
                                       num_envs=request.num_envs, bodies=bodies, seed=request.seed,
                                       on_death="terminate")
    snapshot = load_snapshot(request.agent_snapshot, agent, request.agent_id) if request.agent_snapshot else \
        {"snapshot": None, "snapshot_sha256": None}
    staged = [StagedDataset(each_id, envs.single_observation_space, envs.single_action_space,
                            recover_spec(request.world), request.overwrite) for each_id in ids]
    try:
        lived = live_and_record(request, envs, agent, staged)
        agent_card = {"id": request.agent_id, "config": request.agent_config, **snapshot,
                      "epsilon": float(request.epsilon), "learn": request.learn}
        return finish(request, staged, ids, lived, agent_card, split)
    except BaseException:
        for each in staged:
            each.discard()
        raise
    finally:
        envs.close()


@dataclass
class Lived:
    """What :func:`live_and_record` measured."""

    seconds: float
    tally: Any  # SurvivalTally
    regimes: list[str]
    episodes: list[list[dict[str, Any]]]  # per dataset: each episode's metadata


def live_and_record(request: CollectRequest, envs: Any, agent: Any, staged: list[Any]) -> Lived:
    """The collection loop: act (with epsilon), step, observe (if learning), record."""
    from openworld.agent.protocol import Transition
    from openworld.data.card import SurvivalTally
    from openworld.data.segments import ScheduleLabels, SegmentRecorder
    from openworld.enums import Action

    slots, bodies = int(envs.num_envs), request.bodies
    world_seeds = request.world.world_seeds(request.seed, request.num_envs)  # a variant's data is of its own maps
    episodes: list[list[dict[str, Any]]] = [[] for _ in staged]

    def sink(slot: int, buffer: Any, metadata: dict[str, Any]) -> None:
        body = slot % bodies
        world = slot // bodies
        stored = episodes[body]
        staged[body].storage.update_episodes([replace(buffer, id=len(stored))])
        stored.append({**metadata, "world": world, "world_seed": world_seeds[world],
                       **({"body": body} if bodies > 1 else {})})

    labels = ScheduleLabels(envs.engine.schedule)
    obs, info = envs.reset(seed=world_seeds)
    kinds = [int(kind) for kind in request.world.spec.resource_kinds]
    recorder = SegmentRecorder(slots, request.segment_steps, obs["vitals"].shape[1], obs["view"].shape[1:], labels,
                               sink, resource_kinds=kinds)
    clock = np.asarray(info["world_step"], np.int64)
    recorder.start(obs, info, clock - 1)
    tally = SurvivalTally(slots)
    rng = np.random.default_rng(np.random.SeedSequence(request.seed, spawn_key=(0xE95,)))  # epsilon's own stream
    progress = CollectProgress(request.steps, request.progress, ids_label(staged))
    started = time.perf_counter()
    for step in range(1, request.steps + 1):
        actions = np.asarray(agent.act(obs), np.int64)
        if request.epsilon > 0:
            explore = rng.random(slots) < request.epsilon
            actions = np.where(explore, rng.integers(0, len(Action), slots), actions)
        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        if request.learn:
            agent.observe(Transition(obs, actions, rewards, next_obs, terminated, truncated, info))
        recorder.record(step, actions, next_obs, np.asarray(rewards), info, clock)
        tally.add(info, next_obs["vitals"])
        clock, obs = np.asarray(info["world_step"], np.int64), next_obs
        progress.update(step, tally)
    recorder.close()
    progress.close()
    return Lived(time.perf_counter() - started, tally, list(labels.regime_names), episodes)


def finish(request: CollectRequest, staged: list[Any], ids: list[str], lived: Lived, agent_card: dict[str, Any],
           split: str | None) -> CollectResult:
    """Write each dataset's episode metadata and card, and move it into place."""
    from openworld.data.card import body_card, make_card, minari_metadata
    from openworld.data.store import CARD_KEY
    from openworld.registry import world_entry
    from openworld.world.spec import to_dict

    world = request.world
    overridden = to_dict(world.base) != to_dict(world_entry(world.world_id).spec)
    card = make_card(world_id=world.world_id, variant=world.variant, split=split, seed=request.seed,
                     world_seeds=world.world_seeds(request.seed, request.num_envs), num_envs=request.num_envs,
                     bodies=request.bodies, agent=agent_card, steps=request.steps, segment_steps=request.segment_steps,
                     survival=lived.tally.scores(), regimes=lived.regimes, world_overridden=overridden)
    cards = []
    for body, (each, episodes) in enumerate(zip(staged, lived.episodes, strict=True)):
        slots = list(range(body, int(request.num_envs) * request.bodies, request.bodies))
        own = body_card(card, body if request.bodies > 1 else None, ids, lived.tally.scores(slots))
        if episodes:
            each.storage.update_episode_metadata(episodes, range(len(episodes)))
        each.commit({**minari_metadata(own), CARD_KEY: own})
        cards.append(own)
    return CollectResult(ids, request.steps, lived.seconds, card["survival"]["alive_fraction"], cards)


def recover_spec(world: WorldChoice) -> Any:
    """Gymnasium's spec of the single-world env of this world and variant (serialisable kwargs), stored by
    Minari so that ``recover_environment()`` rebuilds it."""
    import gymnasium

    spec = gymnasium.spec(f"openworld/{world.world_id}")
    kwargs = {"world": world.world_id, **({"variant": world.variant} if world.variant else {})}
    return replace(spec, kwargs=kwargs)


def load_snapshot(path: str, agent: Any, agent_id: str) -> dict[str, Any]:
    """Load an agent snapshot (``openworld run snapshots=...``) into ``agent``: read without running code, its
    kind and agent checked (:func:`openworld.runner.snapshots.load_agent_snapshot`). Returns what the card
    records of it: the file, its sha256, and the world and step it was taken at (a snapshot from another world
    is allowed: every world shares one observation vocabulary, and a space that does not fit is refused).

    Raises:
        CheckpointError: naming the file (missing, corrupt, not a snapshot, another agent's, a state that does
            not fit).
    """
    from openworld.runner.snapshots import load_agent_snapshot, snapshot_sha256

    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"agent_snapshot={brief(path)}: no such file")
    header = load_agent_snapshot(file, agent, agent_id)
    return {"snapshot": str(path), "snapshot_sha256": snapshot_sha256(file), "snapshot_world": header.get("world"),
            "snapshot_step": header.get("step")}


def ids_label(staged: list[Any]) -> str:
    return staged[0].dataset if len(staged) == 1 else f"{staged[0].dataset} (+{len(staged) - 1} linked)"


class CollectProgress:
    """A rich bar (``bar``), a line every tenth of the steps (``plain``), or nothing (``off``)."""

    def __init__(self, total: int, mode: str, label: str) -> None:
        from openworld.runner.progress import Progress

        self.total, self.mode, self.label = total, mode, label
        self.every = max(1, total // 10)
        self.started = time.perf_counter()
        self.bar = Progress(total, "bar", label) if mode == "bar" else None

    def update(self, done: int, tally: Any) -> None:
        from openworld.runner.progress import PROGRESS_EVERY

        if self.bar is not None and done % PROGRESS_EVERY == 0:
            self.bar.update(done, tally.scores()["alive_fraction"])
        elif self.mode == "plain" and (done % self.every == 0 or done == self.total):
            rate = done / max(time.perf_counter() - self.started, 1e-9)
            print(f"[{self.label}] step {done:,}/{self.total:,}  {rate:,.0f} steps/s  "
                  f"alive {tally.scores()['alive_fraction']:.3f}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
