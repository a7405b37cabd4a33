"""The ``cyclic`` kind: from ``start`` on, the ``regimes`` take turns, each for ``period`` steps, for
ever; each regime's ``map`` events fire whenever it begins."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from openworld.world.parsing import fail, number_field
from openworld.world.shifts.base import Assignment, MapEvent, RegimeSpec, ShiftEvent, ShiftSpec, Stretch

IN_REGIMES = "a cyclic shift puts 'set' and 'map' inside its regimes"


@dataclass(frozen=True)
class CyclicShift(ShiftSpec):
    """Regimes in turn, ``period`` steps each, from ``start``."""

    kind: ClassVar[str] = "cyclic"
    refused: ClassVar[Mapping[str, str]] = {"set": IN_REGIMES, "map": IN_REGIMES}

    start: int = number_field(0, 0, 10**12)
    period: int = number_field(1, 1, 10**12)
    regimes: tuple[RegimeSpec, ...] = ()

    def validate(self, path: str, source: str) -> None:
        if not self.regimes:
            fail(source, f"{path}.regimes", "a cyclic shift needs at least one regime")
        seen: set[str] = set()
        for j, regime in enumerate(self.regimes):  # a regime's name labels the stream and a variant's patch
            if regime.name in seen:
                fail(source, f"{path}.regimes[{j}].name", f"duplicate regime name '{regime.name}'")
            seen.add(regime.name)

    def regime_at(self, t: int) -> int:
        """The index of the regime in force at ``t >= start`` (the turn count modulo the regimes)."""
        return ((t - self.start) // self.period) % len(self.regimes)

    def value_sets(self) -> tuple[tuple[str, Mapping[str, float]], ...]:
        return tuple((f"regimes[{j}].set", regime.set) for j, regime in enumerate(self.regimes))

    def map_event_lists(self) -> tuple[tuple[str, tuple[MapEvent, ...]], ...]:
        return tuple((f"regimes[{j}].map", regime.map) for j, regime in enumerate(self.regimes))

    def apply(self, theta: np.ndarray, clock: np.ndarray, assignments: tuple[Assignment, ...]) -> None:
        active = clock >= self.start
        regime = ((clock - self.start) // self.period) % len(self.regimes)
        for j, a in enumerate(assignments):
            on = (active & (regime == j))[:, None]
            theta[:, a.columns] = np.where(on, a.values, theta[:, a.columns])

    def next_change(self, t: int) -> int:
        if t < self.start:
            return self.start
        return self.start + ((t - self.start) // self.period + 1) * self.period

    def onsets(self, t0: int, t1: int) -> list[ShiftEvent]:
        out = []
        k = max(0, -(-(t0 - self.start) // self.period))
        while (t := self.start + k * self.period) < t1:
            # The first regime starting at t=0 is the world's initial state, not a shift.
            if t > 0:
                out.append(ShiftEvent(t, self.kind, self.regimes[k % len(self.regimes)].name))
            k += 1
        return out

    def label(self, t: int) -> str | None:
        return self.regimes[self.regime_at(t)].name if t >= self.start else None

    def map_events_between(self, t0: int, t1: int) -> list[tuple[int, MapEvent]]:
        out: list[tuple[int, MapEvent]] = []
        if not any(regime.map for regime in self.regimes):
            return out
        k = max(0, (t0 - self.start) // self.period + 1)
        while (t := self.start + k * self.period) <= t1:
            if t > t0:
                out.extend((t, event) for event in self.regimes[k % len(self.regimes)].map)
            k += 1
        return out

    def mark_map_events(self, mask: np.ndarray, clock: np.ndarray) -> None:
        if any(regime.map for regime in self.regimes):
            mask |= (clock >= self.start) & ((clock - self.start) % self.period == 0)

    def value_times(self) -> tuple[int, ...]:
        return tuple(self.start + j * self.period for j in range(len(self.regimes)))

    def timing(self) -> str:
        return f"every {self.period} steps from step {self.start}"

    def changes(self) -> str:
        return " / ".join(regime.name for regime in self.regimes)

    def display_until(self) -> int:
        return self.start + 2 * self.period * len(self.regimes)

    def timeline(self, horizon: int) -> list[Stretch]:
        out = []
        k, t = 0, self.start
        while t < horizon:
            j = k % len(self.regimes)
            out.append(Stretch(t, min(t + self.period, horizon), regime=j, label=self.regimes[j].name))
            k, t = k + 1, t + self.period
        return out
