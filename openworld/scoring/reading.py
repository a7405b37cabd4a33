"""Reading a recording back: :func:`read_recording` gives the finished chunks of a run directory as numpy columns.

Safe while the run goes on: only finished chunk files (:func:`~openworld.scoring.storage.chunk_files`)
are read, and a chunk file is written whole or not at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from openworld.scoring.labels import shift_events
from openworld.scoring.storage import STREAM_DIR, CodeBook, chunk_files, read_meta, step_columns, window_columns


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
    """
    import pyarrow.parquet as pq

    directory = Path(directory)
    meta = read_meta(directory)
    vital_names = tuple(meta["vitals"])
    columns = step_columns(len(vital_names)) if meta["mode"] == "step" else window_columns(len(vital_names))
    parts: dict[str, list[npt.NDArray[Any]]] = {name: [] for name in columns}
    regimes = CodeBook()
    shifts = CodeBook()
    for path in chunk_files(directory / STREAM_DIR).values():
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
