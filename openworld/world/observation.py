"""Egocentric observations: each body's ``V x V`` view (terrain, resource, entity channels) and its vitals.

A view is one gather: the flat cells around a body are its cell plus a fixed table of offsets (the
grids' ``VOID`` border is as wide as the view radius, so no bounds are checked).

The engine stores a resource by its position in the world file's ``resources:`` (``1 + k``); the view
shows the kind's code from the shared catalogue (:class:`~openworld.enums.ResourceKind`), through
one lookup table built per spec, so that a code means the same kind in every world.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from openworld.enums import RESOURCE_CAPACITY, Entity, ResourceKind, Terrain
from openworld.world.grid import GridLayout
from openworld.world.params import StepParams
from openworld.world.state import WorldState

SELF_NORTH = int(Entity.SELF_NORTH)


class Observer:
    """Draws the observations of every body of a batch of worlds of one spec.

    Args:
        grid: the grids' layout.
        view: ``V``, the side of a view (odd).
        resource_kinds: the catalogue kind of each of the world's resources, in the engine's order.
        num_predators: predator slots per world.
    """

    def __init__(self, grid: GridLayout, view: int, resource_kinds: Sequence[ResourceKind],
                 num_predators: int) -> None:
        self.grid = grid
        self.view = view
        self.radius = view // 2
        # Observation code of a stored 1 + engine index s: resource_codes[s] while available,
        # resource_codes[s + regrowing_offset] while it regrows (one flat table: one gather).
        available = np.array([0, *resource_kinds], np.uint8)
        self.regrowing_offset = np.uint8(len(available))
        self.resource_codes = np.concatenate([available, available + np.uint8(RESOURCE_CAPACITY)])
        width = grid.padded_width
        rel = np.arange(view) - self.radius
        self.view_offsets = (rel[:, None] * width + rel[None, :]).reshape(-1)  # (V*V,) row-major
        self.slots = np.arange(num_predators)[None, :]  # (1, P) predator slot numbers
        self.spare_slot = view * view
        self.offset_slots = self._make_offset_slots()
        self._batch_indices: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def observe(self, s: WorldState, p: StepParams) -> tuple[np.ndarray, np.ndarray]:
        """Egocentric views ``(B, N, V, V, 3)`` uint8 and vitals ``(B, N, K)`` float32 in [0, 1]."""
        V = self.view
        B, N = s.alive.shape
        cells = (s.body_cell + self.grid.world_base(B))[..., None] + self.view_offsets  # (B, N, V*V)
        view = np.empty((B, N, V * V, 3), np.uint8)
        view[..., 0] = s.terrain.reshape(-1)[cells]
        view[..., 1] = self._visible_resources(s, cells)
        view[..., 2] = self._entities(s, p)
        if p.any_noise:
            rng = s.rngs["observation"]
            noisy = rng.random((B, N, V * V)) < p.noise
            view[..., 0] = np.where(noisy, rng.integers(1, len(Terrain), (B, N, V * V)), view[..., 0])
        vitals = (s.vitals / p.vital_max).astype(np.float32)
        return view.reshape(B, N, V, V, 3), vitals

    def _make_offset_slots(self) -> np.ndarray:
        """View slot of every flat offset ``other_cell - body_cell`` (negative offsets index from the
        end), or the spare slot when outside the view.

        An offset ``d = dr * Wp + dc`` decodes uniquely into an in-view ``(dr, dc)``: map cells have
        ``|dc| <= W - 1``, so the other reading ``dc -+ Wp`` has ``|.| >= 2r + 1 > r`` and is never in view.
        """
        table = np.full(2 * self.grid.cells_per_world, self.spare_slot, dtype=np.int64)
        rel = np.arange(-self.radius, self.radius + 1)
        for i, dr in enumerate(rel):
            for j, dc in enumerate(rel):
                table[dr * self.grid.padded_width + dc] = i * self.view + j  # negative offsets wrap to the end
        return table

    def _visible_resources(self, s: WorldState, cells: np.ndarray) -> np.ndarray:
        """Resource codes at these (B, N, C) flat cells: the catalogue code ``c`` of the kind while
        available, ``c + RESOURCE_CAPACITY`` while it regrows, 0 for none.

        Only cells holding a resource consult ``ready_at`` (most cells hold none): at large B the
        full ``ready_at`` gather was the single largest cost of a step, being memory-bound.
        """
        code = s.resource.reshape(-1)[cells]  # 1 + engine index, 0 for none
        held = np.flatnonzero(code)
        if held.size:
            per_world = cells.shape[1] * cells.shape[2]
            flat = code.reshape(-1)
            waiting = s.ready_at.reshape(-1)[cells.reshape(-1)[held]] > s.clock[held // per_world]
            flat[held] = self.resource_codes[flat[held] + waiting.view(np.uint8) * self.regrowing_offset]
        return code

    def _entities(self, s: WorldState, p: StepParams) -> np.ndarray:
        """Entity codes around each body: itself (with its facing), other living bodies, predators.

        The view slot of an entity comes from one table look-up on the flat offset between the two
        cells (unambiguous because both lie inside the map, see ``_make_offset_slots``). Entities
        outside a view, or absent, land in a spare last slot that is then dropped.
        """
        B, N = s.alive.shape
        grid = np.zeros((B, N, self.view * self.view + 1), np.uint8)
        b_index, n_index = self._batch_index(B, N)
        for cells, code in self._entity_sources(s, p):  # (B, E) cells, (B, E) codes (0 = absent)
            slot = self.offset_slots[cells[:, None, :] - s.body_cell[:, :, None]]  # (B, N, E)
            slot = np.where(code[:, None, :] > 0, slot, self.spare_slot)
            grid[b_index, n_index, slot] = code[:, None, :]
        centre = self.radius * self.view + self.radius
        grid[:, :, centre] = np.where(s.alive, s.body_dir + SELF_NORTH, grid[:, :, centre])
        return grid[:, :, :-1]

    def _entity_sources(self, s: WorldState, p: StepParams) -> list[tuple[np.ndarray, np.ndarray]]:
        sources = []
        if s.alive.shape[1] > 1:
            sources.append((s.body_cell, s.alive * np.uint8(Entity.BODY)))
        if p.any_predators:
            sources.append((s.pred_cell, (self.slots < p.predator_count) * np.uint8(Entity.PREDATOR)))
        return sources

    def _batch_index(self, B: int, N: int) -> tuple[np.ndarray, np.ndarray]:
        """Broadcastable (B, 1, 1) and (1, N, 1) index arrays for scattering into (B, N, ·) grids."""
        key = (B, N)
        if key not in self._batch_indices:
            self._batch_indices[key] = (np.arange(B)[:, None, None], np.arange(N)[None, :, None])
        return self._batch_indices[key]
