"""The tunable parameters in force, as arrays shaped for one step: :class:`StepParams` from parameter vectors.

The schedule (:class:`~openworld.world.shifts.ShiftSchedule`) turns each world's clock into a raw
parameter vector ``theta``; :class:`ParameterTable` reshapes a batch of those vectors into the
broadcastable tables the phases read (per-action vital costs, resource effects, predator settings...).
Building them is the costly part, so the engine caches the result between schedule breakpoints.

The small lookup tables over actions and vitals live here too, next to the costs built from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from openworld.enums import Action, Vital
from openworld.world.shifts import ShiftSchedule
from openworld.world.spec import WorldSpec

# Lookup tables indexed by action value; plain ints rather than enum attributes in the hot path,
# because an IntEnum attribute lookup costs more than the numpy operation it feeds.
MOVE_DIRECTION = np.full(len(Action), -1, dtype=np.int64)
MOVE_DIRECTION[[Action.NORTH, Action.EAST, Action.SOUTH, Action.WEST]] = [0, 1, 2, 3]
IS_INTERACT = np.arange(len(Action)) == Action.INTERACT
IS_REST = np.arange(len(Action)) == Action.REST
HEALTH, ENERGY = int(Vital.HEALTH), int(Vital.ENERGY)
NEEDS = slice(int(Vital.FOOD), int(Vital.ENERGY) + 1)  # food, water, energy: emptiness hurts health
assert [Vital.FOOD, Vital.WATER, Vital.ENERGY] == list(Vital)[NEEDS]


@dataclass
class StepParams:
    """The tunable parameters in force, reshaped for broadcasting against the state arrays."""

    theta: np.ndarray  # (B, P) the raw parameter vectors
    decay: np.ndarray  # (B, 1, K)
    vital_max: np.ndarray  # (B, 1, K)
    effects: np.ndarray  # (B, R + 1, K): row 0 is "no resource"
    regrow: np.ndarray  # (B, R + 1)
    action_cost: np.ndarray  # (B, len(Action), K): vitals lost per step by action (decay, move, rest)
    starvation_damage: np.ndarray  # (B, 1)
    heal_rate: np.ndarray  # (B, 1)
    comfort_level: np.ndarray  # (B, 1, 3): food, water, energy above this = comfortable
    health_max: np.ndarray  # (B, 1)
    predator_count: np.ndarray  # (B, 1) int
    predator_active: np.ndarray  # (B, P) bool: the first ``count`` slots
    predator_speed: np.ndarray  # (B, 1)
    predator_sight: np.ndarray  # (B, 1)
    predator_damage: np.ndarray  # (B, 1)
    predator_reach: np.ndarray  # (B, 1)
    slip: np.ndarray  # (B, 1)
    rotation: np.ndarray  # (B, 1) int
    noise: np.ndarray  # (B, 1, 1)
    rules: dict[str, dict[str, np.ndarray]]  # rule id -> parameter -> (B, 1)
    any_predators: bool
    any_slip: bool
    any_rotation: bool
    any_noise: bool


class ParameterTable:
    """Builds :class:`StepParams` from parameter vectors of one spec.

    Args:
        spec: the world spec.
        schedule: its shift schedule (for the column of each parameter path).
        num_predators: predator slots per world.

    Attributes:
        columns: columns of ``theta`` by group: ``decay``, ``max`` and ``start`` (one per Vital),
            ``effects`` (per resource, one per Vital), ``regrow`` and ``density`` (one per resource).
    """

    def __init__(self, spec: WorldSpec, schedule: ShiftSchedule, num_predators: int) -> None:
        self.spec = spec
        self.index = schedule.index
        self.num_resources = len(spec.resources)
        col = self.index
        vitals = [v.name.lower() for v in Vital]
        self.columns: dict[str, Any] = {
            "decay": [col[f"body.{v}.decay"] for v in vitals],
            "max": [col[f"body.{v}.max"] for v in vitals],
            "start": [col[f"body.{v}.start"] for v in vitals],
            "effects": [[col[f"resources.{r}.effects.{v}"] for v in vitals] for r in spec.resources],
            "regrow": [col[f"resources.{r}.regrow"] for r in spec.resources],
            "density": [col[f"resources.{r}.density"] for r in spec.resources],
        }
        self.num_predators = num_predators
        self.slots = np.arange(num_predators)[None, :]  # (1, P) predator slot numbers

    def build(self, theta: np.ndarray) -> StepParams:
        """The step parameters of a ``(B, P)`` batch of parameter vectors."""
        col, c = self.index, self.columns
        B, K = theta.shape[0], len(Vital)

        def one(path: str) -> np.ndarray:
            return theta[:, col[path]][:, None]

        effects = np.zeros((B, self.num_resources + 1, K))
        regrow = np.zeros((B, self.num_resources + 1))
        if self.num_resources:
            effects[:, 1:, :] = theta[:, np.array(c["effects"])]
            regrow[:, 1:] = theta[:, c["regrow"]]
        predator_count = one("hazards.predator.count").astype(np.int64)
        action_cost = np.repeat(theta[:, c["decay"]][:, None, :], len(Action), axis=1)
        action_cost[:, MOVE_DIRECTION >= 0, ENERGY] += one("body.move_cost")
        action_cost[:, int(Action.REST), ENERGY] -= theta[:, col["body.rest_gain"]]
        slip, rotation = one("dynamics.slip"), one("dynamics.rotation").astype(np.int64)
        noise = one("observation.noise")[:, :, None]
        return StepParams(
            theta=theta,
            decay=theta[:, c["decay"]][:, None, :],
            vital_max=theta[:, c["max"]][:, None, :],
            effects=effects,
            regrow=regrow,
            action_cost=action_cost,
            starvation_damage=one("body.starvation_damage"),
            heal_rate=one("body.heal_rate"),
            comfort_level=one("body.comfort")[:, :, None] * theta[:, c["max"]][:, None, NEEDS],
            health_max=theta[:, c["max"][HEALTH]][:, None],
            predator_count=predator_count,
            predator_active=self.slots < predator_count,
            predator_speed=one("hazards.predator.speed"),
            predator_sight=one("hazards.predator.sight"),
            predator_damage=one("hazards.predator.damage"),
            predator_reach=one("hazards.predator.reach"),
            slip=slip,
            rotation=rotation,
            noise=noise,
            rules={rule: {name: theta[:, col[f"rules.{rule}.{name}"]][:, None] for name in values}
                   for rule, values in self.spec.rules.items()},
            any_predators=bool(self.num_predators and predator_count.max() > 0),
            any_slip=bool(slip.max() > 0),
            any_rotation=bool(rotation.max() > 0),
            any_noise=bool(noise.max() > 0),
        )
