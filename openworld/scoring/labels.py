"""The evaluator's labels of world time: the regime in force and the shift onsets at each world clock.

Every recorded row carries the regime (:meth:`~openworld.world.shifts.ShiftSchedule.regime_name`) and the
onsets at its clock, labelled ``kind:name@t`` (several at one clock joined by ``|``). Rows store them as
integer codes into the lists of names this module builds, which the Parquet chunks store as dictionary
strings. This is the evaluator's knowledge, never shown to the agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from openworld.world.shifts import ShiftSchedule

SHIFT_JOIN = "|"

# How far beyond the latest clock the regime and shift look-up tables reach when they are rebuilt.
_SCHEDULE_SPAN = 1 << 16


def shift_events(shift: npt.NDArray[np.int32], labels: Sequence[str]) -> list[tuple[int, int, str, str]]:
    """``(row, t, kind, name)`` of every onset in a ``shift`` code column (-1: no onset in the row).

    Example:
        >>> shift_events(np.array([-1, 0, -1, 1]), ["abrupt:dry@2", "abrupt:wet@4|cyclic:day@4"])
        [(1, 2, 'abrupt', 'dry'), (3, 4, 'abrupt', 'wet'), (3, 4, 'cyclic', 'day')]
    """
    events = []
    for row in np.flatnonzero(shift >= 0).tolist():
        for label in labels[shift[row]].split(SHIFT_JOIN):
            kind, rest = label.split(":", 1)
            name, clock = rest.rsplit("@", 1)
            events.append((row, int(clock), kind, name))
    return events


class ScheduleLookup:
    """Vectorised ``regime_name(t)`` and shift onsets over a range of clocks, rebuilt as clocks advance.

    Regimes change only at shift onsets and at the end of a gradual ramp, so a sorted table of those
    breakpoints answers any clock in the covered range with one ``searchsorted``.
    """

    def __init__(self, schedule: ShiftSchedule | None) -> None:
        self.schedule = schedule
        self.regime_names: list[str] = []
        self.shift_labels: list[str] = []
        self._regime_code: dict[str, int] = {}
        self._shift_code: dict[str, int] = {}
        self.lo, self.hi = 0, -1
        self._breaks = np.zeros(1, np.int64)
        self._break_code = np.zeros(1, np.int32)
        self._onset_t = np.zeros(0, np.int64)
        self._onset_code = np.zeros(0, np.int32)

    def restore(self, regime_names: Sequence[str], shift_labels: Sequence[str]) -> None:
        """Continue with the codes of a checkpointed recording; the tables are rebuilt at the next :meth:`cover`."""
        self.regime_names, self.shift_labels = list(regime_names), list(shift_labels)
        self._regime_code = {name: i for i, name in enumerate(self.regime_names)}
        self._shift_code = {name: i for i, name in enumerate(self.shift_labels)}
        self.lo, self.hi = 0, -1

    def cover(self, lo: int, hi: int) -> None:
        """Make clocks in ``[lo, hi)`` answerable."""
        if self.lo <= lo and hi <= self.hi:
            return
        lo, hi = max(0, lo), hi + max(_SCHEDULE_SPAN, hi - lo)
        self.lo, self.hi = lo, hi
        if self.schedule is None:
            self._break_code = np.array([self._code(self._regime_code, self.regime_names, "base")], np.int32)
            self._breaks = np.array([lo], np.int64)
            return
        events = self.schedule.events(lo, hi)
        onsets: dict[int, list[str]] = {}
        for event in events:
            onsets.setdefault(event.t, []).append(f"{event.kind}:{event.name}@{event.t}")
        ends = self.schedule.regime_changes(lo, hi)  # the onsets again, and where a ramp ends
        self._breaks = np.unique(np.array([lo, *onsets, *ends], np.int64))
        self._break_code = np.array([self._code(self._regime_code, self.regime_names,
                                                self.schedule.regime_name(int(b))) for b in self._breaks], np.int32)
        self._onset_t = np.array(sorted(onsets), np.int64)
        self._onset_code = np.array([self._code(self._shift_code, self.shift_labels, SHIFT_JOIN.join(onsets[t]))
                                     for t in sorted(onsets)], np.int32)

    def regimes(self, clock: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
        """The code of the regime in force at each clock (clocks in the covered range)."""
        return self._break_code[np.searchsorted(self._breaks, clock, "right") - 1]

    def onsets_at(self, clock: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
        """The code of the onsets at each clock, -1 where none."""
        if self._onset_t.size == 0:
            return np.full(clock.shape, -1, np.int32)
        at = np.minimum(np.searchsorted(self._onset_t, clock), self._onset_t.size - 1)
        return np.where(self._onset_t[at] == clock, self._onset_code[at], -1).astype(np.int32)

    def onsets_in(self, start: npt.NDArray[np.int64], end: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
        """The code of all onsets in ``[start, end)`` of each row, -1 where none."""
        lo, hi = np.searchsorted(self._onset_t, start), np.searchsorted(self._onset_t, end)
        codes = np.full(start.shape, -1, np.int32)
        for i in np.flatnonzero(hi > lo):
            label = SHIFT_JOIN.join(self.shift_labels[c] for c in self._onset_code[lo[i]:hi[i]])
            codes[i] = self._code(self._shift_code, self.shift_labels, label)
        return codes

    @staticmethod
    def _code(table: dict[str, int], names: list[str], name: str) -> int:
        if name not in table:
            table[name] = len(names)
            names.append(name)
        return table[name]
