"""The live counters of a run: running sums over world time behind the logged scalars, the plain progress
lines and the progress bar's survival (the recorded scores come from the monitor, not from here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from openworld.scoring import metrics


@dataclass
class Counters:
    """Running sums over world time for the logged scalars and the progress display.

    ``body_steps`` counts world steps of every body (a world's clock jumps over a dead body's respawn
    delay, and those steps count as dead); ``alive`` and ``wellbeing`` sum over the recorded steps.
    The ``interval_*`` sums restart at each log line. A checkpoint holds them (``dataclasses.asdict``).
    """

    clock: list[int]
    alive: float = 0.0
    deaths: int = 0
    body_steps: int = 0
    interval_alive: float = 0.0
    interval_wellbeing: float = 0.0
    interval_deaths: int = 0
    interval_body_steps: int = 0

    def add(self, info: Mapping[str, Any], vitals: np.ndarray) -> None:
        """Count one step of every body, from the step's ``info`` and the bodies' vitals after it."""
        alive = np.asarray(info["alive"], dtype=bool)
        clock = np.asarray(info["world_step"], dtype=np.int64)
        lived = int(np.sum(clock - np.asarray(self.clock, dtype=np.int64)))
        living = float(np.count_nonzero(alive))
        deaths = int(np.count_nonzero(info["events"]["death"]))
        wellbeing = float(np.sum(metrics.observed_wellbeing(alive, vitals)))
        self.clock = clock.tolist()
        self.alive += living
        self.deaths += deaths
        self.body_steps += lived
        self.interval_alive += living
        self.interval_wellbeing += wellbeing
        self.interval_deaths += deaths
        self.interval_body_steps += lived

    def interval(self) -> dict[str, float]:
        """The interval's means, then restart it."""
        steps = max(1, self.interval_body_steps)
        out = {"alive_fraction": self.interval_alive / steps, "wellbeing": self.interval_wellbeing / steps,
               "deaths_per_10k": self.interval_deaths * 10_000 / steps}
        self.interval_alive = self.interval_wellbeing = 0.0
        self.interval_deaths = self.interval_body_steps = 0
        return out

    @property
    def current_alive_fraction(self) -> float:
        """The alive fraction of the interval so far (of the whole run right after a log line)."""
        if self.interval_body_steps:
            return self.interval_alive / self.interval_body_steps
        return self.alive / max(1, self.body_steps)
