"""The pre-drawn pieces of the RGB picture (:func:`openworld.world.render.render_rgb`): colours, cell
masks, terrain tiles, vital icons and the vitals panel with its step counter.

Everything here depends on the tile size only, never on an engine, so shapes and tiles are drawn once
per size (cached) in unit coordinates that scale with the tile.

Example:
    >>> terrain_tiles(8).shape
    (6, 8, 8, 3)
    >>> panel_height(8)
    66
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from openworld.enums import Direction, Terrain, Vital

# ------------------------------------------------------------------------------------------- colours
TERRAIN_COLOURS = {  # (base, accent) per terrain
    Terrain.VOID: ((0, 0, 0), (0, 0, 0)),
    Terrain.GRASS: ((118, 182, 74), (146, 206, 96)),
    Terrain.SAND: ((226, 206, 150), (196, 172, 116)),
    Terrain.FOREST: ((38, 102, 48), (22, 70, 30)),
    Terrain.ROCK: ((128, 128, 134), (88, 88, 94)),
    Terrain.WATER: ((38, 88, 196), (84, 136, 228)),
}
ROCK_HIGHLIGHT = (170, 170, 176)
VITAL_COLOURS = {
    Vital.HEALTH: (226, 48, 48),
    Vital.FOOD: (246, 146, 30),
    Vital.WATER: (56, 132, 246),
    Vital.ENERGY: (246, 222, 40),
}
SELF_COLOUR = (255, 255, 255)
OTHER_BODY_COLOUR = (255, 128, 220)
FACING_COLOUR = (0, 0, 0)
PREDATOR_COLOUR = (235, 20, 20)
OUTLINE_COLOUR = (20, 20, 20)
VIEW_COLOUR = (255, 255, 255)
VIEW_ALPHA = 0.55  # the view outline is blended in, so the terrain under it stays readable
DEPLETED_DIM = 0.7  # a depleted resource's dot: this much of its colour over the terrain
DEPLETED_SHADE = 0.6  # ... ringed by the terrain darkened to this much
PANEL_BACKGROUND = (28, 28, 32)
BAR_BACKGROUND = (64, 64, 70)
DEAD_GREY = (110, 110, 110)
TEXT_COLOUR = (210, 210, 210)

# 3 x 5 bitmaps of the digits, one string of 15 cells (row by row) each.
DIGITS = ("111101101101111", "010110010010111", "111001111100111", "111001111001111", "101101111001001",
          "111100111001111", "111100111101111", "111001001001001", "111101111101111", "111101111001111")


def panel_height(tile: int) -> int:
    """Pixels of the vitals panel below the map at this tile size."""
    bar, gap = _bar_height(tile), _gap(tile)
    return len(Vital) * (bar + gap) + gap + _digit_scale(tile) * 5 + gap


def _bar_height(tile: int) -> int:
    return max(3, tile)


def _gap(tile: int) -> int:
    return max(1, tile // 2)


def _digit_scale(tile: int) -> int:
    return max(1, tile // 4)


def _unit_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres of a ``size`` square in [0, 1] (rows ``y``, columns ``x``)."""
    centres = (np.arange(size) + 0.5) / size
    return centres[:, None], centres[None, :]


@lru_cache(maxsize=8)
def masks(tile: int) -> dict[str, np.ndarray]:
    """Boolean ``(tile, tile)`` shapes in unit coordinates, so that they scale with the tile."""
    y, x = _unit_grid(tile)
    px = 1.0 / tile  # one pixel, in unit coordinates: keeps thin strokes at least a pixel wide
    manhattan = np.abs(x - 0.5) + np.abs(y - 0.5)
    chebyshev = np.maximum(np.abs(x - 0.5), np.abs(y - 0.5))
    dot = chebyshev <= max(0.1, 0.6 * px)
    diamond = manhattan <= max(0.3, 1.1 * px)
    cross_width = max(0.09, 0.6 * px)
    cross = ((np.abs(x - y) <= cross_width) | (np.abs(x + y - 1) <= cross_width)) & (chebyshev <= 0.4)
    square = chebyshev <= 0.36
    # The facing mark of a body facing north: a bar along its top edge; rotated for other directions.
    facing_north = square & (y <= 0.32) & (np.abs(x - 0.5) <= 0.26)
    facing = [np.rot90(facing_north, -d) for d in Direction]  # clockwise quarter turns
    return {
        "dot": dot,
        "dot_outline": _dilate(dot) & ~dot,
        "diamond": diamond,
        "diamond_outline": _dilate(diamond) & ~diamond,
        "cross": cross,
        "danger": chebyshev <= 0.5,  # the predator fills its cell, so it stands out from any resource
        "square": square,
        "square_outline": _dilate(square) & ~square,
        **{f"facing_{d}": facing[d] for d in Direction},
    }


def _dilate(mask: np.ndarray) -> np.ndarray:
    """Grow a mask by one pixel in the four axis directions."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


@lru_cache(maxsize=8)
def terrain_tiles(tile: int) -> np.ndarray:
    """``(len(Terrain), tile, tile, 3)`` uint8: one pre-drawn tile per terrain code."""
    y, x = _unit_grid(tile)
    px = 1.0 / tile
    w = max(0.07, 0.5 * px)  # half-width of a thin stroke
    accents = {
        Terrain.VOID: np.zeros((tile, tile), bool),
        Terrain.GRASS: ((np.abs(x - 0.22) <= w) & (y >= 0.12) & (y <= 0.38))
        | ((np.abs(x - 0.72) <= w) & (y >= 0.58) & (y <= 0.86)),
        Terrain.SAND: (np.hypot(x - 0.2, y - 0.75) <= max(0.07, 0.5 * px))
        | (np.hypot(x - 0.78, y - 0.22) <= max(0.07, 0.5 * px)),
        Terrain.FOREST: ((np.abs(x - 0.5) <= (y - 0.08) * 0.55) & (y <= 0.78))  # a conifer
        | ((np.abs(x - 0.5) <= w) & (y <= 0.95)),
        Terrain.ROCK: (x >= 1 - 2 * w) | (y >= 1 - 2 * w),  # shadowed lower-right edges
        Terrain.WATER: np.abs(y - (0.3 + 0.08 * np.sin(2 * np.pi * x))) <= w,
    }
    table = np.zeros((len(Terrain), tile, tile, 3), np.uint8)
    for terrain, (base, accent) in TERRAIN_COLOURS.items():
        table[terrain] = base
        table[terrain][accents[terrain]] = accent
    table[Terrain.ROCK][((x <= 2 * w) | (y <= 2 * w)) & ~accents[Terrain.ROCK]] = ROCK_HIGHLIGHT
    return table


@lru_cache(maxsize=8)
def _icons(size: int) -> dict[Vital, np.ndarray]:
    """A ``(size, size)`` icon shape per vital: a cross, a disc, a drop and a bolt."""
    y, x = _unit_grid(size)
    w = max(0.14, 0.5 / size)
    drop = (np.hypot(x - 0.5, y - 0.62) <= 0.3) | ((np.abs(x - 0.5) <= (y - 0.08) * 0.6) & (y <= 0.62))
    bolt = ((np.abs(x - (0.66 - 0.5 * y)) <= w) & (y <= 0.56)) \
        | ((np.abs(x - (0.9 - 0.5 * y)) <= w) & (y >= 0.44)) \
        | ((np.abs(y - 0.5) <= max(0.06, 0.5 / size)) & (x >= 0.36) & (x <= 0.68))
    return {
        Vital.HEALTH: ((np.abs(x - 0.5) <= w) | (np.abs(y - 0.5) <= w))
        & (np.maximum(np.abs(x - 0.5), np.abs(y - 0.5)) <= 0.45),
        Vital.FOOD: np.hypot(x - 0.5, y - 0.5) <= 0.42,
        Vital.WATER: drop,
        Vital.ENERGY: bolt & (x >= 0.1) & (x <= 0.9),
    }


def vitals_panel(fractions: np.ndarray, alive: bool, clock: int, width: int, tile: int) -> np.ndarray:
    """One bar per vital (icon at left, fill proportional to the fraction), then the step in digits."""
    bar, gap, scale = _bar_height(tile), _gap(tile), _digit_scale(tile)
    panel = np.empty((panel_height(tile), width, 3), np.uint8)
    panel[:] = PANEL_BACKGROUND
    icons = _icons(bar)
    left = gap + bar + gap  # bars start after the icon
    length = max(1, width - left - gap)
    for vital in Vital:
        top = gap + vital * (bar + gap)
        colour = VITAL_COLOURS[vital] if alive else DEAD_GREY
        panel[top:top + bar, gap:gap + bar][icons[vital]] = colour
        panel[top:top + bar, left:left + length] = BAR_BACKGROUND
        fraction = float(np.clip(fractions[vital], 0.0, 1.0)) if np.isfinite(fractions[vital]) else 0.0
        panel[top:top + bar, left:left + int(round(fraction * length))] = colour
    _paint_clock(panel, clock, top=gap + len(Vital) * (bar + gap), left=gap, scale=scale)
    return panel


def _paint_clock(panel: np.ndarray, clock: int, top: int, left: int, scale: int) -> None:
    """A small clock face, then the step number in 3 x 5 digits, scaled by ``scale``."""
    size = 5 * scale
    y, x = _unit_grid(size)
    ring = np.abs(np.hypot(x - 0.5, y - 0.5) - 0.4) <= max(0.08, 0.5 / size)
    hands = ((np.abs(x - 0.5) <= 0.08) & (y >= 0.2) & (y <= 0.5)) \
        | ((np.abs(y - 0.5) <= 0.08) & (x >= 0.5) & (x <= 0.75))
    panel[top:top + size, left:left + size][ring | hands] = TEXT_COLOUR
    column = left + size + 2 * scale
    for char in str(clock):
        if column + 3 * scale > panel.shape[1]:
            break  # a very long number on a very narrow map: cut, rather than fail
        glyph = np.array([c == "1" for c in DIGITS[int(char)]]).reshape(5, 3)
        glyph = np.kron(glyph, np.ones((scale, scale), bool))
        panel[top:top + 5 * scale, column:column + 3 * scale][glyph] = TEXT_COLOUR
        column += 4 * scale
