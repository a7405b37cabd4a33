"""Atomic file writes, for everything a crash must never leave half-written (recording chunks,
summaries, reports, checkpoints), and the streamed SHA-256 of a file."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path, write: Callable[[Path], object], *, remove_partial: bool = False) -> None:
    """Write through ``write(tmp)`` to a temporary name in the same folder, fsync, rename, then fsync
    the folder so the rename itself is durable: readers see the old file or the whole new one, never
    a part. On failure the old file stays; the dot-named temporary file, which readers ignore, is
    left for inspection unless ``remove_partial``."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if remove_partial:
            tmp.unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):
        descriptor = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


HASH_BLOCK_BYTES = 1 << 20  # read a block at a time: hashing a file holds one block, not the file


def sha256_file(path: Path) -> tuple[str, int]:
    """The SHA-256 (hex) and size in bytes of a file, read a block at a time.

    Raises:
        OSError: if the file cannot be read.
    """
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK_BYTES):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write` of ``text`` and a final newline."""
    atomic_write(path, lambda tmp: tmp.write_text(text + "\n"))
