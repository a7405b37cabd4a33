"""``openworld show``: a picture of a world, its shift schedule, and a clip of a body living a shift.

:func:`show_world` writes ``<World>[-<variant>].png``: the title and description, the generated map
of one world (seed ``seed``) drawn by :func:`openworld.world.render.render_rgb` (for MiniGridStream, one
sample task of each family it draws from), and a timeline of the shift schedule: one row per shift,
abrupt shifts as a step, gradual ones as a ramp, cyclic ones as blocks of regimes, with the one-line
description of each shift (:func:`openworld.world.shifts.describe`) under it. With ``gif=True`` it also
writes ``<World>[-<variant>].gif``: a scripted agent (the forager; for a world with its own env
class, its ``scripted_action()``, e.g. MiniGridStream's oracle) living through the first shift, with
the world step and the regime over each frame and the body's vitals under it.

A world with its own env class may offer ``preview(seed) -> image`` (the picture left of the
timeline), ``frame(tile) -> image`` and ``scripted_action() -> action`` (the clip); without them the
picture is its ``rgb_array`` render and the clip's agent acts at random. The core imports no world.

Example:
    >>> import tempfile
    >>> import openworld
    >>> from openworld.tools.show import show_world
    >>> paths = show_world("seasons", tempfile.mkdtemp(), variant="quick")
    >>> [p.name for p in paths]
    ['Seasons-v0-quick.png']
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from openworld.registry import resolve_world_id, world_entries
from openworld.world.shifts import ShiftSchedule, ShiftSpec, describe
from openworld.world.spec import WorldSpec

BACKGROUND = (28, 28, 32)
TEXT = (220, 220, 220)
DIM = (130, 130, 140)
TRACK = (52, 52, 60)
MARGIN = 12
ROW = 26  # pixels per shift row of the timeline
LABEL_WIDTH = 150  # pixels for the shift names left of the timeline
TIMELINE_WIDTH = 640
CLIP_BEFORE, CLIP_AFTER = 150, 450  # world steps of the clip around the first shift


def show_world(world: str, out_dir: str | Path = ".", *, variant: str | None = None, seed: int = 0, tile: int = 8,
               gif: bool = False, gif_every: int = 3) -> list[Path]:
    """Write the picture (and optionally the clip) of a world; returns the paths written.

    Args:
        world: a registered world (``"seasons"``, ``"Seasons-v0"``, ``"openworld/Seasons-v0"``).
        out_dir: where to write (created if missing).
        variant: a variant of the world (see :mod:`openworld.variants`).
        seed: the world seed of the map and the clip.
        tile: pixels per map cell.
        gif: also write the clip of a scripted agent living through the first shift. The agent lives
            from step 0 (a few seconds per 10,000 steps before the first shift; the worlds' ``quick``
            variants keep it short).
        gif_every: keep one frame every this many steps.
    """
    world_id = resolve_world_id(world)
    entry = {e.world_id: e for e in world_entries()}[world_id]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = world_id + (f"-{variant}" if variant else "")
    if entry.engine_world:
        from openworld.envs.single import OpenWorldEnv

        env: Any = OpenWorldEnv(world_id, variant=variant)
        env.reset(seed=seed)
        picture = _engine_picture(env, tile)
    else:
        import gymnasium

        env = gymnasium.make(f"openworld/{world_id}", variant=variant).unwrapped
        env.reset(seed=seed)
        picture = _own_env_picture(env, seed)
    spec: WorldSpec = env.world_spec
    title = f"{world_id}" + (f"  variant {variant}" if variant else "")
    subtitle = spec.description.strip().splitlines()[0] if spec.description.strip() else ""
    page = _compose(title, subtitle, picture, timeline_image(spec), describe(spec) or ["no shifts: stationary"])
    paths = [out / f"{stem}.png"]
    Image.fromarray(page).save(paths[0])
    if gif:
        frames = clip_frames(world_id, variant=variant, seed=seed, every=gif_every)
        paths.append(out / f"{stem}.gif")
        images = [Image.fromarray(frame) for frame in frames]
        images[0].save(paths[1], save_all=True, append_images=images[1:], duration=60, loop=0)
    return paths


# ------------------------------------------------------------------------------------------ timeline
def timeline_horizon(spec: WorldSpec) -> int:
    """The span the timeline shows: past the last onset, and two full cycles of every cyclic shift."""
    ends = [0, *(shift.display_until() for shift in spec.shifts)]
    return max(1000, int(max(ends) * 1.2))


def timeline_image(spec: WorldSpec, width: int = TIMELINE_WIDTH) -> np.ndarray:
    """One row per shift over :func:`timeline_horizon` steps, and a step axis; uint8 ``(H, width, 3)``."""
    horizon = timeline_horizon(spec)
    rows = max(1, len(spec.shifts))
    height = ROW * rows + 30
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = _font(12)
    left, right = LABEL_WIDTH, width - MARGIN

    def x(t: float) -> float:
        return left + (right - left) * min(max(t / horizon, 0.0), 1.0)

    if not spec.shifts:
        draw.rectangle([left, 6, right, ROW - 6], fill=TRACK)
        draw.text((MARGIN, 6), "(no shifts)", fill=DIM, font=font)
    for row, shift in enumerate(spec.shifts):
        top, bottom = row * ROW + 5, row * ROW + ROW - 5
        colour = _colour(row)
        draw.rectangle([left, top, right, bottom], fill=TRACK)
        draw.text((MARGIN, top), f"{shift.name} ({shift.kind})"[:22], fill=TEXT, font=font)
        _draw_shift(draw, shift, x, top, bottom, colour, font, horizon)
    axis = rows * ROW + 4
    draw.line([left, axis, right, axis], fill=DIM)
    for t in _ticks(horizon):
        draw.line([x(t), axis, x(t), axis + 4], fill=DIM)
        label = f"{t / 1000:g}k" if t >= 1000 else str(t)
        draw.text((x(t) - 3 * len(label), axis + 6), label, fill=DIM, font=font)
    draw.text((MARGIN, axis + 6), "world step", fill=DIM, font=font)
    return np.asarray(image)


def _draw_shift(draw: ImageDraw.ImageDraw, shift: ShiftSpec, x: Any, top: int, bottom: int,
                colour: tuple[int, int, int], font: Any, horizon: int) -> None:
    for piece in shift.timeline(horizon):
        if piece.regime is not None:  # a turn of one regime: its own tone, named if it fits
            tone = _colour(piece.regime, base=sum(map(ord, shift.name)) % 7)
            x0, x1 = x(piece.start), x(piece.end)
            draw.rectangle([x0, top, x1, bottom], fill=tone, outline=BACKGROUND)
            if x1 - x0 > 6 * len(piece.label) + 4:
                draw.text((x0 + 3, top + 1), piece.label, fill=(20, 20, 20), font=font)
        elif piece.level0 != piece.level1:  # a ramp: the bar's height follows the level
            steps = max(2, int(x(piece.end) - x(piece.start)))
            for i in range(steps):
                frac = piece.level0 + (piece.level1 - piece.level0) * ((i + 1) / steps)
                px = x(piece.start) + i
                draw.line([px, bottom - frac * (bottom - top), px, bottom], fill=colour)
        else:
            draw.rectangle([x(piece.start), top, x(piece.end), bottom], fill=colour)
        if piece.onset:
            draw.line([x(piece.start), top - 3, x(piece.start), bottom + 3], fill=TEXT, width=2)


def _ticks(horizon: int) -> list[int]:
    raw = horizon / 6
    magnitude = 10 ** int(np.floor(np.log10(raw)))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return list(range(0, horizon + 1, int(step)))


def _colour(index: int, base: int = 0) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(((index + base) * 0.29 + 0.05) % 1.0, 0.55, 0.9)
    return int(r * 255), int(g * 255), int(b * 255)


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


# ------------------------------------------------------------------------------------------ pictures
def _engine_picture(env: Any, tile: int) -> np.ndarray:
    from openworld.world.render import render_rgb

    return render_rgb(env.engine, world=0, body=0, tile=tile)


def _own_env_picture(env: Any, seed: int) -> np.ndarray:
    """A world with its own env class draws itself: ``env.preview(seed)`` if it has one (MiniGridStream
    shows a sample task of each family), else its ``rgb_array`` render."""
    if hasattr(env, "preview"):
        return np.asarray(env.preview(seed))
    env.render_mode = "rgb_array"
    return np.asarray(env.render())


def _labelled(picture: np.ndarray, label: str) -> np.ndarray:
    image = Image.new("RGB", (picture.shape[1], picture.shape[0] + 18), BACKGROUND)
    image.paste(Image.fromarray(picture), (0, 18))
    ImageDraw.Draw(image).text((2, 2), label, fill=TEXT, font=_font(12))
    return np.asarray(image)


def _hstack(pictures: Sequence[np.ndarray], gap: int = 8) -> np.ndarray:
    height = max(p.shape[0] for p in pictures)
    width = sum(p.shape[1] for p in pictures) + gap * (len(pictures) - 1)
    out = np.zeros((height, width, 3), np.uint8)
    out[:] = BACKGROUND
    col = 0
    for p in pictures:
        out[:p.shape[0], col:col + p.shape[1]] = p
        col += p.shape[1] + gap
    return out


def _compose(title: str, subtitle: str, picture: np.ndarray, timeline: np.ndarray, lines: list[str]) -> np.ndarray:
    import textwrap

    font, big = _font(12), _font(16)
    lines = [part for line in lines for part in textwrap.wrap(line, width=timeline.shape[1] // 7,
                                                                subsequent_indent="    ")]
    text_height = 16 * len(lines) + 8
    right_width = max(timeline.shape[1], 7 * max(len(line) for line in lines) + 2 * MARGIN)
    width = picture.shape[1] + right_width + 3 * MARGIN
    height = 56 + max(picture.shape[0], timeline.shape[0] + text_height) + MARGIN
    page = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(page)
    draw.text((MARGIN, 8), title, fill=TEXT, font=big)
    draw.text((MARGIN, 30), subtitle, fill=DIM, font=font)
    page.paste(Image.fromarray(picture), (MARGIN, 56))
    left = picture.shape[1] + 2 * MARGIN
    page.paste(Image.fromarray(timeline), (left, 56))
    for i, line in enumerate(lines):
        draw.text((left + MARGIN, 56 + timeline.shape[0] + 8 + 16 * i), line, fill=TEXT, font=font)
    return np.asarray(page)


# ------------------------------------------------------------------------------------------ the clip
def clip_frames(world: str, *, variant: str | None = None, seed: int = 0, every: int = 3,
                before: int = CLIP_BEFORE, after: int = CLIP_AFTER, tile: int = 6) -> list[np.ndarray]:
    """Frames of a scripted agent living through the world's first shift (or its first ``after``
    steps, for a world without shifts), one every ``every`` steps, each with a caption."""
    import gymnasium

    world_id = resolve_world_id(world)
    entry = {e.world_id: e for e in world_entries()}[world_id]
    env = gymnasium.make(f"openworld/{world_id}", variant=variant, on_death="respawn")
    own: Any = env.unwrapped
    spec: WorldSpec = own.world_spec
    schedule = ShiftSchedule(spec)
    events = schedule.events(1, 10**9 if spec.shifts else 1)
    first = events[0].t if events else before
    start, stop = max(0, first - before), first + after
    obs, _ = env.reset(seed=seed)
    if entry.engine_world:
        from openworld.agent.protocol import Transition, make_agent
        from openworld.world.render import render_rgb

        # The forager is batched: it drives a one-world vector env through the single env's engine.
        agent = make_agent("forager", env.observation_space, env.action_space, 1, seed=seed)

        def act(observation: dict[str, np.ndarray]) -> int:
            return int(agent.act({k: v[None] for k, v in observation.items()})[0])

        def learn(before_obs: dict[str, np.ndarray], action: int, after_obs: dict[str, np.ndarray]) -> None:
            agent.observe(Transition({k: v[None] for k, v in before_obs.items()}, np.array([action]), np.zeros(1),
                                     {k: v[None] for k, v in after_obs.items()}, np.zeros(1, bool), np.zeros(1, bool),
                                     {}))

        def picture() -> np.ndarray:
            return render_rgb(own.engine, world=0, body=0, tile=tile)
    else:  # a world with its own env class: its scripted policy (``scripted_action``) and ``frame``
        env.action_space.seed(seed)

        def act(observation: dict[str, np.ndarray]) -> int:
            if hasattr(own, "scripted_action"):
                return int(own.scripted_action())
            return int(env.action_space.sample())

        def learn(before_obs: dict[str, np.ndarray], action: int, after_obs: dict[str, np.ndarray]) -> None:
            return None

        def picture() -> np.ndarray:
            return np.asarray(own.frame(tile=tile) if hasattr(own, "frame") else own.render())

    frames = []
    for t in range(stop):
        action = act(obs)
        next_obs, _, _, _, info = env.step(action)
        learn(obs, action, next_obs)
        obs = next_obs
        if t + 1 >= start and (t + 1 - start) % every == 0:
            step = info["world_step"]
            caption = f"step {step}  {schedule.regime_name(step)}" + ("  (shift!)" if abs(step - first) < 30 else "")
            frames.append(_captioned(picture(), caption))
    env.close()
    return frames


def _captioned(picture: np.ndarray, caption: str) -> np.ndarray:
    image = Image.new("RGB", (picture.shape[1], picture.shape[0] + 18), BACKGROUND)
    image.paste(Image.fromarray(picture), (0, 18))
    ImageDraw.Draw(image).text((3, 2), caption, fill=TEXT, font=_font(12))
    return np.asarray(image)


__all__ = ["clip_frames", "show_world", "timeline_horizon", "timeline_image"]
