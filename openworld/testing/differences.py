"""Exact, deep comparisons for the conformance checks, each reporting *where* two values first differ
and *why* a value is outside its space, in words short enough for an error message."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

REPR_LIMIT = 120  # longest value repr quoted in an error message


def difference(a: Any, b: Any, path: str) -> tuple[str, str] | None:
    """The first place where ``a`` and ``b`` differ, as ``(path, description)``, or ``None``.

    Exact, deep equality: mappings (same keys), lists and tuples, numpy arrays (shape, dtype and
    every element; NaN equals NaN), dataclasses (field by field), random generators (their states),
    and scalars of the same type.
    """
    if type(a) is not type(b):
        return path or "value", f"types differ: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, Mapping):
        if set(a) != set(b):
            return path or "keys", (f"keys differ: only in the first {sorted(map(str, set(a) - set(b)))}, "
                                    f"only in the second {sorted(map(str, set(b) - set(a)))}")
        for key in a:
            found = difference(a[key], b[key], f"{path}[{key!r}]" if path else str(key))
            if found:
                return found
        return None
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return path, f"lengths differ: {len(a)} vs {len(b)} ({short(a)} vs {short(b)})"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(a, np.ndarray):
        return array_difference(a, b, path)
    if isinstance(a, np.random.Generator):
        return difference(a.bit_generator.state, b.bit_generator.state, f"{path}.bit_generator.state")
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        for f in dataclasses.fields(a):
            found = difference(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
            if found:
                return found
        return None
    if isinstance(a, float | complex | np.inexact) and both_nan(a, b):
        return None
    try:
        equal = bool(a == b)
    except Exception:  # an object whose == is not a truth value: identical objects only
        equal = a is b
    return None if equal else (path, f"{short(a)} vs {short(b)}")


def array_difference(a: np.ndarray, b: np.ndarray, path: str) -> tuple[str, str] | None:
    if a.shape != b.shape or a.dtype != b.dtype:
        return path, f"shape/dtype differ: {a.shape} {a.dtype} vs {b.shape} {b.dtype}"
    if a.dtype.kind in "fc":
        differ = (a != b) & ~(np.isnan(a) & np.isnan(b))
    elif a.dtype.kind == "O":
        differ = np.array([difference(x, y, "") is not None for x, y in zip(a.flat, b.flat, strict=True)],
                          bool).reshape(a.shape)
    else:
        differ = a != b
    if not differ.any():
        return None
    index = tuple(int(i) for i in np.argwhere(differ)[0])
    where = f"{path}[{', '.join(map(str, index))}]" if index else path
    return where, f"{short(a[index])} vs {short(b[index])} ({int(differ.sum())} of {a.size} elements differ)"


def both_nan(a: Any, b: Any) -> bool:
    return bool(np.isnan(a)) and bool(np.isnan(b))


def space_problem(space: spaces.Space[Any], x: Any, path: str) -> tuple[str, str] | None:
    """Why ``x`` is not in ``space`` (or has another dtype than it declares), as ``(path, problem)``."""
    if isinstance(space, spaces.Dict):
        if not isinstance(x, Mapping):
            return path, f"is a {type(x).__name__}, not a dict"
        missing, extra = set(space.spaces) - set(x), set(x) - set(space.spaces)
        if missing or extra:
            return path, f"keys differ from the space's: missing {sorted(missing)}, unexpected {sorted(extra)}"
        for key, sub in space.spaces.items():
            found = space_problem(sub, x[key], f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(space, spaces.Tuple):
        if not isinstance(x, tuple) or len(x) != len(space.spaces):
            return path, f"is {short(x)}, not a tuple of {len(space.spaces)}"
        for i, sub in enumerate(space.spaces):
            found = space_problem(sub, x[i], f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(space, spaces.Box | spaces.MultiDiscrete | spaces.MultiBinary):
        if not isinstance(x, np.ndarray):
            return path, f"is a {type(x).__name__}, not a numpy array ({space})"
        if x.dtype != space.dtype:
            return path, f"has dtype {x.dtype}, but its space declares {space.dtype} ({space})"
        if x.shape != space.shape:
            return path, f"has shape {x.shape}, but its space declares {space.shape} ({space})"
    if isinstance(space, spaces.Box):
        inside = (x >= space.low) & (x <= space.high)  # NaN is outside
        if not inside.all():
            index = tuple(int(i) for i in np.argwhere(~inside)[0])
            low, high = np.broadcast_to(space.low, x.shape)[index], np.broadcast_to(space.high, x.shape)[index]
            where = f"{path}[{', '.join(map(str, index))}]" if index else path
            return where, f"is {x[index]!r}, outside its space's bounds [{low!r}, {high!r}] ({space})"
    if not space.contains(x):
        return path, f"{short(x)} is not in its space {space}"
    return None


def info_value(info: Any, key: str) -> Any:
    return info.get(key) if isinstance(info, Mapping) else None


def is_int(x: Any) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool | np.bool_)


def not_an_int(info: Any) -> str:
    if not isinstance(info, Mapping) or "world_step" not in info:
        keys = sorted(map(str, info)) if isinstance(info, Mapping) else type(info).__name__
        return f"missing (info: {keys}); openworld worlds report their clock in every info"
    return f"is {short(info['world_step'])} ({type(info['world_step']).__name__}), not an int"


def short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= REPR_LIMIT else text[:REPR_LIMIT - 3] + "..."
