"""The learner's own record in the run directory: ``learner.jsonl``, one line per log step with the agent's metrics.

Sacred records the same numbers (``log_scalars``), but a run directory should be readable on its own, and the
plasticity diagnostics over a lifetime (``plasticity/...``: dormant units, stable rank, norms) are what a report of
a long continual run plots against world time. Each line is ``{"step": <world step>, "<metric>": <value>, ...}``
(finite numbers only, as :func:`~openworld.agent.protocol.agent_metrics` gives them); an agent without metrics
writes nothing.

A resumed run first drops the lines logged after its checkpoint (a killed run may have logged past it), so the
file of a killed-and-resumed run equals an uninterrupted one's.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> run_dir = Path(tempfile.mkdtemp())
    >>> append_learner_metrics(run_dir, 100, {"losses/entropy": 1.9})
    >>> append_learner_metrics(run_dir, 200, {"losses/entropy": 1.7})
    >>> truncate_learner_log(run_dir, 100)  # resumed from the checkpoint at step 100
    >>> read_learner_log(run_dir)
    [{'step': 100, 'losses/entropy': 1.9}]
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LEARNER_LOG = "learner.jsonl"


def append_learner_metrics(run_dir: Path, step: int, metrics: Mapping[str, float]) -> None:
    """Append one line for ``step`` (nothing when ``metrics`` is empty)."""
    if not metrics:
        return
    with (run_dir / LEARNER_LOG).open("a", encoding="utf-8") as file:
        file.write(json.dumps({"step": int(step), **{str(k): float(v) for k, v in metrics.items()}}) + "\n")


def read_learner_log(run_dir: Path) -> list[dict[str, Any]]:
    """Every line, in order; ``[]`` without a log. A torn last line (a kill mid-write) is skipped."""
    path = run_dir / LEARNER_LOG
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def truncate_learner_log(run_dir: Path, step: int) -> None:
    """Keep the lines of steps up to ``step`` (the checkpoint a run resumes from), drop the rest."""
    path = run_dir / LEARNER_LOG
    if not path.exists():
        return
    kept = [row for row in read_learner_log(run_dir) if int(row["step"]) <= step]
    path.write_text("".join(json.dumps(row) + "\n" for row in kept), encoding="utf-8")
