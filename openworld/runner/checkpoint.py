"""Atomic, self-describing, checksummed checkpoints.

A checkpoint file is::

    MAGIC (8 bytes) | header length (8 bytes, little-endian) | header (JSON) | payload

The header names what the checkpoint belongs to (world, agent, seed, number of envs, step) and the
SHA-256 of the payload, so that a corrupt file or one from another run is refused with an error that
says which, before anything is touched. The payload is ``torch.save`` of a dict (numpy arrays, bytes,
torch state dicts). Files are written to a temporary name and renamed into place, so a crash leaves
either the previous checkpoint or the new one, never half of one.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "last.ckpt"
    >>> save_checkpoint(path, {"step": 10}, {"world": "Meadow-v0", "agent": "random", "step": 10})
    >>> load_checkpoint(path, expect={"world": "Meadow-v0"})[1]["step"]
    10
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openworld.errors import CheckpointError
from openworld.files import atomic_write

__all__ = ["MAGIC", "CheckpointError", "load_checkpoint", "read_header", "save_checkpoint"]

MAGIC = b"OWCKPT01"


def save_checkpoint(path: str | Path, payload: Mapping[str, Any], header: Mapping[str, Any]) -> None:
    """Write a checkpoint atomically (temporary file, fsync, rename, fsync of the folder); creates the folder."""
    import torch

    path = Path(path)
    buffer = io.BytesIO()
    torch.save(dict(payload), buffer)
    body = buffer.getvalue()
    head = json.dumps({**header, "sha256": hashlib.sha256(body).hexdigest()}, sort_keys=True).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    # The previous checkpoint stays until the new one is whole; no half-written file is left behind.
    atomic_write(path, lambda tmp: tmp.write_bytes(MAGIC + len(head).to_bytes(8, "little") + head + body),
                 remove_partial=True)


def _split(path: Path) -> tuple[dict[str, Any], bytes]:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read checkpoint: {err}") from err
    if data[:len(MAGIC)] != MAGIC:
        raise CheckpointError(f"{path}: not an openworld checkpoint (bad magic bytes)")
    size = int.from_bytes(data[len(MAGIC):len(MAGIC) + 8], "little")
    start = len(MAGIC) + 8
    if len(data) < start + size:
        raise CheckpointError(f"{path}: checkpoint is truncated (header)")
    try:
        header: dict[str, Any] = json.loads(data[start:start + size])
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: checkpoint header is corrupt: {err}") from err
    return header, data[start + size:]


def read_header(path: str | Path) -> dict[str, Any]:
    """The header of a checkpoint, checked for format (not for the payload's checksum)."""
    return _split(Path(path))[0]


def load_checkpoint(path: str | Path, expect: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read and verify a checkpoint. Returns ``(header, payload)``.

    Args:
        path: the checkpoint file.
        expect: header values that must match (e.g. world, agent, num_envs, seed).

    Raises:
        CheckpointError: naming what is wrong (corrupt, truncated, or which value does not match).
    """
    import torch

    path = Path(path)
    header, body = _split(path)
    for key, value in (expect or {}).items():
        if header.get(key) != value:
            raise CheckpointError(f"{path}: checkpoint belongs to a different run: {key} is "
                                  f"{header.get(key)!r} there, {value!r} here")
    if hashlib.sha256(body).hexdigest() != header.get("sha256"):
        raise CheckpointError(f"{path}: checkpoint is corrupt or truncated (checksum mismatch)")
    try:
        payload = torch.load(io.BytesIO(body), weights_only=False)
    except Exception as err:  # unpickling errors of many kinds
        raise CheckpointError(f"{path}: checkpoint payload cannot be read: {err}") from err
    return header, payload
