"""The "garbage heap": one dataset mixing others in stated proportions of their steps
(``openworld datasets mix``).

The lecture's recipe for hard universes starts from a large dataset of diverse, mostly low-quality behaviour;
a mix of an expert, a noisy expert, a random policy and PPO snapshots of every age is that dataset, with the
share of each written on its card. Sources must share a world and spaces (a prior trained on the mix reads one
observation vocabulary) and all have rewards or all have none.

Which steps: each source's episodes in an order shuffled with ``seed``, taken whole until the source's share is
reached; the last one taken is cut at the share (``truncated=True``, as a segment cut is: the lifetime did not
end there), so the mix holds exactly ``round(fraction x steps)`` steps of each source. Episodes are copied one
at a time (memory: one episode).

Example:
    >>> split_steps(1000, {"a": 0.5, "b": 0.3, "c": 0.2})
    {'a': 500, 'b': 300, 'c': 200}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from openworld.data.datasets import carried_metadata, env_spec, episode_buffer
from openworld.data.store import CARD_KEY, StagedDataset, check_dataset_exists, dataset_card, dataset_id, read_metadata
from openworld.errors import DatasetError, brief

FRACTION_TOLERANCE = 1e-6  # stated proportions must sum to 1 within this


def split_steps(steps: int, fractions: Mapping[str, float]) -> dict[str, int]:
    """Steps of each source: ``round(fraction x steps)``, the rounding's remainder given to the largest share."""
    shares = {source: int(math.floor(fraction * steps + 0.5)) for source, fraction in fractions.items()}
    largest = max(fractions, key=lambda source: fractions[source])
    shares[largest] += steps - sum(shares.values())
    return shares


def parse_sources(arguments: list[str]) -> dict[str, float]:
    """``["openworld/meadow/forager-v0=0.5", ...]`` as ``{id: fraction}``.

    Raises:
        DatasetError: an argument that is not ``<id>=<number>``, or an id given twice.
    """
    out: dict[str, float] = {}
    for argument in arguments:
        source, equals, fraction = argument.rpartition("=")
        try:
            value = float(fraction)
        except ValueError:
            value = math.nan
        if not equals or not source or math.isnan(value):
            raise DatasetError(f"{brief(argument)}: a source is <dataset id>=<fraction>, "
                               "e.g. openworld/meadow/random-v0=0.3")
        if source in out:
            raise DatasetError(f"{source}: given twice")
        out[source] = value
    return out


def check_fractions(fractions: Mapping[str, float]) -> None:
    """Each fraction in (0, 1], summing to 1.

    Raises:
        DatasetError: naming the fraction at fault, or the sum.
    """
    if not fractions:
        raise DatasetError("a mix needs at least one source: <id>=<fraction> ...")
    for source, fraction in fractions.items():
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction <= 1:
            raise DatasetError(f"{source}: a fraction is a number in (0, 1], got {brief(fraction)}")
    total = sum(fractions.values())
    if abs(total - 1) > FRACTION_TOLERANCE:
        stated = ", ".join(f"{source}={fraction:g}" for source, fraction in fractions.items())
        raise DatasetError(f"the fractions sum to {total:g}, not 1 ({stated})")


def _check_compatible(cards: Mapping[str, dict[str, Any]], metadata: Mapping[str, dict[str, Any]]) -> None:
    first = next(iter(cards))
    for source, card in cards.items():
        for key in ("world", "rewards"):
            if card.get(key) != cards[first].get(key):
                raise DatasetError(f"{source}: its {key} is {brief(card.get(key))}, {first}'s is "
                                   f"{brief(cards[first].get(key))}; a mix's sources share a world and all have "
                                   "rewards or none")
        for key in ("observation_space", "action_space"):
            if metadata[source].get(key) != metadata[first].get(key):
                raise DatasetError(f"{source}: its {key.replace('_', ' ')} differs from {first}'s; a mix's sources "
                                   "share their spaces")


def mix_datasets(name: str, fractions: Mapping[str, float], steps: int | None = None, seed: int = 0,
                 overwrite: bool = False) -> str:
    """Write ``openworld/<world>/<name>-v0``: the sources' steps in the stated proportions; returns its id.

    Args:
        name: the mix's dataset name.
        fractions: source dataset id -> its share of the mix's steps (summing to 1).
        steps: the mix's stored steps; None: as many as the sources allow (the least ``steps_i / fraction_i``).
        seed: the order in which each source's episodes are taken.
        overwrite: replace an existing dataset with that id.

    Raises:
        DatasetError: an unknown source, fractions that do not sum to 1, sources of different worlds, spaces or
            reward status, more steps than a source holds, an existing id without ``overwrite``. Nothing is
            written before these checks pass.
    """
    from minari.dataset.minari_storage import MinariStorage

    check_fractions(fractions)
    cards = {source: dataset_card(source) for source in fractions}
    metadata = {source: read_metadata(source) for source in fractions}
    _check_compatible(cards, metadata)
    available = {source: int(metadata[source].get("total_steps", 0)) for source in fractions}
    most = min(math.floor(available[source] / fraction) for source, fraction in fractions.items())
    total = most if steps is None else steps
    if total < 1 or total > most:
        limiting = min(fractions, key=lambda source: available[source] / fractions[source])
        raise DatasetError(f"a mix of {total:,} steps needs more than {limiting} holds ({available[limiting]:,} "
                           f"steps for a share of {fractions[limiting]:g}); at most {most:,}")
    shares = split_steps(total, fractions)
    first = next(iter(fractions))
    target = dataset_id(first.split("/")[1], name)
    if target in fractions:
        raise DatasetError(f"{target}: a mix cannot replace one of its own sources")
    spaces = MinariStorage.read(check_dataset_exists(first))
    staged = StagedDataset(target, spaces.observation_space, spaces.action_space, env_spec(metadata[first]),
                           overwrite)
    rng = np.random.default_rng(seed)
    episode_metadata: list[dict[str, Any]] = []
    try:
        for source, share in shares.items():
            storage = MinariStorage.read(check_dataset_exists(source))
            order = rng.permutation(storage.total_episodes)
            taken = 0
            for index in order:
                if taken >= share:
                    break
                episode = next(iter(storage.get_episodes([int(index)])))
                length = min(len(episode["actions"]), share - taken)
                staged.storage.update_episodes([episode_buffer(episode, len(episode_metadata), length)])
                source_metadata = next(iter(storage.get_episode_metadata([int(index)])))
                episode_metadata.append({**source_metadata, "source": source, "source_episode": int(index)})
                taken += length
        staged.storage.update_episode_metadata(episode_metadata, range(len(episode_metadata)))
        card = _mix_card(cards, fractions, shares, seed)
        kept = carried_metadata(metadata[first])
        description = "A mix (openworld datasets mix) of " + ", ".join(f"{s} ({f:.0%})" for s, f in fractions.items())
        staged.commit({**kept, "algorithm_name": "mix", "description": description, CARD_KEY: card})
    except BaseException:
        staged.discard()
        raise
    return target


def _mix_card(cards: Mapping[str, dict[str, Any]], fractions: Mapping[str, float], shares: Mapping[str, int],
              seed: int) -> dict[str, Any]:
    """The mix's card: the world and spaces its sources share, each source's share, agent and survival."""
    first = cards[next(iter(cards))]
    shared: dict[str, Any] = {key: first[key] for key in ("world", "rewards", "openworld_version") if key in first}
    sources = [{"id": source, "fraction": float(fractions[source]), "steps": shares[source],
                "agent": cards[source].get("agent"), "variant": cards[source].get("variant"),
                "heldout": cards[source].get("heldout"), "survival": cards[source].get("survival")}
               for source in fractions]
    return {**shared, "mix": {"seed": seed, "sources": sources},
            "variants": sorted({str(card.get("variant")) for card in cards.values()}),
            "heldout": any(bool(card.get("heldout")) for card in cards.values()),
            "regimes": sorted({regime for card in cards.values() for regime in card.get("regimes") or []}),
            "steps": sum(shares.values())}
