"""Writing maps into the state: each world's generated map, and the map events of shifts.

:mod:`openworld.world.generation` makes an unpadded map from a generator; :class:`MapWriter` puts it
inside a world's ``VOID`` border (at reset and on ``regenerate``) and carries out a shift's map events
(``regenerate`` a resource kind with the densities in force, ``relocate`` a fraction of its cells).
"""

from __future__ import annotations

import numpy as np

from openworld.enums import Terrain
from openworld.world.generation import generate_terrain, place_resources
from openworld.world.grid import GridLayout
from openworld.world.shifts import MapEvent
from openworld.world.spec import WorldSpec
from openworld.world.state import WorldState

MAP_STREAM = 0x6D6170  # "map": second seed word of a world's own map generator


class MapWriter:
    """Generates and changes the maps of one spec's worlds.

    Args:
        spec: the world spec.
        grid: the grids' layout.
        index: column of each parameter path in a parameter vector (``ShiftSchedule.index``).
        density_columns: the columns of the resources' densities, in resource order.
    """

    def __init__(self, spec: WorldSpec, grid: GridLayout, index: dict[str, int], density_columns: list[int]) -> None:
        self.spec = spec
        self.grid = grid
        self.index = index
        self.density_columns = density_columns
        self.resource_names = list(spec.resources)
        self.grows_on = []  # per resource kind: a boolean lookup table over Terrain codes
        for res in spec.resources.values():
            table = np.zeros(len(Terrain), dtype=bool)
            table[[Terrain[t.upper()] for t in res.grows_on]] = True
            self.grows_on.append(table)
        r = grid.border
        self.inner = (slice(r, r + grid.height), slice(r, r + grid.width))  # the map inside the border

    def generate(self, s: WorldState, b: int, theta: np.ndarray) -> None:
        """Give world ``b`` the map of its seed, ``s.world_seed[b]``, under parameters ``theta`` (its own
        generator: world ``b`` of a batch gets exactly the map of a single world of that seed)."""
        col = self.index
        rng = np.random.default_rng([int(s.world_seed[b]), MAP_STREAM])
        terrain = generate_terrain(
            (self.grid.height, self.grid.width), theta[col["map.feature_size"]], theta[col["map.water"]],
            theta[col["map.rock"]], theta[col["map.sand"]], theta[col["map.forest"]], rng)
        resource = place_resources(terrain, theta[self.density_columns], self.grows_on, rng)
        s.terrain[b] = Terrain.VOID
        s.terrain[b][self.inner] = terrain
        s.resource[b] = 0
        s.resource[b][self.inner] = resource
        s.ready_at[b] = 0

    def apply_event(self, s: WorldState, b: int, event: MapEvent, theta: np.ndarray) -> None:
        """Carry out one map event in world ``b`` under parameters ``theta`` (draws from ``s.rngs["map"]``)."""
        rng = s.rngs["map"]
        inner = self.inner
        terrain = s.terrain[b][inner]
        kinds = list(range(len(self.resource_names))) if event.resource == "all" else \
            [self.resource_names.index(event.resource)]
        if event.op == "regenerate":
            resource = s.resource[b][inner].copy()
            for kind in kinds:
                resource = place_resources(terrain, theta[self.density_columns], self.grows_on, rng,
                                           only=kind, existing=resource)
            s.resource[b][inner] = resource
            s.ready_at[b][inner] = np.where(np.isin(resource, np.array(kinds) + 1), 0, s.ready_at[b][inner])
            return
        # relocate: move a fraction of each kind's cells to empty eligible cells.
        resource, ready = s.resource[b][inner], s.ready_at[b][inner]
        for kind in kinds:
            cells = np.flatnonzero(resource == kind + 1)
            moving = cells[rng.random(cells.size) < event.fraction]
            free = np.flatnonzero(self.grows_on[kind][terrain] & (resource == 0))
            count = min(moving.size, free.size)
            if count == 0:
                continue
            moving = rng.permutation(moving)[:count]
            dest = rng.choice(free, size=count, replace=False)
            resource.flat[moving] = 0
            resource.flat[dest] = kind + 1
            ready.flat[dest] = 0
