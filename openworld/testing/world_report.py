"""What :func:`~openworld.testing.check_world` reports: its properties, its error and its report."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

PROPERTIES = ("reset", "determinism", "spaces", "clock", "save_restore", "render")
"""The properties :func:`~openworld.testing.check_world` checks, in the order it checks them."""


class WorldCheckError(AssertionError):
    """A world failed a :func:`check_world` property.

    Attributes:
        property: the failed property, one of :data:`PROPERTIES`.
        step: index of the action at (or before) which it failed, ``None`` outside the rollout.
        key: what differed or was wrong, e.g. ``"obs['vitals'][1]"`` or ``"info['world_step']"``.
    """

    def __init__(self, prop: str, at: str, key: str, problem: str, step: int | None = None) -> None:
        self.property = prop
        self.step = step
        self.key = key
        super().__init__(f"{prop}: {at}: {key}: {problem}")


@dataclass(frozen=True)
class WorldCheckReport:
    """What :func:`check_world` checked; ``print`` it for a short summary.

    Attributes:
        world: the environment's registered id, or its class name.
        steps: actions taken in each rollout.
        seed: the seed given to ``reset`` and to the action generator.
        checked: the properties that were checked (and passed).
        skipped: property -> why it was not checked; ``"<property> (in part)"`` -> which part of a
            checked property could not be checked for this env (e.g. no engine state to compare).
        render_modes: the render modes that were checked.
        terminations: how often the rollout ended a life (``terminated``, or ``truncated`` where
            allowed) and called ``reset()``.
        final_world_step: ``info["world_step"]`` after the last step, if the world reports it.
    """

    world: str
    steps: int
    seed: int
    checked: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)
    render_modes: tuple[str, ...] = ()
    terminations: int = 0
    final_world_step: int | None = None

    def __str__(self) -> str:
        lines = [f"check_world({self.world}, steps={self.steps}, seed={self.seed}): passed",
                 f"  checked: {', '.join(self.checked) or 'nothing'}"]
        if self.render_modes:
            lines.append(f"  render modes: {', '.join(self.render_modes)}")
        lines.extend(f"  skipped {name}: {why}" for name, why in self.skipped.items())
        clock = "" if self.final_world_step is None else f", world clock at {self.final_world_step}"
        lines.append(f"  {self.terminations} termination(s){clock}")
        return "\n".join(lines)


def check_skip(skip: Collection[str], properties: Sequence[str]) -> None:
    """Raise ``ValueError`` for a name in ``skip`` that is not one of a checker's ``properties``."""
    for name in skip:
        if name not in properties:
            close = difflib.get_close_matches(name, properties, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"skip: unknown property {name!r}{hint}; properties: {', '.join(properties)}")
