"""The compiled shift schedule: a world's shifts checked against its spec, asked in turn.

The schedule is compiled once from a :class:`~openworld.world.spec.WorldSpec`: every path a shift sets
is checked against the spec's tunable numbers (static shape parameters can never shift), and every
value against that number's range. At run time it maps world clocks to parameter vectors, vectorised
over worlds, and tells the engine how long the current values stay constant so that parameters are
only recomputed at breakpoints (every step only inside a gradual ramp). Every answer is the shifts'
own answers combined: the schedule never looks at a kind's name.

The schedule is the evaluator's knowledge: nothing here reaches an agent's observation.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

import numpy as np

from openworld.errors import SpecError, brief
from openworld.world.parsing import tunable_field_meta
from openworld.world.rules import parameter_range
from openworld.world.shifts.base import NEVER, Assignment, MapEvent, ShiftEvent, ShiftSpec

if TYPE_CHECKING:
    from collections.abc import Mapping

    from openworld.world.spec import WorldSpec


class ShiftSchedule:
    """A compiled shift schedule.

    Attributes:
        paths: every tunable path, in parameter-vector order.
        index: path -> column of the parameter vector.
        base: the spec's own values (the parameter vector before any shift).
        shifts: the spec's shifts, in declaration order (later ones win where two set one path).
    """

    def __init__(self, spec: WorldSpec) -> None:
        self.spec = spec
        tunables = spec.tunables()
        self.paths: tuple[str, ...] = tuple(tunables)
        self.index: dict[str, int] = {p: i for i, p in enumerate(self.paths)}
        self.base = np.array([tunables[p] for p in self.paths], dtype=np.float64)
        self._is_int = np.array([isinstance(_default_of(spec, p), int) for p in self.paths])
        self.shifts: tuple[ShiftSpec, ...] = spec.shifts
        self._compiled: list[tuple[ShiftSpec, tuple[Assignment, ...]]] = []
        names = set()
        for k, shift in enumerate(self.shifts):
            where = f"shifts[{k}]"
            if shift.name in names:
                raise SpecError(f"{spec.source}: {where}.name: duplicate shift name '{shift.name}'")
            names.add(shift.name)
            assignments = tuple(self._compile(values, f"{where}.{key}") for key, values in shift.value_sets())
            for key, events in shift.map_event_lists():
                self._check_map(events, f"{where}.{key}")
            self._compiled.append((shift, assignments))
        # Bound methods, and only the shifts with map events: these are asked on the engine's hot path.
        self._next_changes = [shift.next_change for shift in self.shifts]
        self._map_shifts = [shift for shift in self.shifts if any(events for _, events in shift.map_event_lists())]
        self._has_map_events = bool(self._map_shifts)
        count_col = self.index.get("hazards.predator.count")
        if count_col is not None:
            max_count = spec.hazards.predator.max_count
            for shift, assignments in self._compiled:
                for a in assignments:
                    if np.any(a.values[a.columns == count_col] > max_count):
                        raise SpecError(f"{spec.source}: shift '{shift.name}': hazards.predator.count exceeds "
                                        f"hazards.predator.max_count ({max_count})")

    def _compile(self, values: Mapping[str, float], where: str) -> Assignment:
        """One ``set`` as parameter-vector columns and values, every path and value checked."""
        spec, cols, vals = self.spec, [], []
        for path, value in values.items():
            if path not in self.index:
                try:
                    meta = tunable_field_meta(spec, path)
                    reason = "is a static shape parameter and cannot shift" if meta.get("static") \
                        else "is not a number that can shift"
                except KeyError:
                    close = difflib.get_close_matches(path, self.paths, n=1)
                    reason = "is not a tunable parameter of this world" + (
                        f" (did you mean '{close[0]}'?)" if close else "")
                raise SpecError(f"{spec.source}: {where}.{path}: {reason}")
            lo: float | None
            hi: float | None
            if path.startswith("rules."):  # a rule's parameter: its rule's range
                lo, hi = parameter_range(*path.split(".")[1:])
            else:
                meta = tunable_field_meta(spec, path)
                lo, hi = meta.get("lo"), meta.get("hi")
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                raise SpecError(f"{spec.source}: {where}.{path}: {brief(value)} is out of range [{lo}, {hi}]")
            if self._is_int[self.index[path]] and float(value) != int(value):
                raise SpecError(f"{spec.source}: {where}.{path}: expected an integer, got {brief(value)}")
            cols.append(self.index[path])
            vals.append(float(value))
        columns = np.array(cols, dtype=np.int64)
        return Assignment(columns, np.array(vals, dtype=np.float64), self._is_int[columns])

    def _check_map(self, events: tuple[MapEvent, ...], where: str) -> None:
        resources = self.spec.resources
        for i, event in enumerate(events):
            if event.resource != "all" and event.resource not in resources:
                close = difflib.get_close_matches(event.resource, list(resources), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise SpecError(f"{self.spec.source}: {where}[{i}].resource: unknown resource "
                                f"'{event.resource}'{hint}")

    # ------------------------------------------------------------------ parameters
    def values(self, clock: np.ndarray) -> np.ndarray:
        """Parameter vectors in force at each world clock, shape ``(len(clock), len(paths))``."""
        clock = np.asarray(clock, dtype=np.int64)
        theta = np.broadcast_to(self.base, (clock.shape[0], self.base.shape[0])).copy()
        for shift, assignments in self._compiled:
            shift.apply(theta, clock, assignments)
        return theta

    def constant_until(self, t: int) -> int:
        """The first step after ``t`` at which parameters or the map may change (NEVER if none)."""
        nxt = NEVER
        for next_change in self._next_changes:
            cand = next_change(t)
            if cand < nxt:
                nxt = cand
        return int(nxt)

    # ------------------------------------------------------------------ map events
    @property
    def has_map_events(self) -> bool:
        return self._has_map_events

    def map_events_between(self, t0: int, t1: int) -> list[tuple[int, MapEvent]]:
        """Map events that fire as a clock goes from ``t0`` to ``t1`` (times in ``(t0, t1]``), in order."""
        out = [item for shift in self._map_shifts for item in shift.map_events_between(t0, t1)]
        return sorted(out, key=lambda item: item[0])  # stable: declaration order within a step

    def map_events_at(self, t: int) -> list[MapEvent]:
        """Map events that fire when a world's clock reaches ``t``."""
        return [event for _, event in self.map_events_between(t - 1, t)]

    def map_event_mask(self, clock: np.ndarray) -> np.ndarray:
        """Which of these clocks (one per world) is the time of a map event, vectorised over worlds."""
        mask = np.zeros(clock.shape, dtype=bool)
        for shift in self._map_shifts:
            shift.mark_map_events(mask, clock)
        return mask

    # ------------------------------------------------------------------ the evaluator's view
    def regime_name(self, t: int) -> str:
        """A label for the regime in force at ``t``: the active shifts joined by ``+``, or ``base``."""
        parts = [part for shift in self.shifts if (part := shift.label(t)) is not None]
        return "+".join(parts) if parts else "base"

    def regime_changes(self, t0: int, t1: int) -> list[int]:
        """Clocks in ``(t0, t1)`` at which :meth:`regime_name` may change, sorted (with repeats)."""
        return sorted(t for shift in self.shifts for t in shift.label_changes(t0, t1))

    def events(self, t0: int, t1: int) -> list[ShiftEvent]:
        """Shift onsets in ``[t0, t1)``, sorted by time (cyclic: each regime change)."""
        return sorted((event for shift in self.shifts for event in shift.onsets(t0, t1)), key=lambda e: e.t)


def _default_of(spec: WorldSpec, path: str) -> object:
    obj: object = spec
    for part in path.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


def describe(spec: WorldSpec) -> list[str]:
    """One human-readable line per shift, for ``openworld show`` and the demo."""
    return [shift.describe() for shift in spec.shifts]


__all__ = ["ShiftSchedule", "describe"]
