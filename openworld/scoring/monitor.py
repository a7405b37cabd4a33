"""The evaluator's recorder: per-body survival and wellbeing streams on disk, in bounded memory.

A :class:`Monitor` receives, after every step, each body's world clock, whether it is alive, its
vitals (as fractions of their maxima) and whether it died, and writes one row per body and world
step (``window=1``) or one row per body and window of ``window`` world steps. It also labels every
row with the regime in force and the shift onsets, from the world's
:class:`~openworld.world.shifts.ShiftSchedule`: the evaluator's knowledge, never shown to the agent.

**World time.** Rows are keyed by world clock: the row with ``t = c`` describes the body just after
the step that brought its world's clock to ``c`` (so the first step after ``reset`` is ``t = 1``,
and a shift at ``t_k`` is first seen in the row ``t = t_k``). A world's clock can jump: the vector
env fast-forwards a world through its dead body's respawn delay, and the single env's ``reset()``
lets the delay pass. The monitor fills every skipped clock with a dead row (alive 0, wellbeing 0,
vitals 0), so alive fraction and wellbeing are measured over world time, as DESIGN.md section 5
defines them. Clocks of different worlds drift apart; each body's stream has its own clocks.

**On disk** (a run directory)::

    <directory>/monitor.json            how the stream was recorded (mode, window, vitals, metadata)
    <directory>/stream/chunk-00000000.parquet, chunk-00000001.parquet, ...
    <directory>/summary.json            written by :func:`summarize`

Rows are buffered in memory and written as one Parquet file per chunk (``chunk_rows`` rows, or
whatever is buffered after ``flush_seconds``), to a temporary name that is then renamed, so a reader
never sees half a chunk and a crash loses at most the rows not yet flushed. Memory is constant
however long the run: the buffer, plus per-body counters. :func:`read_recording` concatenates the
finished chunks and works while the run goes on.

**Columns** (``window=1``): ``body`` int32, ``t`` int64 (world clock), ``alive`` bool, ``died``
bool, ``wellbeing`` float32 (``alive * clip(min vital, 0, 1)``, exact: a float32 vital), one
``vital_<name>`` float32 per vital, ``regime`` (dictionary string: the
:meth:`~openworld.world.shifts.ShiftSchedule.regime_name` at ``t``) and ``shift`` (dictionary string,
null unless a shift starts at ``t``: ``kind:name@t``, several joined by ``|``).

With ``window=W > 1`` a row covers the clocks ``[t, t + steps)`` of one window ``[kW, (k+1)W)`` of
world time (windows are aligned to multiples of ``W``, so the rows of different bodies and runs
line up; only a body's first and last rows can be partial): ``steps``, ``alive_steps``, ``deaths``
(int32), ``alive_last`` (alive at the window's last step), ``wellbeing`` (float64 mean over the
window's steps, dead steps counting 0), ``vital_<name>`` (float64 means over the window's *alive*
steps, 0 if none), ``regime`` (at ``t``) and ``shift`` (every onset inside the window). A window
is written once complete; :meth:`Monitor.close` writes the partial last ones.

Example:
    >>> import tempfile
    >>> import numpy as np
    >>> from openworld.scoring.monitor import Monitor, read_recording
    >>> directory = tempfile.mkdtemp()
    >>> with Monitor(directory, schedule=None, num_bodies=2) as monitor:
    ...     monitor.record([1, 1], [True, True], np.full((2, 4), 0.5), [False, False])
    ...     monitor.record([2, 5], [True, True], np.full((2, 4), 0.25), [False, False])
    >>> recording = read_recording(directory)
    >>> recording.body(1)["t"].tolist(), recording.body(1)["alive"].tolist()
    ([1, 2, 3, 4, 5], [True, False, False, False, True])
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from openworld.enums import Vital
from openworld.files import atomic_write, atomic_write_text
from openworld.scoring import metrics

if TYPE_CHECKING:
    import pyarrow as pa

    from openworld.world.shifts import ShiftSchedule

FORMAT = "openworld.scoring.monitor"
FORMAT_VERSION = 1
META_FILE = "monitor.json"
SUMMARY_FILE = "summary.json"
STREAM_DIR = "stream"
CHUNK_PATTERN = re.compile(r"^chunk-(\d{8,})\.parquet$")
VITAL_NAMES: tuple[str, ...] = tuple(vital.name.lower() for vital in Vital)

DEFAULT_CHUNK_ROWS: int = 1 << 18
"""Rows per chunk file. A per-step row takes 42 bytes in the buffer with four vitals, so the buffer
holds about 11 MB; on disk a row takes about 3 to 7 bytes (zstd)."""

DEFAULT_FLUSH_SECONDS: float = 60.0
"""A slow run writes whatever is buffered once this much wall time has passed since the last write,
so that a crash never loses more than about a minute of a slow run."""

CURVE_POINTS: int = 512
"""At most this many points of the mean wellbeing curve kept in ``summary.json`` for plots."""

SHIFT_JOIN = "|"

# How far beyond the latest clock the regime and shift look-up tables reach when they are rebuilt.
_SCHEDULE_SPAN = 1 << 16


# =============================================================================== the recorder
class Monitor:
    """Records the survival and wellbeing streams of ``num_bodies`` bodies into ``directory``.

    Args:
        directory: the run directory; created if needed. It must not hold a recording already
            unless ``resume=True``.
        schedule: the world's shift schedule (regime and shift labels); ``None`` for a world without
            shifts (every row in regime ``base``).
        num_bodies: bodies recorded at once (``num_envs`` of a vector env).
        window: world steps per row; 1 records every step.
        chunk_rows: rows buffered before a chunk file is written.
        flush_seconds: also write the buffer when this many seconds have passed since the last write
            (checked at each :meth:`record`); ``None`` for never.
        vital_names: names of the vitals, in the order of the ``vitals`` columns.
        metadata: JSON-serialisable facts about the run kept in ``monitor.json`` and copied into the
            summary, e.g. ``{"world": "Shiftlands-v0", "agent": "forager", "seed": 0}``.
        resume: continue a recording in ``directory``: call :meth:`load_state_dict` with the
            checkpointed state before recording.

    Raises:
        FileExistsError: if ``directory`` already holds a recording and ``resume`` is False.
    """

    def __init__(self, directory: str | os.PathLike[str], schedule: ShiftSchedule | None, num_bodies: int, *,
                 window: int = 1, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 flush_seconds: float | None = DEFAULT_FLUSH_SECONDS,
                 vital_names: Sequence[str] = VITAL_NAMES, metadata: Mapping[str, Any] | None = None,
                 resume: bool = False) -> None:
        for name, value in (("num_bodies", num_bodies), ("window", window), ("chunk_rows", chunk_rows)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if flush_seconds is not None and not flush_seconds > 0:
            raise ValueError(f"flush_seconds must be positive or None, got {flush_seconds!r}")
        self.directory = Path(directory)
        self.stream_directory = self.directory / STREAM_DIR
        self.num_bodies = int(num_bodies)
        self.window = int(window)
        self.chunk_rows = int(chunk_rows)
        self.flush_seconds = flush_seconds
        self.vital_names = tuple(str(name) for name in vital_names)
        self.metadata = dict(metadata or {})
        self._lookup = _ScheduleLookup(schedule)
        self._columns = _step_columns(len(self.vital_names)) if self.window == 1 else \
            _window_columns(len(self.vital_names))
        self._buffer = _ColumnBuffer(self._columns, self.chunk_rows)
        self._chunks = 0
        self._rows_written = 0
        self._last_clock = np.full(self.num_bodies, -1, dtype=np.int64)  # -1: not started
        self._windows = _WindowAccumulators(self.num_bodies, len(self.vital_names)) if self.window > 1 else None
        self._last_write = time.monotonic()
        self._closed = False
        self._needs_state = bool(resume)
        meta = {"format": FORMAT, "version": FORMAT_VERSION, "mode": "step" if self.window == 1 else "window",
                "window": self.window, "num_bodies": self.num_bodies, "vitals": list(self.vital_names),
                "metadata": self.metadata, "closed": False}
        try:
            json.dumps(meta, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise ValueError(f"metadata must be JSON-serialisable: {err}") from err
        self._meta = meta
        if resume:
            existing = _read_meta(self.directory)
            differing = [key for key in ("mode", "window", "num_bodies", "vitals") if existing[key] != meta[key]]
            if differing:
                raise ValueError(f"{self.directory}: cannot resume a recording made with different "
                                 f"{', '.join(differing)}: {[existing[k] for k in differing]} on disk, "
                                 f"{[meta[k] for k in differing]} now")
        else:
            if (self.directory / META_FILE).exists() or _chunk_files(self.stream_directory):
                raise FileExistsError(f"{self.directory} already holds a recording; choose a new directory, or "
                                      "pass resume=True and load_state_dict(<checkpointed state>) to continue it")
            self.stream_directory.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.directory / META_FILE, json.dumps(meta, indent=1))

    # ------------------------------------------------------------------ recording
    def start(self, world_step: npt.ArrayLike) -> None:
        """Declare each body's clock before its first recorded step (e.g. ``info["world_step"]`` of
        ``reset``). Optional: without it a body's stream starts at its first recorded clock; with it,
        clocks skipped before the first record are recorded as dead."""
        clocks = np.broadcast_to(np.asarray(world_step, dtype=np.int64), (self.num_bodies,))
        started = self._last_clock >= 0
        if np.any(started & (clocks != self._last_clock)):
            raise RuntimeError("start() called after recording began")
        self._last_clock = clocks.copy()

    def record(self, world_step: npt.ArrayLike, alive: npt.ArrayLike, vitals: npt.ArrayLike,
               died: npt.ArrayLike, *, bodies: npt.ArrayLike | None = None) -> None:
        """Record one step of every body (or of ``bodies`` only).

        Args:
            world_step: ``(n,)`` world clocks after the step; each must exceed the body's last one.
                A jump of more than one records the skipped clocks as dead.
            alive: ``(n,)`` bool.
            vitals: ``(n, K)`` vitals as fractions of their maxima (``obs["vitals"]``).
            died: ``(n,)`` bool: the body died in this step.
            bodies: ``(n,)`` indices of the bodies these rows are for; all bodies in order if None.

        Raises:
            ValueError: on wrong shapes, a clock that does not move forward, or non-finite vitals
                of a living body.
        """
        self._check_writable()
        index = np.arange(self.num_bodies) if bodies is None else np.asarray(bodies, dtype=np.int64).reshape(-1)
        n = index.size
        if bodies is not None and (np.unique(index).size != n or np.any((index < 0) | (index >= self.num_bodies))):
            raise ValueError(f"bodies must be distinct indices in [0, {self.num_bodies}), got {index.tolist()}")
        clock = np.asarray(world_step, dtype=np.int64).reshape(-1)
        living = np.asarray(alive, dtype=bool).reshape(-1)
        dead_now = np.asarray(died, dtype=bool).reshape(-1)
        values = np.asarray(vitals, dtype=np.float32)
        if clock.shape != (n,) or living.shape != (n,) or dead_now.shape != (n,) or values.shape != (
                n, len(self.vital_names)):
            raise ValueError(f"expected world_step, alive, died of shape ({n},) and vitals of shape "
                             f"({n}, {len(self.vital_names)}); got {clock.shape}, {living.shape}, "
                             f"{dead_now.shape}, {values.shape}")
        last = self._last_clock[index]
        stale = (last >= 0) & (clock <= last)
        if np.any(stale):
            i = int(np.flatnonzero(stale)[0])
            raise ValueError(f"body {int(index[i])}: world clock {int(clock[i])} does not move forward from "
                             f"{int(last[i])}; a recording follows one lifetime (was the world regenerated "
                             "with reset(seed=...)? start a new Monitor in a new directory)")
        if not np.all(np.isfinite(values[living])):
            raise ValueError("vitals of a living body must be finite")
        wellbeing = np.where(living, np.clip(values.min(axis=1), 0.0, 1.0), 0.0).astype(np.float32)
        gap = np.where(last >= 0, clock - last - 1, 0)
        self._lookup.cover(int(np.where(last >= 0, last + 1, clock).min()) - self.window,
                           int(clock.max()) + self.window + 1)
        if self._windows is None:
            if np.any(gap > 0):
                self._append_dead_steps(index, last + 1, gap)
            self._buffer.append(body=index.astype(np.int32), t=clock, alive=living, died=dead_now,
                                wellbeing=wellbeing, vitals=values, regime=self._lookup.regimes(clock),
                                shift=self._lookup.onsets_at(clock))
        else:
            for i in np.flatnonzero(gap > 0).tolist():
                self._add_dead_span(int(index[i]), int(last[i]) + 1, int(gap[i]))
            self._accumulate(index, clock, living, dead_now, wellbeing, values)
        self._last_clock[index] = clock
        if self._buffer.size >= self.chunk_rows or (
                self.flush_seconds is not None and time.monotonic() - self._last_write >= self.flush_seconds):
            self.flush()

    def record_info(self, vitals: npt.ArrayLike, info: Mapping[str, Any]) -> None:
        """Record a step from openworld's ``info`` and ``obs["vitals"]``: the vector env's (arrays,
        ``info["events"]["death"]``) or the single env's (scalars, ``"death" in info["events"]``)."""
        events = info["events"]
        died = events["death"] if isinstance(events, Mapping) else ["death" in events]
        self.record(np.atleast_1d(info["world_step"]), np.atleast_1d(info["alive"]),
                    np.asarray(vitals).reshape(np.size(np.atleast_1d(info["world_step"])), -1), died)

    def flush(self) -> None:
        """Write the buffered rows as one chunk file (nothing if the buffer is empty)."""
        self._check_writable()
        self._last_write = time.monotonic()
        if self._buffer.size == 0:
            return
        table = _to_arrow(self._buffer.view(), self.vital_names, self._lookup)
        path = self.stream_directory / f"chunk-{self._chunks:08d}.parquet"
        atomic_write(path, lambda tmp: _write_parquet(table, tmp))
        self._chunks += 1
        self._rows_written += self._buffer.size
        self._buffer.clear()

    def close(self) -> None:
        """Write the partial last windows and the buffer, and mark the recording complete."""
        if self._closed:
            return
        if self._windows is not None and not self._needs_state:
            self._emit_windows(np.flatnonzero(self._windows.window >= 0))
        if not self._needs_state:
            self.flush()
            self._meta["closed"] = True
            atomic_write_text(self.directory / META_FILE, json.dumps(self._meta, indent=1))
        self._closed = True

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def clocks(self) -> npt.NDArray[np.int64]:
        """Each body's last recorded (or started) world clock; -1 before any."""
        return self._last_clock.copy()

    @property
    def chunks_written(self) -> int:
        """Chunk files written so far."""
        return self._chunks

    @property
    def rows(self) -> int:
        """Rows recorded so far: written to chunk files or buffered (windows still open not counted)."""
        return self._rows_written + self._buffer.size

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The position of the recording: chunks written, the unflushed rows, per-body clocks and
        partial windows. Plain ints, lists and numpy arrays (picklable; ``torch.save`` works).

        Resuming from it (:meth:`load_state_dict`) and recording the same steps again gives exactly
        the stream of an uninterrupted run. Call :meth:`flush` first to keep the checkpoint small."""
        state: dict[str, Any] = {
            "format": FORMAT, "version": FORMAT_VERSION, "window": self.window, "num_bodies": self.num_bodies,
            "chunks": self._chunks, "rows_written": self._rows_written, "last_clock": self._last_clock.copy(),
            "buffer": {name: array.copy() for name, array in self._buffer.view().items()},
            "regime_names": list(self._lookup.regime_names), "shift_labels": list(self._lookup.shift_labels),
        }
        if self._windows is not None:
            state["windows"] = self._windows.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict`: chunk files written after it are deleted, a stale
        ``summary.json`` too; everything written before it is kept.

        Raises:
            ValueError: if the state belongs to a different kind of recording, or refers to chunk
                files that are missing.
        """
        if state.get("format") != FORMAT or state.get("version") != FORMAT_VERSION:
            raise ValueError("not a Monitor state_dict (or one of another format version)")
        if state["window"] != self.window or state["num_bodies"] != self.num_bodies:
            raise ValueError(f"state_dict is for window={state['window']}, num_bodies={state['num_bodies']}; "
                             f"this monitor has window={self.window}, num_bodies={self.num_bodies}")
        chunks = int(state["chunks"])
        self.stream_directory.mkdir(parents=True, exist_ok=True)
        on_disk = _chunk_files(self.stream_directory)
        missing = sorted(set(range(chunks)) - set(on_disk))
        if missing:
            raise ValueError(f"{self.stream_directory}: the checkpoint needs chunk files {missing[:5]}, "
                             "which are missing; the recording cannot be resumed from it")
        for index, path in on_disk.items():
            if index >= chunks:
                path.unlink()
        for stray in self.stream_directory.glob(".*.tmp"):
            stray.unlink()
        (self.directory / SUMMARY_FILE).unlink(missing_ok=True)
        self._chunks = chunks
        self._rows_written = int(state["rows_written"])
        self._last_clock = np.array(state["last_clock"], dtype=np.int64)
        self._lookup.restore(state["regime_names"], state["shift_labels"])
        self._buffer.clear()
        if len(state["buffer"]["t"]):
            self._buffer.append(**state["buffer"])
        if self._windows is not None:
            self._windows.load_state_dict(state["windows"])
        self._closed = False
        self._needs_state = False
        self._meta["closed"] = False
        atomic_write_text(self.directory / META_FILE, json.dumps(self._meta, indent=1))

    # ------------------------------------------------------------------ internals
    def _check_writable(self) -> None:
        if self._closed:
            raise RuntimeError(f"the monitor of {self.directory} is closed")
        if self._needs_state:
            raise RuntimeError("this Monitor was opened with resume=True: call load_state_dict(state) "
                               "before recording")

    def _append_dead_steps(self, index: npt.NDArray[np.int64], first: npt.NDArray[np.int64],
                           gap: npt.NDArray[np.int64]) -> None:
        """Explicit dead rows for the clocks ``first[i], ..., first[i] + gap[i] - 1`` of each body."""
        count = int(gap.sum())
        starts = np.repeat(first, gap)
        offsets = np.arange(count) - np.repeat(np.cumsum(gap) - gap, gap)
        clock = starts + offsets
        self._buffer.append(body=np.repeat(index, gap).astype(np.int32), t=clock, alive=np.zeros(count, bool),
                            died=np.zeros(count, bool), wellbeing=np.zeros(count, np.float32),
                            vitals=np.zeros((count, len(self.vital_names)), np.float32),
                            regime=self._lookup.regimes(clock), shift=self._lookup.onsets_at(clock))

    def _add_dead_span(self, body: int, first: int, count: int) -> None:
        """Count ``count`` dead steps from clock ``first`` into the windows they fall in."""
        acc = self._windows
        assert acc is not None
        clock, end = first, first + count
        while clock < end:
            window = clock // self.window
            if acc.window[body] != window:
                if acc.window[body] >= 0:
                    self._emit_windows(np.array([body]))
                acc.open(np.array([body]), np.array([window]), np.array([clock]))
            upto = min(end, (window + 1) * self.window)
            acc.steps[body] += upto - clock
            acc.alive_last[body] = False
            clock = upto

    def _accumulate(self, index: npt.NDArray[np.int64], clock: npt.NDArray[np.int64], alive: npt.NDArray[np.bool_],
                    died: npt.NDArray[np.bool_], wellbeing: npt.NDArray[np.float32],
                    vitals: npt.NDArray[np.float32]) -> None:
        acc = self._windows
        assert acc is not None
        window = clock // self.window
        moved = acc.window[index] != window
        if np.any(moved):
            finished = index[moved & (acc.window[index] >= 0)]
            if finished.size:
                self._emit_windows(finished)
            acc.open(index[moved], window[moved], clock[moved])
        acc.steps[index] += 1
        acc.alive_steps[index] += alive
        acc.deaths[index] += died
        acc.wellbeing[index] += wellbeing
        acc.vitals[index] += np.where(alive[:, None], vitals, 0.0)
        acc.alive_last[index] = alive

    def _emit_windows(self, bodies: npt.NDArray[np.int64]) -> None:
        """Append the accumulated windows of these bodies as rows and forget them."""
        acc = self._windows
        assert acc is not None
        bodies = bodies[acc.steps[bodies] > 0]
        if bodies.size == 0:
            return
        steps = acc.steps[bodies]
        first = acc.first[bodies]
        self._lookup.cover(int(first.min()), int((first + steps).max()) + 1)
        self._buffer.append(body=bodies.astype(np.int32), t=first, steps=steps.astype(np.int32),
                            alive_steps=acc.alive_steps[bodies].astype(np.int32),
                            deaths=acc.deaths[bodies].astype(np.int32), alive_last=acc.alive_last[bodies],
                            wellbeing=acc.wellbeing[bodies] / steps,
                            vitals=acc.vitals[bodies] / np.maximum(acc.alive_steps[bodies], 1)[:, None],
                            regime=self._lookup.regimes(first), shift=self._lookup.onsets_in(first, first + steps))
        acc.window[bodies] = -1


@dataclass
class _WindowAccumulators:
    """Per-body sums over the window being filled (window index -1: none open)."""

    num_bodies: int
    num_vitals: int
    window: npt.NDArray[np.int64] = field(init=False)
    first: npt.NDArray[np.int64] = field(init=False)
    steps: npt.NDArray[np.int64] = field(init=False)
    alive_steps: npt.NDArray[np.int64] = field(init=False)
    deaths: npt.NDArray[np.int64] = field(init=False)
    alive_last: npt.NDArray[np.bool_] = field(init=False)
    wellbeing: npt.NDArray[np.float64] = field(init=False)
    vitals: npt.NDArray[np.float64] = field(init=False)

    _FIELDS = ("window", "first", "steps", "alive_steps", "deaths", "alive_last", "wellbeing", "vitals")

    def __post_init__(self) -> None:
        n = self.num_bodies
        self.window = np.full(n, -1, np.int64)
        self.first = np.zeros(n, np.int64)
        self.steps = np.zeros(n, np.int64)
        self.alive_steps = np.zeros(n, np.int64)
        self.deaths = np.zeros(n, np.int64)
        self.alive_last = np.zeros(n, bool)
        self.wellbeing = np.zeros(n, np.float64)
        self.vitals = np.zeros((n, self.num_vitals), np.float64)

    def open(self, bodies: npt.NDArray[np.int64], window: npt.NDArray[np.int64],
             first: npt.NDArray[np.int64]) -> None:
        self.window[bodies] = window
        self.first[bodies] = first
        for name in ("steps", "alive_steps", "deaths", "alive_last", "wellbeing", "vitals"):
            getattr(self, name)[bodies] = 0

    def state_dict(self) -> dict[str, npt.NDArray[Any]]:
        return {name: getattr(self, name).copy() for name in self._FIELDS}

    def load_state_dict(self, state: Mapping[str, npt.ArrayLike]) -> None:
        for name in self._FIELDS:
            getattr(self, name)[...] = state[name]


# =============================================================================== wrappers
class RecordLifetime(gym.Wrapper[Any, Any, Any, Any]):
    """Record the lifetime of an openworld single env into a :class:`Monitor`.

    Wrap the openworld env itself (innermost), since the wrapper reads ``obs["vitals"]`` and
    ``info``. Every ``step`` is recorded; a ``reset()`` that brings a dead body back records the
    clocks of its respawn delay as dead and the respawned body at the new clock. A ``reset(seed=s)``
    after recording started regenerates the world and raises ``ValueError`` at the next record: a
    recording follows one lifetime.

    Args:
        env: an openworld env (``gymnasium.make("openworld/...")``).
        directory: the run directory for the :class:`Monitor`.
        window, chunk_rows, flush_seconds: see :class:`Monitor`.
        metadata: run facts for the summary; ``world`` defaults to the env's world id.

    Example:
        >>> import tempfile, gymnasium as gym, openworld
        >>> from openworld.scoring.monitor import RecordLifetime, read_recording
        >>> env = RecordLifetime(gym.make("openworld/Meadow-v0"), tempfile.mkdtemp())
        >>> obs, info = env.reset(seed=0)
        >>> for _ in range(3):
        ...     obs, reward, terminated, truncated, info = env.step(0)
        >>> env.close()
        >>> read_recording(env.monitor.directory).columns["t"].tolist()
        [1, 2, 3]
    """

    def __init__(self, env: gym.Env[Any, Any], directory: str | os.PathLike[str], *, window: int = 1,
                 chunk_rows: int = DEFAULT_CHUNK_ROWS, flush_seconds: float | None = DEFAULT_FLUSH_SECONDS,
                 metadata: Mapping[str, Any] | None = None) -> None:
        super().__init__(env)
        self.monitor = _monitor_for(env.unwrapped, directory, 1, window, chunk_rows, flush_seconds, metadata)
        self._started = False

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        if not self._started:
            self.monitor.start([info["world_step"]])
            self._started = True
        elif info["world_step"] != self.monitor.clocks[0]:
            self.monitor.record([info["world_step"]], [info["alive"]], np.reshape(obs["vitals"], (1, -1)), [False])
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.monitor.record_info(obs["vitals"], info)
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        self.monitor.close()
        super().close()


class RecordLifetimeVector(gym.vector.VectorWrapper):
    """Record every body of an openworld vector env into a :class:`Monitor` (see :class:`RecordLifetime`).

    Under NEXT_STEP autoreset a world's clock jumps over its body's respawn delay; the skipped clocks
    are recorded as dead. A ``reset()`` without a seed respawns dead bodies now: their new clocks are
    recorded, the others' are left alone.

    Example:
        >>> import tempfile, gymnasium as gym, numpy as np, openworld
        >>> from openworld.scoring.monitor import RecordLifetimeVector, read_recording
        >>> envs = gym.make_vec("openworld/Meadow-v0", num_envs=3, vectorization_mode="vector_entry_point")
        >>> envs = RecordLifetimeVector(envs, tempfile.mkdtemp())
        >>> obs, info = envs.reset(seed=0)
        >>> obs, rewards, terminated, truncated, info = envs.step(np.zeros(3, dtype=np.int64))
        >>> envs.close()
        >>> read_recording(envs.monitor.directory).columns["body"].tolist()
        [0, 1, 2]
    """

    def __init__(self, env: gym.vector.VectorEnv, directory: str | os.PathLike[str], *,  # type: ignore[type-arg]
                 window: int = 1, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 flush_seconds: float | None = DEFAULT_FLUSH_SECONDS,
                 metadata: Mapping[str, Any] | None = None) -> None:
        super().__init__(env)
        self.monitor = _monitor_for(env.unwrapped, directory, env.num_envs, window, chunk_rows, flush_seconds,
                                    metadata)
        self._started = False

    def reset(self, *, seed: int | list[int] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)  # type: ignore[arg-type]
        clock = np.asarray(info["world_step"], dtype=np.int64)
        if not self._started:
            self.monitor.start(clock)
            self._started = True
        else:
            moved = np.flatnonzero(clock != self.monitor.clocks)
            if moved.size:
                self.monitor.record(clock[moved], np.asarray(info["alive"])[moved], np.asarray(obs["vitals"])[moved],
                                    np.zeros(moved.size, bool), bodies=moved)
        return obs, info

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        self.monitor.record_info(obs["vitals"], info)
        return obs, rewards, terminated, truncated, info

    def close(self, **kwargs: Any) -> None:
        self.monitor.close()
        super().close(**kwargs)


def _monitor_for(unwrapped: Any, directory: str | os.PathLike[str], num_bodies: int, window: int,
                 chunk_rows: int, flush_seconds: float | None, metadata: Mapping[str, Any] | None) -> Monitor:
    from openworld.world.shifts import ShiftSchedule

    spec = getattr(unwrapped, "world_spec", None)
    if spec is None:
        raise TypeError(f"the monitor wrappers need an openworld env (with a world_spec), got {unwrapped!r}")
    facts = {"world": f"{spec.name}-v{spec.version}", **(metadata or {})}
    return Monitor(directory, ShiftSchedule(spec), num_bodies, window=window, chunk_rows=chunk_rows,
                   flush_seconds=flush_seconds, metadata=facts)


# =============================================================================== reading
@dataclass(frozen=True)
class Recording:
    """The finished chunks of a recording, rows sorted by body, then world clock.

    Attributes:
        directory: the run directory.
        mode: ``"step"`` (one row per world step) or ``"window"``.
        window: world steps per window (1 in step mode).
        num_bodies: bodies recorded.
        vital_names: the vitals, in the order of ``columns["vitals"]``'s second axis.
        metadata: the run facts given to the monitor.
        closed: the monitor was closed (False while the run goes on, or after a crash).
        columns: numpy arrays, one row per record: ``body``, ``t``, ``vitals`` ``(R, K)``,
            ``wellbeing``, ``regime`` (codes into ``regime_names``), ``shift`` (codes into
            ``shift_labels``, -1 for none), and in step mode ``alive``, ``died``; in window mode
            ``steps``, ``alive_steps``, ``deaths``, ``alive_last``.
        regime_names: regime label of each code.
        shift_labels: shift label of each code: ``kind:name@t``, several joined by ``|``.
    """

    directory: Path
    mode: str
    window: int
    num_bodies: int
    vital_names: tuple[str, ...]
    metadata: dict[str, Any]
    closed: bool
    columns: dict[str, npt.NDArray[Any]]
    regime_names: tuple[str, ...]
    shift_labels: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.columns["t"].size)

    def body(self, index: int) -> dict[str, npt.NDArray[Any]]:
        """The rows of one body (every column), in world-clock order."""
        body = self.columns["body"]
        lo, hi = np.searchsorted(body, index, "left"), np.searchsorted(body, index, "right")
        return {name: column[lo:hi] for name, column in self.columns.items()}

    def shift_events(self, index: int = 0) -> list[tuple[int, int, str, str]]:
        """Shift onsets in the stream of body ``index``: ``(row, t, kind, name)``, in clock order."""
        return _events_of(self.body(index)["shift"], self.shift_labels)


def read_recording(directory: str | os.PathLike[str]) -> Recording:
    """Read every finished chunk of the recording in ``directory``; safe while the run goes on.

    Raises:
        FileNotFoundError: if ``directory`` holds no recording.
    """
    import pyarrow.parquet as pq

    directory = Path(directory)
    meta = _read_meta(directory)
    vital_names = tuple(meta["vitals"])
    columns = _step_columns(len(vital_names)) if meta["mode"] == "step" else _window_columns(len(vital_names))
    parts: dict[str, list[npt.NDArray[Any]]] = {name: [] for name in columns}
    regimes = _CodeBook()
    shifts = _CodeBook()
    for path in _chunk_files(directory / STREAM_DIR).values():
        table = pq.read_table(path, read_dictionary=["regime", "shift"])
        for name, (dtype, shape) in columns.items():
            if name == "vitals":
                parts[name].append(np.stack([table.column(f"vital_{v}").to_numpy() for v in vital_names], axis=1)
                                   .astype(dtype).reshape(-1, *shape))
            elif name == "regime":
                parts[name].append(regimes.decode(table.column("regime")))
            elif name == "shift":
                parts[name].append(shifts.decode(table.column("shift")))
            else:
                parts[name].append(table.column(name).to_numpy().astype(dtype))
    merged = {name: np.concatenate(chunks) if chunks else np.zeros((0, *columns[name][1]), columns[name][0])
              for name, chunks in parts.items()}
    order = np.lexsort((merged["t"], merged["body"]))
    if not np.all(order[1:] > order[:-1]):
        merged = {name: column[order] for name, column in merged.items()}
    return Recording(directory, meta["mode"], int(meta["window"]), int(meta["num_bodies"]), vital_names,
                     dict(meta["metadata"]), bool(meta.get("closed", False)), merged, tuple(regimes.names),
                     tuple(shifts.names))


# =============================================================================== scoring
def summarize(directory: str | os.PathLike[str], *, window: int = metrics.DEFAULT_WINDOW,
              tolerance: float = metrics.DEFAULT_TOLERANCE, write: bool = True,
              **facts: Any) -> dict[str, Any]:
    """Score a recording and write ``summary.json`` (atomically) into its directory.

    The top level follows the run summary contract of ``docs/metrics.md`` and is scored on **all
    bodies together**, over the world-clock range that every body recorded: the shift scores and
    forgetting on the mean wellbeing stream (mean over bodies at each clock), survival as the mean
    over bodies of each body's survival scores. ``"bodies"`` holds the same record for each body over
    its whole stream. With one body the top level is that body's record. See ``docs/scoring.md``.

    A shift's ``t`` is its world clock (not a stream index); each shift also carries its ``name``
    and ``observed_steps`` (steps until the next shift or the end: the censoring time).

    Args:
        directory: the run directory.
        window: ``W`` of the shift scores and forgetting, in world steps; in window mode a multiple
            of the recording window.
        tolerance: ``eps`` of the recovery test.
        write: write ``summary.json``.
        **facts: ``world``, ``agent``, ``seed``, ``variant``... overriding the monitor's metadata.

    Returns:
        The summary dict (plain JSON values).

    Raises:
        ValueError: if ``world``, ``agent`` or ``seed`` is unknown, the recording is empty or has a
            hole, or ``window`` does not fit the recording.
    """
    recording = read_recording(directory)
    facts = {**recording.metadata, **facts}
    missing = [key for key in ("world", "agent", "seed") if key not in facts]
    if missing:
        raise ValueError(f"{directory}: the summary needs {missing}; give them to Monitor(metadata=...) or "
                         "to summarize(...)")
    if len(recording) == 0:
        raise ValueError(f"{directory}: the recording has no finished chunk yet")
    step = recording.window
    if window % step:
        raise ValueError(f"window={window} must be a multiple of the recording window ({step})")
    streams = [_BodyStream.of(recording, b) for b in range(recording.num_bodies)]
    streams = [s for s in streams if s.t.size]
    first = max(s.t[0] // step for s in streams)
    last = min(s.t[-1] // step for s in streams)
    if last < first:
        raise ValueError(f"{directory}: the bodies' streams share no world time")
    common = [s.between(first, last) for s in streams]
    top = _score(_BodyStream.mean(common), window, tolerance, survival=_mean_survival(common))
    summary: dict[str, Any] = {
        "steps": top.pop("steps"), "world": str(facts["world"]), "agent": str(facts["agent"]),
        "seed": int(facts["seed"]), **top}
    extra = {key: value for key, value in facts.items() if key not in summary}
    summary.update(extra)
    summary.update({"num_bodies": len(streams), "window": window, "tolerance": tolerance,
                    "recording": {"mode": recording.mode, "window": recording.window, "closed": recording.closed}})
    summary["bodies"] = [{"body": s.body, **_score(s, window, tolerance)} for s in streams]
    summary["wellbeing_curve"] = _curve(_BodyStream.mean(common))
    if write:
        atomic_write_text(Path(directory) / SUMMARY_FILE, json.dumps(summary, indent=1, allow_nan=False))
    return summary


@dataclass
class _BodyStream:
    """One body's rows (or the mean over bodies), in the form both recording modes share."""

    body: int
    width: int  # world steps per row slot (the recording window)
    t: npt.NDArray[np.int64]  # first clock of each row
    steps: npt.NDArray[np.int64]
    alive_steps: npt.NDArray[np.float64]
    deaths: npt.NDArray[np.int64]
    alive_last: npt.NDArray[np.bool_]
    wellbeing: npt.NDArray[np.float64]  # mean over the row's steps
    regime: npt.NDArray[np.int32]
    shift: npt.NDArray[np.int32]
    shift_labels: tuple[str, ...]
    alive: npt.NDArray[np.bool_] | None = None  # step mode only: exact per-step alive

    @classmethod
    def of(cls, recording: Recording, body: int) -> _BodyStream:
        rows = recording.body(body)
        t = rows["t"].astype(np.int64)
        if recording.mode == "step":
            steps = np.ones(t.size, np.int64)
            alive = rows["alive"]
            stream = cls(body, 1, t, steps, alive.astype(np.float64), rows["died"].astype(np.int64), alive,
                         rows["wellbeing"].astype(np.float64), rows["regime"], rows["shift"],
                         recording.shift_labels, alive)
        else:
            steps = rows["steps"].astype(np.int64)
            stream = cls(body, recording.window, t, steps, rows["alive_steps"].astype(np.float64),
                         rows["deaths"].astype(np.int64), rows["alive_last"], rows["wellbeing"].astype(np.float64),
                         rows["regime"], rows["shift"], recording.shift_labels)
        holes = np.flatnonzero(t[1:] != t[:-1] + steps[:-1])
        if holes.size:
            raise ValueError(f"{recording.directory}: body {body}'s stream has a hole after world clock "
                             f"{int(t[holes[0]] + steps[holes[0]] - 1)}")
        return stream

    def between(self, first: int, last: int) -> _BodyStream:
        """The rows whose slot (``t // width``) lies in ``[first, last]``."""
        slot = self.t // self.width
        lo, hi = int(np.searchsorted(slot, first)), int(np.searchsorted(slot, last, "right"))
        rows: dict[str, Any] = {name: value[lo:hi] for name, value in self.__dict__.items()
                                if isinstance(value, np.ndarray)}
        return dataclasses.replace(self, **rows)

    @classmethod
    def mean(cls, streams: Sequence[_BodyStream]) -> _BodyStream:
        """The mean wellbeing stream of aligned streams (survival fields of the first; unused)."""
        if len(streams) == 1:
            return streams[0]
        base = streams[0]
        wellbeing = np.mean([s.wellbeing for s in streams], axis=0)
        return _BodyStream(-1, base.width, base.t, base.steps, base.alive_steps, base.deaths, base.alive_last,
                           wellbeing, base.regime, base.shift, base.shift_labels, base.alive)


def _survival(stream: _BodyStream) -> metrics.SurvivalScores:
    """``metrics.survival`` of the stream; the same formulas on window sums in window mode."""
    if stream.alive is not None:
        return metrics.survival(stream.alive, stream.deaths.astype(bool))
    total = int(stream.steps.sum())
    alive_steps = float(stream.alive_steps.sum())
    deaths = int(stream.deaths.sum())
    lives = deaths + int(stream.alive_last[-1])
    if alive_steps > 0 and lives == 0:
        raise ValueError("inconsistent recording: alive at some step, dead at the end, and no death")
    return {"alive_fraction": alive_steps / total,
            "deaths_per_10k": metrics.DEATH_RATE_STEPS * deaths / total,
            "mean_lifetime": alive_steps / lives if alive_steps > 0 else 0.0}


def _mean_survival(streams: Sequence[_BodyStream]) -> metrics.SurvivalScores:
    scores = [_survival(s) for s in streams]
    return {"alive_fraction": float(np.mean([s["alive_fraction"] for s in scores])),
            "deaths_per_10k": float(np.mean([s["deaths_per_10k"] for s in scores])),
            "mean_lifetime": float(np.mean([s["mean_lifetime"] for s in scores]))}


def _score(stream: _BodyStream, window: int, tolerance: float,
           survival: metrics.SurvivalScores | None = None) -> dict[str, Any]:
    """The contract's scores of one stream, shift times reported as world clocks."""
    width = stream.width
    rows = window // width
    events = _events_of(stream.shift, stream.shift_labels)
    times = [row for row, _, _, _ in events]
    shift_scores = metrics.shift_metrics(stream.wellbeing, times, [kind for _, _, kind, _ in events], rows, tolerance)
    end_clock = int(stream.t[-1] + stream.steps[-1])
    onsets = sorted({t for _, t, _, _ in events})
    shifts = []
    for score, (_, clock, kind, name) in zip(shift_scores, events, strict=True):
        later = [t for t in onsets if t > clock]
        shifts.append({"t": clock, "kind": kind, "name": name, "baseline": score["baseline"], "drop": score["drop"],
                       "recovery_time": None if score["recovery_time"] is None else score["recovery_time"] * width,
                       "censored": score["censored"], "regret": score["regret"] * width,
                       "observed_steps": (later[0] if later else end_clock) - clock})
    steps = int(stream.steps.sum())
    return {"steps": steps, "start": int(stream.t[0]),
            "survival": survival if survival is not None else _survival(stream),
            "shifts": shifts,
            "forgetting": metrics.forgetting(stream.wellbeing, stream.regime, rows),
            "mean_wellbeing": float(np.sum(stream.wellbeing * stream.steps) / steps)}


def _curve(stream: _BodyStream) -> dict[str, Any]:
    """Mean wellbeing in bins of ``width * 2**k`` world steps aligned to multiples of the bin."""
    total = int(stream.steps.sum())
    bin_steps = stream.width * 2 ** max(0, math.ceil(math.log2(max(1.0, total / stream.width / CURVE_POINTS))))
    key = stream.t // bin_steps
    keys, where = np.unique(key, return_inverse=True)
    weight = np.bincount(where, weights=stream.steps.astype(np.float64))
    value = np.bincount(where, weights=stream.wellbeing * stream.steps) / weight
    return {"bin": int(bin_steps), "t": (keys * bin_steps).tolist(), "wellbeing": np.round(value, 6).tolist()}


def _events_of(shift: npt.NDArray[np.int32], labels: Sequence[str]) -> list[tuple[int, int, str, str]]:
    """``(row, t, kind, name)`` of every onset in a ``shift`` code column."""
    events = []
    for row in np.flatnonzero(shift >= 0).tolist():
        for label in labels[shift[row]].split(SHIFT_JOIN):
            kind, rest = label.split(":", 1)
            name, clock = rest.rsplit("@", 1)
            events.append((row, int(clock), kind, name))
    return events


# =============================================================================== storage helpers
ColumnSpec = dict[str, tuple[type[np.generic], tuple[int, ...]]]


def _step_columns(num_vitals: int) -> ColumnSpec:
    return {"body": (np.int32, ()), "t": (np.int64, ()), "alive": (np.bool_, ()), "died": (np.bool_, ()),
            "wellbeing": (np.float32, ()), "vitals": (np.float32, (num_vitals,)), "regime": (np.int32, ()),
            "shift": (np.int32, ())}


def _window_columns(num_vitals: int) -> ColumnSpec:
    return {"body": (np.int32, ()), "t": (np.int64, ()), "steps": (np.int32, ()), "alive_steps": (np.int32, ()),
            "deaths": (np.int32, ()), "alive_last": (np.bool_, ()), "wellbeing": (np.float64, ()),
            "vitals": (np.float64, (num_vitals,)), "regime": (np.int32, ()), "shift": (np.int32, ())}


class _ColumnBuffer:
    """Preallocated numpy columns, appended to in blocks; grows (rarely: a long gap) past ``capacity``."""

    def __init__(self, columns: ColumnSpec, capacity: int) -> None:
        self.columns = columns
        self.size = 0
        self.data = {name: np.zeros((capacity, *shape), dtype) for name, (dtype, shape) in columns.items()}

    def append(self, **values: npt.NDArray[Any]) -> None:
        count = len(values["t"])
        need = self.size + count
        capacity = len(self.data["t"])
        if need > capacity:
            grown = max(need, 2 * capacity)
            for name, array in self.data.items():
                bigger = np.zeros((grown, *array.shape[1:]), array.dtype)
                bigger[: self.size] = array[: self.size]
                self.data[name] = bigger
        for name, array in self.data.items():
            array[self.size:need] = values[name]
        self.size = need

    def view(self) -> dict[str, npt.NDArray[Any]]:
        return {name: array[: self.size] for name, array in self.data.items()}

    def clear(self) -> None:
        self.size = 0


class _ScheduleLookup:
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


class _CodeBook:
    """Turns the per-chunk dictionaries of a Parquet string column into one set of codes."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._codes: dict[str, int] = {}

    def decode(self, column: pa.ChunkedArray) -> npt.NDArray[np.int32]:
        import pyarrow as pa

        parts = []
        for chunk in column.chunks:
            if not isinstance(chunk, pa.DictionaryArray):
                chunk = chunk.dictionary_encode()
            mapping = np.array([self._code(name) for name in chunk.dictionary.to_pylist()] + [-1], np.int32)
            indices = chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
            parts.append(mapping[indices])  # -1 (null) picks the trailing -1
        return np.concatenate(parts) if parts else np.zeros(0, np.int32)

    def _code(self, name: str) -> int:
        if name not in self._codes:
            self._codes[name] = len(self.names)
            self.names.append(name)
        return self._codes[name]


def _to_arrow(columns: Mapping[str, npt.NDArray[Any]], vital_names: Sequence[str],
              lookup: _ScheduleLookup) -> pa.Table:
    import pyarrow as pa

    def dictionary(codes: npt.NDArray[np.int32], names: Sequence[str]) -> pa.DictionaryArray:
        # A chunk-local dictionary of the labels used; code -1 (none) becomes null.
        used = np.flatnonzero(np.bincount(codes + 1)[1:])
        local = np.full(len(names) + 1, -1, np.int32)
        local[used + 1] = np.arange(used.size, dtype=np.int32)
        indices = pa.array(local[codes + 1], pa.int32(), mask=codes < 0)
        return pa.DictionaryArray.from_arrays(indices, pa.array([names[c] for c in used.tolist()], pa.string()))

    arrays: dict[str, pa.Array] = {}
    for name, column in columns.items():
        if name == "vitals":
            for k, vital in enumerate(vital_names):
                arrays[f"vital_{vital}"] = pa.array(np.ascontiguousarray(column[:, k]))
        elif name == "regime":
            arrays[name] = dictionary(column, lookup.regime_names)
        elif name == "shift":
            arrays[name] = dictionary(column, lookup.shift_labels)
        else:
            arrays[name] = pa.array(column)
    return pa.table(arrays)


def _write_parquet(table: pa.Table, path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path, compression="zstd")


def _chunk_files(stream_directory: Path) -> dict[int, Path]:
    """Finished chunk files by index, in index order (temporary files are not listed)."""
    if not stream_directory.is_dir():
        return {}
    found = {}
    for path in stream_directory.iterdir():
        match = CHUNK_PATTERN.match(path.name)
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def _read_meta(directory: Path) -> dict[str, Any]:
    path = directory / META_FILE
    if not path.exists():
        raise FileNotFoundError(f"{directory} holds no recording (no {META_FILE})")
    meta: dict[str, Any] = json.loads(path.read_text())
    if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: not an openworld monitor recording of format version {FORMAT_VERSION}")
    return meta
