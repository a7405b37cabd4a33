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
loads, with the file and the key path in the message (:mod:`openworld.world.variants` patches the
world's data, :func:`openworld.world.spec.apply_variant` builds the spec).

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

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np

from openworld.errors import UnknownVariantError
from openworld.registry import load_world_spec, resolve_world_id, world_ids
from openworld.world.spec import WorldSpec, apply_variant, check_variants
from openworld.world.variants import SPLITS, unknown_variant_message


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
            raise UnknownVariantError(unknown_variant_message(index, [v.key if self._many_worlds else v.name
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
    return VariantSet(v for world_id in world_ids(engine_only=False) for v in world_variants(world_id))


def get_variant(world: str | WorldSpec, name: str) -> Variant:
    """One variant by name; an unknown name raises :class:`UnknownVariantError` listing the world's."""
    spec, world_id = _spec_and_id(world)
    if name not in spec.variants:
        raise UnknownVariantError(unknown_variant_message(name, list(spec.variants), world_id))
    v = spec.variants[name]
    return Variant(world_id, name, v.split, v.description, v.seeds, spec)


def variant_of(env: Any) -> str | None:
    """The variant an environment (or vector env, or wrapper) was made with; None for the world as written."""
    return getattr(getattr(env, "unwrapped", env), "variant", None)



# ------------------------------------------------------------------------------------------ helpers
def _spec_and_id(world: str | WorldSpec) -> tuple[WorldSpec, str]:
    if isinstance(world, WorldSpec):
        return world, f"{world.name}-v{world.version}"
    world_id = resolve_world_id(world)
    return load_world_spec(world_id), world_id



__all__ = [
    "SPLITS", "UnknownVariantError", "Variant", "VariantSet", "apply_variant", "catalogue_variants",
    "check_variants", "get_variant", "variant_of", "world_variants",
]
