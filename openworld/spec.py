"""World specs: typed, frozen dataclasses loaded from YAML and validated.

A world file reads like a description of the world: its map, resources, body, hazards, dynamics,
observation and shift schedule. Every gameplay number lives here, never in the engine.

Three tiers of settings (after Craftax): *static* values fix array shapes (map size, view size,
bodies, predator slots) and can never shift; *tunable* numbers (every other int or float leaf) can be
changed by the shift schedule or overridden from the command line by their dotted path, e.g.
``resources.berry.regrow``; the *per-tick state* lives in :mod:`openworld.state`.

Example:
    >>> from openworld.spec import load_spec_text
    >>> spec = load_spec_text("name: Tiny\\nmap: {size: [12, 12]}")
    >>> spec.map.size
    (12, 12)
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from openworld.enums import Terrain, Vital


class SpecError(ValueError):
    """A world spec is malformed: the message names the file, the key path and the problem."""


def _num(default: float, lo: float | None = None, hi: float | None = None, *, static: bool = False,
         doc: str = "") -> Any:
    """A numeric spec field with an inclusive range; ``static`` fields fix shapes and never shift."""
    return field(default=default, metadata={"lo": lo, "hi": hi, "static": static, "doc": doc})


# --------------------------------------------------------------------------------------------
# The spec tree
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MapSpec:
    """Map geometry and how terrain is generated (fractions of the map, from smooth noise)."""

    size: tuple[int, int] = field(default=(32, 32), metadata={"static": True, "lo": 5, "hi": 1024})
    feature_size: float = _num(6.0, 1.0, 256.0, doc="cells per noise feature: larger, smoother biomes")
    water: float = _num(0.08, 0.0, 0.9, doc="fraction of cells that are lakes")
    rock: float = _num(0.08, 0.0, 0.9, doc="fraction of cells that are rock (not walkable)")
    sand: float = _num(0.15, 0.0, 0.9, doc="fraction of cells that are sand (dry land)")
    forest: float = _num(0.25, 0.0, 0.9, doc="fraction of cells that are forest (wet land)")


@dataclass(frozen=True)
class VitalEffects:
    """Change of each vital when a resource is consumed (negative = harm)."""

    health: float = _num(0.0, -1000.0, 1000.0)
    food: float = _num(0.0, -1000.0, 1000.0)
    water: float = _num(0.0, -1000.0, 1000.0)
    energy: float = _num(0.0, -1000.0, 1000.0)


@dataclass(frozen=True)
class ResourceSpec:
    """A resource kind: where it grows, how dense, how fast it regrows, what eating it does."""

    grows_on: tuple[str, ...] = ("grass",)
    density: float = _num(0.05, 0.0, 1.0, doc="fraction of eligible cells holding it at generation")
    regrow: float = _num(0.01, 0.0, 1.0, doc="per-step probability that a depleted cell regrows")
    effects: VitalEffects = field(default_factory=VitalEffects)
    color: tuple[int, int, int] = field(default=(200, 40, 40), metadata={"static": True, "lo": 0, "hi": 255})


@dataclass(frozen=True)
class VitalSpec:
    """One vital: its maximum, its value at (re)spawn, and how much it decays per step."""

    max: float = _num(10.0, 1e-6, 1e6)
    start: float = _num(10.0, 0.0, 1e6)
    decay: float = _num(0.0, 0.0, 1e6)


@dataclass(frozen=True)
class BodySpec:
    """The body's vitals and metabolism."""

    health: VitalSpec = field(default_factory=lambda: VitalSpec(10.0, 10.0, 0.0))
    food: VitalSpec = field(default_factory=lambda: VitalSpec(10.0, 8.0, 0.02))
    water: VitalSpec = field(default_factory=lambda: VitalSpec(10.0, 8.0, 0.03))
    energy: VitalSpec = field(default_factory=lambda: VitalSpec(10.0, 8.0, 0.01))
    move_cost: float = _num(0.01, 0.0, 1e6, doc="extra energy spent per move")
    rest_gain: float = _num(0.1, 0.0, 1e6, doc="energy recovered per rest action")
    starvation_damage: float = _num(0.1, 0.0, 1e6, doc="health lost per step for each empty vital")
    heal_rate: float = _num(0.05, 0.0, 1e6, doc="health gained per step while comfortable")
    comfort: float = _num(0.5, 0.0, 1.0, doc="food, water, energy above this fraction of max = comfortable")
    respawn_delay: int = _num(10, 0, 100_000, static=True, doc="world steps a dead body stays away")


@dataclass(frozen=True)
class PredatorSpec:
    """Predators: fixed slots (``max_count``), of which ``count`` are active."""

    max_count: int = _num(0, 0, 256, static=True)
    count: int = _num(0, 0, 256, doc="active predators (<= max_count)")
    speed: float = _num(0.5, 0.0, 1.0, doc="per-step probability that a predator moves")
    sight: int = _num(5, 0, 1024, doc="Manhattan radius within which a predator chases a body")
    damage: float = _num(1.0, 0.0, 1e6, doc="health a body loses per step within reach of a predator")
    reach: int = _num(1, 0, 8, doc="Manhattan distance at which a predator hurts a body")


@dataclass(frozen=True)
class HazardSpec:
    predator: PredatorSpec = field(default_factory=PredatorSpec)


@dataclass(frozen=True)
class DynamicsSpec:
    """How actions act: slippery and remapped moves."""

    slip: float = _num(0.0, 0.0, 1.0, doc="probability a move goes in a uniformly random direction")
    rotation: int = _num(0, 0, 3, doc="moves are rotated clockwise by this many quarter turns")


@dataclass(frozen=True)
class ObservationSpec:
    view: int = _num(7, 3, 31, static=True, doc="side of the square egocentric view (odd)")
    noise: float = _num(0.0, 0.0, 1.0, doc="probability each view cell's terrain code is replaced at random")


@dataclass(frozen=True)
class MapEvent:
    """A change of the map at a shift: ``regenerate`` re-places resources (or the whole map);
    ``relocate`` moves a fraction of one resource's cells to fresh eligible cells."""

    op: Literal["regenerate", "relocate"] = "relocate"
    resource: str = "all"
    fraction: float = _num(1.0, 0.0, 1.0)


@dataclass(frozen=True)
class RegimeSpec:
    name: str = "regime"
    set: dict[str, float] = field(default_factory=dict)
    map: tuple[MapEvent, ...] = ()


@dataclass(frozen=True)
class ShiftSpec:
    """One entry of the shift schedule.

    * ``abrupt``: from step ``at`` on, the ``set`` values hold; ``map`` events fire at ``at``.
    * ``gradual``: between ``start`` and ``end`` each path in ``set`` ramps linearly from the value
      in force before the shift to the given value, which then holds.
    * ``cyclic``: from ``start`` on, the regimes take turns, each for ``period`` steps, forever; each
      regime's ``map`` events fire whenever it begins.
    """

    name: str = "shift"
    kind: Literal["abrupt", "gradual", "cyclic"] = "abrupt"
    at: int = _num(0, 0, 10**12)
    start: int = _num(0, 0, 10**12)
    end: int = _num(0, 0, 10**12)
    period: int = _num(1, 1, 10**12)
    set: dict[str, float] = field(default_factory=dict)
    regimes: tuple[RegimeSpec, ...] = ()
    map: tuple[MapEvent, ...] = ()


@dataclass(frozen=True)
class VariantSpec:
    """A named variant of a world (applied by :mod:`openworld.variants`).

    * ``split``: ``train`` (develop and train on it), ``heldout`` (evaluate only) or ``dev`` (tooling,
      e.g. a compressed schedule for tests; never scored).
    * ``seeds``: the world seeds that make up the variant (``reset(seed=...)`` values).
    * ``overrides``: dotted paths of the world's values, e.g. ``{resources.berry.regrow: 0.02}``.
    * ``shifts``: a mapping from shift name to a patch of that shift (``at: 8000``, ``set: {...}``
      merged into its ``set``, ``kind: gradual``, ...), ``null`` to remove it, or a new name with a
      ``kind`` to add one; or a list, which replaces the whole schedule.
    """

    split: Literal["train", "heldout", "dev"] = "train"
    description: str = ""
    seeds: tuple[int, ...] = ()
    overrides: dict[str, Any] = field(default_factory=dict)
    shifts: Any = None


@dataclass(frozen=True)
class WorldSpec:
    """A whole world. See ``docs/designing-worlds.md`` for every key."""

    name: str
    version: int = _num(0, 0, 10**6, static=True, doc="the N of the registered id Name-vN")
    description: str = ""
    reward: Literal["alive", "homeostatic", "none"] = "alive"
    bodies: int = _num(1, 1, 64, static=True, doc="bodies per world")
    map: MapSpec = field(default_factory=MapSpec)
    resources: dict[str, ResourceSpec] = field(default_factory=dict)
    body: BodySpec = field(default_factory=BodySpec)
    hazards: HazardSpec = field(default_factory=HazardSpec)
    dynamics: DynamicsSpec = field(default_factory=DynamicsSpec)
    observation: ObservationSpec = field(default_factory=ObservationSpec)
    rules: dict[str, dict[str, float]] = field(default_factory=dict)
    shifts: tuple[ShiftSpec, ...] = ()
    variants: dict[str, VariantSpec] = field(default_factory=dict)
    source: str = field(default="<string>", compare=False, metadata={"internal": True})

    @property
    def resource_names(self) -> tuple[str, ...]:
        return tuple(self.resources)

    @property
    def vital_max(self) -> tuple[float, ...]:
        return tuple(getattr(self.body, v.name.lower()).max for v in Vital)

    def tunables(self) -> dict[str, float]:
        """Every shiftable number by dotted path, in a fixed order (the engine's parameter vector)."""
        out: dict[str, float] = {}
        _collect_tunables(self, "", out)
        return out

    def with_overrides(self, overrides: Mapping[str, Any]) -> WorldSpec:
        """A new spec with dotted-path overrides applied and validated like a world file."""
        data = to_dict(self)
        for path, value in overrides.items():
            _set_path(data, path.split("."), value, self.source)
        return spec_from_dict(data, source=self.source)


# --------------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------------
def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> WorldSpec:
    """Load and validate a world file.

    Args:
        path: a YAML world file.
        overrides: dotted-path values applied on top, validated the same way.

    Raises:
        SpecError: naming the file, the key path and the problem.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise SpecError(f"{path}: cannot read world file: {err}") from err
    spec = load_spec_text(text, source=str(path))
    return spec.with_overrides(overrides) if overrides else spec


def load_spec_text(text: str, source: str = "<string>") -> WorldSpec:
    """Parse and validate a world spec from YAML text."""
    try:
        # libyaml's C loader where PyYAML has it: the catalogue is parsed at import.
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as err:
        raise SpecError(f"{source}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a world file must be a mapping of keys, got {type(data).__name__}")
    return spec_from_dict(data, source=source)


def spec_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> WorldSpec:
    """Build a validated :class:`WorldSpec` from plain data."""
    from openworld.rules import complete_rule_params

    spec = _build(WorldSpec, dict(data), "", source)
    spec = dataclasses.replace(spec, source=source, rules=complete_rule_params(spec.rules, source))
    _check_semantics(spec)
    return spec


def to_dict(obj: Any) -> Any:
    """Plain, YAML-safe data for a spec (the inverse of :func:`spec_from_dict`)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if not f.metadata.get("internal")}
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    return obj


def _fail(source: str, path: str, message: str) -> typing.NoReturn:
    raise SpecError(f"{source}: {path or '<root>'}: {message}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _build(cls: type, data: Any, path: str, source: str) -> Any:
    if not isinstance(data, dict):
        _fail(source, path, f"expected a mapping, got {type(data).__name__} {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (valid keys: {', '.join(fields)})"
            _fail(source, _join(path, str(key)), f"unknown key{hint}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], _join(path, name), source, f.metadata)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            _fail(source, _join(path, name), "required key is missing")
    return cls(**kwargs)


def _convert(tp: Any, value: Any, path: str, source: str, meta: Mapping[str, Any]) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build(tp, value, path, source)
    if origin is Literal:
        if value not in args:
            close = difflib.get_close_matches(str(value), [str(a) for a in args], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            _fail(source, path, f"must be one of {list(args)}, got {value!r}{hint}")
        return value
    if origin is dict:
        if not isinstance(value, dict):
            _fail(source, path, f"expected a mapping, got {type(value).__name__}")
        return {str(k): _convert(args[1], v, _join(path, str(k)), source, {}) for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, list | tuple):
            _fail(source, path, f"expected a list, got {type(value).__name__} {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{path}[{i}]", source, meta) for i, v in enumerate(value))
        if len(value) != len(args):
            _fail(source, path, f"expected a list of {len(args)} items, got {len(value)}")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(_convert(a, v, f"{path}[{i}]", source, meta) for i, (a, v) in pairs)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, path, source, meta)
    if tp is bool:
        if not isinstance(value, bool):
            _fail(source, path, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or float(value) != int(value):
            _fail(source, path, f"expected an integer, got {value!r}")
        return _check_range(int(value), path, source, meta)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            _fail(source, path, f"expected a finite number, got {value!r}")
        return _check_range(float(value), path, source, meta)
    if tp is str:
        if not isinstance(value, str):
            _fail(source, path, f"expected a string, got {value!r}")
        return value
    if tp is Any:  # checked where it is used (variant overrides and shift patches)
        return value
    raise TypeError(f"unsupported spec field type {tp!r} at {path}")  # a bug in this module


def _check_range(value: float, path: str, source: str, meta: Mapping[str, Any]) -> Any:
    lo, hi = meta.get("lo"), meta.get("hi")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        _fail(source, path, f"{value!r} is out of range [{lo}, {hi}]")
    return value


def _check_semantics(spec: WorldSpec) -> None:
    """Rules that span several keys."""
    src = spec.source
    terrain_names = [t.name.lower() for t in Terrain if t is not Terrain.VOID]
    if spec.observation.view % 2 == 0:
        _fail(src, "observation.view", f"must be odd so the body sits in the centre, got {spec.observation.view}")
    m = spec.map
    if m.water + m.rock + m.sand + m.forest > 1.0:
        _fail(src, "map", "water + rock + sand + forest fractions exceed 1")
    if len(spec.resources) > 250:
        _fail(src, "resources", "at most 250 resource kinds fit the observation codes")
    for name, res in spec.resources.items():
        for i, terrain in enumerate(res.grows_on):
            if terrain not in terrain_names:
                close = difflib.get_close_matches(terrain, terrain_names, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (valid: {', '.join(terrain_names)})"
                _fail(src, f"resources.{name}.grows_on[{i}]", f"unknown terrain '{terrain}'{hint}")
    pred = spec.hazards.predator
    if pred.count > pred.max_count:
        _fail(src, "hazards.predator.count", f"{pred.count} exceeds max_count {pred.max_count}")
    for vital in Vital:
        v = getattr(spec.body, vital.name.lower())
        if v.start > v.max:
            _fail(src, f"body.{vital.name.lower()}.start", f"{v.start} exceeds max {v.max}")
    # Shift paths and values are checked by compiling the schedule.
    from openworld.shifts import ShiftSchedule

    ShiftSchedule(spec)
    if spec.variants:
        from openworld.variants import check_variants

        check_variants(spec)


def tunable_field_meta(spec: WorldSpec, path: str) -> Mapping[str, Any]:
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


def _collect_tunables(obj: Any, prefix: str, out: dict[str, float]) -> None:
    if dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            if f.name in ("shifts", "variants") or f.metadata.get("static") or f.metadata.get("internal"):
                continue
            _collect_tunables(getattr(obj, f.name), _join(prefix, f.name), out)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _collect_tunables(value, _join(prefix, key), out)
    elif isinstance(obj, int | float) and not isinstance(obj, bool):
        out[prefix] = float(obj)


def _set_path(data: dict[str, Any], parts: list[str], value: Any, source: str) -> None:
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
