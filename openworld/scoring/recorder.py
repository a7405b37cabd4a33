"""The recorder: :class:`Monitor` writes the survival and wellbeing streams of bodies to a run directory.

What the rows mean (world time, dead rows for skipped clocks, the columns of both modes) is described in
:mod:`openworld.scoring.monitor`; the files in :mod:`openworld.scoring.storage`. Rows are buffered in
preallocated numpy columns (:class:`ColumnBuffer`) and written as one Parquet chunk per ``chunk_rows``
rows (or per ``flush_seconds``), atomically, so memory stays constant however long the run; each chunk's
SHA-256 goes into ``stream/manifest.json`` once the chunk is in place. Windowed
recording sums in :class:`~openworld.scoring.windows.Windows`; regime and shift labels come from
:class:`~openworld.scoring.labels.ScheduleLookup`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from openworld.enums import Vital
from openworld.files import atomic_write, atomic_write_text
from openworld.scoring import metrics
from openworld.scoring.labels import ScheduleLookup
from openworld.scoring.storage import (
    FORMAT,
    FORMAT_VERSION,
    META_FILE,
    STREAM_DIR,
    SUMMARY_FILE,
    ChunkRecord,
    ColumnSpec,
    chunk_files,
    chunk_name,
    chunk_record,
    file_record,
    parquet_bytes,
    read_manifest,
    read_meta,
    step_columns,
    to_arrow,
    window_columns,
    write_chunk_file,
    write_manifest,
)
from openworld.scoring.windows import WindowRows, Windows

if TYPE_CHECKING:
    from openworld.world.shifts import ShiftSchedule

VITAL_NAMES: tuple[str, ...] = tuple(vital.name.lower() for vital in Vital)

DEFAULT_CHUNK_ROWS: int = 1 << 18
"""Rows per chunk file. A per-step row takes 42 bytes in the buffer with four vitals, so the buffer
holds about 11 MB; on disk a row takes about 3 to 7 bytes (zstd)."""

DEFAULT_FLUSH_SECONDS: float = 60.0
"""A slow run writes whatever is buffered once this much wall time has passed since the last write,
so that a crash never loses more than about a minute of a slow run."""


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
        self._lookup = ScheduleLookup(schedule)
        self._columns = step_columns(len(self.vital_names)) if self.window == 1 else \
            window_columns(len(self.vital_names))
        self._buffer = ColumnBuffer(self._columns, self.chunk_rows)
        self._chunks = 0
        self._rows_written = 0
        self._manifest: dict[str, ChunkRecord] = {}  # the checksums of the chunk files written
        self._last_clock = np.full(self.num_bodies, -1, dtype=np.int64)  # -1: not started
        self._windows = Windows(self.num_bodies, len(self.vital_names), self.window, self._append_windows) \
            if self.window > 1 else None
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
            existing = read_meta(self.directory)
            differing = [key for key in ("mode", "window", "num_bodies", "vitals") if existing[key] != meta[key]]
            if differing:
                raise ValueError(f"{self.directory}: cannot resume a recording made with different "
                                 f"{', '.join(differing)}: {[existing[k] for k in differing]} on disk, "
                                 f"{[meta[k] for k in differing]} now")
        else:
            if (self.directory / META_FILE).exists() or chunk_files(self.stream_directory):
                raise FileExistsError(f"{self.directory} already holds a recording; choose a new directory, or "
                                      "pass resume=True and load_state_dict(<checkpointed state>) to continue it")
            self.stream_directory.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.directory / META_FILE, json.dumps(meta, indent=1))
            write_manifest(self.stream_directory, self._manifest)

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
        wellbeing = metrics.observed_wellbeing(living, values).astype(np.float32)
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
                self._windows.add_dead_span(int(index[i]), int(last[i]) + 1, int(gap[i]))
            self._windows.add(index, clock, living, dead_now, wellbeing, values)
        self._last_clock[index] = clock
        if self._buffer.size >= self.chunk_rows or (
                self.flush_seconds is not None and time.monotonic() - self._last_write >= self.flush_seconds):
            self.flush()

    def record_info(self, vitals: npt.ArrayLike, info: Mapping[str, Any]) -> None:
        """Record a step of a batch of bodies from an openworld vector (or population) env's
        ``obs["vitals"]`` and ``info``: arrays over the bodies, the death flags in ``info["events"]["death"]``.
        (A single env's step is recorded by :class:`~openworld.scoring.wrappers.RecordLifetime` with
        :meth:`record`.)"""
        clock = np.atleast_1d(info["world_step"])
        self.record(clock, np.atleast_1d(info["alive"]), np.asarray(vitals).reshape(clock.size, -1),
                    np.atleast_1d(info["events"]["death"]))

    def flush(self) -> None:
        """Write the buffered rows as one chunk file (nothing if the buffer is empty)."""
        self._check_writable()
        self._last_write = time.monotonic()
        if self._buffer.size == 0:
            return
        table = to_arrow(self._buffer.view(), self.vital_names, self._lookup.regime_names, self._lookup.shift_labels)
        data = parquet_bytes(table)
        path = self.stream_directory / chunk_name(self._chunks)
        atomic_write(path, lambda tmp: write_chunk_file(tmp, data))
        # After the chunk: a crash in between leaves a chunk without a record, which a resume deletes (it was
        # written after the checkpoint) and scoring checks as a whole Parquet file.
        self._manifest[path.name] = chunk_record(data, self._buffer.size)
        write_manifest(self.stream_directory, self._manifest)
        self._chunks += 1
        self._rows_written += self._buffer.size
        self._buffer.clear()

    def close(self) -> None:
        """Write the partial last windows and the buffer, and mark the recording complete."""
        if self._closed:
            return
        if self._windows is not None and not self._needs_state:
            self._windows.finish()
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
        ``summary.json`` too; everything written before it is kept. Check the kept chunks first
        (:func:`~openworld.scoring.storage.verify_chunks`): this trusts them. Kept chunks of a recording made
        before chunks were checksummed get their checksums now.

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
        on_disk = chunk_files(self.stream_directory)
        missing = sorted(set(range(chunks)) - set(on_disk))
        if missing:
            raise ValueError(f"{self.stream_directory}: the checkpoint needs chunk files {missing[:5]}, "
                             "which are missing; the recording cannot be resumed from it")
        manifest = read_manifest(self.stream_directory)
        for index, path in on_disk.items():
            if index >= chunks:
                path.unlink()
                manifest.pop(path.name, None)
            elif path.name not in manifest:
                manifest[path.name] = file_record(path)
        self._manifest = {name: record for name, record in manifest.items() if name in
                          {chunk_name(index) for index in range(chunks)}}
        write_manifest(self.stream_directory, self._manifest)
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

    def _append_windows(self, rows: WindowRows) -> None:
        """Label finished windows with the regime at their start and every onset inside them, and buffer them."""
        first, end = rows["t"], rows["t"] + rows["steps"]
        self._lookup.cover(int(first.min()), int(end.max()) + 1)
        self._buffer.append(**rows, regime=self._lookup.regimes(first), shift=self._lookup.onsets_in(first, end))


class ColumnBuffer:
    """Preallocated numpy columns, appended to in blocks; grows (rarely: a long gap) past ``capacity``."""

    def __init__(self, columns: ColumnSpec, capacity: int) -> None:
        self.columns = columns
        self.size = 0
        self.data = {name: np.zeros((capacity, *shape), dtype) for name, (dtype, shape) in columns.items()}

    def append(self, **values: npt.NDArray[Any]) -> None:
        """Append rows: one array per column, all of the same length."""
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
        """The buffered rows (views, not copies)."""
        return {name: array[: self.size] for name, array in self.data.items()}

    def clear(self) -> None:
        """Forget the buffered rows (the memory is kept for the next ones)."""
        self.size = 0
