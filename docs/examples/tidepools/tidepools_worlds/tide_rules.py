"""The tide rule of Tidepools-v0 (``tidepools-flood-v0``): at high tide the sea covers the sand, and a body
standing on sand loses ``depth`` health per step. ``depth`` is a tunable number, shifted by the tides."""

from __future__ import annotations

from openworld.enums import Terrain
from openworld.world.rules import RuleEffect, register_rule


def flood(engine, state, params):
    """Bodies on sand lose ``depth`` health per step, reported as the ``soaked`` event."""
    cells = state.body_cell + engine.world_base()  # (B, N) flat cells of every body
    on_sand = state.terrain.reshape(-1)[cells] == Terrain.SAND
    return RuleEffect(damage=params["depth"] * on_sand, events={"soaked": on_sand})


register_rule("tidepools-flood-v0", flood, {"depth": 0.0}, "bodies on sand lose `depth` health per step")
