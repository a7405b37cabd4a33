"""``openworld datasets mix``: the garbage heap holds each source's stated share of steps, exactly, with a card
that says where every step came from; mismatched sources are refused before anything is written."""

from __future__ import annotations

from pathlib import Path

import minari
import numpy as np
import pytest

import openworld  # noqa: F401  (registers the worlds)
from openworld.data.collect import collect
from openworld.data.datasets import strip_rewards
from openworld.data.mix import mix_datasets, parse_sources, split_steps
from openworld.data.store import dataset_card, dataset_path
from openworld.errors import DatasetError
from openworld.tools.cli import main

from .test_collect import request, world


@pytest.fixture(autouse=True)
def minari_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


@pytest.fixture
def sources() -> list[str]:
    """A random and a forager dataset of Meadow (2 worlds x 150 steps, segments of 40)."""
    ids = []
    for agent_id in ("random", "forager"):
        ids += collect(request(agent_id=agent_id, dataset=agent_id, steps=150, segment_steps=40)).dataset_ids
    return ids


def test_a_mix_holds_each_sources_share_exactly(sources: list[str]) -> None:
    mixed = mix_datasets("heap", {sources[0]: 0.25, sources[1]: 0.75}, steps=200, seed=1)
    assert mixed == "openworld/meadow/heap-v0"
    dataset = minari.load_dataset(mixed)
    metadata = list(dataset.storage.get_episode_metadata(range(dataset.total_episodes)))
    steps_from = {source: 0 for source in sources}
    originals = {source: minari.load_dataset(source) for source in sources}
    for episode, meta in zip(dataset.iterate_episodes(), metadata, strict=True):
        steps_from[meta["source"]] += len(episode.actions)
        original = originals[meta["source"]][meta["source_episode"]]
        length = len(episode.actions)
        assert np.array_equal(episode.actions, original.actions[:length])
        assert np.array_equal(episode.observations["view"], original.observations["view"][:length + 1])
        cut = length < len(original.actions)
        assert bool(episode.truncations[-1]) == (cut or bool(original.truncations[length - 1]))
    assert steps_from == {sources[0]: 50, sources[1]: 150}
    card = dataset_card(mixed)
    assert card["world"] == "Meadow-v0" and card["steps"] == 200
    assert [(s["id"], s["fraction"], s["steps"]) for s in card["mix"]["sources"]] == [
        (sources[0], 0.25, 50), (sources[1], 0.75, 150)]
    assert card["mix"]["sources"][1]["agent"]["id"] == "forager"


def test_a_mix_without_steps_takes_as_many_as_the_sources_allow(sources: list[str]) -> None:
    mixed = mix_datasets("heap", {sources[0]: 0.5, sources[1]: 0.5})
    held = min(minari.load_dataset(source).total_steps for source in sources)
    assert minari.load_dataset(mixed).total_steps == 2 * held


def test_bad_mixes_are_refused_before_anything_is_written(sources: list[str]) -> None:
    reward_free = strip_rewards(sources[0], "random-noreward")
    shiftlands = collect(request(world=world("Shiftlands-v0"), dataset="elsewhere", steps=50)).dataset_ids[0]
    cases = [
        ({sources[0]: 0.5, sources[1]: 0.4}, "the fractions sum to 0.9, not 1"),
        ({sources[0]: 0.0, sources[1]: 1.0}, "a fraction is a number in (0, 1], got 0.0"),
        ({sources[0]: 0.5, shiftlands: 0.5}, "its world is 'Shiftlands-v0', openworld/meadow/random-v0's is"),
        ({sources[1]: 0.5, reward_free: 0.5}, "its rewards is False"),
        ({sources[0]: 0.5, "openworld/meadow/nothing-v0": 0.5}, "openworld/meadow/nothing-v0"),
    ]
    for fractions, message in cases:
        with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
            mix_datasets("heap", fractions)
        assert not dataset_path("openworld/meadow/heap-v0").exists()
    with pytest.raises(DatasetError, match="needs more than"):
        mix_datasets("heap", {sources[0]: 0.5, sources[1]: 0.5}, steps=10**6)


def test_split_steps_and_parse_sources() -> None:
    assert split_steps(10, {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}) == {"a": 4, "b": 3, "c": 3}
    assert parse_sources(["openworld/meadow/a-v0=0.25", "openworld/meadow/b-v0=.75"]) == {
        "openworld/meadow/a-v0": 0.25, "openworld/meadow/b-v0": 0.75}
    with pytest.raises(DatasetError, match="a source is <dataset id>=<fraction>"):
        parse_sources(["openworld/meadow/a-v0"])


def test_the_mix_command(sources: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "mix", "heap", f"{sources[0]}=0.5", f"{sources[1]}=0.5", "--steps", "100"]) == 0
    assert "openworld/meadow/heap-v0" in capsys.readouterr().out
    assert main(["datasets", "mix", "heap", f"{sources[0]}=0.5", f"{sources[1]}=0.5"]) == 2  # exists
    assert "already exists" in capsys.readouterr().err
