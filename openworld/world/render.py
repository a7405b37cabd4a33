"""Pictures of one world: an RGB image for videos and a text map for terminals.

Both draw the whole map of one world of an :class:`~openworld.world.engine.Engine` (not just the body's
view) and the vitals of one body.

RGB legend (:func:`render_rgb`, ``tile`` pixels per cell):

* terrain: grass light green with blades, sand beige with speckles, forest dark green with a tree,
  rock grey bevelled blocks, water blue with a wave, outside the map black;
* a resource that is available: a diamond in its resource colour (``resources.<name>.color``) with a
  dark outline; a depleted one: a small dim dot in a darker ring, so you can see where it will regrow;
* the rendered body: a white square with a black bar on the side it faces; other bodies: the same in
  pink; dead bodies are not drawn;
* predators: a red cell with a dark X (filling the cell, so they never pass for a berry);
* a faint white outline: the rendered body's egocentric view (``observation.view`` cells a side);
* below the map, one bar per vital, filled in proportion to vital / max, each with an icon at its
  left: health a red cross, food an orange disc, water a blue drop, energy a yellow bolt (bars grey out
  while the body is dead); under them, the world step in digits after a small clock.

Text legend (:func:`render_ansi`): ``.`` grass, ``:`` sand, ``T`` forest, ``#`` rock, ``~`` water; a
resource is a letter (its initial, or the next free letter of its name), upper-case when available
and lower-case when depleted; ``^ > v <`` the rendered body facing north, east, south, west; ``&``
another body; ``X`` a predator. A status line and a legend line follow the map.

Everything is drawn with numpy: the map is built by indexing a table of pre-drawn terrain tiles with
the terrain grid (the pre-drawn pieces and colours are in :mod:`openworld.world.sprites`), and entities
(a handful) are painted one by one. Drawing a 32 x 32 map at 8 pixels
a cell takes under a millisecond; the image is rebuilt from scratch each call.

Example:
    >>> import numpy as np
    >>> from openworld.world.engine import Engine
    >>> from openworld.registry import load_world_spec
    >>> engine = Engine(load_world_spec("Meadow-v0"), num_worlds=1)
    >>> engine.reset(seeds=[0], rng_seed=0)
    >>> render_rgb(engine).shape
    (322, 256, 3)
    >>> render_ansi(engine).splitlines()[-2]
    'step=0 health=1.00 food=0.80 water=0.80 energy=0.80 alive'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from openworld.enums import Terrain, Vital
from openworld.world.sprites import (
    DEPLETED_DIM,
    DEPLETED_SHADE,
    FACING_COLOUR,
    OTHER_BODY_COLOUR,
    OUTLINE_COLOUR,
    PREDATOR_COLOUR,
    SELF_COLOUR,
    VIEW_ALPHA,
    VIEW_COLOUR,
    masks,
    terrain_tiles,
    vitals_panel,
)

if TYPE_CHECKING:
    from openworld.world.engine import Engine

# ---------------------------------------------------------------------------------------------- ansi
TERRAIN_CHARS = {Terrain.VOID: " ", Terrain.GRASS: ".", Terrain.SAND: ":", Terrain.FOREST: "T",
                 Terrain.ROCK: "#", Terrain.WATER: "~"}
FACING_CHARS = "^>v<"  # indexed by Direction
OTHER_BODY_CHAR = "&"
PREDATOR_CHAR = "X"
RESERVED_LETTERS = {"t", "v", "x"}  # forest, facing south, predator (in either case)


# ============================================================================================ RGB
def render_frame(engine: Engine, render_mode: str | None, world: int = 0, body: int = 0) -> np.ndarray | str | None:
    """What an env's ``render()`` returns for its ``render_mode`` (None, with a warning, for no mode)."""
    import warnings

    if render_mode is None:
        warnings.warn("render() called without a render_mode; pass render_mode='rgb_array' or 'ansi'", stacklevel=3)
        return None
    if engine.state is None:
        raise RuntimeError("call reset() before render()")
    if render_mode == "ansi":
        return render_ansi(engine, world=world, body=body)
    return render_rgb(engine, world=world, body=body)


def check_render_mode(render_mode: str | None, render_modes: list[str]) -> None:
    """Raise ``ValueError`` unless ``render_mode`` is None or one of the env's declared modes."""
    if render_mode is not None and render_mode not in render_modes:
        raise ValueError(f"render_mode must be one of {render_modes}, got {render_mode!r}")


def render_rgb(engine: Engine, world: int = 0, body: int = 0, tile: int = 8) -> np.ndarray:
    """The whole map of one world with its bodies and predators, and one body's vitals below.

    Args:
        engine: an engine after ``reset``.
        world: which of the engine's worlds to draw.
        body: the body whose view is outlined and whose vitals are shown.
        tile: pixels per map cell (at least 4 for the marks to be legible; 8 to 16 is comfortable).

    Returns:
        ``(height * tile + panel, width * tile, 3)`` uint8, where the vitals panel is
        ``openworld.world.sprites.panel_height(tile)`` pixels tall.

    Raises:
        ValueError: the engine was not reset, or ``world``, ``body`` or ``tile`` is out of range.
    """
    _check_args(engine, world, body)
    if tile < 1:
        raise ValueError(f"tile must be >= 1 pixel, got {tile}")
    s, r, H, W = engine.state, engine.radius, engine.height, engine.width
    inner = (world, slice(r, r + H), slice(r, r + W))
    terrain, resource = s.terrain[inner], s.resource[inner]
    available = s.ready_at[inner] <= s.clock[world]
    shapes = masks(tile)

    # Terrain: (H, W, t, t, 3) tiles picked from a table; resources painted on the cells that have one.
    tiles = terrain_tiles(tile)[terrain]
    colours = _resource_colours(engine)[resource]  # (H, W, 3)
    rows, cols = np.nonzero((resource > 0) & available)
    marked = tiles[rows, cols]  # (M, t, t, 3)
    marked[:, shapes["diamond_outline"]] = OUTLINE_COLOUR
    marked[:, shapes["diamond"]] = colours[rows, cols][:, None, :]
    tiles[rows, cols] = marked
    rows, cols = np.nonzero((resource > 0) & ~available)
    marked = tiles[rows, cols].astype(np.float64)
    ring, dot = shapes["dot_outline"], shapes["dot"]
    marked[:, ring] *= DEPLETED_SHADE  # a darker ring, like an empty socket
    marked[:, dot] = DEPLETED_DIM * colours[rows, cols][:, None, :] + (1 - DEPLETED_DIM) * marked[:, dot]
    tiles[rows, cols] = marked.astype(np.uint8)
    image = tiles.transpose(0, 2, 1, 3, 4).reshape(H * tile, W * tile, 3)

    # Entities, few enough to paint one by one: other bodies, predators, the rendered body on top.
    alive, body_cells, predator_cells = _entities(engine, world)
    for n in np.flatnonzero(alive):
        if n != body:
            _paint_body(image, body_cells[n], int(s.body_dir[world, n]), OTHER_BODY_COLOUR, shapes, tile)
    for cell in predator_cells:
        _paint_mask(image, cell, shapes["danger"], PREDATOR_COLOUR, tile)
        _paint_mask(image, cell, shapes["cross"], OUTLINE_COLOUR, tile)
    if alive[body]:
        _paint_body(image, body_cells[body], int(s.body_dir[world, body]), SELF_COLOUR, shapes, tile)
        _paint_view(image, body_cells[body], engine.radius, tile)

    vital_max = engine.params().vital_max[world, 0]
    panel = vitals_panel(s.vitals[world, body] / vital_max, bool(alive[body]), int(s.clock[world]),
                          W * tile, tile)
    return np.concatenate([image, panel], axis=0)


def _check_args(engine: Engine, world: int, body: int) -> None:
    if engine.state is None:
        raise ValueError("the engine has no state yet: call reset() before rendering")
    B, N = engine.state.alive.shape
    if not 0 <= world < B:
        raise ValueError(f"world must be in [0, {B}), got {world}")
    if not 0 <= body < N:
        raise ValueError(f"body must be in [0, {N}), got {body}")


def _entities(engine: Engine, world: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which bodies live ``(N,)``, and map (row, col) of every body ``(N, 2)`` and active predator ``(P', 2)``."""
    s, r = engine.state, engine.radius
    active = int(engine.params().predator_count[world, 0])
    return s.alive[world], s.body_pos[world] - r, s.pred_pos[world, :active] - r


def _resource_colours(engine: Engine) -> np.ndarray:
    """``(R + 1, 3)`` uint8: row 0 (no resource) unused, then each resource's colour."""
    colours = np.zeros((engine.num_resources + 1, 3), np.uint8)
    for i, res in enumerate(engine.spec.resources.values()):
        colours[i + 1] = res.color
    return colours


def _paint_mask(image: np.ndarray, cell: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int],
                tile: int) -> None:
    """Paint ``mask`` in ``colour`` over the map cell ``cell`` (map coordinates), if it is on the map."""
    row, col = int(cell[0]), int(cell[1])
    if not (0 <= row * tile < image.shape[0] and 0 <= col * tile < image.shape[1]):
        return
    image[row * tile:(row + 1) * tile, col * tile:(col + 1) * tile][mask] = colour


def _paint_body(image: np.ndarray, cell: np.ndarray, direction: int, colour: tuple[int, int, int],
                shapes: dict[str, np.ndarray], tile: int) -> None:
    _paint_mask(image, cell, shapes["square_outline"], OUTLINE_COLOUR, tile)
    _paint_mask(image, cell, shapes["square"], colour, tile)
    _paint_mask(image, cell, shapes[f"facing_{direction}"], FACING_COLOUR, tile)


def _paint_view(image: np.ndarray, cell: np.ndarray, radius: int, tile: int) -> None:
    """Blend a one-pixel outline of the view square around ``cell``; edges off the map are left out."""
    H, W = image.shape[:2]
    top, left = (int(cell[0]) - radius) * tile, (int(cell[1]) - radius) * tile
    bottom, right = (int(cell[0]) + radius + 1) * tile - 1, (int(cell[1]) + radius + 1) * tile - 1
    rows = slice(max(top, 0), min(bottom, H - 1) + 1)
    cols = slice(max(left, 0), min(right, W - 1) + 1)
    edges: list[tuple[int | slice, int | slice]] = []
    if top >= 0:
        edges.append((top, cols))
    if bottom < H:
        edges.append((bottom, cols))
    if left >= 0:
        edges.append((rows, left))
    if right < W:
        edges.append((rows, right))
    colour = np.array(VIEW_COLOUR, np.float64)
    for edge in edges:
        image[edge] = (VIEW_ALPHA * colour + (1 - VIEW_ALPHA) * image[edge]).astype(np.uint8)


# =========================================================================================== ansi
def render_ansi(engine: Engine, world: int = 0, body: int = 0) -> str:
    """The map of one world as text, one character a cell, then a status line and a legend line.

    Args:
        engine: an engine after ``reset``.
        world: which of the engine's worlds to draw.
        body: the body drawn as ``^ > v <`` and whose vitals are reported.

    Returns:
        ``height`` map lines, then ``step=<clock> health=.. food=.. water=.. energy=.. alive|dead``
        (vitals as fractions of their maxima), then the legend; lines joined by newlines.
    """
    _check_args(engine, world, body)
    s, r, H, W = engine.state, engine.radius, engine.height, engine.width
    inner = (world, slice(r, r + H), slice(r, r + W))
    terrain, resource = s.terrain[inner], s.resource[inner]
    available = s.ready_at[inner] <= s.clock[world]
    letters = resource_letters(engine.spec.resource_names)
    terrain_table = np.array([TERRAIN_CHARS[t] for t in Terrain])
    upper = np.array([" "] + [c.upper() for c in letters])
    lower = np.array([" "] + letters)
    chars = np.where(resource == 0, terrain_table[terrain], np.where(available, upper[resource], lower[resource]))

    alive, body_cells, predator_cells = _entities(engine, world)
    for n in np.flatnonzero(alive):
        if n != body:
            _put_char(chars, body_cells[n], OTHER_BODY_CHAR)
    for cell in predator_cells:
        _put_char(chars, cell, PREDATOR_CHAR)
    if alive[body]:
        _put_char(chars, body_cells[body], FACING_CHARS[int(s.body_dir[world, body])])

    fractions = s.vitals[world, body] / engine.params().vital_max[world, 0]
    status = " ".join([f"step={int(s.clock[world])}"]
                      + [f"{v.name.lower()}={fractions[v]:.2f}" for v in Vital]
                      + ["alive" if alive[body] else "dead"])
    legend = [f"{TERRAIN_CHARS[t]} {t.name.lower()}" for t in Terrain if t is not Terrain.VOID]
    legend += [f"{c.upper()}/{c} {name}" for c, name in zip(letters, engine.spec.resource_names, strict=True)]
    legend += ["^>v< you", f"{OTHER_BODY_CHAR} body", f"{PREDATOR_CHAR} predator"]
    return "\n".join(["".join(row) for row in chars] + [status, "legend: " + "  ".join(legend)])


def resource_letters(names: tuple[str, ...]) -> list[str]:
    """One distinct lower-case letter per resource: its initial, else the next free letter of its name.

    Letters that mean something else on the text map (``t`` forest, ``v`` facing south, ``x``
    predator) are never used; a name with no free letter gets the first free letter of the alphabet.

    Example:
        >>> resource_letters(("berry", "bean", "truffle"))
        ['b', 'e', 'r']
    """
    taken: set[str] = set(RESERVED_LETTERS)
    out = []
    for name in names:
        candidates = [c for c in name.lower() if c.isascii() and c.isalpha()] + list("abcdefghijklmnopqrstuvwxyz")
        letter = next((c for c in candidates if c not in taken), "?")
        taken.add(letter)
        out.append(letter)
    return out


def _put_char(chars: np.ndarray, cell: np.ndarray, char: str) -> None:
    row, col = int(cell[0]), int(cell[1])
    if 0 <= row < chars.shape[0] and 0 <= col < chars.shape[1]:
        chars[row, col] = char
