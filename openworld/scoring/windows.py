"""Windowed recording: per-body sums over windows of world time, one row per body and window.

With ``window=W > 1`` the monitor writes one row per body and window ``[kW, (k+1)W)`` of world time
(aligned to multiples of ``W``, so that the rows of different bodies and runs line up; only a body's
first and last rows can be partial). :class:`Windows` keeps the sums of the window each body is
filling and hands a window's row to its ``emit`` callback once the body's clock leaves it, or at
:meth:`Windows.finish`. The row's columns are those of
:func:`~openworld.scoring.storage.window_columns` less the labels (``regime``, ``shift``), which the
recorder adds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

WindowRows = dict[str, npt.NDArray[Any]]
"""Finished windows, one row per body: ``body``, ``t`` (first clock), ``steps``, ``alive_steps``, ``deaths``,
``alive_last``, ``wellbeing`` (mean over the steps), ``vitals`` (means over the alive steps, 0 if none)."""


class Windows:
    """The windows being filled, one per body (window index -1: none open).

    Args:
        num_bodies: bodies recorded.
        num_vitals: vitals per body.
        width: world steps per window, ``W``.
        emit: called with the rows of finished windows (see :data:`WindowRows`).
    """

    _FIELDS = ("window", "first", "steps", "alive_steps", "deaths", "alive_last", "wellbeing", "vitals")

    def __init__(self, num_bodies: int, num_vitals: int, width: int, emit: Callable[[WindowRows], None]) -> None:
        self.width = width
        self.emit = emit
        n = num_bodies
        self.window = np.full(n, -1, np.int64)
        self.first = np.zeros(n, np.int64)
        self.steps = np.zeros(n, np.int64)
        self.alive_steps = np.zeros(n, np.int64)
        self.deaths = np.zeros(n, np.int64)
        self.alive_last = np.zeros(n, bool)
        self.wellbeing = np.zeros(n, np.float64)
        self.vitals = np.zeros((n, num_vitals), np.float64)

    def add(self, index: npt.NDArray[np.int64], clock: npt.NDArray[np.int64], alive: npt.NDArray[np.bool_],
            died: npt.NDArray[np.bool_], wellbeing: npt.NDArray[np.float32],
            vitals: npt.NDArray[np.float32]) -> None:
        """Add one recorded step of the bodies ``index`` (at their clocks ``clock``)."""
        window = clock // self.width
        moved = self.window[index] != window
        if np.any(moved):
            finished = index[moved & (self.window[index] >= 0)]
            if finished.size:
                self.close_windows(finished)
            self._open(index[moved], window[moved], clock[moved])
        self.steps[index] += 1
        self.alive_steps[index] += alive
        self.deaths[index] += died
        self.wellbeing[index] += wellbeing
        self.vitals[index] += np.where(alive[:, None], vitals, 0.0)
        self.alive_last[index] = alive

    def add_dead_span(self, body: int, first: int, count: int) -> None:
        """Count ``count`` dead steps of ``body`` from clock ``first`` into the windows they fall in."""
        clock, end = first, first + count
        while clock < end:
            window = clock // self.width
            if self.window[body] != window:
                if self.window[body] >= 0:
                    self.close_windows(np.array([body]))
                self._open(np.array([body]), np.array([window]), np.array([clock]))
            upto = min(end, (window + 1) * self.width)
            self.steps[body] += upto - clock
            self.alive_last[body] = False
            clock = upto

    def close_windows(self, bodies: npt.NDArray[np.int64]) -> None:
        """Emit the windows of these bodies as rows and forget them (bodies with no step are skipped)."""
        bodies = bodies[self.steps[bodies] > 0]
        if bodies.size == 0:
            return
        steps = self.steps[bodies]
        self.emit({"body": bodies.astype(np.int32), "t": self.first[bodies], "steps": steps.astype(np.int32),
                   "alive_steps": self.alive_steps[bodies].astype(np.int32),
                   "deaths": self.deaths[bodies].astype(np.int32), "alive_last": self.alive_last[bodies],
                   "wellbeing": self.wellbeing[bodies] / steps,
                   "vitals": self.vitals[bodies] / np.maximum(self.alive_steps[bodies], 1)[:, None]})
        self.window[bodies] = -1

    def finish(self) -> None:
        """Emit every open window, partial or not (at the end of a recording)."""
        self.close_windows(np.flatnonzero(self.window >= 0))

    def state_dict(self) -> dict[str, npt.NDArray[Any]]:
        """The open windows' sums (copies)."""
        return {name: getattr(self, name).copy() for name in self._FIELDS}

    def load_state_dict(self, state: Mapping[str, npt.ArrayLike]) -> None:
        """Continue from a :meth:`state_dict`."""
        for name in self._FIELDS:
            getattr(self, name)[...] = state[name]

    def _open(self, bodies: npt.NDArray[np.int64], window: npt.NDArray[np.int64],
              first: npt.NDArray[np.int64]) -> None:
        self.window[bodies] = window
        self.first[bodies] = first
        for name in ("steps", "alive_steps", "deaths", "alive_last", "wellbeing", "vitals"):
            getattr(self, name)[bodies] = 0
