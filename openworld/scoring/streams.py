"""Checked input streams of the metrics, and the window sums behind their windowed means.

The checks every function of :mod:`openworld.scoring.metrics` runs on its arguments (shapes, dtypes,
finite values, times inside the stream), each raising ``ValueError`` with a message that says what to
pass instead; and :func:`window_sums`, whose rounding error does not grow with the stream.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def window_sums(
    values: FloatArray,
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    block: int,
) -> FloatArray:
    """``sum(values[s:e])`` for every window ``[s, e)``; no window may be longer than ``block``.

    Why blocks: a window sum taken as the difference of one running sum over the whole stream
    carries the rounding error of that running sum, which grows with the stream (about 3e-12 on a
    single-step window after 2e5 steps, 1e-9 after 1e7). Restarting the running sum every
    ``block`` steps keeps every partial sum below ``block`` in magnitude, so the error no longer
    depends on the stream length. A window no longer than ``block`` spans at most two blocks.
    Cost: a few temporary arrays of length ``T``, still ``O(T)``.
    """
    size = values.size
    block_count = -(-size // block) + 1  # one spare all-zero block, so an end at T is a valid index
    padded = np.zeros(block_count * block)
    padded[:size] = values
    inclusive = np.cumsum(padded.reshape(block_count, block), axis=1)
    prefix = np.zeros_like(inclusive)  # sum of the block's values before each step
    prefix[:, 1:] = inclusive[:, :-1]
    flat_prefix = prefix.ravel()
    block_totals = inclusive[:, -1]
    start_block = starts // block
    same_block = ends // block == start_block
    sums: FloatArray = np.where(
        same_block,
        flat_prefix[ends] - flat_prefix[starts],
        block_totals[start_block] - flat_prefix[starts] + flat_prefix[ends],
    )
    return sums


def as_float_stream(values: npt.ArrayLike, name: str) -> FloatArray:
    """A non-empty, finite, 1-D float64 copy of ``values``."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        first = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(f"{name} must be finite, got {array[first]} at index {first}")
    return array


def as_wellbeing_stream(values: npt.ArrayLike) -> FloatArray:
    """A wellbeing stream, checked to lie in [0, 1] (the shift scores assume it)."""
    array = as_float_stream(values, "wellbeing")
    outside = (array < 0.0) | (array > 1.0)
    if np.any(outside):
        first = int(np.flatnonzero(outside)[0])
        raise ValueError(
            f"wellbeing must lie in [0, 1], got {array[first]} at step {first}; "
            "compute it with openworld.scoring.metrics.wellbeing"
        )
    return array


def as_bool_stream(values: npt.ArrayLike, name: str) -> BoolArray:
    """A non-empty 1-D bool stream; accepts bools or the integers 0 and 1."""
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {array.shape}")
    is_zero_one = np.issubdtype(array.dtype, np.number) and np.all((array == 0) | (array == 1))
    if array.dtype != np.bool_ and not is_zero_one:
        raise ValueError(f"{name} must be booleans (or 0/1), got dtype {array.dtype}")
    return array.astype(np.bool_)


def as_times(
    values: npt.ArrayLike, name: str, upper: int, allow_upper: bool
) -> npt.NDArray[np.int64]:
    """Integer times in ``[0, upper)`` (or ``[0, upper]`` if ``allow_upper``), as int64."""
    times = np.asarray(values)
    if times.size == 0:
        return np.zeros(0, dtype=np.int64)
    if times.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of step indices, got shape {times.shape}")
    integral = np.issubdtype(times.dtype, np.integer) or (
        np.issubdtype(times.dtype, np.floating)
        and bool(np.all(np.isfinite(times)))
        and bool(np.all(times == np.rint(times)))
    )
    if not integral:
        raise ValueError(f"{name} must be integer step indices, got {times.tolist()}")
    as_int: npt.NDArray[np.int64] = times.astype(np.int64)
    limit = upper if allow_upper else upper - 1
    if np.any(as_int < 0) or np.any(as_int > limit):
        raise ValueError(
            f"{name} must lie in [0, {limit}] for a stream of {upper} steps, "
            f"got {as_int.tolist()}; times are indices into the recorded stream"
        )
    return as_int


def check_window(window: int) -> int:
    """``window`` as a Python int; raise unless it is a positive integer."""
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be a positive integer number of steps, got {window!r}")
    return int(window)


def check_tolerance(tolerance: float) -> None:
    """Raise unless ``0 <= tolerance < 1``."""
    if not 0.0 <= tolerance < 1.0:
        raise ValueError(f"tolerance must lie in [0, 1), got {tolerance!r}")
