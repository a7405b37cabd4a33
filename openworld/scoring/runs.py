"""Scored runs on disk, grouped: the runs of one agent in one world (variant), read from their ``summary.json``.

What :mod:`openworld.scoring.report` aggregates and :mod:`openworld.scoring.plots` draws.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openworld.scoring.scores import Score
from openworld.scoring.storage import META_FILE, SUMMARY_FILE


@dataclass
class Group:
    """The runs of one agent (with its plasticity options: :func:`agent_label`) in one world (variant)."""

    world: str
    variant: str | None
    agent: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    directories: list[Path] = field(default_factory=list)

    @property
    def label(self) -> str:
        """Where the runs lived, as the report's tables and plots name it: :func:`place`."""
        return place(self.world, self.variant)


def place(world: str, variant: str | None) -> str:
    """A world with its variant, ``Blight-v0 (train_short)``, or the world alone when the runs name no variant.
    The world is always there: variant names repeat across worlds (every world has a ``train``), so a variant
    alone would put one world's runs in another's row and compare them with another world's baseline."""
    return world if variant is None else f"{world} ({variant})"


def find_run_directories(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[Path]]:
    """Run directories (holding ``summary.json``) at or under ``paths``, each once, and the
    recordings found without a summary (``monitor.json`` but no ``summary.json``)."""
    scored: dict[Path, Path] = {}
    unscored: dict[Path, Path] = {}
    for root in map(Path, paths):
        if not root.exists():
            raise FileNotFoundError(f"{root} does not exist")
        summaries = [root / SUMMARY_FILE] if (root / SUMMARY_FILE).is_file() else sorted(root.rglob(SUMMARY_FILE))
        for summary in summaries:
            scored.setdefault(summary.parent.resolve(), summary.parent)
        metas = [root / META_FILE] if (root / META_FILE).is_file() else sorted(root.rglob(META_FILE))
        for meta in metas:
            if not (meta.parent / SUMMARY_FILE).is_file():
                unscored.setdefault(meta.parent.resolve(), meta.parent)
    return list(scored.values()), list(unscored.values())


def load_groups(directories: Sequence[Path]) -> list[Group]:
    """Read the summaries and group them by (world, variant, agent), sorted.

    Raises:
        ValueError: on a summary without the contract's keys, or two runs of one group with the
            same seed (which would count one seed twice).
    """
    groups: dict[tuple[str, str | None, str], Group] = {}
    for directory in directories:
        path = directory / SUMMARY_FILE
        summary = json.loads(path.read_text())
        missing = [key for key in ("world", "agent", "seed", "steps", "survival", "shifts") if key not in summary]
        if missing:
            raise ValueError(f"{path}: not a run summary (missing {missing}); see docs/scoring.md")
        variant = summary.get("variant")
        key = (str(summary["world"]), None if variant is None else str(variant), agent_label(summary))
        group = groups.setdefault(key, Group(*key))
        for other, run in zip(group.directories, group.runs, strict=True):
            if run["seed"] == summary["seed"]:
                raise ValueError(f"two runs of {key[2]} in {group.label} with seed {summary['seed']}: {other} and "
                                 f"{directory}; report each seed once")
        group.runs.append(summary)
        group.directories.append(directory)
    return [groups[key] for key in sorted(groups, key=lambda k: (k[0], k[1] or "", k[2]))]


def agent_label(summary: dict[str, Any]) -> str:
    """The name a run's agent is reported under: the run's ``label`` if it was given one (an arm of a pipeline:
    ``rlpd+data``, ``spirl-other-worlds``), else the agent, joined by ``+`` to its plasticity options if it had any
    (``ppo-v0+layer_norm+weight_decay``), so that the arms of a sweep are groups of their own."""
    if summary.get("label"):
        return str(summary["label"])
    return "+".join([str(summary["agent"]), *map(str, summary.get("plasticity") or [])])


def shift_scores(group: Group) -> dict[tuple[int, str, str], list[dict[str, Any]]]:
    """Each shift's records across the group's runs, keyed by ``(t, name, kind)``; shifts at a run's
    first recorded step (neutral by definition) are left out."""
    found: dict[tuple[int, str, str], list[dict[str, Any]]] = {}
    for run in group.runs:
        start = run.get("start", 0)
        for shift in run["shifts"]:
            if shift["t"] <= start:
                continue
            key = (int(shift["t"]), str(shift.get("name", shift["kind"])), str(shift["kind"]))
            found.setdefault(key, []).append(shift)
    return dict(sorted(found.items()))


def regime_scores(group: Group) -> dict[str, list[dict[str, Any]]]:
    """Each regime's survival records (``summary["survival_by_regime"][name]``) across the group's runs, keyed by
    regime name in order of first appearance; runs that never were in a regime have no record of it."""
    found: dict[str, list[dict[str, Any]]] = {}
    for run in group.runs:
        for regime, record in run.get("survival_by_regime", {}).items():
            found.setdefault(str(regime), []).append(record)
    return found


def shift_value(record: dict[str, Any], score: Score) -> float | None:
    """An observed shift's value of ``score`` as aggregates count it: a censored time counts as its observed steps
    (a lower bound); None when the shift has no value (a summary from before the score, or an adaptation time of a
    regime too short for a plateau: None and not censored)."""
    if score.key not in record:
        return None
    if score.censored_by is not None and record[score.censored_by]:
        return float(record["observed_steps"])
    return None if record[score.key] is None else float(record[score.key])
