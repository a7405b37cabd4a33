"""openworld.data: a collected dataset is a standard Minari dataset whose steps replay the lifetime exactly;
segments, card, reward-free copy and each refused input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import openworld  # noqa: F401  (registers the worlds)
from openworld.data.collect import CollectRequest, collect
from openworld.errors import CheckpointError, DatasetError
from openworld.registry import world_entry
from openworld.runner.build import WorldChoice, world_spec_from_config
from openworld.world.spec import to_dict


@pytest.fixture(autouse=True)
def minari_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def world(world_id: str = "Meadow-v0", variant: str | None = None, **changes: Any) -> WorldChoice:
    node = {"id": world_id, "variant": variant, **to_dict(world_entry(world_id).spec), **changes}
    return world_spec_from_config(node)


def request(**kwargs: Any) -> CollectRequest:
    defaults: dict[str, Any] = dict(world=world(), agent_id="random", agent_config={}, steps=300, seed=3,
                                    dataset="tiny", num_envs=2, segment_steps=100)
    return CollectRequest(**{**defaults, **kwargs})


def replay(req: CollectRequest) -> list[dict[str, np.ndarray]]:
    """The same agent, seed and vector env, lived without recording: each step's next observation."""
    from openworld.agent.lifetime import live
    from openworld.runner.build import build_envs_and_agent

    envs, agent = build_envs_and_agent(req.world, req.agent_id, req.agent_config, num_envs=req.num_envs, bodies=1,
                                       seed=req.seed, on_death="terminate")
    steps: list[Any] = []
    first = live(envs, agent, 0, seed=req.world.world_seeds(req.seed, req.num_envs))
    live(envs, agent, req.steps, state=first.state, on_step=lambda done, t: steps.append(t) and None)
    return [{"obs": first.state.obs}] + [{"obs": t.next_obs, "action": t.action, "info": t.info} for t in steps]


@pytest.mark.parametrize("agent_id", ["random", "forager"])
def test_a_dataset_loads_with_minari_and_equals_a_replay(agent_id: str) -> None:
    import minari

    req = request(agent_id=agent_id)
    result = collect(req)
    dataset = minari.load_dataset(result.dataset_ids[0])
    stream = replay(req)
    episodes = list(dataset.iterate_episodes())
    metadata = list(dataset.storage.get_episode_metadata(range(dataset.total_episodes)))
    assert dataset.total_steps == 2 * 300 - sum(int(ep.terminations.sum()) for ep in episodes)  # autoresets unstored
    eaten: set[int] = set()
    for episode, meta in zip(episodes, metadata, strict=True):
        slot, start = meta["world"], meta["lifetime_step"]
        for row in range(len(episode.actions) + 1):
            expected = stream[start + row]["obs"]
            assert np.array_equal(episode.observations["view"][row], expected["view"][slot])
            assert np.array_equal(episode.observations["vitals"][row], expected["vitals"][slot])
        for row, action in enumerate(episode.actions):
            assert action == stream[start + row + 1]["action"][slot]
            index = stream[start + row + 1]["info"]["events"]["consumed"][slot]  # the world's resource index
            kind = 0 if index < 0 else int(req.world.spec.resource_kinds[index])  # its catalogue code
            assert episode.infos["event_consumed_kind"][row + 1] == kind
            eaten.add(kind)
    if agent_id == "forager":
        assert len(eaten - {0}) >= 1  # it ate: the codes were checked on real consumptions


def test_segments_are_cut_at_segment_steps_and_at_deaths() -> None:
    import minari

    # A hungry meadow: bodies starve, so segments end at deaths as well as at the cuts.
    result = collect(request(world=world(), steps=400, segment_steps=100, epsilon=1.0, seed=1))
    dataset = minari.load_dataset(result.dataset_ids[0])
    deaths = 0
    for episode in dataset.iterate_episodes():
        steps = len(episode.actions)
        assert 1 <= steps <= 100 and len(episode.observations["view"]) == steps + 1
        assert len(episode.infos["world_step"]) == steps + 1
        assert not episode.terminations[:-1].any() and not episode.truncations[:-1].any()
        assert episode.terminations[-1] != episode.truncations[-1]  # each segment ends exactly one way
        if episode.terminations[-1]:
            deaths += 1
            assert episode.infos["event_death"][-1] and not episode.infos["alive"][-1]
        else:
            assert steps == 100 or episode.infos["world_step"][-1] > 0
        assert np.all(np.diff(episode.infos["world_step"]) >= 1)
    card = dataset.storage.metadata["openworld_card"]
    assert deaths == round(card["survival"]["deaths_per_10k"] * 400 * 2 / 10_000)


def test_recover_environment_steps_and_the_card_is_complete() -> None:
    import minari

    result = collect(request(epsilon=0.25, world=world(variant=train_variant())))
    dataset = minari.load_dataset(result.dataset_ids[0])
    env = dataset.recover_environment()
    obs, _ = env.reset(seed=0)
    assert dataset.observation_space.contains(obs)
    env.step(0)
    assert env.unwrapped.variant == train_variant()
    metadata = dataset.storage.metadata
    card = metadata["openworld_card"]
    for key in ("world", "variant", "variants", "world_seeds", "agent", "steps", "num_envs", "segment_steps",
                "survival", "regimes", "heldout", "rewards", "created", "openworld_version"):
        assert key in card, key
    assert card["agent"]["epsilon"] == 0.25 and card["world_seeds"] == [3, 4] and card["rewards"] is True
    assert set(card["survival"]) == {"alive_fraction", "deaths_per_10k", "mean_wellbeing"} and card["regimes"]
    assert metadata["requirements"] == ["openworld"] and "random" in metadata["algorithm_name"]
    assert set(next(dataset.iterate_episodes()).infos["eval_regime"]) <= set(card["regimes"])


def train_variant() -> str:
    from openworld.variants import world_variants

    return next(v.name for v in world_variants(world_entry("Meadow-v0").spec) if v.split == "train")


def heldout_variant() -> str:
    from openworld.variants import world_variants

    return next(v.name for v in world_variants(world_entry("Meadow-v0").spec) if v.split == "heldout")


def test_the_reward_free_copy_has_no_rewards() -> None:
    from openworld.data.datasets import load_dataset, strip_rewards

    source = collect(request()).dataset_ids[0]
    copy = strip_rewards(source, "tiny-noreward")
    original, stripped = load_dataset(source), load_dataset(copy)
    assert stripped.storage.metadata["openworld_card"]["rewards"] is False
    for kept, bare in zip(original.iterate_episodes(), stripped.iterate_episodes(), strict=True):
        assert np.isnan(bare.rewards).all() and not np.isnan(kept.rewards).any()
        assert np.array_equal(kept.actions, bare.actions)
        assert np.array_equal(kept.observations["view"], bare.observations["view"])


def test_a_held_out_variant_needs_heldout_true_and_the_card_says_so(minari_root: Path) -> None:
    with pytest.raises(DatasetError, match=f"world.variant={heldout_variant()}.*heldout=true"):
        collect(request(world=world(variant=heldout_variant())))
    assert not (minari_root / "openworld").exists()
    card = collect(request(world=world(variant=heldout_variant()), heldout=True, steps=20)).cards[0]
    assert card["heldout"] is True and card["split"] == "heldout"
    declared = world_entry("Meadow-v0").spec.variants[heldout_variant()].seeds  # its unseen maps, from seed 3
    assert card["world_seeds"] == [declared[3], declared[4]] and not {3, 4} & set(card["world_seeds"])


def test_an_existing_id_is_refused_without_overwrite_and_kept() -> None:
    from openworld.data.store import dataset_card

    first = collect(request(steps=20)).cards[0]
    with pytest.raises(DatasetError, match="openworld/meadow/tiny-v0 already exists.*overwrite=true"):
        collect(request(steps=30))
    assert dataset_card("openworld/meadow/tiny-v0")["created"] == first["created"]
    assert dataset_card("openworld/meadow/tiny-v0")["steps"] == 20
    collect(request(steps=30, overwrite=True))
    assert dataset_card("openworld/meadow/tiny-v0")["steps"] == 30


@pytest.mark.parametrize("name", ["Bad", "9lives", "a b", "smoke-v1", ""])
def test_an_invalid_name_is_refused(name: str, minari_root: Path) -> None:
    with pytest.raises(DatasetError, match="not a valid dataset name"):
        collect(request(dataset=name))
    assert not (minari_root / "openworld").exists()


@pytest.mark.parametrize(("key", "value"), [("steps", 0), ("segment_steps", -1), ("epsilon", 1.5), ("num_envs", 0)])
def test_bad_values_are_refused_naming_the_key(key: str, value: Any) -> None:
    with pytest.raises(DatasetError, match=f"{key} must be"):
        collect(request(**{key: value}))


def test_an_unknown_id_lists_what_exists() -> None:
    from openworld.data.datasets import load_dataset

    collect(request(steps=10))
    with pytest.raises(DatasetError, match="no dataset 'openworld/meadow/nope-v0'.*openworld/meadow/tiny-v0"):
        load_dataset("openworld/meadow/nope-v0")


def test_a_dataset_of_another_world_or_space_is_refused() -> None:
    from gymnasium import spaces

    from openworld.data.datasets import load_dataset

    dataset = collect(request(steps=10)).dataset_ids[0]
    with pytest.raises(DatasetError, match="collected in 'Meadow-v0', not Seasons-v0"):
        load_dataset(dataset, expect_world="Seasons-v0")
    with pytest.raises(DatasetError, match="its observations are"):
        load_dataset(dataset, observation_space=spaces.Discrete(3))
    assert load_dataset(dataset, expect_world="Meadow-v0").total_episodes > 0


def test_a_corrupt_file_is_named(minari_root: Path) -> None:
    from openworld.data.store import iterate_episodes

    dataset = collect(request(steps=10)).dataset_ids[0]
    episode_file = next((minari_root / dataset / "data" / "0").glob("*.parquet"))
    episode_file.write_bytes(episode_file.read_bytes()[:40])
    with pytest.raises(DatasetError, match=f"{minari_root / dataset / 'data' / '0'}.*truncated or corrupt"):
        list(iterate_episodes(dataset))
    (minari_root / dataset / "data" / "metadata.json").write_text("{not json")
    with pytest.raises(DatasetError, match="metadata.json: cannot open the dataset"):
        list(iterate_episodes(dataset))


def test_an_agent_snapshot_is_loaded_and_hashed(tmp_path: Path) -> None:
    from openworld.agent.protocol import make_agent
    from openworld.runner.build import build_envs_and_agent
    from openworld.runner.snapshots import save_agent_snapshot

    envs, _ = build_envs_and_agent(world(), "random", {}, num_envs=2, bodies=1, seed=0, on_death="terminate")
    agent = make_agent("random", envs.single_observation_space, envs.single_action_space, 2, seed=7)
    identity = {"world": "Shiftlands-v0", "variant": None, "agent": "random-v0", "agent_config": {}, "seed": 7,
                "num_envs": 2, "bodies": 1}
    snapshot = save_agent_snapshot(tmp_path, 10, agent, identity)
    card = collect(request(steps=10, agent_snapshot=str(snapshot))).cards[0]
    assert card["agent"]["snapshot"] == str(snapshot) and len(card["agent"]["snapshot_sha256"]) == 64
    assert (card["agent"]["snapshot_world"], card["agent"]["snapshot_step"]) == ("Shiftlands-v0", 10)
    save_agent_snapshot(tmp_path, 10, agent, {**identity, "agent": "forager-v0"})
    with pytest.raises(CheckpointError, match="agent-10.ckpt"):
        collect(request(steps=10, agent_snapshot=str(snapshot), dataset="other"))


def test_several_bodies_make_one_linked_dataset_per_body() -> None:
    result = collect(request(world=world("Commons-v0"), bodies=2, num_envs=1, steps=30, dataset="pair"))
    assert result.dataset_ids == ["openworld/commons/pair-body0-v0", "openworld/commons/pair-body1-v0"]
    assert [card["body"] for card in result.cards] == [0, 1]
    assert result.cards[0]["linked"] == ["openworld/commons/pair-body1-v0"]


@pytest.mark.parametrize(("change", "message"), [
    ({"seed": -1}, "seed must be an integer from 0 to 4,294,967,295, got -1"),
    ({"bodies": 100}, "bodies must be an integer from 1 to 64, got 100"),
    ({"learn": "maybe"}, "learn must be true or false, got 'maybe'"),
    ({"world": world(bodies=3)}, "the bodies collected from are the root key: bodies=3"),
])
def test_values_the_run_also_ranges_are_refused_before_anything_is_written(change: dict[str, Any], message: str,
                                                                          minari_root: Path) -> None:
    with pytest.raises(DatasetError, match=message):
        collect(request(**change))
    assert not minari_root.exists() or not any(minari_root.rglob("*.parquet"))
