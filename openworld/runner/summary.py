"""What a run leaves for a person at its end: the ``report/`` folder and the short printed table."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openworld.runner.rundir import REPORT


def write_run_report(run_dir: Path, plots: bool = True) -> Path:
    """Write the run's ``report/`` (``openworld.scoring.report``); returns the folder."""
    from openworld.scoring.report import write_report

    out = run_dir / REPORT
    write_report([run_dir], out, plots=plots)
    return out


def format_summary(summary: Mapping[str, Any], run_dir: Path, report_dir: Path | None) -> str:
    """The short table printed at the end of a run: survival, then each shift's drop and recovery."""
    survival = summary["survival"]
    bodies = int(summary.get("num_bodies", 1))
    lines = [f"{summary['world']} / {summary['agent']} / seed {summary['seed']}: {summary['steps']:,} world steps "
             f"x {bodies} bod{'ies' if bodies > 1 else 'y'}",
             f"  alive fraction {survival['alive_fraction']:.3f}   deaths per 10k {survival['deaths_per_10k']:.2f}   "
             f"mean lifetime {survival['mean_lifetime']:,.0f}   mean wellbeing {summary.get('mean_wellbeing', 0):.3f}"]
    if summary["shifts"]:
        lines.append(f"  {'t':>7}  {'shift':<24} {'baseline':>8} {'drop':>7} {'recovery':>10}")
        for shift in summary["shifts"]:
            recovery = f">={shift['observed_steps']:,}" if shift["censored"] else f"{shift['recovery_time']:,}"
            label = f"{shift['kind']}:{shift.get('name', '')}"
            lines.append(f"  {shift['t']:>7,}  {label:<24} {shift['baseline']:>8.3f} {shift['drop']:>+7.3f} "
                         f"{recovery:>10}")
    if summary.get("forgetting") is not None:
        lines.append(f"  forgetting {summary['forgetting']:+.3f}")
    lines.append(f"  run directory: {run_dir}")
    if report_dir is not None:
        lines.append(f"  report: {report_dir / 'report.md'}")
    return "\n".join(lines)
