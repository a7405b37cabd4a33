"""Procedural generation of one world's map: terrain biomes from smooth noise, then resources.

Generation runs once per world (and again only when a shift regenerates part of a map), so it works
on one world at a time with that world's own generator; the per-step engine never calls it.

Biomes come from two smooth noise fields: *elevation* puts lakes in the lowest ``water`` fraction of
cells and rock on the highest ``rock`` fraction; *moisture* splits the remaining land into sand (the
driest ``sand`` fraction of the whole map), forest (the wettest ``forest`` fraction) and grass.
"""

from __future__ import annotations

import numpy as np

from openworld.enums import Terrain


def smooth_noise(shape: tuple[int, int], feature_size: float, rng: np.random.Generator) -> np.ndarray:
    """Value noise in [0, 1): a coarse random lattice, bilinearly upsampled, plus a finer octave."""
    height, width = shape
    out = np.zeros(shape)
    for scale, weight in ((feature_size, 1.0), (max(1.0, feature_size / 2.0), 0.5)):
        lattice = rng.random((int(np.ceil(height / scale)) + 2, int(np.ceil(width / scale)) + 2))
        rows = np.arange(height) / scale
        cols = np.arange(width) / scale
        r0, c0 = rows.astype(int), cols.astype(int)
        fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
        top = lattice[r0][:, c0] * (1 - fc) + lattice[r0][:, c0 + 1] * fc
        bottom = lattice[r0 + 1][:, c0] * (1 - fc) + lattice[r0 + 1][:, c0 + 1] * fc
        out += weight * (top * (1 - fr) + bottom * fr)
    return out


def generate_terrain(shape: tuple[int, int], feature_size: float, water: float, rock: float, sand: float,
                     forest: float, rng: np.random.Generator) -> np.ndarray:
    """A ``(H, W)`` array of Terrain codes with the requested biome fractions."""
    elevation = smooth_noise(shape, feature_size, rng)
    moisture = smooth_noise(shape, feature_size, rng)
    terrain = np.full(shape, Terrain.GRASS, dtype=np.uint8)
    order = np.argsort(elevation, axis=None, kind="stable")
    n = elevation.size
    n_water, n_rock = int(round(water * n)), int(round(rock * n))
    terrain.flat[order[:n_water]] = Terrain.WATER
    terrain.flat[order[n - n_rock:] if n_rock else order[:0]] = Terrain.ROCK
    land = np.flatnonzero(terrain == Terrain.GRASS)
    land_order = land[np.argsort(moisture.flat[land], kind="stable")]
    n_sand = min(int(round(sand * n)), land.size)
    n_forest = min(int(round(forest * n)), land.size - n_sand)
    terrain.flat[land_order[:n_sand]] = Terrain.SAND
    terrain.flat[land_order[land.size - n_forest:] if n_forest else land_order[:0]] = Terrain.FOREST
    return terrain


def place_resources(terrain: np.ndarray, densities: np.ndarray, grows_on: list[np.ndarray],
                    rng: np.random.Generator, only: int | None = None,
                    existing: np.ndarray | None = None) -> np.ndarray:
    """Scatter resource kinds over the cells they grow on.

    Args:
        terrain: ``(H, W)`` Terrain codes.
        densities: per kind, the fraction of eligible cells that receive it.
        grows_on: per kind, a boolean lookup table over Terrain codes.
        rng: the world's generator.
        only: place just this kind (its old cells in ``existing`` are cleared first).
        existing: the current resource grid, kept for the other kinds when ``only`` is given.

    Returns:
        ``(H, W)`` uint8: 0 for none, ``1 + kind`` otherwise. Kinds listed first win a contested cell.
    """
    resource = np.zeros(terrain.shape, np.uint8) if existing is None else existing.copy()
    kinds = range(len(densities)) if only is None else [only]
    if only is not None:
        resource[resource == only + 1] = 0
    for kind in kinds:
        eligible = grows_on[kind][terrain] & (resource == 0)
        chosen = eligible & (rng.random(terrain.shape) < densities[kind])
        resource[chosen] = kind + 1
    return resource
