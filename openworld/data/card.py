"""The dataset card: what a dataset holds and how it was made, kept in Minari's metadata under
``openworld_card`` (docs/data.md lists its keys), and the collecting policy's survival tallied on the way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CARD_FORMAT = "openworld-dataset-card/1"


@dataclass
class SurvivalTally:
    """Per-slot sums over the lifetime's steps (agent steps, dead ones included) for the card's survival."""

    slots: int
    steps: int = 0
    alive: np.ndarray = field(init=False)
    deaths: np.ndarray = field(init=False)
    wellbeing: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.alive = np.zeros(self.slots)
        self.deaths = np.zeros(self.slots)
        self.wellbeing = np.zeros(self.slots)

    def add(self, info: Mapping[str, Any], vitals: np.ndarray) -> None:
        """Count one step of every slot from its ``info`` and the vitals after it."""
        from openworld.scoring.metrics import observed_wellbeing

        alive = np.asarray(info["alive"], bool)
        self.steps += 1
        self.alive += alive
        self.deaths += np.asarray(info["events"]["death"], bool)
        self.wellbeing += observed_wellbeing(alive, vitals)

    def scores(self, slots: Sequence[int] | slice = slice(None)) -> dict[str, float]:
        """Alive fraction, deaths per 10k steps and mean wellbeing over ``slots`` (all by default)."""
        alive, deaths, wellbeing = self.alive[slots], self.deaths[slots], self.wellbeing[slots]
        body_steps = max(1, self.steps * int(np.size(alive)))
        return {"alive_fraction": float(alive.sum() / body_steps),
                "deaths_per_10k": float(deaths.sum() * 10_000 / body_steps),
                "mean_wellbeing": float(wellbeing.sum() / body_steps)}


def make_card(*, world_id: str, variant: str | None, split: str | None, seed: int, world_seeds: Sequence[int],
              num_envs: int, bodies: int, agent: Mapping[str, Any], steps: int, segment_steps: int,
              survival: Mapping[str, float], regimes: Sequence[str], world_overridden: bool) -> dict[str, Any]:
    """A dataset card (plain JSON values); :func:`body_card` adds a body's place among linked datasets."""
    import datetime
    import importlib.metadata

    return {"format": CARD_FORMAT, "world": world_id, "variant": variant, "variants": [variant] if variant else [],
            "split": split, "heldout": split == "heldout",
            "world_seeds": [int(each) for each in world_seeds], "seed": seed,
            "agent": dict(agent), "steps": steps, "num_envs": num_envs, "bodies": bodies,
            "segment_steps": segment_steps, "survival": dict(survival), "regimes": sorted(regimes),
            "rewards": True, "world_overridden": world_overridden, "env_id": f"openworld/{world_id}",
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "openworld_version": importlib.metadata.version("openworld")}


def body_card(card: Mapping[str, Any], body: int | None, ids: Sequence[str],
              survival: Mapping[str, float]) -> dict[str, Any]:
    """The card of one body's dataset: its body index, its own survival and the ids of the others."""
    if body is None:
        return dict(card)
    return {**card, "body": body, "linked": [other for i, other in enumerate(ids) if i != body],
            "survival": dict(survival)}


def minari_metadata(card: Mapping[str, Any]) -> dict[str, Any]:
    """Minari's own metadata keys for a card (``algorithm_name``, ``requirements``, ``description``...)."""
    import minari

    agent = card["agent"]
    epsilon = f", epsilon {agent['epsilon']}" if agent["epsilon"] else ""
    snapshot = f" from {agent['snapshot']}" if agent.get("snapshot") else ""
    variant = f" ({card['variant']})" if card["variant"] else ""
    return {"algorithm_name": f"openworld/{agent['id']}{snapshot}{epsilon}",
            "requirements": ["openworld"], "minari_version": minari.__version__,
            "description": (f"{card['steps']:,} reset-free steps of {agent['id']}{epsilon} in {card['num_envs']} "
                            f"worlds of {card['world']}{variant}, cut into segments of {card['segment_steps']} "
                            "steps (truncated at a cut, terminated at a death; docs/data.md). Infos named eval_* "
                            "are evaluator labels, never agent inputs."),
            "code_permalink": "https://github.com/openworld/openworld (openworld collect)"}
