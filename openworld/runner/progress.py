"""What a run shows while it lives: a rich progress bar on a terminal, or plain periodic log lines."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

from openworld.scoring.scores import live_line

PROGRESS_EVERY = 50  # steps between progress-bar refreshes


def progress_mode(mode: str) -> str:
    """``auto`` -> ``bar`` on a terminal, ``plain`` otherwise; ``bar``, ``plain`` and ``off`` as given
    (``check_run_config`` refuses any other)."""
    if mode == "auto":
        return "bar" if sys.stdout.isatty() else "plain"
    return mode


def format_log_line(label: str, done: int, total: int, interval: Mapping[str, float], steps_per_second: float,
                    num_envs: int) -> str:
    """One plain progress line: steps, world steps per second (and body steps: times the bodies), the
    interval's alive fraction and wellbeing."""
    return (f"[{label}] step {done:,}/{total:,}  {steps_per_second:,.0f} steps/s "
            f"({steps_per_second * num_envs:,.0f} body steps/s)  {live_line(interval)}")


class Progress:
    """A rich progress bar (steps, steps per second, current survival) or plain periodic lines."""

    def __init__(self, total: int, mode: str, label: str, start: int = 0) -> None:
        self.total, self.label, self.mode = total, label, mode
        self.start_step, self.start_time = start, time.perf_counter()
        self.bar: Any = None
        if self.mode == "bar":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            # progress=bar draws the bar even where stdout is not a terminal (auto picks plain lines there).
            self.bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                    TextColumn("{task.fields[rate]} steps/s  alive {task.fields[alive]}"),
                                    TimeElapsedColumn(), TimeRemainingColumn(), console=Console(force_terminal=True))
            self.bar.start()
            self.task = self.bar.add_task(label, total=total, completed=start, rate="-", alive="-")

    def update(self, done: int, alive_fraction: float) -> None:
        """Move the bar (if any) to ``done`` steps."""
        if self.bar is not None:
            rate = (done - self.start_step) / max(time.perf_counter() - self.start_time, 1e-9)
            self.bar.update(self.task, completed=done, rate=f"{rate:,.0f}", alive=f"{alive_fraction:.3f}")

    def log(self, done: int, interval: Mapping[str, float], steps_per_second: float, num_envs: int) -> None:
        """Print one plain line (:func:`format_log_line`), in ``plain`` mode only."""
        if self.mode != "plain":
            return
        print(format_log_line(self.label, done, self.total, interval, steps_per_second, num_envs), flush=True)

    def close(self) -> None:
        """Stop the bar (if any)."""
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
