"""Variants: named versions of a world, grouped into training and held-out splits.

A world file lists its variants under ``variants:``. Each is a *value*: a split (``train``,
``heldout`` or ``dev``), the world seeds it is made of, dotted-path overrides of the world's values,
and patches of its shift schedule. Held-out variants hold out what training never shows: unseen maps
(seeds, generator parameters) and, above all, unseen kinds, sizes and timings of shifts::

    variants:
      train:          {split: train, seeds: [0, 1, 2, 3]}
      heldout_early:  {split: heldout, seeds: [1000, 1001], shifts: {blight: {at: 8000}}}
      heldout_severe: {split: heldout, seeds: [1000, 1001],
                       shifts: {blight: {set: {resources.berry.effects.health: -8.0}}}}
      heldout_slow:   {split: heldout, seeds: [1000, 1001],
                       shifts: {blight: {kind: gradual, start: 20000, end: 40000}}}

``shifts`` patches shifts by name: ``set`` is merged into the shift's own (``null`` drops a path),
``regimes`` of a cyclic shift may be patched by regime name the same way, every other key replaces;
``null`` removes a shift; a name the world does not have adds a shift and must say its ``kind``. A
list instead of a mapping replaces the whole schedule. Everything is validated when the world file
loads, with the file and the key path in the message.

A set of variants is handled like a benchmark's task set (after xland-minigrid's ``Benchmark``):
:class:`VariantSet` can be split, filtered and sampled, and each :class:`Variant` builds its spec or
its environment. Environments take the variant by name and record it as ``env.unwrapped.variant``.

Example:
    >>> import numpy as np
    >>> import openworld
    >>> from openworld import variants
    >>> heldout = variants.world_variants("seasons").split("heldout")
    >>> "heldout_short_year" in heldout.names
    True
    >>> variant = heldout["heldout_short_year"]
    >>> variant.world, variant.split
    ('Seasons-v0', 'heldout')
    >>> env = variant.make()
    >>> env.unwrapped.variant, env.unwrapped.world_spec.shifts[0].period
    ('heldout_short_year', 4000)
    >>> task = heldout.sample(np.random.default_rng(0))
    >>> task.split
    'heldout'
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, overload

import numpy as np

from openworld.registry import UnknownIdError
from openworld.spec import ShiftSpec, SpecError, WorldSpec, _set_path, spec_from_dict, to_dict

SPLITS = ("train", "heldout", "dev")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")  # usable as a Hydra value: world.variant=heldout_early
FIXED_KEYS = ("name", "version", "shifts", "variants")  # not overridable: they define the world's identity
SHIFT_KEYS = tuple(f.name for f in fields(ShiftSpec) if f.name != "name")
_VALIDATED: dict[str, None] = {}  # specs whose variants passed check_variants (insertion-ordered, bounded)
_VALIDATED_LIMIT = 256


class UnknownVariantError(UnknownIdError):
    """A variant name the world does not define; the message lists the ones it does."""


# ------------------------------------------------------------------------------------------ values
@dataclass(frozen=True)
class Variant:
    """One variant of one world.

    Attributes:
        world: the world's id, e.g. ``"Seasons-v0"``.
        name: the variant's name, e.g. ``"heldout_early"``.
        split: ``"train"``, ``"heldout"`` or ``"dev"``.
        description: one line on what it changes.
        seeds: the world seeds it is made of (``reset(seed=...)`` values).
    """

    world: str
    name: str
    split: str
    description: str
    seeds: tuple[int, ...]
    base: WorldSpec = field(repr=False, compare=False)

    @property
    def key(self) -> str:
        """``"<world>:<name>"``, unique across the catalogue."""
        return f"{self.world}:{self.name}"

    def world_spec(self) -> WorldSpec:
        """The world with this variant applied (no variants of its own)."""
        return apply_variant(self.base, self.name)

    def make(self, **kwargs: Any) -> Any:
        """``gymnasium.make`` of the variant's world with ``variant=`` set."""
        import gymnasium

        return gymnasium.make(f"openworld/{self.world}", variant=self.name, **kwargs)

    def make_vec(self, num_envs: int, **kwargs: Any) -> Any:
        """``gymnasium.make_vec`` of the variant's world (its batched vector env) with ``variant=`` set."""
        import gymnasium

        kwargs.setdefault("vectorization_mode", "vector_entry_point")
        return gymnasium.make_vec(f"openworld/{self.world}", num_envs=num_envs, variant=self.name, **kwargs)


class VariantSet(Sequence[Variant]):
    """An immutable, ordered set of variants, to split, filter and sample like a task set.

    Index it by position, by name (when unique in the set) or by key (``"Seasons-v0:train"``).
    """

    def __init__(self, variants: Iterable[Variant] = ()) -> None:
        self._variants = tuple(variants)

    def __len__(self) -> int:
        return len(self._variants)

    def __iter__(self) -> Iterator[Variant]:
        return iter(self._variants)

    @overload
    def __getitem__(self, index: int) -> Variant: ...

    @overload
    def __getitem__(self, index: slice) -> VariantSet: ...

    @overload
    def __getitem__(self, index: str) -> Variant: ...

    def __getitem__(self, index: int | slice | str) -> Variant | VariantSet:
        if isinstance(index, slice):
            return VariantSet(self._variants[index])
        if isinstance(index, str):
            found = [v for v in self._variants if index in (v.name, v.key)]
            if len(found) == 1:
                return found[0]
            if found:
                raise KeyError(f"variant name '{index}' is ambiguous here: {', '.join(v.key for v in found)}; "
                               "index by key (world:name)")
            raise UnknownVariantError(_unknown_message(index, [v.key if self._many_worlds else v.name
                                                               for v in self._variants]))
        return self._variants[index]

    def __repr__(self) -> str:
        return f"VariantSet({', '.join(v.key for v in self._variants)})"

    @property
    def _many_worlds(self) -> bool:
        return len({v.world for v in self._variants}) > 1

    @property
    def names(self) -> tuple[str, ...]:
        """Variant names (keys ``world:name`` when the set spans several worlds)."""
        return tuple(v.key if self._many_worlds else v.name for v in self._variants)

    @property
    def worlds(self) -> tuple[str, ...]:
        """The distinct worlds, in order of first appearance."""
        return tuple(dict.fromkeys(v.world for v in self._variants))

    def split(self, split: str) -> VariantSet:
        """The variants of one split (``train``, ``heldout`` or ``dev``)."""
        if split not in SPLITS:
            raise ValueError(f"unknown split '{split}'; splits are {', '.join(SPLITS)}")
        return VariantSet(v for v in self._variants if v.split == split)

    def filter(self, predicate: Callable[[Variant], bool]) -> VariantSet:
        """The variants for which ``predicate(variant)`` is true."""
        return VariantSet(v for v in self._variants if predicate(v))

    def sample(self, rng: np.random.Generator) -> Variant:
        """One variant, uniformly at random."""
        if not self._variants:
            raise ValueError("cannot sample from an empty VariantSet")
        return self._variants[int(rng.integers(len(self._variants)))]

    def tasks(self) -> list[tuple[Variant, int]]:
        """Every ``(variant, seed)`` pair: the lifetimes that make up this set."""
        return [(v, seed) for v in self._variants for seed in v.seeds]

    def sample_tasks(self, rng: np.random.Generator, count: int) -> list[tuple[Variant, int]]:
        """``count`` distinct ``(variant, seed)`` pairs, uniformly at random without replacement."""
        tasks = self.tasks()
        if count > len(tasks):
            raise ValueError(f"asked for {count} tasks, but this set has only {len(tasks)} (variant, seed) pairs")
        return [tasks[i] for i in rng.choice(len(tasks), size=count, replace=False)]


# ------------------------------------------------------------------------------------------ lookup
def world_variants(world: str | WorldSpec) -> VariantSet:
    """The variants of a registered world (``"seasons"``, ``"Seasons-v0"``) or of a spec."""
    spec, world_id = _spec_and_id(world)
    return VariantSet(Variant(world_id, name, v.split, v.description, v.seeds, spec)
                      for name, v in spec.variants.items())


def catalogue_variants() -> VariantSet:
    """Every variant of every registered world (engine worlds and worlds with their own env class)."""
    from openworld.registry import world_ids

    return VariantSet(v for world_id in world_ids(engine_only=False) for v in world_variants(world_id))


def get_variant(world: str | WorldSpec, name: str) -> Variant:
    """One variant by name; an unknown name raises :class:`UnknownVariantError` listing the world's."""
    spec, world_id = _spec_and_id(world)
    if name not in spec.variants:
        raise UnknownVariantError(_unknown_message(name, list(spec.variants), world_id))
    v = spec.variants[name]
    return Variant(world_id, name, v.split, v.description, v.seeds, spec)


def apply_variant(spec: WorldSpec, name: str) -> WorldSpec:
    """The spec with variant ``name`` applied: overrides, then shift patches; validated like a world file.

    The result has no variants of its own. Its ``source`` reads ``"<file>: variants.<name>"``, so that
    later errors (an override on top, say) still say where the world came from.

    Raises:
        UnknownVariantError: listing the world's variants.
        SpecError: naming the file, the variant and the key.
    """
    if name not in spec.variants:
        raise UnknownVariantError(_unknown_message(name, list(spec.variants), f"{spec.name}-v{spec.version}"))
    variant = spec.variants[name]
    where = f"{spec.source}: variants.{name}"
    data = to_dict(spec)
    data["variants"] = {}
    if not isinstance(variant.overrides, Mapping):
        raise SpecError(f"{where}.overrides: expected a mapping of dotted paths to values")
    for path, value in variant.overrides.items():
        parts = str(path).split(".")
        if parts[0] in FIXED_KEYS:
            hint = " (change the schedule in the variant's 'shifts')" if parts[0] == "shifts" else ""
            raise SpecError(f"{where}.overrides.{path}: '{parts[0]}' cannot be overridden by a variant{hint}")
        _set_path(data, parts, value, f"{where}.overrides")
    if variant.shifts is not None:
        data["shifts"] = _patched_schedule(data["shifts"], variant.shifts, f"{where}.shifts")
    return spec_from_dict(data, source=where)


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


def variant_of(env: Any) -> str | None:
    """The variant an environment (or vector env, or wrapper) was made with; None for the world as written."""
    return getattr(getattr(env, "unwrapped", env), "variant", None)


# ------------------------------------------------------------------------------------------ helpers
def _spec_and_id(world: str | WorldSpec) -> tuple[WorldSpec, str]:
    if isinstance(world, WorldSpec):
        return world, f"{world.name}-v{world.version}"
    from openworld.registry import load_world_spec, resolve_world_id

    world_id = resolve_world_id(world)
    return load_world_spec(world_id), world_id


def _unknown_message(name: str, known: list[str], world: str | None = None) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    owner = f" of {world}" if world else ""
    return f"unknown variant '{name}'{owner}.{hint} Variants: {', '.join(known) or 'none'}"


def _patched_schedule(shifts: list[dict[str, Any]], patch: Any, where: str) -> list[dict[str, Any]]:
    """The schedule (plain data) with a variant's ``shifts`` section applied."""
    if isinstance(patch, list):
        return patch  # a whole new schedule, validated by the caller like any other
    if not isinstance(patch, Mapping):
        raise SpecError(f"{where}: expected a mapping of shift name to patch, or a list of shifts, "
                        f"got {type(patch).__name__}")
    out = [dict(shift) for shift in shifts]
    names = [shift["name"] for shift in out]
    for name, change in patch.items():
        here = f"{where}.{name}"
        if name not in names:
            if not isinstance(change, Mapping) or "kind" not in change:
                close = difflib.get_close_matches(str(name), names, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise SpecError(f"{here}: the world has no shift '{name}'{hint}; shifts: {', '.join(names) or 'none'}"
                                " (to add a shift, give its 'kind')")
            out.append({"name": name, **change})
            names.append(str(name))
            continue
        index = names.index(name)
        if change is None:
            del out[index], names[index]
            continue
        if not isinstance(change, Mapping):
            raise SpecError(f"{here}: expected a mapping (a patch of the shift) or null (remove it), got {change!r}")
        out[index] = _patched_shift(out[index], change, here)
    return out


def _patched_shift(shift: dict[str, Any], change: Mapping[str, Any], where: str) -> dict[str, Any]:
    shift = dict(shift)
    for key, value in change.items():
        if key not in SHIFT_KEYS:
            close = difflib.get_close_matches(str(key), SHIFT_KEYS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (keys: {', '.join(SHIFT_KEYS)})"
            raise SpecError(f"{where}.{key}: unknown key{hint}")
        if key == "set" and isinstance(value, Mapping):
            shift["set"] = _merged(shift.get("set") or {}, value)
        elif key == "regimes" and isinstance(value, Mapping):
            regimes = [dict(r) for r in shift.get("regimes") or []]
            regime_names = [r["name"] for r in regimes]
            for regime_name, regime_change in value.items():
                here = f"{where}.regimes.{regime_name}"
                if regime_name not in regime_names:
                    close = difflib.get_close_matches(str(regime_name), regime_names, n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    raise SpecError(f"{here}: the shift has no regime '{regime_name}'{hint}; regimes: "
                                    f"{', '.join(regime_names) or 'none'}")
                if not isinstance(regime_change, Mapping):
                    raise SpecError(f"{here}: expected a mapping with 'set' and/or 'map'")
                regime = regimes[regime_names.index(regime_name)]
                for regime_key, regime_value in regime_change.items():
                    if regime_key == "set" and isinstance(regime_value, Mapping):
                        regime["set"] = _merged(regime.get("set") or {}, regime_value)
                    elif regime_key == "map":
                        regime["map"] = regime_value
                    else:
                        raise SpecError(f"{here}.{regime_key}: a regime patch has 'set' and 'map'")
            shift["regimes"] = regimes
        else:
            shift[key] = value
    return shift


def _merged(values: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for path, value in change.items():
        if value is None:
            out.pop(path, None)
        else:
            out[path] = value
    return out


__all__ = [
    "SPLITS", "UnknownVariantError", "Variant", "VariantSet", "apply_variant", "catalogue_variants",
    "check_variants", "get_variant", "variant_of", "world_variants",
]
