"""World specs: typed, frozen dataclasses loaded from YAML and validated.

A world file reads like a description of the world: its map, resources, body, hazards, dynamics,
observation and shift schedule. Every gameplay number lives here, never in the engine.

Three tiers of settings (after Craftax): *static* values fix array shapes (map size, view size,
bodies, predator slots) and can never shift; *tunable* numbers (every other int or float leaf) can be
changed by the shift schedule or overridden from the command line by their dotted path, e.g.
``resources.berry.regrow``; the *per-tick state* lives in :mod:`openworld.world.state`.

Example:
    >>> from openworld.world.spec import load_spec_text
    >>> spec = load_spec_text("name: Tiny\\nmap: {size: [12, 12]}")
    >>> spec.map.size
    (12, 12)
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from openworld.enums import RESOURCE_KINDS, ResourceKind, Terrain, Vital
from openworld.errors import SpecError, UnknownVariantError, brief
from openworld.world.parsing import build, collect_tunables, fail, number_field, set_path, to_dict
from openworld.world.rules import complete_rule_params, import_rule_modules
from openworld.world.shifts import ShiftSchedule, ShiftSpec
from openworld.world.variants import NAME_PATTERN, patched_world_data, unknown_variant_message
from openworld.yaml_data import parse_yaml, read_text_file

# A world's seeds (its variants', a run's seed + i) are what numpy's SeedSequence takes: non-negative;
# 2**32 - 1 at most, as the generators of most RL libraries take.
MAX_SEED = 2**32 - 1
# A resource's name is a key of dotted paths (resources.<name>.regrow) and of the recorded events.
RESOURCE_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


# --------------------------------------------------------------------------------------------
# The spec tree
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MapSpec:
    """Map geometry and how terrain is generated (fractions of the map, from smooth noise)."""

    size: tuple[int, int] = field(default=(32, 32), metadata={"static": True, "lo": 5, "hi": 1024})
    feature_size: float = number_field(6.0, 1.0, 256.0, doc="cells per noise feature: larger, smoother biomes")
    water: float = number_field(0.08, 0.0, 0.9, doc="fraction of cells that are lakes")
    rock: float = number_field(0.08, 0.0, 0.9, doc="fraction of cells that are rock (not walkable)")
    sand: float = number_field(0.15, 0.0, 0.9, doc="fraction of cells that are sand (dry land)")
    forest: float = number_field(0.25, 0.0, 0.9, doc="fraction of cells that are forest (wet land)")


@dataclass(frozen=True)
class VitalEffects:
    """Change of each vital when a resource is consumed (negative = harm)."""

    health: float = number_field(0.0, -1000.0, 1000.0)
    food: float = number_field(0.0, -1000.0, 1000.0)
    water: float = number_field(0.0, -1000.0, 1000.0)
    energy: float = number_field(0.0, -1000.0, 1000.0)


@dataclass(frozen=True)
class ResourceSpec:
    """A resource kind: where it grows, how dense, how fast it regrows, what eating it does."""

    grows_on: tuple[str, ...] = ("grass",)
    density: float = number_field(0.05, 0.0, 1.0, doc="fraction of eligible cells holding it at generation")
    regrow: float = number_field(0.01, 0.0, 1.0, doc="per-step probability that a depleted cell regrows")
    effects: VitalEffects = field(default_factory=VitalEffects)
    color: tuple[int, int, int] = field(default=(200, 40, 40), metadata={"static": True, "lo": 0, "hi": 255})
    # The catalogue kind it is (openworld.enums.ResourceKind), which fixes its observation code; None: the
    # resource's own name is the kind. Lets a world call its seaweed "kelp" and still show code SEAWEED.
    kind: str | None = field(default=None, metadata={"static": True})


@dataclass(frozen=True)
class VitalSpec:
    """One vital: its maximum, its value at (re)spawn, and how much it decays per step."""

    max: float = number_field(10.0, 1e-6, 1e6)
    start: float = number_field(10.0, 0.0, 1e6)
    decay: float = number_field(0.0, 0.0, 1e6)


@dataclass(frozen=True)
class BodySpec:
    """The body's vitals and metabolism."""

    health: VitalSpec = field(default_factory=lambda: VitalSpec(10.0, 10.0, 0.0))
    food: VitalSpec = field(default_factory=lambda: VitalSpec(10.0, 8.0, 0.02))
    water: VitalSpec = field(default_factory=lambda: VitalSpec(10.0, 8.0, 0.03))
    energy: VitalSpec = field(default_factory=lambda: VitalSpec(10.0, 8.0, 0.01))
    move_cost: float = number_field(0.01, 0.0, 1e6, doc="extra energy spent per move")
    rest_gain: float = number_field(0.1, 0.0, 1e6, doc="energy recovered per rest action")
    starvation_damage: float = number_field(0.1, 0.0, 1e6, doc="health lost per step for each empty vital")
    heal_rate: float = number_field(0.05, 0.0, 1e6, doc="health gained per step while comfortable")
    comfort: float = number_field(0.5, 0.0, 1.0, doc="food, water, energy above this fraction of max = comfortable")
    respawn_delay: int = number_field(10, 0, 100_000, static=True, doc="world steps a dead body stays away")


@dataclass(frozen=True)
class PredatorSpec:
    """Predators: fixed slots (``max_count``), of which ``count`` are active."""

    max_count: int = number_field(0, 0, 256, static=True)
    count: int = number_field(0, 0, 256, doc="active predators (<= max_count)")
    speed: float = number_field(0.5, 0.0, 1.0, doc="per-step probability that a predator moves")
    sight: int = number_field(5, 0, 1024, doc="Manhattan radius within which a predator chases a body")
    damage: float = number_field(1.0, 0.0, 1e6, doc="health a body loses per step within reach of a predator")
    reach: int = number_field(1, 0, 8, doc="Manhattan distance at which a predator hurts a body")


@dataclass(frozen=True)
class HazardSpec:
    predator: PredatorSpec = field(default_factory=PredatorSpec)


@dataclass(frozen=True)
class DynamicsSpec:
    """How actions act: slippery and remapped moves."""

    slip: float = number_field(0.0, 0.0, 1.0, doc="probability a move goes in a uniformly random direction")
    rotation: int = number_field(0, 0, 3, doc="moves are rotated clockwise by this many quarter turns")


@dataclass(frozen=True)
class ObservationSpec:
    view: int = number_field(7, 3, 31, static=True, doc="side of the square egocentric view (odd)")
    noise: float = number_field(0.0, 0.0, 1.0, doc="probability each view cell's terrain code is replaced at random")


@dataclass(frozen=True)
class VariantSpec:
    """A named variant of a world (applied by :mod:`openworld.world.variants`).

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
    seeds: tuple[int, ...] = field(default=(), metadata={"lo": 0, "hi": MAX_SEED})
    overrides: dict[str, Any] = field(default_factory=dict)
    shifts: Any = None


@dataclass(frozen=True)
class WorldSpec:
    """A whole world. See ``docs/designing-worlds.md`` for every key."""

    name: str
    version: int = number_field(0, 0, 10**6, static=True, doc="the N of the registered id Name-vN")
    description: str = ""
    reward: Literal["alive", "homeostatic", "none"] = "alive"
    bodies: int = number_field(1, 1, 64, static=True, doc="bodies per world")
    map: MapSpec = field(default_factory=MapSpec)
    resources: dict[str, ResourceSpec] = field(default_factory=dict)
    body: BodySpec = field(default_factory=BodySpec)
    hazards: HazardSpec = field(default_factory=HazardSpec)
    dynamics: DynamicsSpec = field(default_factory=DynamicsSpec)
    observation: ObservationSpec = field(default_factory=ObservationSpec)
    # Python modules that register this world's rules, imported before ``rules`` is checked: ``x.py`` is a
    # file next to the world file (load_spec makes it absolute), anything else an importable module name.
    rule_modules: tuple[str, ...] = ()
    rules: dict[str, dict[str, float]] = field(default_factory=dict)
    shifts: tuple[ShiftSpec, ...] = ()
    variants: dict[str, VariantSpec] = field(default_factory=dict)
    source: str = field(default="<string>", compare=False, metadata={"internal": True})

    @property
    def resource_names(self) -> tuple[str, ...]:
        return tuple(self.resources)

    @property
    def resource_kinds(self) -> tuple[ResourceKind, ...]:
        """The catalogue kind of each resource, in the order of ``resources:`` (the engine's index)."""
        return tuple(RESOURCE_KINDS[resource.kind or name] for name, resource in self.resources.items())

    @property
    def vital_max(self) -> tuple[float, ...]:
        return tuple(getattr(self.body, v.name.lower()).max for v in Vital)

    def tunables(self) -> dict[str, float]:
        """Every shiftable number by dotted path, in a fixed order (the engine's parameter vector)."""
        out: dict[str, float] = {}
        collect_tunables(self, "", out)
        return out

    def with_overrides(self, overrides: Mapping[str, Any]) -> WorldSpec:
        """A new spec with dotted-path overrides applied and validated like a world file."""
        data = to_dict(self)
        for path, value in overrides.items():
            set_path(data, path.split("."), value, self.source)
        return spec_from_dict(data, source=self.source)


# --------------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------------
def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> WorldSpec:
    """Load and validate a world file.

    The file's ``rule_modules`` files (``*.py`` entries) are found relative to its folder and kept in the
    spec as absolute paths, so that the spec (or its plain data in a run's config) rebuilds anywhere.

    Args:
        path: a YAML world file.
        overrides: dotted-path values applied on top, validated the same way.

    Raises:
        SpecError: naming the file, the key path and the problem.
    """
    path = Path(path)
    data = parse_world_yaml(read_text_file(path, "world file"), source=str(path))
    modules = data.get("rule_modules")
    if isinstance(modules, list):
        folder = path.resolve().parent
        data["rule_modules"] = [str(folder / entry) if isinstance(entry, str) and entry.endswith(".py") else entry
                                for entry in modules]
    spec = spec_from_dict(data, source=str(path))
    return spec.with_overrides(overrides) if overrides else spec


def load_spec_text(text: str, source: str = "<string>") -> WorldSpec:
    """Parse and validate a world spec from YAML text (``rule_modules`` files relative to the current
    directory)."""
    return spec_from_dict(parse_world_yaml(text, source), source=source)


def parse_world_yaml(text: str, source: str) -> dict[str, Any]:
    """The plain data of a world file's YAML text (not validated yet).

    Raises:
        SpecError: the text is not YAML, has a duplicate key, is too large (once its aliases are
            expanded), or is not a mapping.
    """
    data = parse_yaml(text, source)  # duplicate keys refused, anchors expanded within a cap
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a world file must be a mapping of keys, got {type(data).__name__}")
    return data


def spec_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> WorldSpec:
    """Build a validated :class:`WorldSpec` from plain data."""
    spec = build(WorldSpec, dict(data), "", source)
    modules = import_rule_modules(spec.rule_modules, source)  # they register the rules checked next
    spec = dataclasses.replace(spec, source=source, rules=complete_rule_params(spec.rules, source, modules))
    _check_semantics(spec)
    return spec


def _check_semantics(spec: WorldSpec) -> None:
    """Rules that span several keys."""
    src = spec.source
    terrain_names = [t.name.lower() for t in Terrain if t is not Terrain.VOID]
    if spec.observation.view % 2 == 0:
        fail(src, "observation.view", f"must be odd so the body sits in the centre, got {spec.observation.view}")
    m = spec.map
    if m.water + m.rock + m.sand + m.forest > 1.0:
        fail(src, "map", "water + rock + sand + forest fractions exceed 1")
    if walkable_cells(m) < 1:  # no body could be placed: refused here, not at the first reset of a run
        fail(src, "map", f"water ({m.water}) and rock ({m.rock}) leave no walkable cell on a "
             f"{m.size[0]}x{m.size[1]} map")
    kind_of: dict[str, str] = {}  # kind -> the first resource of that kind
    for name, res in spec.resources.items():
        if not RESOURCE_NAME_PATTERN.match(name):
            fail(src, f"resources.{brief(name)}", "a resource name is letters, digits, '_' and '-', starting with a "
                 "letter (it is a key of dotted paths: resources.<name>.regrow)")
        _check_resource_kind(src, name, res.kind)
        kind = res.kind or name
        if kind in kind_of:  # two resources would show the same code, yet act differently
            fail(src, f"resources.{name}", f"is kind '{kind}', as resources.{kind_of[kind]} is already; each "
                 "kind appears once in a world (an agent could not tell them apart)")
        kind_of[kind] = name
        for i, terrain in enumerate(res.grows_on):
            if terrain not in terrain_names:
                close = difflib.get_close_matches(terrain, terrain_names, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (valid: {', '.join(terrain_names)})"
                fail(src, f"resources.{name}.grows_on[{i}]", f"unknown terrain '{terrain}'{hint}")
    pred = spec.hazards.predator
    if pred.count > pred.max_count:
        fail(src, "hazards.predator.count", f"{pred.count} exceeds max_count {pred.max_count}")
    for vital in Vital:
        v = getattr(spec.body, vital.name.lower())
        if v.start > v.max:
            fail(src, f"body.{vital.name.lower()}.start", f"{v.start} exceeds max {v.max}")
    # Shift paths and values are checked by compiling the schedule.
    ShiftSchedule(spec)
    if spec.variants:
        check_variants(spec)


def walkable_cells(m: MapSpec) -> int:
    """Cells of land a body can stand on: every cell but the lowest ``water`` and highest ``rock`` fractions
    (counted as :func:`openworld.world.generation.generate_terrain` counts them, whatever the seed)."""
    cells = m.size[0] * m.size[1]
    return cells - int(round(m.water * cells)) - int(round(m.rock * cells))


def _check_resource_kind(source: str, name: str, declared: str | None) -> None:
    """Each of a world's resources is a kind of the shared catalogue (:class:`~openworld.enums.ResourceKind`):
    its ``kind:``, or its name when it declares none."""
    kind = declared or name
    if kind in RESOURCE_KINDS:
        return
    close = difflib.get_close_matches(kind.lower(), list(RESOURCE_KINDS), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    path = f"resources.{name}.kind" if declared else f"resources.{name}"
    rename = "" if declared else \
        f"keep the name '{name}' and declare the kind it is (`{name}: {{kind: <kind>, ...}}`), or "
    fail(source, path,
         f"unknown resource kind '{kind}' ({hint}kinds: {', '.join(RESOURCE_KINDS)}). Every world's resources are "
         f"kinds of one catalogue, so that a code means the same kind in every world: {rename}append a kind to "
         "openworld.enums.ResourceKind with the next free code (docs/worlds.md, 'Observation codes')")


def apply_variant(spec: WorldSpec, name: str) -> WorldSpec:
    """The spec with variant ``name`` applied: overrides, then shift patches; validated like a world file.

    The result has no variants of its own. Its ``source`` reads ``"<file>: variants.<name>"``, so that
    later errors (an override on top, say) still say where the world came from.

    Raises:
        UnknownVariantError: listing the world's variants.
        SpecError: naming the file, the variant and the key.
    """
    if name not in spec.variants:
        raise UnknownVariantError(unknown_variant_message(name, list(spec.variants), f"{spec.name}-v{spec.version}"))
    where = f"{spec.source}: variants.{name}"
    return spec_from_dict(patched_world_data(to_dict(spec), spec.variants[name], where), source=where)


_VALIDATED: dict[str, None] = {}  # specs whose variants passed check_variants (insertion-ordered, bounded)
_VALIDATED_LIMIT = 256


def check_variants(spec: WorldSpec) -> None:
    """Validate every variant of a spec (called when a world file loads).

    Besides applying each variant, checks that names work as command-line values and that no seed of
    a held-out variant also belongs to a training variant (which would leak held-out maps into training).
    """
    key = f"{spec.source}\n{to_dict(spec)!r}"
    if key in _VALIDATED:  # a world file is loaded for every env made from it; its variants do not change
        return
    train_seeds: dict[int, str] = {}
    for name, variant in spec.variants.items():
        if not NAME_PATTERN.match(name):
            raise SpecError(f"{spec.source}: variants.{name}: a variant name is lower case letters, digits and "
                            "'_', starting with a letter (it is typed on command lines: world.variant=<name>)")
        apply_variant(spec, name)
        if variant.split == "train":
            train_seeds.update({seed: name for seed in variant.seeds})
    for name, variant in spec.variants.items():
        if variant.split == "heldout":
            for i, seed in enumerate(variant.seeds):
                if seed in train_seeds:
                    raise SpecError(f"{spec.source}: variants.{name}.seeds[{i}]: seed {seed} also belongs to the "
                                    f"training variant '{train_seeds[seed]}'; held-out maps must be unseen")
    if len(_VALIDATED) >= _VALIDATED_LIMIT:
        _VALIDATED.pop(next(iter(_VALIDATED)))
    _VALIDATED[key] = None
