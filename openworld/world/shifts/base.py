"""What every shift kind is: the :class:`ShiftSpec` base class, its register, and the plain data it speaks.

A shift kind is one frozen dataclass (a subclass of :class:`ShiftSpec`) holding only its own keys of
the world file, registered by name with :func:`register_shift_kind`. It answers every question the
schedule, the monitor and the tools ask about it, so that none of them branches on kind names.

The world-file format stays flat: a shift entry is ``{name, kind, at|start|end|period, set, regimes,
map}``, and :func:`openworld.world.spec.to_dict` writes every key of every registered kind for every
shift. A key the entry's kind does not use is type-checked against the kind that declares it and then
ignored, unless it holds something the kind would silently drop (a ``set``, ``regimes`` or ``map``
with content), which is an error naming the key. Read on a shift object, such a key gives the
format's default (``at`` of a cyclic shift is 0).
"""

from __future__ import annotations

import dataclasses
import difflib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

import numpy as np

from openworld.errors import brief
from openworld.world.parsing import build, fail, number_field, to_dict

NEVER = np.iinfo(np.int64).max // 4  # "no change ahead": far beyond any world clock, safe to add to
DEFAULT_KIND = "abrupt"  # the kind of an entry that names none
FORMAT_ORDER = ("at", "start", "end", "period", "set", "regimes", "map")  # keys in the order files are written


@dataclass(frozen=True)
class MapEvent:
    """A change of the map at a shift: ``regenerate`` re-places resources (or the whole map);
    ``relocate`` moves a fraction of one resource's cells to fresh eligible cells."""

    op: Literal["regenerate", "relocate"] = "relocate"
    resource: str = "all"
    fraction: float = number_field(1.0, 0.0, 1.0)


@dataclass(frozen=True)
class RegimeSpec:
    """One regime of a cyclic shift: the values it sets and the map events that fire when it begins."""

    name: str = "regime"
    set: dict[str, float] = field(default_factory=dict)
    map: tuple[MapEvent, ...] = ()


@dataclass(frozen=True)
class ShiftEvent:
    """The onset of a shift, as the monitor records it."""

    t: int
    kind: str  # the shift's kind: "abrupt" | "gradual" | "cyclic" | a registered kind
    name: str  # the shift's name, or the regime's name for a cyclic shift


@dataclass(frozen=True)
class Assignment:
    """One ``set`` of a shift compiled against the parameter vector (built by the schedule)."""

    columns: np.ndarray  # int64: the columns of the parameter vector it sets
    values: np.ndarray  # float64: the values it sets them to
    is_int: np.ndarray  # bool: which of those parameters are integers (a ramp rounds them)


@dataclass(frozen=True)
class Stretch:
    """A stretch of a shift's timeline, for drawing it (``openworld show``).

    From ``start`` to ``end`` the shift's effect goes from ``level0`` to ``level1`` (0: not in force,
    1: fully in force); ``regime`` (with its ``label``) marks a turn of one regime instead; ``onset``
    asks for a mark at ``start``.
    """

    start: int
    end: int
    level0: float = 1.0
    level1: float = 1.0
    regime: int | None = None
    label: str = ""
    onset: bool = False


Kind = TypeVar("Kind", bound="type[ShiftSpec]")
_KINDS: dict[str, type[ShiftSpec]] = {}
_KEYS: dict[str, tuple[type[ShiftSpec], dataclasses.Field[Any]]] = {}  # format key -> first kind declaring it
_NO_KEY = object()


def register_shift_kind(cls: Kind) -> Kind:
    """Make a :class:`ShiftSpec` subclass a kind of the world-file format, by its ``kind`` (a class decorator).

    Its fields besides ``name`` become keys of the format (for every entry, see the module docstring).

    Raises:
        ValueError: a kind of that name is registered already, or the class is not a frozen dataclass.
    """
    name = cls.kind
    if name in _KINDS:
        raise ValueError(f"shift kind '{name}' is registered already (by {_KINDS[name].__qualname__})")
    if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        raise ValueError(f"shift kind '{name}': {cls.__qualname__} must be a frozen dataclass")
    _KINDS[name] = cls
    for f in dataclasses.fields(cls):
        if f.name != "name":
            _KEYS.setdefault(f.name, (cls, f))
    return cls


def shift_kinds() -> dict[str, type[ShiftSpec]]:
    """The registered kinds by name, in registration order."""
    return dict(_KINDS)


def shift_keys() -> tuple[str, ...]:
    """Every key a shift entry may have besides ``name`` (what a variant may patch), in file order."""
    def order(key: str) -> int:
        return FORMAT_ORDER.index(key) if key in FORMAT_ORDER else len(FORMAT_ORDER)
    return ("kind", *sorted(_KEYS, key=order))


def _own_keys(cls: type[ShiftSpec]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.name != "name")


def _format_default(key: str) -> Any:
    """The default of a format key (as the first kind that declares it has it), or ``_NO_KEY``."""
    if key not in _KEYS:
        return _NO_KEY
    f = _KEYS[key][1]
    return f.default_factory() if callable(f.default_factory) else f.default


@dataclass(frozen=True)
class ShiftSpec(ABC):
    """One entry of the shift schedule; a registered subclass per kind (see the module docstring)."""

    kind: ClassVar[str]
    # Keys of other kinds this kind refuses to hold content in, with the reason (the error message).
    refused: ClassVar[Mapping[str, str]] = {}

    name: str = "shift"

    # ------------------------------------------------------------------ the world-file entry
    @classmethod
    def from_data(cls, data: Any, path: str, source: str) -> ShiftSpec:
        """Parse one world-file entry into the shift of its kind (the hook :mod:`~openworld.world.parsing` calls).

        Raises:
            SpecError: naming the file, the key path and the problem.
        """
        if not isinstance(data, dict):
            fail(source, path, f"expected a mapping, got {type(data).__name__} {brief(data)}")
        keys = ("name", *shift_keys())
        for key in data:
            if key not in keys:
                close = difflib.get_close_matches(str(key), list(keys), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (valid keys: {', '.join(keys)})"
                fail(source, f"{path}.{key}", f"unknown key{hint}")
        kind_name = data.get("kind", DEFAULT_KIND)
        names = list(_KINDS)
        if kind_name not in names:
            close = difflib.get_close_matches(str(kind_name), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            fail(source, f"{path}.kind", f"must be one of {names}, got {brief(kind_name)}{hint}")
        kind = _KINDS[kind_name]
        own = _own_keys(kind)
        for key, value in data.items():
            if key in ("name", "kind") or key in own:
                continue
            if value == to_dict(_format_default(key)):  # what to_dict writes for a key the kind lacks
                continue
            build(_KEYS[key][0], {key: value}, path, source)  # its type and range, as that kind reads it
            # Content this kind would silently drop: an abrupt shift's 'start: 100' would fire at t = 0.
            own_names = ", ".join(f"'{name}'" for name in own if name not in ("set", "map", "regimes"))
            reason = kind.refused.get(key, f"a {kind_name} shift has no '{key}' (its timing keys: {own_names})")
            fail(source, f"{path}.{key}", reason)
        shift: ShiftSpec = build(kind, {k: v for k, v in data.items() if k == "name" or k in own}, path, source)
        shift.validate(path, source)
        return shift

    def to_data(self) -> dict[str, Any]:
        """The flat world-file entry: every registered key, the format's default where this kind has none."""
        return {"name": self.name, **{key: self.kind if key == "kind" else to_dict(getattr(self, key))
                                      for key in shift_keys()}}

    if not TYPE_CHECKING:  # hidden from mypy: typed code asks the kind; this is the flat file view
        def __getattr__(self, key: str) -> Any:
            """A key of another kind reads as the format's default (called only for attributes not found)."""
            default = _format_default(key)
            if default is _NO_KEY:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")
            return default

    def validate(self, path: str, source: str) -> None:  # noqa: B027 - most kinds have nothing to add
        """Check what spans several of this kind's keys (``end > start``); raise SpecError via ``fail``."""

    # ------------------------------------------------------------------ what it sets, what it moves
    @abstractmethod
    def value_sets(self) -> tuple[tuple[str, Mapping[str, float]], ...]:
        """Each ``set`` this shift applies, with its key path in the entry (``set``, ``regimes[0].set``)."""

    def map_event_lists(self) -> tuple[tuple[str, tuple[MapEvent, ...]], ...]:
        """Each list of map events this shift declares, with its key path (``map``, ``regimes[0].map``)."""
        return ()

    @abstractmethod
    def apply(self, theta: np.ndarray, clock: np.ndarray, assignments: tuple[Assignment, ...]) -> None:
        """Write the values in force at each clock into ``theta`` (one row per clock), in place.

        ``assignments`` are :meth:`value_sets` compiled, in the same order; ``theta`` holds the values in
        force before this shift (the base, then every earlier shift applied).
        """

    # ------------------------------------------------------------------ when
    @abstractmethod
    def next_change(self, t: int) -> int:
        """The first step after ``t`` at which this shift may change parameters or the map (NEVER if none)."""

    @abstractmethod
    def onsets(self, t0: int, t1: int) -> list[ShiftEvent]:
        """This shift's onsets in ``[t0, t1)``, in time order."""

    @abstractmethod
    def label(self, t: int) -> str | None:
        """This shift's part of the regime name at ``t`` (None while it is not in force)."""

    def label_changes(self, t0: int, t1: int) -> list[int]:
        """Clocks in ``(t0, t1)`` at which :meth:`label` may change: by default, the onsets."""
        return [event.t for event in self.onsets(t0 + 1, t1)]

    def map_events_between(self, t0: int, t1: int) -> list[tuple[int, MapEvent]]:
        """Map events that fire as a clock goes from ``t0`` to ``t1`` (times in ``(t0, t1]``), in order."""
        return []

    def mark_map_events(self, mask: np.ndarray, clock: np.ndarray) -> None:  # noqa: B027 - none by default
        """Set ``mask`` where a clock (one per world) is the time of one of this shift's map events."""

    @abstractmethod
    def value_times(self) -> tuple[int, ...]:
        """Clocks that between them see every value this shift can put in force (a ramp: both ends)."""

    # ------------------------------------------------------------------ for people
    def describe(self) -> str:
        """One line: ``name (kind, when): what``."""
        return f"{self.name} ({self.kind}, {self.timing()}): {self.changes()}"

    @abstractmethod
    def timing(self) -> str:
        """When it acts, in words (``at step 100``)."""

    @abstractmethod
    def changes(self) -> str:
        """What it changes, in words (``resources.berry.regrow=0.001``)."""

    @abstractmethod
    def display_until(self) -> int:
        """The step a timeline must reach to show this shift whole (two full cycles of a cyclic one)."""

    @abstractmethod
    def timeline(self, horizon: int) -> list[Stretch]:
        """The shift over ``[0, horizon)`` as stretches to draw, in drawing order."""


def format_values(values: Mapping[str, float], sep: str = "=") -> list[str]:
    """``path=value`` for each value of a ``set`` (``sep`` ``->`` for a ramp's targets)."""
    return [f"{path}{sep}{value:g}" for path, value in values.items()]


__all__ = ["DEFAULT_KIND", "FORMAT_ORDER", "NEVER", "Assignment", "MapEvent", "RegimeSpec", "ShiftEvent", "ShiftSpec",
           "Stretch", "format_values", "register_shift_kind", "shift_keys", "shift_kinds"]
