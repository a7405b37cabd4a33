"""Checkpoints: exact round trips, atomic writes, and refusals that say what is wrong."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from openworld.runner.checkpoint import MAGIC, CheckpointError, load_checkpoint, read_header, save_checkpoint

HEADER = {"world": "Meadow-v0", "agent": "forager-v0", "seed": 3, "num_envs": 2, "step": 500}


def payload() -> dict[str, object]:
    generator = np.random.default_rng(7)
    return {"envs": b"\x00\x01engine bytes", "array": generator.normal(size=(3, 4)),
            "rng": generator.bit_generator.state, "torch": {"weight": torch.arange(6.0).reshape(2, 3)},
            "nested": {"step": 500, "clock": [1, 2]}}


def test_round_trip_is_exact_and_creates_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints" / "last.ckpt"
    saved = payload()
    save_checkpoint(path, saved, HEADER)
    header, loaded = load_checkpoint(path, expect={"world": "Meadow-v0", "seed": 3})
    assert {key: header[key] for key in HEADER} == HEADER and len(header["sha256"]) == 64
    assert loaded["envs"] == saved["envs"] and loaded["nested"] == saved["nested"]
    np.testing.assert_array_equal(loaded["array"], saved["array"])
    assert loaded["rng"] == saved["rng"]
    assert torch.equal(loaded["torch"]["weight"], saved["torch"]["weight"])  # type: ignore[index]
    assert read_header(path)["step"] == 500
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]  # no temporary file left


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "last.ckpt"
    save_checkpoint(path, {"step": 1}, {**HEADER, "step": 1})
    before = path.read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)  # dies after writing the temporary file, before the rename
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"step": 2}, {**HEADER, "step": 2})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
    monkeypatch.undo()
    assert load_checkpoint(path)[1] == {"step": 1}


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[:-10], "checksum mismatch"),
    (lambda data: data[:-50] + bytes([data[-50] ^ 0xFF]) + data[-49:], "checksum mismatch"),
    (lambda data: b"NOTACKPT" + data[8:], "bad magic bytes"),
    (lambda data: data[:20], "truncated"),
    (lambda data: data[:16] + b"{" * 8 + data[24:], "header is corrupt"),
])
def test_a_damaged_checkpoint_is_refused(tmp_path: Path, damage, message: str) -> None:
    path = tmp_path / "last.ckpt"
    save_checkpoint(path, payload(), HEADER)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_a_checkpoint_of_another_run_is_refused_naming_the_difference(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    save_checkpoint(path, payload(), HEADER)
    with pytest.raises(CheckpointError, match="agent is 'forager-v0' there, 'random-v0' here"):
        load_checkpoint(path, expect={"world": "Meadow-v0", "agent": "random-v0"})
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "missing.ckpt")


def test_format_starts_with_magic_and_header_length(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    save_checkpoint(path, {"step": 1}, HEADER)
    data = path.read_bytes()
    assert data[:8] == MAGIC
    assert data[16:16 + int.from_bytes(data[8:16], "little")].startswith(b"{")
