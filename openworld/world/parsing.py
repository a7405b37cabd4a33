"""Typed, frozen dataclasses from plain YAML data: the machinery every spec section is parsed with.

Generic over dataclasses: a field's type hint says what it accepts (a nested dataclass, a ``Literal``,
a ``dict`` or ``tuple`` of something, a number, a string) and its metadata says its range and whether
it is static (fixes array shapes, never shifts). Every mistake raises :class:`SpecError` naming the
file, the dotted key path and the problem, with the nearest valid key where there is one. A type that
parses itself (a classmethod ``from_data(data, path, source)``, and ``to_data()`` for the way back) is
left to do so: a shift entry, whose keys depend on its kind.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Lake:
    ...     depth: float = number_field(1.0, 0.0, 10.0)
    >>> build(Lake, {"depth": 2}, "", "lake.yaml")
    Lake(depth=2.0)
    >>> build(Lake, {"deepth": 2}, "", "lake.yaml")
    Traceback (most recent call last):
    ...
    openworld.errors.SpecError: lake.yaml: deepth: unknown key (did you mean 'depth'?)
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import field
from typing import Any, Literal

from openworld.errors import SpecError, brief

__all__ = ["SpecError", "build", "collect_tunables", "fail", "join_path", "number_field", "set_path", "to_dict",
           "tunable_field_meta"]


def number_field(default: float, lo: float | None = None, hi: float | None = None, *, static: bool = False,
         doc: str = "") -> Any:
    """A numeric spec field with an inclusive range; ``static`` fields fix shapes and never shift."""
    return field(default=default, metadata={"lo": lo, "hi": hi, "static": static, "doc": doc})


def to_dict(obj: Any) -> Any:
    """Plain, YAML-safe data for a spec (the inverse of :func:`spec_from_dict`)."""
    if hasattr(obj, "to_data") and not isinstance(obj, type):  # a type that writes itself (a shift entry)
        return obj.to_data()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if not f.metadata.get("internal")}
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    return obj


def fail(source: str, path: str, message: str) -> typing.NoReturn:
    raise SpecError(f"{source}: {path or '<root>'}: {message}")


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def build(cls: type, data: Any, path: str, source: str) -> Any:
    if not isinstance(data, dict):
        fail(source, path, f"expected a mapping, got {type(data).__name__} {brief(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (valid keys: {', '.join(fields)})"
            fail(source, join_path(path, str(key)), f"unknown key{hint}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], join_path(path, name), source, f.metadata)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            fail(source, join_path(path, name), "required key is missing")
    return cls(**kwargs)


def _convert(tp: Any, value: Any, path: str, source: str, meta: Mapping[str, Any]) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if isinstance(tp, type) and hasattr(tp, "from_data"):  # a type that parses itself (a shift entry, by kind)
        return tp.from_data(value, path, source)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return build(tp, value, path, source)
    if origin is Literal:
        if value not in args:
            close = difflib.get_close_matches(str(value), [str(a) for a in args], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            fail(source, path, f"must be one of {list(args)}, got {brief(value)}{hint}")
        return value
    if origin is dict:
        if not isinstance(value, dict):
            fail(source, path, f"expected a mapping, got {type(value).__name__}")
        return {str(k): _convert(args[1], v, join_path(path, str(k)), source, {}) for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, list | tuple):
            fail(source, path, f"expected a list, got {type(value).__name__} {brief(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{path}[{i}]", source, meta) for i, v in enumerate(value))
        if len(value) != len(args):
            fail(source, path, f"expected a list of {len(args)} items, got {len(value)}")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(_convert(a, v, f"{path}[{i}]", source, meta) for i, (a, v) in pairs)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, path, source, meta)
    if tp is bool:
        if not isinstance(value, bool):
            fail(source, path, f"expected true or false, got {brief(value)}")
        return value
    if tp is int:
        number = finite_number(value)
        if number is None or float(number) != int(number):
            fail(source, path, f"expected an integer, got {brief(value)}")
        return _check_range(int(number), path, source, meta)
    if tp is float:
        number = finite_number(value)
        if number is None:
            fail(source, path, f"expected a finite number, got {brief(value)}")
        return _check_range(float(number), path, source, meta)
    if tp is str:
        if not isinstance(value, str):
            fail(source, path, f"expected a string, got {brief(value)}")
        return value
    if tp is Any:  # checked where it is used (variant overrides and shift patches)
        return value
    raise TypeError(f"unsupported spec field type {tp!r} at {path}")  # a bug in this module


def finite_number(value: Any) -> float | int | None:
    """``value`` if it is a finite int or float a float can hold (not a bool), else None.

    YAML reads ``1000...0`` (310 digits) as an int that no float holds: refused here, not left to crash
    the engine's float arrays.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return value if math.isfinite(float(value)) else None
    except OverflowError:
        return None


def _check_range(value: float, path: str, source: str, meta: Mapping[str, Any]) -> Any:
    lo, hi = meta.get("lo"), meta.get("hi")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        fail(source, path, f"{brief(value)} is out of range [{lo}, {hi}]")
    return value


def tunable_field_meta(spec: Any, path: str) -> Mapping[str, Any]:
    """The field metadata (range, static flag) of a dotted path, or raise KeyError."""
    obj: Any = spec
    meta: Mapping[str, Any] = {}
    for part in path.split("."):
        if dataclasses.is_dataclass(obj):
            fields = {f.name: f for f in dataclasses.fields(obj)}
            if part not in fields:
                raise KeyError(part)
            meta = fields[part].metadata
            obj = getattr(obj, part)
        elif isinstance(obj, dict):
            if part not in obj:
                raise KeyError(part)
            obj = obj[part]
            meta = {}
        else:
            raise KeyError(part)
    return meta


def collect_tunables(obj: Any, prefix: str, out: dict[str, float]) -> None:
    if dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            if f.name in ("shifts", "variants") or f.metadata.get("static") or f.metadata.get("internal"):
                continue
            collect_tunables(getattr(obj, f.name), join_path(prefix, f.name), out)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            collect_tunables(value, join_path(prefix, key), out)
    elif isinstance(obj, int | float) and not isinstance(obj, bool):
        out[prefix] = float(obj)


def set_path(data: dict[str, Any], parts: list[str], value: Any, source: str) -> None:
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(parts[: i + 1])
            options = list(node) if isinstance(node, dict) else []
            close = difflib.get_close_matches(part, options, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise SpecError(f"{source}: {where}: unknown key in override{hint}")
        node = node[part]
    if not isinstance(node, dict):
        raise SpecError(f"{source}: {'.'.join(parts)}: cannot override inside a non-mapping")
    node[parts[-1]] = value
