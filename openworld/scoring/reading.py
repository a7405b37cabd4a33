"""Reading a recording back: :func:`read_recording` gives the finished chunks of a run directory as numpy columns;
:class:`RecordingReader` gives them a range of bodies and a few columns at a time, so that scoring holds a chunk
and the bodies it scores, not the whole recording.

Safe while the run goes on: only finished chunk files (:func:`~openworld.scoring.storage.chunk_files`)
are read, and a chunk file is written whole or not at all. Each chunk is checked against the recording's
manifest before it is read (:func:`~openworld.scoring.storage.verify_chunks`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from openworld.scoring.labels import shift_events
from openworld.scoring.storage import (
    STREAM_DIR,
    CodeBook,
    ColumnSpec,
    chunk_files,
    read_meta,
    step_columns,
    verify_chunks,
    window_columns,
)


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
        return shift_events(self.body(index)["shift"], self.shift_labels)


def read_recording(directory: str | os.PathLike[str]) -> Recording:
    """Read every finished chunk of the recording in ``directory``; safe while the run goes on.

    Raises:
        FileNotFoundError: if ``directory`` holds no recording.
        RecordingError: naming a chunk file that was truncated or altered after it was written.
    """
    import pyarrow.parquet as pq

    directory = Path(directory)
    meta = read_meta(directory)
    verify_chunks(directory / STREAM_DIR)
    vital_names = tuple(meta["vitals"])
    columns = step_columns(len(vital_names)) if meta["mode"] == "step" else window_columns(len(vital_names))
    parts: dict[str, list[npt.NDArray[Any]]] = {name: [] for name in columns}
    regimes = CodeBook()
    shifts = CodeBook()
    for path in chunk_files(directory / STREAM_DIR).values():
        table = pq.read_table(path, read_dictionary=["regime", "shift"])
        for name, column in decode_chunk(table, columns, vital_names, regimes, shifts).items():
            parts[name].append(column)
    merged = {name: np.concatenate(chunks) if chunks else np.zeros((0, *columns[name][1]), columns[name][0])
              for name, chunks in parts.items()}
    order = np.lexsort((merged["t"], merged["body"]))
    if not np.all(order[1:] > order[:-1]):
        merged = {name: column[order] for name, column in merged.items()}
    return Recording(directory, meta["mode"], int(meta["window"]), int(meta["num_bodies"]), vital_names,
                     dict(meta["metadata"]), bool(meta.get("closed", False)), merged, tuple(regimes.names),
                     tuple(shifts.names))


def decode_chunk(table: Any, columns: ColumnSpec, vital_names: tuple[str, ...], regimes: CodeBook,
                 shifts: CodeBook) -> dict[str, npt.NDArray[Any]]:
    """A chunk's ``columns`` as numpy arrays of the recording's dtypes: the vitals stacked into one ``(rows, K)``
    column, the regime and shift labels as codes of the recording's codebooks (which learn the chunk's labels)."""
    decoded = {}
    for name, (dtype, shape) in columns.items():
        if name == "vitals":
            decoded[name] = np.stack([table.column(f"vital_{v}").to_numpy() for v in vital_names], axis=1) \
                .astype(dtype).reshape(-1, *shape)
        elif name == "regime":
            decoded[name] = regimes.decode(table.column("regime"))
        elif name == "shift":
            decoded[name] = shifts.decode(table.column("shift"))
        else:
            decoded[name] = table.column(name).to_numpy().astype(dtype)
    return decoded


class RecordingReader:
    """The finished chunks of a recording, read a range of bodies and the given columns at a time.

    Each read goes through every chunk file once, one chunk in memory at a time; the codes of ``regime`` and
    ``shift`` are the same in every read and the same as :func:`read_recording`'s.

    Args:
        directory: the run directory.
        columns: the columns to read, of those the recording's mode has (:func:`~openworld.scoring.storage.step_columns`
            or :func:`~openworld.scoring.storage.window_columns`; others are left out); ``body`` and ``t`` are
            always read.

    Raises:
        FileNotFoundError: if ``directory`` holds no recording.
        RecordingError: naming a chunk file that was truncated or altered after it was written.
    """

    def __init__(self, directory: str | os.PathLike[str], columns: tuple[str, ...]) -> None:
        self.directory = Path(directory)
        meta = read_meta(self.directory)
        verify_chunks(self.directory / STREAM_DIR)
        self.mode: str = meta["mode"]
        self.window = int(meta["window"])
        self.num_bodies = int(meta["num_bodies"])
        self.metadata: dict[str, Any] = dict(meta["metadata"])
        self.closed = bool(meta.get("closed", False))
        self.vital_names = tuple(meta["vitals"])
        vitals = len(self.vital_names)
        spec = step_columns(vitals) if self.mode == "step" else window_columns(vitals)
        self.columns: ColumnSpec = {name: spec[name] for name in dict.fromkeys(("body", "t", *columns)) if name in spec}
        self.paths = list(chunk_files(self.directory / STREAM_DIR).values())
        self._regimes = CodeBook()
        self._shifts = CodeBook()

    @property
    def regime_names(self) -> tuple[str, ...]:
        """Regime label of each code (complete once every chunk has been read)."""
        return tuple(self._regimes.names)

    @property
    def shift_labels(self) -> tuple[str, ...]:
        """Shift label of each code (complete once every chunk has been read)."""
        return tuple(self._shifts.names)

    def clock_ranges(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Each body's first and last world clock (-1 for a body without rows) and its number of rows."""
        import pyarrow.parquet as pq

        first = np.full(self.num_bodies, np.iinfo(np.int64).max, np.int64)
        last = np.full(self.num_bodies, -1, np.int64)
        rows = np.zeros(self.num_bodies, np.int64)
        for path in self.paths:
            table = pq.read_table(path, columns=["body", "t"])
            body = table.column("body").to_numpy().astype(np.int64)
            clock = table.column("t").to_numpy().astype(np.int64)
            np.minimum.at(first, body, clock)
            np.maximum.at(last, body, clock)
            rows += np.bincount(body, minlength=self.num_bodies)
        first[rows == 0] = -1
        return first, last, rows

    def bodies(self, start: int, stop: int) -> dict[int, dict[str, npt.NDArray[Any]]]:
        """The rows of bodies ``start, ..., stop - 1`` that have any, each in world-clock order (as
        :meth:`Recording.body`)."""
        import pyarrow.parquet as pq

        parts: dict[int, list[dict[str, npt.NDArray[Any]]]] = {}
        for path in self.paths:
            table = pq.read_table(path, columns=list(self.columns), read_dictionary=["regime", "shift"])
            # Every row: the codebooks see each chunk's whole dictionary.
            chunk = decode_chunk(table, self.columns, self.vital_names, self._regimes, self._shifts)
            body = chunk["body"]
            keep = np.flatnonzero((body >= start) & (body < stop))
            order = keep[np.argsort(body[keep], kind="stable")]
            sorted_bodies = body[order]
            bounds = np.flatnonzero(np.diff(sorted_bodies)) + 1
            for rows in np.split(order, bounds) if order.size else []:
                parts.setdefault(int(body[rows[0]]), []).append({name: column[rows] for name, column in chunk.items()})
        out = {}
        for index in sorted(parts):
            merged = {name: np.concatenate([part[name] for part in parts[index]]) for name in self.columns}
            del parts[index]
            clock = merged["t"]
            if np.any(clock[1:] < clock[:-1]):
                order = np.argsort(clock, kind="stable")
                merged = {name: column[order] for name, column in merged.items()}
            out[index] = merged
        return out
