"""The ``abrupt`` kind: from step ``at`` on, the ``set`` values hold; ``map`` events fire at ``at``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from openworld.world.parsing import number_field
from openworld.world.shifts.base import NEVER, Assignment, MapEvent, ShiftEvent, ShiftSpec, Stretch, format_values


@dataclass(frozen=True)
class AbruptShift(ShiftSpec):
    """A step change at ``at``, for ever after."""

    kind: ClassVar[str] = "abrupt"
    refused: ClassVar[Mapping[str, str]] = {"regimes": "only a cyclic shift has regimes"}

    at: int = number_field(0, 0, 10**12)
    set: dict[str, float] = field(default_factory=dict)
    map: tuple[MapEvent, ...] = ()

    def value_sets(self) -> tuple[tuple[str, Mapping[str, float]], ...]:
        return (("set", self.set),)

    def map_event_lists(self) -> tuple[tuple[str, tuple[MapEvent, ...]], ...]:
        return (("map", self.map),)

    def apply(self, theta: np.ndarray, clock: np.ndarray, assignments: tuple[Assignment, ...]) -> None:
        (a,) = assignments
        on = (clock >= self.at)[:, None]
        theta[:, a.columns] = np.where(on, a.values, theta[:, a.columns])

    def next_change(self, t: int) -> int:
        return self.at if t < self.at else NEVER

    def onsets(self, t0: int, t1: int) -> list[ShiftEvent]:
        return [ShiftEvent(self.at, self.kind, self.name)] if t0 <= self.at < t1 else []

    def label(self, t: int) -> str | None:
        return self.name if t >= self.at else None

    def map_events_between(self, t0: int, t1: int) -> list[tuple[int, MapEvent]]:
        return [(self.at, event) for event in self.map] if t0 < self.at <= t1 else []

    def mark_map_events(self, mask: np.ndarray, clock: np.ndarray) -> None:
        if self.map:
            mask |= clock == self.at

    def value_times(self) -> tuple[int, ...]:
        return (self.at,)

    def timing(self) -> str:
        return f"at step {self.at}"

    def changes(self) -> str:
        moves = [f"{e.op} {e.resource}" + (f" ({e.fraction:.0%})" if e.fraction < 1 else "") for e in self.map]
        return ", ".join(format_values(self.set) + moves)

    def display_until(self) -> int:
        return self.at

    def timeline(self, horizon: int) -> list[Stretch]:
        return [Stretch(self.at, horizon, onset=True)]
