"""Using local datasets: list them with their cards, load one checked against its use, and make the reward-free
copy of one (``openworld datasets``).

Example:
    >>> import os, tempfile
    >>> os.environ["MINARI_DATASETS_PATH"] = tempfile.mkdtemp()
    >>> list_datasets()
    []
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from openworld.data.store import CARD_KEY, dataset_card, iterate_episodes, local_dataset_ids, read_metadata
from openworld.errors import DatasetError, brief


def list_datasets() -> list[dict[str, Any]]:
    """The cards of the local openworld datasets (with ``id``, ``episodes``, ``stored_steps``), sorted by id."""
    return [dataset_card(dataset) for dataset in local_dataset_ids()]


def format_listing(cards: list[dict[str, Any]]) -> str:
    """One line per dataset: id, world, agent, steps, episodes, alive fraction."""
    if not cards:
        return "no openworld datasets (openworld collect world=<name> agent=<name> dataset=<name> makes one)"
    lines = [f"{'id':<44} {'world':<16} {'agent':<22} {'steps':>9} {'episodes':>8} {'alive':>6}"]
    for card in cards:
        agent = card.get("agent") or {}
        name = str(agent.get("id")) + (f" e={agent['epsilon']:g}" if agent.get("epsilon") else "")
        if "mix" in card:
            name = f"mix of {len(card['mix']['sources'])}"
        alive = card.get("survival", {}).get("alive_fraction", float("nan"))
        lines.append(f"{card['id']:<44} {card.get('world')!s:<16} {name:<22} {card.get('stored_steps') or 0:>9,} "
                     f"{card.get('episodes') or 0:>8,} {alive:>6.3f}")
    return "\n".join(lines)


def format_card(card: dict[str, Any]) -> str:
    """A card as indented JSON."""
    return json.dumps(card, indent=2, sort_keys=False)


def load_dataset(dataset: str, expect_world: str | None = None, observation_space: Any = None) -> Any:
    """The Minari dataset ``dataset``, checked against its use.

    Args:
        dataset: a local id (``openworld/meadow/smoke-v0``).
        expect_world: the world id it must have been collected in (``Meadow-v0``); None: any.
        observation_space: the observation space its steps must have; None: any.

    Raises:
        DatasetError: an unknown id (listing the local ones), a card or metadata that cannot be read, another
            world or observation space than expected.
    """
    import minari

    card = dataset_card(dataset)
    if expect_world is not None and card.get("world") != expect_world:
        raise DatasetError(f"dataset {dataset} was collected in {brief(card.get('world'))}, not {expect_world}; "
                           "choose a dataset of that world (openworld datasets lists them)")
    try:
        loaded = minari.load_dataset(dataset)
    except Exception as err:  # Minari's ValueError, AssertionError, pyarrow's errors...
        raise DatasetError(f"dataset {dataset}: Minari cannot open it ({type(err).__name__}: {brief(str(err))}); "
                           "collect it again with overwrite=true") from None
    if observation_space is not None and loaded.observation_space != observation_space:
        raise DatasetError(f"dataset {dataset}: its observations are {loaded.observation_space}, but this use "
                           f"expects {observation_space}")
    return loaded


def strip_rewards(dataset: str, name: str, overwrite: bool = False) -> str:
    """Copy ``dataset`` without its rewards, as ``openworld/<world>/<name>-v0``; returns the new id.

    Minari requires a reward per step, so the copy stores NaN for every one (an offline learner that reads them
    fails loudly rather than learning from zeros), and its card says ``rewards: false`` and ``rewards_from``.

    Raises:
        DatasetError: an unknown or unreadable dataset (naming the file), a bad name, an existing target id.
    """
    import math

    from minari.dataset.minari_storage import MinariStorage

    from openworld.data.store import StagedDataset, check_dataset_exists, dataset_id

    metadata = read_metadata(dataset)
    source = MinariStorage.read(check_dataset_exists(dataset))
    world_name = dataset.split("/")[1]
    target = dataset_id(world_name, name)
    card = {**metadata[CARD_KEY], "rewards": False, "rewards_from": dataset}
    staged = StagedDataset(target, source.observation_space, source.action_space, env_spec(metadata), overwrite)
    try:
        for episode in iterate_episodes(dataset):
            buffer = episode_buffer(episode, int(episode["id"]))
            staged.storage.update_episodes([replace(buffer, rewards=[math.nan] * len(buffer.actions))])
        count = int(metadata.get("total_episodes", 0))
        if count:
            staged.storage.update_episode_metadata(list(source.get_episode_metadata(range(count))), range(count))
        kept = carried_metadata(metadata)
        description = str(metadata.get("description", "")) + f" Rewards removed (NaN): a copy of {dataset}."
        staged.commit({**kept, "description": description, CARD_KEY: card})
    except BaseException:
        staged.discard()
        raise
    return target


CARRIED_METADATA = ("algorithm_name", "requirements", "minari_version", "code_permalink")
"""Minari's keys a dataset made from another (a reward-free copy, a mix) keeps from its source."""


def carried_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The :data:`CARRIED_METADATA` keys a source dataset's metadata has."""
    return {key: metadata[key] for key in CARRIED_METADATA if key in metadata}


def episode_buffer(episode: Mapping[str, Any], episode_id: int, length: int | None = None) -> Any:
    """A stored episode (as :func:`~openworld.data.store.iterate_episodes` decodes it) as Minari's writer takes it
    back, its first ``length`` steps (all if None); an episode cut short ends ``truncated``, as a segment cut does:
    the lifetime went on."""
    from minari.data_collector.episode_buffer import EpisodeBuffer

    steps = len(episode["actions"])
    length = steps if length is None else length
    terminations = np.asarray(episode["terminations"])[:length].tolist()
    truncations = np.asarray(episode["truncations"])[:length].tolist()
    if length < steps:
        terminations[-1], truncations[-1] = False, True
    return EpisodeBuffer(id=episode_id, observations=_head(episode["observations"], length + 1),
                         actions=_head(episode["actions"], length),
                         rewards=np.asarray(episode["rewards"])[:length].tolist(), terminations=terminations,
                         truncations=truncations, infos=plain_infos(_head(episode["infos"], length + 1)))


def _head(data: Any, count: int) -> Any:
    """The first ``count`` rows of an array or a (nested) dict of arrays."""
    if isinstance(data, dict):
        return {key: _head(value, count) for key, value in data.items()}
    return data[:count]


def env_spec(metadata: dict[str, Any]) -> Any:
    """The Gymnasium spec Minari stored with a dataset (None if none)."""
    from gymnasium.envs.registration import EnvSpec

    text = metadata.get("env_spec")
    return EnvSpec.from_json(text) if isinstance(text, str) else None


def plain_infos(infos: dict[str, Any]) -> dict[str, Any]:
    """Decoded info columns as Minari's Arrow writer takes them back (1-D columns as lists)."""
    return {key: value.tolist() if getattr(value, "ndim", 2) == 1 else value for key, value in infos.items()}
