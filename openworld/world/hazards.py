"""The hazards phase: predators bite the living bodies within reach, then move (chase or wander).

:func:`move_predators` is the one place a predator moves, shared by a full step's hazards phase and
the engine's fast-forward of worlds whose bodies are all dead (where nobody is in sight, so every
predator wanders), so both stay draw-for-draw identical.
"""

from __future__ import annotations

import numpy as np

from openworld.world.grid import WALKABLE, GridLayout
from openworld.world.params import HEALTH, StepParams
from openworld.world.shifts import NEVER
from openworld.world.state import WorldState


def hazards(s: WorldState, p: StepParams, grid: GridLayout, base: np.ndarray) -> np.ndarray:
    """Predators bite every living body within reach, then move: toward the nearest living body in
    sight, else in a random direction. Returns predator damage (B, N); draws from ``s.rngs["hazards"]``."""
    rng = s.rngs["hazards"]
    row, col = grid.row_of, grid.col_of
    active = p.predator_active  # (B, P)
    body, pred = s.body_cell, s.pred_cell
    if body.shape[1] == 1:  # one body per world (every Gymnasium env): stay two-dimensional
        d_row = row[body] - row[pred]  # (B, P)
        d_col = col[body] - col[pred]
        a_row, a_col = np.abs(d_row), np.abs(d_col)
        dist = a_row + a_col
        bites = np.add.reduce((dist <= p.predator_reach) & active, axis=1, keepdims=True)  # (B, 1)
        chase = (dist <= p.predator_sight) & s.alive
    else:
        d_row3 = row[body][:, None, :] - row[pred][:, :, None]  # (B, P, N)
        d_col3 = col[body][:, None, :] - col[pred][:, :, None]
        dist3 = np.abs(d_row3) + np.abs(d_col3)
        bites = np.add.reduce((dist3 <= p.predator_reach[..., None]) & active[..., None], axis=1)  # (B, N)
        dist3 = dist3 + (~s.alive[:, None, :]) * NEVER  # the dead are out of sight
        pick = dist3.argmin(-1)[..., None]
        dist = np.take_along_axis(dist3, pick, -1)[..., 0]
        d_row = np.take_along_axis(d_row3, pick, -1)[..., 0]
        d_col = np.take_along_axis(d_col3, pick, -1)[..., 0]
        a_row, a_col = np.abs(d_row), np.abs(d_col)
        chase = dist <= p.predator_sight
    damage = bites * p.predator_damage * s.alive
    health = s.vitals[..., HEALTH]
    health -= damage
    np.maximum(health, 0.0, out=health)
    chase_step = np.where(a_row >= a_col, np.sign(d_row) * grid.padded_width, np.sign(d_col))
    s.pred_cell = move_predators(s, grid, pred, base, rng.random((2,) + pred.shape), p, chase, chase_step)
    return damage


def move_predators(s: WorldState, grid: GridLayout, pred: np.ndarray, base: np.ndarray, draws: np.ndarray,
                   p: StepParams, chase: np.ndarray | None = None, chase_step: np.ndarray | None = None) -> np.ndarray:
    """Where these predators are after one move.

    An active predator steps, with probability ``speed``, toward its quarry where it ``chase``-s (by
    ``chase_step``) and else in a random direction, if the cell there is free and walkable.

    Args:
        s: the state (its grids are read).
        grid: the grids' layout.
        pred: the predators' flat cells, ``(B, P)``.
        base: their worlds' bases, ``(B, 1)``.
        draws: ``(2, B, P)`` uniforms: the random direction, then the speed coin.
        p: the parameters in force for these worlds.
        chase: ``(B, P)`` bool, which predators chase (``None``: none do).
        chase_step: ``(B, P)`` flat step toward the quarry, where ``chase``.
    """
    step = grid.move_offsets[(draws[0] * 4).astype(np.int64)]
    if chase is not None:
        step = np.where(chase, chase_step, step)
    target = pred + step
    flat = target + base
    ok = p.predator_active & (draws[1] < p.predator_speed) & WALKABLE[s.terrain.reshape(-1)[flat]] & \
        (s.resource.reshape(-1)[flat] == 0)
    return np.where(ok, target, pred)
