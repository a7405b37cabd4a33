"""Atomic, self-describing, checksummed checkpoints that are read without running code.

A checkpoint file is::

    MAGIC (8 bytes) | header length (8 bytes, little-endian) | header (JSON) | body

The header names what the checkpoint belongs to (world, agent, seed, number of envs, step), the body's
length and a SHA-256 over the header (its canonical JSON without the hash) and the body, so that a corrupt
file, a header edited in place or a checkpoint of another run is refused with an error that says which,
before anything is touched. The hash detects corruption, not forgery: anyone can recompute it. Safety
against a hostile file comes from how the body is read: it is ``torch.save`` of plain data only (dicts,
lists, tuples, numbers, strings, torch tensors; numpy arrays are stored as dtype, shape and a byte tensor),
loaded with ``torch.load(..., weights_only=True)``, which builds those types and calls nothing else. A
payload that holds anything else is refused when it is saved, so every checkpoint written can be read.

Sizes are checked before anything large is read: the header may not exceed :data:`MAX_HEADER_BYTES`, the
file's size must be the one the header announces, and the body is hashed in chunks before it is loaded.
Files are written to a temporary name and renamed into place, so a crash leaves either the previous
checkpoint or the new one, never half of one. Files of the first format (``OWCKPT01``, a pickle read with
``weights_only=False``) are refused, never unpickled.

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
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from openworld.errors import CheckpointError, brief
from openworld.files import atomic_write

__all__ = ["MAGIC", "MAX_HEADER_BYTES", "CheckpointError", "dumps_state", "load_checkpoint", "loads_state",
           "read_header", "save_checkpoint"]

MAGIC = b"OWCKPT02"
# Earlier formats, recognised only to refuse them with a message that says why (their bodies are pickles).
UNSAFE_MAGICS = (b"OWCKPT01",)
MAX_HEADER_BYTES = 1 << 20  # a real header (identity and the lifetime config) is a few kilobytes
_PREFIX_BYTES = len(MAGIC) + 8
_HASH_CHUNK_BYTES = 1 << 20
_ARRAY_TAG = "__openworld_ndarray__"  # a numpy array or scalar, stored as dtype, shape and its bytes
_BYTES_TAG = "__openworld_bytes__"  # bytes (the envs' state), stored as a uint8 tensor
_TAGS = (_ARRAY_TAG, _BYTES_TAG)
_ARRAY_KINDS = "biufcSUmM"  # bool, integers, floats, complex, bytes, unicode, timedelta, datetime: no objects
_PLAIN_SCALARS = (type(None), bool, int, float, complex, str)
_KEY_TYPES = (type(None), bool, int, float, str)


# ---------------------------------------------------------------------------------------------- payload codec
def dumps_state(state: Any) -> bytes:
    """``state`` as bytes that :func:`loads_state` reads back without running code.

    Raises:
        CheckpointError: naming the key whose value is not plain data (what a ``state_dict()`` may hold:
            dicts, lists, tuples, numbers, strings, bytes, numpy arrays and torch tensors).
    """
    import torch

    buffer = io.BytesIO()
    torch.save(_encode(state, "payload"), buffer)
    return buffer.getvalue()


def loads_state(data: bytes, source: str = "state") -> Any:
    """Read :func:`dumps_state`'s bytes with ``torch.load(weights_only=True)``: no code runs.

    Raises:
        CheckpointError: naming ``source``, if the bytes hold anything but plain data.
    """
    import torch

    try:
        plain = torch.load(io.BytesIO(data), weights_only=True)
    except Exception as err:  # refusals by the weights-only unpickler and zip errors of many kinds
        reason = _unpickler_reason(err)
        raise CheckpointError(f"{source}: checkpoint payload cannot be read safely: it holds something other "
                              f"than plain data (tensors, arrays, numbers, strings), and it was not run: "
                              f"{reason}") from err
    try:
        return _decode(plain, source)
    except RecursionError as err:
        raise CheckpointError(f"{source}: checkpoint payload is nested too deeply to be a state") from err


def _unpickler_reason(err: Exception) -> str:
    """The line of torch's refusal that says what was refused, without its advice to allow it."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    reason = next((line for line in lines if "Unsupported" in line), lines[0] if lines else type(err).__name__)
    return reason.split(" Please use")[0][:300]


def _encode(value: Any, where: str) -> Any:
    """``value`` with numpy arrays and scalars replaced by tagged dicts; anything not plain is refused."""
    import torch

    if type(value) is np.ndarray or isinstance(value, np.generic):  # before the scalars: np.float64 is a float
        return {_ARRAY_TAG: _encode_array(value, where)}
    if type(value) is bytes:  # protocol-2 pickles store bytes as latin-1 text: larger, and b"" is refused
        return {_BYTES_TAG: _byte_tensor(value)}
    if type(value) in _PLAIN_SCALARS or type(value) in (torch.Tensor, torch.nn.Parameter, torch.dtype, torch.Size):
        return value
    if type(value) in (dict, OrderedDict):
        return _encode_mapping(value, where)
    if type(value) in (list, tuple):
        return type(value)(_encode(item, f"{where}[{index}]") for index, item in enumerate(value))
    raise CheckpointError(f"cannot checkpoint {where}: it is a {type(value).__module__}.{type(value).__qualname__}, "
                          "not plain data; a state_dict() may hold dicts, lists, tuples, numbers, strings, bytes, "
                          "numpy arrays and torch tensors (a checkpoint is read without running code)")


def _encode_mapping(value: dict[Any, Any], where: str) -> dict[Any, Any]:
    for key in value:
        if type(key) not in _KEY_TYPES or key in _TAGS:
            raise CheckpointError(f"cannot checkpoint {where}: key {str(key)[:80]!r} ({type(key).__qualname__}) "
                                  "is not a plain string or number, or is reserved")
    encoded = {key: _encode(item, f"{where}.{key}") for key, item in value.items()}
    if type(value) is dict:
        return encoded
    ordered = OrderedDict(encoded)  # a module's state_dict: keep its version metadata for load_state_dict
    metadata = getattr(value, "_metadata", None)
    if metadata is not None:
        ordered._metadata = _encode(metadata, f"{where}._metadata")  # type: ignore[attr-defined]
    return ordered


def _encode_array(value: np.ndarray | np.generic, where: str) -> dict[str, Any]:
    array = np.asarray(value)
    if array.dtype.kind not in _ARRAY_KINDS or array.dtype.fields is not None:
        raise CheckpointError(f"cannot checkpoint {where}: a numpy array of dtype {array.dtype} (only numbers, "
                              "booleans, strings and dates are stored; objects would need code to read)")
    return {"dtype": array.dtype.str, "shape": list(array.shape), "data": _byte_tensor(array.tobytes()),
            "scalar": isinstance(value, np.generic)}


def _byte_tensor(data: bytes) -> Any:
    import torch

    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8).copy())  # a copy: writable, as torch asks


def _tensor_bytes(tensor: Any) -> bytes:
    """The bytes of a 1-d uint8 CPU tensor; ValueError for anything else (a crafted payload)."""
    import torch

    if type(tensor) is not torch.Tensor or tensor.dtype != torch.uint8 or tensor.dim() != 1 or tensor.is_meta:
        raise ValueError(f"bytes stored as {type(tensor).__name__} {getattr(tensor, 'dtype', '')}")
    return bytes(tensor.detach().cpu().contiguous().numpy().tobytes())


def _decode(value: Any, source: str) -> Any:
    if type(value) in (dict, OrderedDict):
        if _ARRAY_TAG in value:
            return _decode_array(value, source)
        if _BYTES_TAG in value:
            try:
                if len(value) != 1:
                    raise ValueError(f"keys {sorted(map(str, value))}")
                return _tensor_bytes(value[_BYTES_TAG])
            except (RuntimeError, ValueError) as err:
                raise CheckpointError(f"{source}: checkpoint payload holds malformed bytes ({err})") from err
        decoded = {key: _decode(item, source) for key, item in value.items()}
        if type(value) is dict:
            return decoded
        ordered = OrderedDict(decoded)
        if hasattr(value, "_metadata"):
            ordered._metadata = value._metadata  # type: ignore[attr-defined]
        return ordered
    if type(value) in (list, tuple):
        return type(value)(_decode(item, source) for item in value)
    return value


def _decode_array(tagged: Mapping[str, Any], source: str) -> np.ndarray | np.generic:
    fields = tagged[_ARRAY_TAG]
    try:
        if not isinstance(fields["dtype"], str):
            raise TypeError(f"dtype {fields['dtype']!r:.80}")
        dtype = np.dtype(fields["dtype"])
        shape = tuple(int(size) for size in fields["shape"])
        data = _tensor_bytes(fields["data"])
        if (len(tagged) != 1 or dtype.kind not in _ARRAY_KINDS or dtype.fields is not None
                or not isinstance(data, bytes) or min(shape, default=0) < 0
                or int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != len(data)):
            raise ValueError(f"dtype {dtype}, shape {shape}, {len(data)} bytes")
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{source}: checkpoint payload holds a malformed array ({err})") from err
    array = np.frombuffer(data, dtype=dtype).reshape(shape).copy()  # a copy: writable, not tied to the bytes
    return array[()] if fields.get("scalar") is True else array


# ---------------------------------------------------------------------------------------------- the file
def _canonical(header: Mapping[str, Any]) -> bytes:
    return json.dumps({key: value for key, value in header.items() if key != "sha256"}, sort_keys=True).encode()


def _new_digest(header: Mapping[str, Any]) -> Any:
    """A SHA-256 primed with the header's canonical JSON (length-prefixed), for the body to be added to."""
    canonical = _canonical(header)
    digest = hashlib.sha256(len(canonical).to_bytes(8, "little"))
    digest.update(canonical)
    return digest


def save_checkpoint(path: str | Path, payload: Mapping[str, Any], header: Mapping[str, Any]) -> None:
    """Write a checkpoint atomically (temporary file, fsync, rename, fsync of the folder); creates the folder.

    Raises:
        CheckpointError: naming the payload key that is not plain data, or a header too large; nothing is
            written then, and the previous checkpoint stays.
    """
    path = Path(path)
    body = dumps_state(dict(payload))
    fields = {**header, "body_bytes": len(body)}
    digest = _new_digest(fields)
    digest.update(body)
    head = json.dumps({**fields, "sha256": digest.hexdigest()}, sort_keys=True).encode()
    if len(head) > MAX_HEADER_BYTES:
        raise CheckpointError(f"{path}: checkpoint header would be {len(head):,} bytes, over the "
                              f"{MAX_HEADER_BYTES:,} a reader accepts; keep large values in the payload")
    path.parent.mkdir(parents=True, exist_ok=True)
    # The previous checkpoint stays until the new one is whole; no half-written file is left behind.
    atomic_write(path, lambda tmp: tmp.write_bytes(MAGIC + len(head).to_bytes(8, "little") + head + body),
                 remove_partial=True)


def _read_checked_header(path: Path, handle: IO[bytes]) -> dict[str, Any]:
    """The header, after checking the magic, the header's length and the file's size (a stat and the header's
    bytes are all that is read); the handle is left at the start of the body."""
    size = os.fstat(handle.fileno()).st_size
    prefix = handle.read(_PREFIX_BYTES)
    magic = prefix[:len(MAGIC)]
    if magic in UNSAFE_MAGICS:
        raise CheckpointError(f"{path}: checkpoint was written by an older openworld (format {magic.decode()}), "
                              "whose payload is a pickle that could run code when read; it was not read. Start "
                              "the run again with overwrite=true")
    if magic != MAGIC:
        raise CheckpointError(f"{path}: not an openworld checkpoint (bad magic bytes)")
    if len(prefix) < _PREFIX_BYTES:
        raise CheckpointError(f"{path}: checkpoint is truncated (header)")
    header_bytes = int.from_bytes(prefix[len(MAGIC):], "little")
    if header_bytes > MAX_HEADER_BYTES:
        raise CheckpointError(f"{path}: checkpoint header claims {header_bytes:,} bytes, over the "
                              f"{MAX_HEADER_BYTES:,} a header may have: the file is corrupt")
    if size < _PREFIX_BYTES + header_bytes:
        raise CheckpointError(f"{path}: checkpoint is truncated (header)")
    try:
        header = json.loads(handle.read(header_bytes))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise CheckpointError(f"{path}: checkpoint header is corrupt: {str(err)[:200]}") from err
    body_bytes = header.get("body_bytes") if isinstance(header, dict) else None
    if type(body_bytes) is not int or body_bytes < 0 or not isinstance(header.get("sha256"), str):
        raise CheckpointError(f"{path}: checkpoint header is corrupt: no body_bytes and sha256")
    expected = _PREFIX_BYTES + header_bytes + body_bytes
    if size != expected:
        raise CheckpointError(f"{path}: checkpoint is corrupt or truncated (its header says {expected:,} bytes, "
                              f"the file has {size:,})")
    return header


def _open(path: Path) -> IO[bytes]:
    try:
        return open(path, "rb")
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read checkpoint: {err}") from err


def read_header(path: str | Path) -> dict[str, Any]:
    """The header of a checkpoint, checked for format and size (not for the checksum)."""
    path = Path(path)
    with _open(path) as handle:
        return _read_checked_header(path, handle)


def load_checkpoint(path: str | Path, expect: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read and verify a checkpoint, without running code. Returns ``(header, payload)``.

    Args:
        path: the checkpoint file.
        expect: header values that must match (e.g. world, agent, num_envs, seed).

    Raises:
        CheckpointError: naming what is wrong (an older format, corrupt, truncated, a payload that is not
            plain data, or which value does not match).
    """
    path = Path(path)
    with _open(path) as handle:
        header = _read_checked_header(path, handle)
        body_start = handle.tell()
        digest = _new_digest(header)
        while chunk := handle.read(_HASH_CHUNK_BYTES):  # bounded memory: the body is not loaded before it checks
            digest.update(chunk)
        if digest.hexdigest() != header["sha256"]:
            raise CheckpointError(f"{path}: checkpoint is corrupt or truncated (checksum mismatch)")
        for key, value in (expect or {}).items():
            if header.get(key) != value:
                raise CheckpointError(f"{path}: checkpoint belongs to a different run: {key} is "
                                      f"{brief(header.get(key))} there, {brief(value)} here")
        handle.seek(body_start)
        body = handle.read(header["body_bytes"])
    payload = loads_state(body, str(path))
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path}: checkpoint payload is a {type(payload).__name__}, not a dict")
    return header, payload
