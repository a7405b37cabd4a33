"""Placing bodies and predators on free walkable cells: at reset, on regeneration and on respawn."""

from __future__ import annotations

from typing import Any

import numpy as np

from openworld.world.grid import WALKABLE, GridLayout
from openworld.world.state import WorldState

SPAWN_CANDIDATES = 64  # random cells tried per spawn before the exact (slower) fallback


class Spawner:
    """Spawns the bodies and predators of one spec's worlds.

    Args:
        grid: the grids' layout.
        world_name: the spec's name, for errors.
        columns: ``ParameterTable.columns`` (the ``start`` and ``max`` vitals' columns are read).
        num_predators: predator slots per world.
    """

    def __init__(self, grid: GridLayout, world_name: str, columns: dict[str, Any], num_predators: int) -> None:
        self.grid = grid
        self.world_name = world_name
        self.start_columns, self.max_columns = columns["start"], columns["max"]
        self.num_predators = num_predators

    def random_walkable(self, s: WorldState, worlds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One uniformly random free walkable cell (flat, padded) per entry of ``worlds``, shape ``(M,)``."""
        grid = self.grid
        r, M = grid.border, worlds.shape[0]
        rows = rng.integers(r, r + grid.height, (M, SPAWN_CANDIDATES))
        cols = rng.integers(r, r + grid.width, (M, SPAWN_CANDIDATES))
        ok = WALKABLE[s.terrain[worlds[:, None], rows, cols]] & (s.resource[worlds[:, None], rows, cols] == 0)
        first = ok.argmax(1)
        cell = rows[np.arange(M), first] * grid.padded_width + cols[np.arange(M), first]
        for i in np.flatnonzero(~ok.any(1)):  # rare: a world almost without walkable land
            world = worlds[i]
            free = np.flatnonzero(WALKABLE[s.terrain[world]] & (s.resource[world] == 0))
            if free.size == 0:
                raise ValueError(f"world {int(world)} of {self.world_name} has no free walkable cell")
            cell[i] = free[rng.integers(free.size)]
        return cell

    def bodies(self, s: WorldState, mask: np.ndarray, theta: np.ndarray, rng: np.random.Generator,
               reset_vitals: bool = True) -> None:
        """Put the bodies in ``mask`` (B, N) on random cells facing a random way; with ``reset_vitals``,
        also bring them to life with the start vitals of the parameters ``theta`` (B, P) in force."""
        b_idx, n_idx = np.nonzero(mask)
        if b_idx.size == 0:
            return
        s.body_cell[b_idx, n_idx] = self.random_walkable(s, b_idx, rng)
        s.body_dir[b_idx, n_idx] = rng.integers(0, 4, b_idx.size)
        if reset_vitals:
            start = theta[b_idx][:, self.start_columns]
            s.vitals[b_idx, n_idx] = np.minimum(start, theta[b_idx][:, self.max_columns])
            s.alive[b_idx, n_idx] = True

    def predators(self, s: WorldState, worlds: np.ndarray, rng: np.random.Generator) -> None:
        """Put every predator slot of these worlds on a random cell."""
        if self.num_predators == 0:
            return
        cells = self.random_walkable(s, np.repeat(worlds, self.num_predators), rng)
        s.pred_cell[worlds] = cells.reshape(worlds.size, self.num_predators)
