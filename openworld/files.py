"""Atomic file writes, for everything a crash must never leave half-written (recording chunks,
summaries, reports, checkpoints)."""

from __future__ import annotations

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


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write` of ``text`` and a final newline."""
    atomic_write(path, lambda tmp: tmp.write_text(text + "\n"))
