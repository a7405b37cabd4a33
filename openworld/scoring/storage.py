"""How a recording lies on disk: its files, its column types, and their Parquet encoding.

A run directory holds ``monitor.json`` (how the stream was recorded), ``stream/chunk-<index>.parquet``
(the rows, one file per flushed chunk), ``stream/manifest.json`` (each chunk's SHA-256, size and row count,
rewritten atomically after each chunk) and, once scored, ``summary.json``. The recorder
(:mod:`openworld.scoring.recorder`) writes these files, :mod:`openworld.scoring.reading` reads them back;
the columns are described in :mod:`openworld.scoring.monitor`.

``pyarrow`` is imported inside the functions that need it, so that importing the recorder stays cheap.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from openworld.errors import RecordingError
from openworld.files import atomic_write_text, sha256_file

if TYPE_CHECKING:
    import pyarrow as pa

FORMAT = "openworld.scoring.monitor"
FORMAT_VERSION = 1
META_FILE = "monitor.json"
SUMMARY_FILE = "summary.json"
STREAM_DIR = "stream"
MANIFEST_FILE = "manifest.json"
CHUNK_PATTERN = re.compile(r"^chunk-(\d{8,})\.parquet$")

ChunkRecord = dict[str, Any]
"""What the manifest keeps of one chunk file: ``{"sha256": hex, "bytes": size, "rows": rows}``."""

ColumnSpec = dict[str, tuple[type[np.generic], tuple[int, ...]]]
"""Column name -> (dtype, shape of one row's value); ``vitals`` is one column of ``(K,)`` in memory."""


def chunk_name(index: int) -> str:
    """The file name of chunk ``index`` (matched by :data:`CHUNK_PATTERN`)."""
    return f"chunk-{index:08d}.parquet"


def chunk_files(stream_directory: Path) -> dict[int, Path]:
    """Finished chunk files by index, in index order (temporary files are not listed).

    Args:
        stream_directory: the ``stream/`` folder of a run directory; it need not exist.

    Returns:
        ``{index: path}``, empty if the folder does not exist.
    """
    if not stream_directory.is_dir():
        return {}
    found = {}
    for path in stream_directory.iterdir():
        match = CHUNK_PATTERN.match(path.name)
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def read_meta(directory: Path) -> dict[str, Any]:
    """The ``monitor.json`` of a run directory, checked to be of this format.

    Raises:
        FileNotFoundError: if ``directory`` holds no recording.
        ValueError: if ``monitor.json`` is of another format or version.
    """
    path = directory / META_FILE
    if not path.exists():
        raise FileNotFoundError(f"{directory} holds no recording (no {META_FILE})")
    meta: dict[str, Any] = json.loads(path.read_text())
    if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: not an openworld monitor recording of format version {FORMAT_VERSION}")
    return meta


def step_columns(num_vitals: int) -> ColumnSpec:
    """The in-memory columns of a per-step recording (``window=1``)."""
    return {"body": (np.int32, ()), "t": (np.int64, ()), "alive": (np.bool_, ()), "died": (np.bool_, ()),
            "wellbeing": (np.float32, ()), "vitals": (np.float32, (num_vitals,)), "regime": (np.int32, ()),
            "shift": (np.int32, ())}


def window_columns(num_vitals: int) -> ColumnSpec:
    """The in-memory columns of a windowed recording (``window > 1``)."""
    return {"body": (np.int32, ()), "t": (np.int64, ()), "steps": (np.int32, ()), "alive_steps": (np.int32, ()),
            "deaths": (np.int32, ()), "alive_last": (np.bool_, ()), "wellbeing": (np.float64, ()),
            "vitals": (np.float64, (num_vitals,)), "regime": (np.int32, ()), "shift": (np.int32, ())}


def to_arrow(columns: Mapping[str, npt.NDArray[Any]], vital_names: Sequence[str], regime_names: Sequence[str],
             shift_labels: Sequence[str]) -> pa.Table:
    """One chunk as an Arrow table: a ``vital_<name>`` column per vital, ``regime`` and ``shift`` as
    dictionary strings (their codes index ``regime_names`` and ``shift_labels``; -1 becomes null)."""
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
            arrays[name] = dictionary(column, regime_names)
        elif name == "shift":
            arrays[name] = dictionary(column, shift_labels)
        else:
            arrays[name] = pa.array(column)
    return pa.table(arrays)


def parquet_bytes(table: pa.Table) -> bytes:
    """One chunk (zstd-compressed) as the bytes of its file, so that they are hashed before they are written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    data: bytes = sink.getvalue().to_pybytes()
    return data


def write_chunk_file(path: Path, data: bytes) -> None:
    """Write a chunk's bytes; the caller makes the write atomic."""
    path.write_bytes(data)


def chunk_record(data: bytes, rows: int) -> ChunkRecord:
    """The manifest's record of a chunk file holding ``data``."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "rows": int(rows)}


def read_manifest(stream_directory: Path) -> dict[str, ChunkRecord]:
    """The chunk records of ``stream/manifest.json`` by file name; empty for a recording made before chunks
    were checksummed (no manifest).

    Raises:
        RecordingError: if the manifest is not a JSON object of chunk records.
    """
    path = stream_directory / MANIFEST_FILE
    if not path.exists():
        return {}
    try:
        chunks = json.loads(path.read_text())["chunks"]
        if not isinstance(chunks, dict) or not all(isinstance(record, dict) for record in chunks.values()):
            raise TypeError("chunks is not a mapping of records")
    except (ValueError, KeyError, TypeError) as err:
        raise RecordingError(f"{path}: the recording's manifest is damaged ({err}); the chunk files cannot be "
                             "checked against it") from err
    return chunks


def write_manifest(stream_directory: Path, chunks: Mapping[str, ChunkRecord]) -> None:
    """Write the chunk records atomically (readers see the previous manifest or this one)."""
    atomic_write_text(stream_directory / MANIFEST_FILE, json.dumps({"chunks": dict(sorted(chunks.items()))}))


def file_record(path: Path) -> ChunkRecord:
    """The record of the chunk file at ``path`` as it is now (rows from its footer).

    Raises:
        RecordingError: if the file is not a whole Parquet file (e.g. truncated).
    """
    return {**file_digest(path), "rows": parquet_rows(path)}


def file_digest(path: Path) -> ChunkRecord:
    """``{"sha256", "bytes"}`` of a file, hashed a block at a time."""
    sha256, size = sha256_file(path)
    return {"sha256": sha256, "bytes": size}


def parquet_rows(path: Path) -> int:
    """The row count in a Parquet file's footer.

    Raises:
        RecordingError: if the file has no readable footer (truncated, or not Parquet).
    """
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError... on a damaged file
        raise RecordingError(f"{path}: the recording chunk is damaged (no readable Parquet footer: {err}); "
                             "it was truncated or altered after it was written") from err


def verify_chunks(stream_directory: Path, count: int | None = None) -> None:
    """Check the chunk files (the first ``count``, or all) against the manifest, reading each once.

    A chunk the manifest lists must have its size and SHA-256; one it does not list (a recording made before
    chunks were checksummed, or a chunk whose manifest entry a crash cut off) must at least be a whole Parquet
    file.

    Raises:
        RecordingError: naming the first chunk file that is truncated, altered or unreadable.
    """
    manifest = read_manifest(stream_directory)
    for index, path in chunk_files(stream_directory).items():
        if count is not None and index >= count:
            break
        expected = manifest.get(path.name)
        if expected is None:
            parquet_rows(path)  # a footer to read: the file is whole
            continue
        if path.stat().st_size != expected.get("bytes"):
            raise RecordingError(f"{path}: the recording chunk is {path.stat().st_size:,} bytes, the manifest "
                                 f"recorded {expected.get('bytes')!r}: it was truncated or altered after it was "
                                 "written")
        if file_digest(path)["sha256"] != expected.get("sha256"):
            raise RecordingError(f"{path}: the recording chunk's SHA-256 differs from the manifest's: it was "
                                 "altered after it was written")


class CodeBook:
    """Turns the per-chunk dictionaries of a Parquet string column into one set of codes."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._codes: dict[str, int] = {}

    def decode(self, column: pa.ChunkedArray) -> npt.NDArray[np.int32]:
        """The codes of a column's values (-1 for null), in ``names``."""
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
