"""The run directory: what a run writes there, when it may start, overwrite or resume, and the checked
checkpoint it resumes from.

Layout (``hydra.run.dir``; default ``runs/<world>/<agent>/seed<seed>``)::

    .hydra/                 the resolved config, Hydra's config and the overrides (of the first start)
    monitor.json, stream/   the recording (openworld.scoring.monitor)
    checkpoints/last.ckpt   the latest checkpoint (openworld.runner.checkpoint)
    snapshots/              agent-<step>.ckpt: the agent at each step of ``snapshots`` (openworld.runner.snapshots)
    sacred/<id>/            Sacred's FileStorageObserver: config, run (host, versions, sources), metrics,
                            artifacts; one <id> per invocation (a resumed run adds one)
    summary.json            the run summary contract (docs/metrics.md)
    report/                 tables and plots of this run (openworld.scoring.report)
"""

from __future__ import annotations

import json
import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openworld.errors import CheckpointError, RunError, brief
from openworld.scoring.learner_log import LEARNER_LOG

CHECKPOINT = Path("checkpoints") / "last.ckpt"
SUMMARY = "summary.json"
REPORT = "report"
# The recording's files (openworld.scoring.monitor's META_FILE and STREAM_DIR), named here so that checking
# a run directory does not load the monitor.
MONITOR = "monitor.json"
STREAM = "stream"
# Everything a run writes into its directory; ``overwrite=true`` removes these and nothing else.
RUN_FILES = (".hydra", MONITOR, STREAM, SUMMARY, REPORT, "checkpoints", "snapshots", "sacred", LEARNER_LOG)
# Config keys that may differ between a run and its resumption: they do not change the lifetime.
RESUME_FREE_KEYS = frozenset({"steps", "resume", "overwrite", "progress", "report", "log_every", "label",
                              "checkpoint_every", "tracking", "evaluation", "metrics", "snapshots"})


def resolve_resume(run_dir: Path, resume: bool | str, overwrite: bool) -> tuple[bool, bool]:
    """``(resume, overwrite)`` with ``resume=auto`` decided: continue an unfinished run or extend a finished one,
    else start (e.g. a requeued cluster job); one killed before its first checkpoint starts over. A finished run
    of the steps asked for is skipped before this (:func:`finished_run_summary`)."""
    if resume != "auto":
        return bool(resume), overwrite
    unfinished = not (run_dir / SUMMARY).exists()
    resumable = (run_dir / CHECKPOINT).exists()
    return resumable, overwrite or (unfinished and not resumable)


def finished_run_summary(run_dir: Path, identity: Mapping[str, Any], config: Mapping[str, Any],
                         steps: int) -> dict[str, Any] | None:
    """The summary of the run directory's finished run if it is this run at ``steps`` (``resume=auto`` has
    nothing to do: a rerun sweep or pipeline skips it); None if there is none, or it is shorter (to extend).
    Reads the checkpoint's header only.

    Raises:
        CheckpointError: the finished run is another run (its world, agent, seed... or its config differ; naming
            what differs), or its checkpoint is unreadable.
    """
    from openworld.runner.checkpoint import read_header

    if not (run_dir / SUMMARY).exists() or not (run_dir / CHECKPOINT).exists():
        return None
    path = run_dir / CHECKPOINT
    header = read_header(path)
    differing = [f"{key} is {brief(header.get(key))} there, {brief(value)} here"
                 for key, value in identity.items() if header.get(key) != value]
    differing += differences(header.get("config"), json.loads(json.dumps(lifetime_config(config))))
    if differing:
        raise CheckpointError(f"{path}: resume=auto found a finished run configured differently: "
                              + "; ".join(differing[:5]) + (" ..." if len(differing) > 5 else "")
                              + " (run elsewhere, or replace it with overwrite=true)")
    if int(header["step"]) != steps:
        return None  # shorter: extended by the resumption (longer: refused by it, naming the step)
    summary: dict[str, Any] = json.loads((run_dir / SUMMARY).read_text())
    return summary


def check_run_dir(run_dir: Path, resume: bool, overwrite: bool, overrides: Sequence[str] = ()) -> None:
    """Refuse to clobber recorded work: a finished run needs ``overwrite=true``; an unfinished one
    ``resume=true`` (continue) or ``overwrite=true`` (start over). Touches nothing. The messages spell
    out the commands, with this invocation's ``overrides``.

    Raises:
        RunError: saying which commands would do what was probably meant.
    """
    def command(*drop: str) -> str:
        kept = [shlex.quote(override) for override in overrides
                if override.split("=", 1)[0].lstrip("+~") not in ("resume", "overwrite", "hydra.run.dir", *drop)]
        return " ".join(["openworld run", *kept])

    finished = (run_dir / SUMMARY).exists()
    started = (run_dir / MONITOR).exists() or (run_dir / CHECKPOINT).exists()
    if resume:
        if overwrite:
            raise RunError("resume=true and overwrite=true contradict each other: pass one")
        if not (run_dir / CHECKPOINT).exists():
            raise RunError(f"{run_dir}: nothing to resume (no {CHECKPOINT}); start it without resume=true")
        return
    if finished and not overwrite:
        raise RunError(
            f"{run_dir} already holds a finished run ({SUMMARY}).\n"
            f"  To run it again, replacing it:  {command()} overwrite=true\n"
            f"  To keep it and run elsewhere:   {command()} hydra.run.dir=<another directory>\n"
            f"  To extend it to more steps:     {command('steps')} steps=<more> resume=true\n"
            f"  To look at it:                  {run_dir / REPORT / 'report.md'}")
    if started and not overwrite:
        raise RunError(
            f"{run_dir} already holds an unfinished run.\n"
            f"  To continue it from its last checkpoint:  {command()} resume=true\n"
            f"  To start it over:                         {command()} overwrite=true\n"
            f"  To keep it and run elsewhere:             {command()} hydra.run.dir=<another directory>")


def clear_run_dir(run_dir: Path) -> None:
    """Remove what a previous run wrote (``RUN_FILES``), nothing else."""
    for name in RUN_FILES:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def save_hydra_files(run_dir: Path, cfg: Any, hydra_config: Any, overrides: Sequence[str]) -> None:
    """What Hydra's ``output_subdir`` would hold, written only once the run is allowed to start (Hydra
    itself would rewrite it before a refused resume or overwrite)."""
    from omegaconf import OmegaConf

    folder = run_dir / ".hydra"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    if hydra_config is not None:
        (folder / "hydra.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create({"hydra": hydra_config})))
    (folder / "overrides.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(list(overrides))))


def lifetime_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the config that determines the lifetime (what a resumption must not change)."""
    return {key: value for key, value in config.items() if key not in RESUME_FREE_KEYS}


def differences(there: Any, here: Any, prefix: str = "") -> list[str]:
    """Where two JSON-like values differ, one ``<path> is <x> there, <y> here`` line per leaf."""
    if isinstance(there, dict) and isinstance(here, dict):
        out = []
        for key in sorted(set(there) | set(here), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in there or key not in here:
                out.append(f"{path} is {'missing' if key not in there else repr(there[key])} there, "
                           f"{'missing' if key not in here else repr(here[key])} here")
            else:
                out += differences(there[key], here[key], path)
        return out
    return [] if there == here else [f"{prefix} is {brief(there)} there, {brief(here)} here"]


@dataclass
class Resumption:
    """A checked checkpoint, ready to continue from."""

    step: int
    payload: dict[str, Any]
    experience: dict[str, Any]  # the prior experience the run's agent brought (openworld.agent.protocol)


def check_experience(run_dir: Path, resumption: Resumption, experience: Mapping[str, Any]) -> None:
    """Refuse to resume with an agent that brings other prior experience (another prior file or dataset, or the
    same path or id holding other contents) than the checkpoint's, naming what differs; writes nothing."""
    now = json.loads(json.dumps(dict(experience)))
    differing = differences(resumption.experience, now)
    if differing:
        raise CheckpointError(f"{run_dir / CHECKPOINT}: the run's agent learnt from other prior experience: "
                              + "; ".join(differing[:5]) + ". Resume with the same prior and dataset, or start "
                              "over with overwrite=true")


def read_resumption(run_dir: Path, identity: Mapping[str, Any], config: Mapping[str, Any], steps: int) -> Resumption:
    """Read and check the run directory's checkpoint, and the recorded chunks it needs, against this run,
    writing nothing.

    A checkpoint at ``steps`` in a run directory without ``summary.json`` (killed after its final checkpoint,
    or its scoring failed) is a lifetime to finish: the resumption lives nothing and scores the recording.

    Raises:
        CheckpointError: corrupt, truncated, or from another run (naming what differs).
        RunError: nothing left to do, or a recorded chunk the checkpoint needs is missing, truncated or
            altered (naming it).
    """
    from openworld.errors import RecordingError
    from openworld.runner.checkpoint import load_checkpoint
    from openworld.scoring.storage import chunk_files, verify_chunks

    path = run_dir / CHECKPOINT
    header, payload = load_checkpoint(path, expect=identity)
    differing = differences(header.get("config"), json.loads(json.dumps(lifetime_config(config))))
    if differing:
        raise CheckpointError(f"{path}: checkpoint belongs to a differently configured run: "
                              + "; ".join(differing[:5]) + (" ..." if len(differing) > 5 else "")
                              + " (only " + ", ".join(sorted(RESUME_FREE_KEYS)) + " may change on resume)")
    step = int(header["step"])
    if step > steps:
        raise RunError(f"{run_dir}: the checkpoint is at step {step:,} and steps={steps:,}: a run cannot be "
                       f"shortened (pass steps={step:,} to finish it, or a larger steps= to extend it)")
    if step == steps and (run_dir / SUMMARY).exists():
        raise RunError(f"{run_dir}: the checkpoint is at step {step:,} and steps={steps:,}: nothing left to do "
                       f"(pass a larger steps= to extend the run; openworld score {run_dir} scores it again)")
    needed = int(payload["monitor"]["chunks"])
    missing = sorted(set(range(needed)) - set(chunk_files(run_dir / STREAM)))
    if missing:
        raise RunError(f"{run_dir}: the checkpoint needs recorded chunks {missing[:5]} that are missing; "
                       "the run cannot be resumed (start over with overwrite=true)")
    try:  # before anything is written: a resume deletes summary.json and rewrites the checkpoint
        verify_chunks(run_dir / STREAM, needed)
    except RecordingError as err:
        raise RunError(f"{err}. The run cannot be resumed from {path} (start over with overwrite=true, or "
                       "restore the chunk from a copy)") from err
    return Resumption(step, payload, dict(header.get("experience") or {}))
