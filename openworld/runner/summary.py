"""What a run leaves for a person at its end: the ``report/`` folder and the short printed table; and the
scoring of a run directory again, living nothing (``openworld score``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openworld.errors import RunError, brief
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


def recorded_run_config(run_dir: Path) -> dict[str, Any]:
    """The config a run directory's run was last started or resumed with: its latest Sacred record's
    ``config.json``, else ``.hydra/config.yaml`` (the first start's), else ``{}``."""
    import json

    records = sorted((path for path in (run_dir / "sacred").glob("*/config.json") if path.parent.name.isdigit()),
                     key=lambda path: int(path.parent.name))
    if records:
        config: dict[str, Any] = json.loads(records[-1].read_text())
        return config
    hydra_config = run_dir / ".hydra" / "config.yaml"
    if hydra_config.exists():
        import yaml

        loaded = yaml.safe_load(hydra_config.read_text())
        return loaded if isinstance(loaded, dict) else {}
    return {}


def check_scoring_values(window: Any, tolerance: Any, window_name: str, tolerance_name: str) -> None:
    """Refuse a scoring window below 1 or a tolerance outside [0, 1] (None: not given), naming where it came from.

    Raises:
        RunError: naming the value and its source.
    """
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
        raise RunError(f"{window_name} must be an integer >= 1, got {brief(window)}")
    if tolerance is not None and (isinstance(tolerance, bool) or not isinstance(tolerance, int | float)
                                  or not 0 <= tolerance <= 1):
        raise RunError(f"{tolerance_name} must be a number from 0 to 1, got {brief(tolerance)}")


def score_run_dir(run_dir: Path, *, window: int | None = None, tolerance: float | None = None,
                  report: str | None = None) -> tuple[dict[str, Any], Path | None]:
    """Score a run directory's recording again, living nothing: ``openworld score``.

    With a ``summary.json``, :func:`~openworld.scoring.summary.rescore` (today's scores; the rest of the
    summary kept). Without one (a lifetime killed before its summary, or whose scoring failed), the summary is
    made from the recording and the run's recorded config (:func:`recorded_run_config`: ``metrics.window``,
    ``metrics.tolerance``, ``bodies``, ``agent.plasticity``, ``report``) and the checkpoint's header
    (``lifetime_steps``); the zero-shot ``evaluation`` sections are not recomputed (they need the agent:
    ``resume=true`` finishes a lifetime with them).

    Args:
        run_dir: the run directory.
        window, tolerance: the scores' ``W`` and ``eps``; the run's own if None.
        report: ``plots``, ``tables`` or ``off``; the run's own ``report`` if None.

    Returns:
        The summary and the report folder (None if ``off``).

    Raises:
        RunError: if ``run_dir`` holds no recording.
        RecordingError: naming a chunk file that was truncated or altered after it was written.
    """
    from openworld.runner.checkpoint import read_header
    from openworld.runner.rundir import CHECKPOINT, MONITOR, SUMMARY
    from openworld.scoring.metrics import DEFAULT_TOLERANCE, DEFAULT_WINDOW
    from openworld.scoring.summary import rescore, summarize

    if not (run_dir / MONITOR).exists():
        raise RunError(f"{run_dir}: no recording ({MONITOR}) to score; give a run directory of openworld run")
    config = recorded_run_config(run_dir)
    check_scoring_values(window, tolerance, "--window", "--tolerance")
    if (run_dir / SUMMARY).exists():
        summary = rescore(run_dir, window=window, tolerance=tolerance)
    else:
        metrics = config.get("metrics") or {}
        facts: dict[str, Any] = {}
        checkpoint = run_dir / CHECKPOINT
        lifetime_steps = read_header(checkpoint).get("step") if checkpoint.exists() else config.get("steps")
        if lifetime_steps is not None:
            facts["lifetime_steps"] = int(lifetime_steps)
        if int(config.get("bodies", 1)) > 1:
            facts["bodies_per_world"] = int(config["bodies"])
        plasticity = (config.get("agent") or {}).get("plasticity")
        if plasticity:  # as the lifetime writes it (openworld.runner.loop), so the report groups the run the same
            from openworld.agent.plasticity.config import option_labels

            facts["plasticity"] = option_labels(plasticity)
        if config.get("label") is not None:
            facts["label"] = str(config["label"])
        window = metrics.get("window", DEFAULT_WINDOW) if window is None else window
        tolerance = metrics.get("tolerance", DEFAULT_TOLERANCE) if tolerance is None else tolerance
        # A run recorded before values were ranged may hold metrics.window=0 (why its scoring failed).
        check_scoring_values(window, tolerance, "its metrics.window (give --window)",
                             "its metrics.tolerance (give --tolerance)")
        summary = summarize(run_dir, window=int(window), tolerance=float(tolerance), **facts)
    mode = report or str(config.get("report", "plots"))
    report_dir = write_run_report(run_dir, plots=mode == "plots") if mode != "off" else None
    return summary, report_dir
