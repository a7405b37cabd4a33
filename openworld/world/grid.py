"""The layout of a world's grids: the one public description of flat cells, for the engine and for rules.

Every grid of the state (``terrain``, ``resource``, ``ready_at``) is ``(B, Hp, Wp)``: the ``height x width``
map surrounded by a border of ``VOID`` cells ``border`` wide (the view radius), so that views and
neighbour look-ups never need bounds checks. A position is a *flat cell* ``row * Wp + col`` in these
padded coordinates, so a move is one addition and a view one gather. To read a ``(B, ...)`` array of
flat cells from a grid, add each world's *base* (the offset of its first cell) and index the flattened
grid::

    state.terrain.reshape(-1)[cells + grid.world_base(B)]

Example:
    >>> grid = GridLayout(height=3, width=4, border=1)
    >>> grid.padded_shape
    (5, 6)
    >>> int(grid.cell(0, 0))  # the map's top-left cell, one row and one column inside the border
    7
    >>> grid.world_base(2).tolist()
    [[0], [30]]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from openworld.enums import DIRECTION_OFFSETS, WALKABLE_TERRAIN, Terrain

WALKABLE = np.isin(np.arange(len(Terrain)), WALKABLE_TERRAIN)  # lookup table: is this Terrain code walkable?


@dataclass(frozen=True)
class GridLayout:
    """Sizes and flat-cell arithmetic of one spec's grids (see the module docstring).

    Args:
        height: map rows.
        width: map columns.
        border: width of the ``VOID`` border (the view radius).
    """

    height: int
    width: int
    border: int
    _bases: dict[int, np.ndarray] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def padded_shape(self) -> tuple[int, int]:
        """``(Hp, Wp)``: the map plus its border on every side."""
        return self.height + 2 * self.border, self.width + 2 * self.border

    @property
    def padded_width(self) -> int:
        """``Wp``: the stride of one row in flat cells."""
        return self.width + 2 * self.border

    @property
    def cells_per_world(self) -> int:
        """``Hp * Wp``: the flat cells of one world, border included."""
        height, width = self.padded_shape
        return height * width

    def cell(self, row: np.ndarray | int, col: np.ndarray | int) -> np.ndarray:
        """Flat cells of map coordinates (``0 <= row < height``, ``0 <= col < width``, border excluded)."""
        return (np.asarray(row) + self.border) * self.padded_width + (np.asarray(col) + self.border)

    def world_base(self, num_worlds: int) -> np.ndarray:
        """``(B, 1)`` int64: the flat offset of each world's first cell in a flattened ``(B, Hp, Wp)`` grid."""
        base = self._bases.get(num_worlds)
        if base is None:
            base = self._bases[num_worlds] = np.arange(num_worlds, dtype=np.int64)[:, None] * self.cells_per_world
        return base

    @cached_property
    def move_offsets(self) -> np.ndarray:
        """``(4,)`` int64: the flat-cell step of a move in each Direction."""
        return np.array([dr * self.padded_width + dc for dr, dc in DIRECTION_OFFSETS], dtype=np.int64)

    @cached_property
    def row_of(self) -> np.ndarray:
        """Padded row of every flat cell of one world (a lookup table: cheaper than ``divmod``)."""
        return np.arange(self.cells_per_world) // self.padded_width

    @cached_property
    def col_of(self) -> np.ndarray:
        """Padded column of every flat cell of one world."""
        return np.arange(self.cells_per_world) % self.padded_width
