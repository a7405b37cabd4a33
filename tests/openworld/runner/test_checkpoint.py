"""Checkpoints: exact round trips, atomic writes, refusals that say what is wrong, and files from others
read as data: a crafted payload never runs, an oversized file is refused from its size."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import resource
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from openworld.runner.checkpoint import (
    MAGIC,
    MAX_HEADER_BYTES,
    CheckpointError,
    load_checkpoint,
    read_header,
    save_checkpoint,
)

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
    (lambda data: data[:-10], r"corrupt or truncated \(its header says [\d,]+ bytes, the file has"),
    (lambda data: data + b"extra", "corrupt or truncated"),
    (lambda data: data[:-50] + bytes([data[-50] ^ 0xFF]) + data[-49:], "checksum mismatch"),
    (lambda data: data.replace(b'"step": 500', b'"step": 900'), "checksum mismatch"),  # header edited in place
    (lambda data: data.replace(b'"seed": 3', b'"seed": 4'), "checksum mismatch"),
    (lambda data: re.sub(rb'"sha256": "[0-9a-f]{64}"', lambda _: b'"sha256": "\\u00e9' + b" " * 58 + b'"', data),
     "checksum mismatch"),  # not even a hex digest
    (lambda data: b"NOTACKPT" + data[8:], "bad magic bytes"),
    (lambda data: data[:20], "truncated"),
    (lambda data: data[:16] + b"{" * 8 + data[24:], "header is corrupt"),
    (lambda data: MAGIC + (200_000).to_bytes(8, "little") + b"[" * 200_000, "header is corrupt"),  # nested deep
    (lambda data: MAGIC + (3).to_bytes(8, "little") + b"[1]", "header is corrupt: no body_bytes"),
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


def test_numpy_values_keep_their_type_dtype_and_shape(tmp_path: Path) -> None:
    # What agents, the monitor and the global generators hold, stored as plain data and read back exactly.
    module = torch.nn.Linear(2, 2)
    saved = {"float32": np.float32(0.25), "int64": np.int64(-7), "bool": np.bool_(True), "zero_d": np.array(3.5),
             "uint32": np.arange(5, dtype=np.uint32), "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
             "strings": np.array(["berry", "water"]), "empty": np.zeros((0, 3), np.int8),
             "legacy": np.random.RandomState(3).get_state(), "python": random.Random(5).getstate(),
             "bytes": b"\x00\xffnpz", "no_bytes": b"", "big": 2**127 + 1, "tuple": (1, (2.5, None)),
             "module": module.state_dict()}
    save_checkpoint(tmp_path / "last.ckpt", saved, HEADER)
    loaded = load_checkpoint(tmp_path / "last.ckpt")[1]
    for key in ("float32", "int64", "bool"):
        assert type(loaded[key]) is type(saved[key]) and loaded[key] == saved[key]
    for key in ("zero_d", "uint32", "fortran", "strings", "empty"):
        assert loaded[key].dtype == saved[key].dtype and loaded[key].flags.writeable
        np.testing.assert_array_equal(loaded[key], saved[key])
    state = np.random.RandomState()
    state.set_state(loaded["legacy"])
    assert state.random() == np.random.RandomState(3).random()
    assert loaded["bytes"] == saved["bytes"] and loaded["no_bytes"] == b""
    assert loaded["python"] == saved["python"] and loaded["big"] == saved["big"] and loaded["tuple"] == saved["tuple"]
    assert isinstance(loaded["module"], OrderedDict) and loaded["module"]._metadata == module.state_dict()._metadata
    module.load_state_dict(loaded["module"])


@pytest.mark.parametrize("value, named", [
    (object(), "payload.agent.thing: it is a builtins.object"),
    (np.array([{"a": 1}], dtype=object), "payload.agent.thing: a numpy array of dtype object"),
    ({np.int64(1): 2}, "payload.agent.thing: key '1' \\(int64\\)"),
    ([1, {"__openworld_ndarray__": 1}], "payload.agent.thing[1]: key '__openworld_ndarray__'"),
])
def test_a_payload_that_is_not_plain_data_is_refused_on_save(tmp_path: Path, value: object, named: str) -> None:
    path = tmp_path / "last.ckpt"
    save_checkpoint(path, {"step": 1}, HEADER)
    with pytest.raises(CheckpointError, match=f"cannot checkpoint {named}".replace("[", r"\[").replace("]", r"\]")):
        save_checkpoint(path, {"agent": {"thing": value}}, HEADER)
    assert load_checkpoint(path)[1] == {"step": 1}  # the previous checkpoint stays


class CreatesAFile:
    """Unpickling this creates ``marker``: the shape of an attack (``builtins.open`` stands for any call)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def craft(path: Path, body: bytes, magic: bytes = MAGIC, **fields: object) -> None:
    """A checkpoint file with a correct-looking header and a hash that matches, as the format documents it:
    SHA-256 over the header's canonical JSON (length-prefixed, without the hash) and then the body."""
    header = {**HEADER, "body_bytes": len(body), **fields}
    canonical = json.dumps(header, sort_keys=True).encode()
    digest = hashlib.sha256(len(canonical).to_bytes(8, "little") + canonical + body).hexdigest()
    head = json.dumps({**header, "sha256": digest}, sort_keys=True).encode()
    path.write_bytes(magic + len(head).to_bytes(8, "little") + head + body)


def torch_saved(value: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def test_a_crafted_payload_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker, path = tmp_path / "pwned", tmp_path / "last.ckpt"
    body = torch_saved({"step": 500, "agent": CreatesAFile(marker)})
    craft(path, body)
    assert read_header(path)["step"] == 500  # the header and hash look right
    with pytest.raises(CheckpointError, match=r"last.ckpt: checkpoint payload cannot be read safely.*was not run"):
        load_checkpoint(path, expect={"world": "Meadow-v0", "seed": 3})
    assert not marker.exists()
    torch.load(io.BytesIO(body), weights_only=False)  # the body is live: read as before, it runs
    assert marker.exists()


def test_a_checkpoint_of_the_older_pickle_format_is_refused_unread(tmp_path: Path) -> None:
    marker, path = tmp_path / "pwned", tmp_path / "last.ckpt"
    body = torch_saved({"step": 500, "agent": CreatesAFile(marker)})
    head = json.dumps({**HEADER, "sha256": hashlib.sha256(body).hexdigest()}, sort_keys=True).encode()
    path.write_bytes(b"OWCKPT01" + len(head).to_bytes(8, "little") + head + body)
    for read in (load_checkpoint, read_header):
        with pytest.raises(CheckpointError, match=r"last.ckpt: checkpoint was written by an older openworld "
                                                  r"\(format OWCKPT01\).*could run code.*overwrite=true"):
            read(path)
    assert not marker.exists()


EIGHT_BYTES = torch.zeros(8, dtype=torch.uint8)


@pytest.mark.parametrize("value, message", [
    ({"__openworld_ndarray__": {"dtype": "|O", "shape": [1], "data": EIGHT_BYTES, "scalar": False}},
     "malformed array"),  # 8 bytes read as an object pointer would crash the process
    ({"__openworld_ndarray__": {"dtype": "<f8", "shape": [1000], "data": EIGHT_BYTES}}, "malformed array"),
    ({"__openworld_ndarray__": {"dtype": "<f8", "shape": [-1], "data": EIGHT_BYTES}}, "malformed array"),
    ({"__openworld_ndarray__": {"dtype": "f8,i4", "shape": [], "data": EIGHT_BYTES}}, "malformed array"),
    ({"__openworld_ndarray__": {"dtype": "<f8", "shape": [1], "data": torch.zeros(1)}}, "malformed array"),
    ({"__openworld_ndarray__": {"shape": [1], "data": EIGHT_BYTES}}, "malformed array"),
    ({"__openworld_bytes__": torch.zeros(2, 4, dtype=torch.uint8)}, "malformed bytes"),
    ({"__openworld_bytes__": EIGHT_BYTES, "other": 1}, "malformed bytes"),
])
def test_a_crafted_array_is_refused(tmp_path: Path, value: dict[str, object], message: str) -> None:
    craft(tmp_path / "last.ckpt", torch_saved({"array": value}))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "last.ckpt")


def test_an_oversized_file_is_refused_from_its_size_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    path.write_bytes(MAGIC + (1 << 40).to_bytes(8, "little") + b'{"step": 1}')
    with pytest.raises(CheckpointError, match=f"header claims 1,099,511,627,776 bytes, over the {MAX_HEADER_BYTES:,}"):
        load_checkpoint(path)
    save_checkpoint(path, payload(), HEADER)
    os.truncate(path, 8 << 30)  # a sparse 8 GiB file: no disk used; reading it would take 8 GiB of memory
    peak, started = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    with pytest.raises(CheckpointError, match=r"corrupt or truncated \(its header says [\d,]+ bytes, the file "
                                              r"has 8,589,934,592\)"):
        load_checkpoint(path)
    assert time.perf_counter() - started < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 100_000  # kilobytes: nothing large read
    craft(path, b"", body_bytes=1 << 40)  # a header that claims a huge body, in a small file
    with pytest.raises(CheckpointError, match="its header says 1,099,511,6"):
        load_checkpoint(path)


def test_a_header_too_large_to_read_back_is_not_written(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="header would be"):
        save_checkpoint(tmp_path / "last.ckpt", {"step": 1}, {**HEADER, "config": "x" * MAX_HEADER_BYTES})
    assert not (tmp_path / "last.ckpt").exists()
