"""What a run leaves for a person at its end: the ``report/`` folder and the short printed table."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openworld.runner.rundir import REPORT
from openworld.scoring.report import write_report
from openworld.scoring.scores import summary_lines


def write_run_report(run_dir: Path, plots: bool = True) -> Path:
    """Write the run's ``report/`` (``openworld.scoring.report``); returns the folder."""
    out = run_dir / REPORT
    write_report([run_dir], out, plots=plots)
    return out


def format_summary(summary: Mapping[str, Any], run_dir: Path, report_dir: Path | None) -> str:
    """The short table printed at the end of a run (:func:`openworld.scoring.scores.summary_lines`: the
    declared scores, then each shift's drop, deficit, plateau, adaptation time and sustained return), then where
    the run and its report are."""
    lines = summary_lines(summary)
    lines.append(f"  run directory: {run_dir}")
    if report_dir is not None:
        lines.append(f"  report: {report_dir / 'report.md'}")
    return "\n".join(lines)
