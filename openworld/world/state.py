"""The per-tick state of ``B`` worlds: a plain dataclass of numpy arrays with a leading batch axis.

Grids carry a border of ``VOID`` cells as wide as the view radius, so that views and neighbour
look-ups never need bounds checks. Positions are flat cell indices ``row * Wp + col`` in these padded
coordinates: a move is one addition and a view one gather.

Every array is declared once, as a field of :class:`WorldState` with its dtype and its shape in named
sizes (``B`` worlds, ``N`` bodies, ``P`` predator slots, ``K`` vitals, ``Hp x Wp`` padded grid); the engine
builds a fresh state and checks a saved one from that declaration (:meth:`WorldState.schema`).

The state is copyable, comparable and saveable exactly (including every random generator), which is
what checkpoints and ``openworld.testing.check_world`` rely on.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

RNG_PHASES = ("intent", "regrowth", "hazards", "respawn", "observation", "map")
RULE_SPAWN_KEY = 0x72756C65  # "rule": first spawn-key word of every rule's generator (phases use one-word keys)


def generator_names(rule_ids: Sequence[str] = ()) -> list[str]:
    """The keys of ``WorldState.rngs``: one per phase, then one per rule (its id)."""
    return [*RNG_PHASES, *rule_ids]


def make_rngs(seed: int, rule_ids: Sequence[str] = ()) -> dict[str, np.random.Generator]:
    """One independent generator per phase, and one per rule keyed by the rule's id, all derived from one seed.

    A rule's generator depends only on the seed and the rule's id (through a CRC-32 of the id in its
    spawn key), so switching a rule on or off leaves every other stream as it was.
    """
    children = np.random.SeedSequence(seed).spawn(len(RNG_PHASES))
    rngs = {name: np.random.Generator(np.random.PCG64(child)) for name, child in zip(RNG_PHASES, children, strict=True)}
    for rule_id in rule_ids:
        sequence = np.random.SeedSequence(seed, spawn_key=(RULE_SPAWN_KEY, zlib.crc32(rule_id.encode())))
        rngs[rule_id] = np.random.Generator(np.random.PCG64(sequence))
    return rngs


def _array(dtype: type, *dims: str) -> Any:
    """Declare a state array: its dtype and its shape as named sizes (read by :meth:`WorldState.schema`)."""
    return field(metadata={"dtype": np.dtype(dtype), "dims": dims})


@dataclass
class WorldState:
    """Everything that changes while ``B`` worlds live (``N`` bodies, ``P`` predator slots each)."""

    clock: np.ndarray = _array(np.int64, "B")  # world steps since generation; respawns never reset it
    world_seed: np.ndarray = _array(np.int64, "B")  # the seed each world was generated from
    terrain: np.ndarray = _array(np.uint8, "B", "Hp", "Wp")  # Terrain codes, VOID border
    resource: np.ndarray = _array(np.uint8, "B", "Hp", "Wp")  # 0 none, 1 + resource index
    ready_at: np.ndarray = _array(np.int32, "B", "Hp", "Wp")  # a cell's resource is available once clock >= ready_at
    body_cell: np.ndarray = _array(np.int64, "B", "N")  # row * Wp + col in padded coordinates
    body_dir: np.ndarray = _array(np.int64, "B", "N")  # Direction
    vitals: np.ndarray = _array(np.float64, "B", "N", "K")  # in vital units, K = len(Vital)
    alive: np.ndarray = _array(np.bool_, "B", "N")
    respawn_at: np.ndarray = _array(np.int64, "B", "N")  # clock at which a dead body may come back
    deaths: np.ndarray = _array(np.int64, "B", "N")  # deaths so far
    pred_cell: np.ndarray = _array(np.int64, "B", "P")  # row * Wp + col in padded coordinates
    rngs: dict[str, np.random.Generator] = field(default_factory=dict)  # see make_rngs

    @classmethod
    def schema(cls, sizes: Mapping[str, int]) -> dict[str, tuple[tuple[int, ...], np.dtype[Any]]]:
        """Shape and dtype of every array, given the named sizes (keys ``B N P K Hp Wp``)."""
        return {f.name: (tuple(sizes[d] for d in f.metadata["dims"]), f.metadata["dtype"])
                for f in dataclasses.fields(cls) if f.name != "rngs"}

    @classmethod
    def zeros(cls, sizes: Mapping[str, int], rngs: dict[str, np.random.Generator]) -> WorldState:
        """A state of all-zero arrays of these sizes (see :meth:`schema`), with these generators."""
        return cls(**{name: np.zeros(shape, dtype) for name, (shape, dtype) in cls.schema(sizes).items()}, rngs=rngs)

    @property
    def num_worlds(self) -> int:
        return int(self.clock.shape[0])

    @property
    def body_pos(self) -> np.ndarray:
        """(B, N, 2) (row, col) of each body in padded coordinates (computed from ``body_cell``)."""
        return np.stack(np.divmod(self.body_cell, self.terrain.shape[2]), -1)

    @property
    def pred_pos(self) -> np.ndarray:
        """(B, P, 2) (row, col) of each predator slot in padded coordinates."""
        return np.stack(np.divmod(self.pred_cell, self.terrain.shape[2]), -1)

    def array_fields(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "rngs"}

    def copy(self) -> WorldState:
        """A deep, independent copy (generators included)."""
        return WorldState(**{k: v.copy() for k, v in self.array_fields().items()},
                          rngs=copy.deepcopy(self.rngs))

    def take(self, worlds: np.ndarray) -> WorldState:
        """The sub-state of some worlds (copies; generators are shared, not copied)."""
        return WorldState(**{k: v[worlds].copy() for k, v in self.array_fields().items()}, rngs=self.rngs)

    def put(self, worlds: np.ndarray, sub: WorldState) -> None:
        """Write a sub-state from :meth:`take` back into these worlds."""
        for name, value in sub.array_fields().items():
            getattr(self, name)[worlds] = value

    def equals(self, other: WorldState) -> bool:
        """Exact equality of every array and every generator state."""
        mine, theirs = self.array_fields(), other.array_fields()
        if any(not np.array_equal(mine[k], theirs[k]) for k in mine):
            return False
        return rng_states(self.rngs) == rng_states(other.rngs)

    # ----------------------------------------------------------------- persistence
    def to_bytes(self) -> bytes:
        """Serialise exactly (``numpy.savez`` of the arrays plus the generators' states as JSON)."""
        buffer = io.BytesIO()
        rng_json = json.dumps(rng_states(self.rngs))
        arrays: dict[str, Any] = {**self.array_fields(), "__rngs__": np.array(rng_json)}
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> WorldState:
        """Inverse of :meth:`to_bytes`; raises ``ValueError`` naming what is wrong."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except Exception as err:  # zipfile / format errors of many kinds
            raise ValueError(f"not a saved world state: {err}") from err
        names = [f.name for f in dataclasses.fields(cls) if f.name != "rngs"]
        missing = [n for n in names + ["__rngs__"] if n not in arrays]
        if missing:
            raise ValueError(f"saved world state lacks {', '.join(missing)}")
        rngs = {name: generator_from_state(state) for name, state in json.loads(str(arrays.pop("__rngs__"))).items()}
        return cls(**{n: arrays[n] for n in names}, rngs=rngs)

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: str | Path) -> WorldState:
        return cls.from_bytes(Path(path).read_bytes())


def rng_states(rngs: dict[str, np.random.Generator]) -> dict[str, Any]:
    """JSON-safe states of a dict of generators (PCG64 states are plain ints)."""
    return {name: gen.bit_generator.state for name, gen in sorted(rngs.items())}


def generator_from_state(state: Mapping[str, Any]) -> np.random.Generator:
    """A PCG64 generator set to a saved ``bit_generator.state`` (the inverse of :func:`rng_states`' values)."""
    generator = np.random.Generator(np.random.PCG64())
    generator.bit_generator.state = state
    return generator
