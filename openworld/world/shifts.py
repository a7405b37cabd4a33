"""Shift schedules: how a world's tunable parameters and map change over its lifetime.

The schedule is compiled once from a :class:`~openworld.world.spec.WorldSpec`: every path it names is
checked against the spec's tunable numbers (static shape parameters can never shift), and every value
against that number's range. At run time it maps world clocks to parameter vectors, vectorised over
worlds, and tells the engine how long the current values stay constant so that parameters are only
recomputed at breakpoints (every step only inside a gradual ramp).

The schedule is the evaluator's knowledge: nothing here reaches an agent's observation.

Example:
    >>> from openworld.world.spec import load_spec_text
    >>> spec = load_spec_text('''
    ... name: Demo
    ... resources: {berry: {regrow: 0.02}}
    ... shifts:
    ...   - {name: scarce, kind: abrupt, at: 100, set: {resources.berry.regrow: 0.001}}
    ... ''')
    >>> import numpy as np
    >>> schedule = ShiftSchedule(spec)
    >>> schedule.values(np.array([99, 100]))[:, schedule.index["resources.berry.regrow"]].tolist()
    [0.02, 0.001]
    >>> schedule.regime_name(150)
    'scarce'
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Literal

import numpy as np

from openworld.errors import SpecError
from openworld.world.parsing import number_field, tunable_field_meta

if TYPE_CHECKING:
    from openworld.world.spec import WorldSpec

NEVER = np.iinfo(np.int64).max // 4


@dataclass(frozen=True)
class MapEvent:
    """A change of the map at a shift: ``regenerate`` re-places resources (or the whole map);
    ``relocate`` moves a fraction of one resource's cells to fresh eligible cells."""

    op: Literal["regenerate", "relocate"] = "relocate"
    resource: str = "all"
    fraction: float = number_field(1.0, 0.0, 1.0)


@dataclass(frozen=True)
class RegimeSpec:
    name: str = "regime"
    set: dict[str, float] = field(default_factory=dict)
    map: tuple[MapEvent, ...] = ()


@dataclass(frozen=True)
class ShiftSpec:
    """One entry of the shift schedule.

    * ``abrupt``: from step ``at`` on, the ``set`` values hold; ``map`` events fire at ``at``.
    * ``gradual``: between ``start`` and ``end`` each path in ``set`` ramps linearly from the value
      in force before the shift to the given value, which then holds.
    * ``cyclic``: from ``start`` on, the regimes take turns, each for ``period`` steps, forever; each
      regime's ``map`` events fire whenever it begins.
    """

    name: str = "shift"
    kind: Literal["abrupt", "gradual", "cyclic"] = "abrupt"
    at: int = number_field(0, 0, 10**12)
    start: int = number_field(0, 0, 10**12)
    end: int = number_field(0, 0, 10**12)
    period: int = number_field(1, 1, 10**12)
    set: dict[str, float] = field(default_factory=dict)
    regimes: tuple[RegimeSpec, ...] = ()
    map: tuple[MapEvent, ...] = ()


SHIFT_KEYS = tuple(f.name for f in fields(ShiftSpec) if f.name != "name")  # what a variant may patch


@dataclass(frozen=True)
class ShiftEvent:
    """The onset of a shift, as the monitor records it."""

    t: int
    kind: str  # "abrupt" | "gradual" | "cyclic"
    name: str  # the shift's name, or the regime's name for a cyclic shift


class ShiftSchedule:
    """A compiled shift schedule.

    Attributes:
        paths: every tunable path, in parameter-vector order.
        index: path -> column of the parameter vector.
        base: the spec's own values (the parameter vector before any shift).
    """

    def __init__(self, spec: WorldSpec) -> None:
        self.spec = spec
        tunables = spec.tunables()
        self.paths: tuple[str, ...] = tuple(tunables)
        self.index: dict[str, int] = {p: i for i, p in enumerate(self.paths)}
        self.base = np.array([tunables[p] for p in self.paths], dtype=np.float64)
        self._is_int = np.array([isinstance(_default_of(spec, p), int) for p in self.paths])
        self.shifts: tuple[ShiftSpec, ...] = spec.shifts
        src = spec.source

        def check_set(values: dict[str, float], where: str) -> tuple[np.ndarray, np.ndarray]:
            cols, vals = [], []
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
                    raise SpecError(f"{src}: {where}.{path}: {reason}")
                meta = tunable_field_meta(spec, path)
                lo, hi = meta.get("lo"), meta.get("hi")
                if (lo is not None and value < lo) or (hi is not None and value > hi):
                    raise SpecError(f"{src}: {where}.{path}: {value!r} is out of range [{lo}, {hi}]")
                if self._is_int[self.index[path]] and float(value) != int(value):
                    raise SpecError(f"{src}: {where}.{path}: expected an integer, got {value!r}")
                cols.append(self.index[path])
                vals.append(float(value))
            return np.array(cols, dtype=np.int64), np.array(vals, dtype=np.float64)

        def check_map(events: tuple[MapEvent, ...], where: str) -> None:
            for i, event in enumerate(events):
                if event.resource != "all" and event.resource not in spec.resources:
                    close = difflib.get_close_matches(event.resource, list(spec.resources), n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    raise SpecError(f"{src}: {where}.map[{i}].resource: unknown resource "
                                    f"'{event.resource}'{hint}")

        self._compiled: list[tuple[ShiftSpec, list[tuple[np.ndarray, np.ndarray]]]] = []
        names = set()
        for k, shift in enumerate(self.shifts):
            where = f"shifts[{k}]"
            if shift.name in names:
                raise SpecError(f"{src}: {where}.name: duplicate shift name '{shift.name}'")
            names.add(shift.name)
            if shift.kind == "cyclic":
                if not shift.regimes:
                    raise SpecError(f"{src}: {where}.regimes: a cyclic shift needs at least one regime")
                if shift.set or shift.map:
                    raise SpecError(f"{src}: {where}: a cyclic shift puts 'set' and 'map' inside its regimes")
                sets = []
                for j, regime in enumerate(shift.regimes):
                    sets.append(check_set(regime.set, f"{where}.regimes[{j}].set"))
                    check_map(regime.map, f"{where}.regimes[{j}]")
            else:
                if shift.regimes:
                    raise SpecError(f"{src}: {where}.regimes: only a cyclic shift has regimes")
                if shift.kind == "gradual":
                    if shift.end <= shift.start:
                        raise SpecError(f"{src}: {where}.end: a gradual shift needs end > start "
                                        f"(got start={shift.start}, end={shift.end})")
                    if shift.map:
                        raise SpecError(f"{src}: {where}.map: map events belong to abrupt or cyclic shifts")
                sets = [check_set(shift.set, f"{where}.set")]
                check_map(shift.map, where)
            self._compiled.append((shift, sets))

        self._has_map_events = any(shift.map or any(r.map for r in shift.regimes) for shift in self.shifts)
        count_col = self.index.get("hazards.predator.count")
        if count_col is not None:
            max_count = spec.hazards.predator.max_count
            for shift, sets in self._compiled:
                for cols, vals in sets:
                    if np.any(vals[cols == count_col] > max_count):
                        raise SpecError(f"{src}: shift '{shift.name}': hazards.predator.count exceeds "
                                        f"hazards.predator.max_count ({max_count})")

    # ------------------------------------------------------------------ parameters
    def values(self, clock: np.ndarray) -> np.ndarray:
        """Parameter vectors in force at each world clock, shape ``(len(clock), len(paths))``."""
        clock = np.asarray(clock, dtype=np.int64)
        theta = np.broadcast_to(self.base, (clock.shape[0], self.base.shape[0])).copy()
        for shift, sets in self._compiled:
            if shift.kind == "abrupt":
                cols, vals = sets[0]
                on = (clock >= shift.at)[:, None]
                theta[:, cols] = np.where(on, vals, theta[:, cols])
            elif shift.kind == "gradual":
                cols, vals = sets[0]
                frac = np.clip((clock - shift.start) / (shift.end - shift.start), 0.0, 1.0)[:, None]
                ramped = theta[:, cols] + frac * (vals - theta[:, cols])
                theta[:, cols] = np.where(self._is_int[cols], np.round(ramped), ramped)
            else:
                active = clock >= shift.start
                regime = ((clock - shift.start) // shift.period) % len(shift.regimes)
                for j, (cols, vals) in enumerate(sets):
                    on = (active & (regime == j))[:, None]
                    theta[:, cols] = np.where(on, vals, theta[:, cols])
        return theta

    def constant_until(self, t: int) -> int:
        """The first step after ``t`` at which parameters or the map may change (NEVER if none)."""
        nxt = NEVER
        for shift in self.shifts:
            if shift.kind == "abrupt":
                cand = shift.at if t < shift.at else NEVER
            elif shift.kind == "gradual":
                cand = shift.start if t < shift.start else (t + 1 if t < shift.end else NEVER)
            else:
                cand = shift.start if t < shift.start else \
                    shift.start + ((t - shift.start) // shift.period + 1) * shift.period
            nxt = min(nxt, cand)
        return int(nxt)

    # ------------------------------------------------------------------ map events
    @property
    def has_map_events(self) -> bool:
        return self._has_map_events

    def map_events_between(self, t0: int, t1: int) -> list[tuple[int, MapEvent]]:
        """Map events that fire as a clock goes from ``t0`` to ``t1`` (times in ``(t0, t1]``), in order."""
        out: list[tuple[int, MapEvent]] = []
        for shift in self.shifts:
            if shift.kind == "abrupt" and shift.map and t0 < shift.at <= t1:
                out.extend((shift.at, event) for event in shift.map)
            elif shift.kind == "cyclic" and any(r.map for r in shift.regimes):
                k = max(0, (t0 - shift.start) // shift.period + 1)
                while (t := shift.start + k * shift.period) <= t1:
                    if t > t0:
                        out.extend((t, e) for e in shift.regimes[k % len(shift.regimes)].map)
                    k += 1
        return sorted(out, key=lambda item: item[0])  # stable: declaration order within a step

    def map_events_at(self, t: int) -> list[MapEvent]:
        """Map events that fire when a world's clock reaches ``t``."""
        return [event for _, event in self.map_events_between(t - 1, t)]

    def map_event_mask(self, clock: np.ndarray) -> np.ndarray:
        """Which of these clocks (one per world) is the time of a map event, vectorised over worlds."""
        mask = np.zeros(clock.shape, dtype=bool)
        for shift in self.shifts:
            if shift.kind == "abrupt" and shift.map:
                mask |= clock == shift.at
            elif shift.kind == "cyclic" and any(r.map for r in shift.regimes):
                mask |= (clock >= shift.start) & ((clock - shift.start) % shift.period == 0)
        return mask

    # ------------------------------------------------------------------ the evaluator's view
    def regime_name(self, t: int) -> str:
        """A label for the regime in force at ``t``: the active shifts joined by ``+``, or ``base``."""
        parts = []
        for shift in self.shifts:
            if shift.kind == "abrupt" and t >= shift.at:
                parts.append(shift.name)
            elif shift.kind == "gradual" and t >= shift.start:
                parts.append(shift.name if t >= shift.end else f"{shift.name}~")
            elif shift.kind == "cyclic" and t >= shift.start:
                parts.append(shift.regimes[((t - shift.start) // shift.period) % len(shift.regimes)].name)
        return "+".join(parts) if parts else "base"

    def events(self, t0: int, t1: int) -> list[ShiftEvent]:
        """Shift onsets in ``[t0, t1)``, sorted by time (cyclic: each regime change)."""
        out = []
        for shift in self.shifts:
            if shift.kind == "abrupt" and t0 <= shift.at < t1:
                out.append(ShiftEvent(shift.at, "abrupt", shift.name))
            elif shift.kind == "gradual" and t0 <= shift.start < t1:
                out.append(ShiftEvent(shift.start, "gradual", shift.name))
            elif shift.kind == "cyclic":
                first = max(0, -(-(t0 - shift.start) // shift.period))
                k = first
                while shift.start + k * shift.period < t1:
                    t = shift.start + k * shift.period
                    # A cyclic schedule's first regime starting at t=0 is the initial state, not a shift.
                    if t > 0:
                        out.append(ShiftEvent(t, "cyclic", shift.regimes[k % len(shift.regimes)].name))
                    k += 1
        return sorted(out, key=lambda e: e.t)


def _default_of(spec: WorldSpec, path: str) -> object:
    obj: object = spec
    for part in path.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


def describe(spec: WorldSpec) -> list[str]:
    """One human-readable line per shift, for ``openworld show`` and the demo."""
    lines = []
    for shift in spec.shifts:
        if shift.kind == "abrupt":
            when = f"at step {shift.at}"
            what = ", ".join([f"{k}={v:g}" for k, v in shift.set.items()] +
                             [f"{e.op} {e.resource}" + (f" ({e.fraction:.0%})" if e.fraction < 1 else "")
                              for e in shift.map])
        elif shift.kind == "gradual":
            when = f"ramping over steps {shift.start}-{shift.end}"
            what = ", ".join(f"{k}->{v:g}" for k, v in shift.set.items())
        else:
            when = f"every {shift.period} steps from step {shift.start}"
            what = " / ".join(r.name for r in shift.regimes)
        lines.append(f"{shift.name} ({shift.kind}, {when}): {what}")
    return lines


__all__ = ["NEVER", "SHIFT_KEYS", "MapEvent", "RegimeSpec", "ShiftEvent", "ShiftSchedule", "ShiftSpec", "describe"]
