"""The ``gradual`` kind: between ``start`` and ``end`` each path in ``set`` ramps linearly from the value
in force before the shift to the given value, which then holds (integers are rounded along the way)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from openworld.world.parsing import fail, number_field
from openworld.world.shifts.base import NEVER, Assignment, ShiftEvent, ShiftSpec, Stretch, format_values


@dataclass(frozen=True)
class GradualShift(ShiftSpec):
    """A linear ramp over ``[start, end]``; parameters are recomputed every step inside it."""

    kind: ClassVar[str] = "gradual"
    refused: ClassVar[Mapping[str, str]] = {"regimes": "only a cyclic shift has regimes",
                                            "map": "map events belong to abrupt or cyclic shifts"}

    start: int = number_field(0, 0, 10**12)
    end: int = number_field(0, 0, 10**12)
    set: dict[str, float] = field(default_factory=dict)

    def validate(self, path: str, source: str) -> None:
        if self.end <= self.start:
            fail(source, f"{path}.end", f"a gradual shift needs end > start (got start={self.start}, end={self.end})")

    def value_sets(self) -> tuple[tuple[str, Mapping[str, float]], ...]:
        return (("set", self.set),)

    def apply(self, theta: np.ndarray, clock: np.ndarray, assignments: tuple[Assignment, ...]) -> None:
        (a,) = assignments
        frac = np.clip((clock - self.start) / (self.end - self.start), 0.0, 1.0)[:, None]
        ramped = theta[:, a.columns] + frac * (a.values - theta[:, a.columns])
        theta[:, a.columns] = np.where(a.is_int, np.round(ramped), ramped)

    def next_change(self, t: int) -> int:
        return self.start if t < self.start else (t + 1 if t < self.end else NEVER)

    def onsets(self, t0: int, t1: int) -> list[ShiftEvent]:
        return [ShiftEvent(self.start, self.kind, self.name)] if t0 <= self.start < t1 else []

    def label(self, t: int) -> str | None:
        if t < self.start:
            return None
        return self.name if t >= self.end else f"{self.name}~"  # "~": still ramping

    def label_changes(self, t0: int, t1: int) -> list[int]:
        return [t for t in (self.start, self.end) if t0 < t < t1]

    def value_times(self) -> tuple[int, ...]:
        return (self.start, self.end)

    def timing(self) -> str:
        return f"ramping over steps {self.start}-{self.end}"

    def changes(self) -> str:
        return ", ".join(format_values(self.set, "->"))

    def display_until(self) -> int:
        return self.end

    def timeline(self, horizon: int) -> list[Stretch]:
        return [Stretch(self.start, self.end, level0=0.0, level1=1.0), Stretch(self.end, horizon)]
