"""The per-tick state of ``B`` worlds: a plain dataclass of numpy arrays with a leading batch axis.

Grids carry a border of ``VOID`` cells as wide as the view radius, so that views and neighbour
look-ups never need bounds checks. Positions are flat cell indices ``row * Wp + col`` in these padded
coordinates: a move is one addition and a view one gather.

The state is copyable, comparable and saveable exactly (including every random generator), which is
what checkpoints and ``openworld.testing.check_world`` rely on.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

RNG_PHASES = ("intent", "regrowth", "hazards", "respawn", "observation", "map")


def make_rngs(seed: int) -> dict[str, np.random.Generator]:
    """One independent generator per phase, all derived from one seed."""
    children = np.random.SeedSequence(seed).spawn(len(RNG_PHASES))
    return {name: np.random.Generator(np.random.PCG64(child)) for name, child in zip(RNG_PHASES, children, strict=True)}


@dataclass
class WorldState:
    """Everything that changes while ``B`` worlds live (``N`` bodies, ``P`` predator slots each)."""

    clock: np.ndarray  # (B,) int64: world steps since generation; respawns never reset it
    world_seed: np.ndarray  # (B,) int64: the seed each world was generated from
    terrain: np.ndarray  # (B, Hp, Wp) uint8 Terrain codes, VOID border
    resource: np.ndarray  # (B, Hp, Wp) uint8: 0 none, 1 + resource index
    ready_at: np.ndarray  # (B, Hp, Wp) int32: the resource in a cell is available once clock >= ready_at
    body_cell: np.ndarray  # (B, N) int64: row * Wp + col in padded coordinates
    body_dir: np.ndarray  # (B, N) int64 Direction
    vitals: np.ndarray  # (B, N, K) float64 in vital units, K = len(Vital)
    alive: np.ndarray  # (B, N) bool
    respawn_at: np.ndarray  # (B, N) int64: clock at which a dead body may come back
    deaths: np.ndarray  # (B, N) int64: deaths so far
    pred_cell: np.ndarray  # (B, P) int64: row * Wp + col in padded coordinates
    rngs: dict[str, np.random.Generator] = field(default_factory=dict)

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
        rngs = {}
        for name, state in json.loads(str(arrays.pop("__rngs__"))).items():
            gen = np.random.Generator(np.random.PCG64())
            gen.bit_generator.state = state
            rngs[name] = gen
        return cls(**{n: arrays[n] for n in names}, rngs=rngs)

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: str | Path) -> WorldState:
        return cls.from_bytes(Path(path).read_bytes())


def rng_states(rngs: dict[str, np.random.Generator]) -> dict[str, Any]:
    """JSON-safe states of a dict of generators (PCG64 states are plain ints)."""
    return {name: gen.bit_generator.state for name, gen in sorted(rngs.items())}
