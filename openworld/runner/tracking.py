"""Sacred recording of runs: config, metrics, artifacts, host and versions.

Every ``openworld run`` is a Sacred run with a ``FileStorageObserver`` inside its run directory
(``<run_dir>/sacred/<id>/``: ``config.json``, ``run.json`` with host, dependencies, sources and
``info`` (package versions, wall time), ``metrics.json``, ``cout.txt`` and the artifacts). With
``tracking.mongo_url=...`` a ``MongoObserver`` records the same run to MongoDB as well (this needs
``pymongo``; see ``docs/experiments.md``). Sacred is imported lazily: it is only needed when a run is
recorded.

Example:
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> run_dir = Path(tempfile.mkdtemp())
    >>> def main(run):
    ...     run.log_scalar("charts/alive_fraction", 0.9, 100)
    ...     return {"ok": True}
    >>> run_tracked("demo", {"seed": 0}, make_observers(run_dir), main)
    {'ok': True}
    >>> json.loads((run_dir / "sacred" / "1" / "metrics.json").read_text())["charts/alive_fraction"]["values"]
    [0.9]
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from openworld.runner.rundir import MONITOR, REPORT, STREAM, SUMMARY

ARTIFACT_BYTES = 16 << 20  # the recording's chunk files become Sacred artifacts only below this total
TRACKED_PACKAGES = ("openworld", "numpy", "torch", "gymnasium", "minigrid", "pettingzoo", "hydra-core", "sacred",
                    "omegaconf", "pyarrow")


def package_versions() -> dict[str, str]:
    """Installed versions of the stack, as strings (Sacred stores versions as ``str``)."""
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = str(version(name))
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def make_observers(run_dir: Path, mongo_url: str | None = None, mongo_db: str = "openworld",
                   mongo_client: Any = None) -> list[Any]:
    """The file observer in ``run_dir/sacred``, plus a MongoDB observer when a URL or client is given.

    Args:
        run_dir: the run directory.
        mongo_url: e.g. ``mongodb://localhost:27017`` (``pymongo`` must be installed).
        mongo_db: the database name.
        mongo_client: a ``pymongo.MongoClient``, or a ``mongomock.MongoClient`` (tests: no MongoDB server
            installs here); takes the place of ``mongo_url``.
    """
    from sacred.observers import FileStorageObserver

    observers: list[Any] = [FileStorageObserver(str(run_dir / "sacred"))]
    if mongo_url or mongo_client is not None:
        observers.append(_mongo_observer(mongo_url, mongo_db, mongo_client))
    return observers


def _mongo_observer(url: str | None, db_name: str, client: Any) -> Any:
    try:
        import gridfs
        import pymongo
        from sacred.observers import MongoObserver
    except ImportError as err:
        raise ImportError("tracking.mongo_url needs pymongo: pip install pymongo (or openworld[mongo])") from err
    if client is None:
        return MongoObserver(url=url, db_name=db_name)
    if isinstance(client, pymongo.MongoClient):
        return MongoObserver(client=client, db_name=db_name)
    # A stand-in client (mongomock): build the observer from its collections, as Sacred's own tests do.
    if type(client).__module__.startswith("mongomock"):
        from mongomock.gridfs import enable_gridfs_integration

        enable_gridfs_integration()  # lets gridfs.GridFS take mongomock's databases
    database = client[db_name]
    return MongoObserver.create_from(database["runs"], gridfs.GridFS(database),
                                     metrics_collection=database["metrics"])


def run_tracked(name: str, config: Mapping[str, Any], observers: list[Any], main: Callable[[Any], Any],
                sources: Sequence[str | os.PathLike[str]] = (), capture: str = "sys",
                artifacts: Sequence[tuple[str | os.PathLike[str], str]] = ()) -> Any:
    """Run ``main(sacred_run)`` as a Sacred experiment with this config and these observers.

    ``main`` receives Sacred's ``Run`` (``log_scalar``, ``add_artifact``, ``info``) and its return
    value becomes the run's result (the file observer writes it into ``run.json``).

    Args:
        name: the experiment's name.
        config: JSON-like config; keys must not contain dots (Sacred and MongoDB refuse them).
        observers: from :func:`make_observers`.
        main: the run.
        sources: extra Python source files to record with the run.
        capture: Sacred's stdout capture: ``sys`` (into ``cout.txt``), ``fd`` or ``no`` (e.g. while a
            progress bar owns the terminal).
        artifacts: ``(path, name)`` files attached when the run starts (e.g. the world file). Names
            are flat (no ``/``): the file observer stores artifacts side by side.

    Raises:
        Whatever ``main`` raises (the observers record the run as failed first).
    """
    from sacred import Experiment
    from sacred.utils import apply_backspaces_and_linefeeds

    experiment = Experiment(name, save_git_info=False)
    experiment.captured_out_filter = apply_backspaces_and_linefeeds  # type: ignore[assignment]
    experiment.add_config(dict(config))
    experiment.observers.extend(observers)
    for source in sources:  # Sacred records Python sources only
        experiment.add_source_file(str(source))

    def sacred_main(_run: Any) -> Any:
        _run.info["versions"] = package_versions()
        for path, artifact_name in artifacts:
            _run.add_artifact(str(path), artifact_name)
        return main(_run)

    experiment.main(sacred_main)
    run = experiment.run(options={"--loglevel": "ERROR", "--capture": capture})
    for observer in getattr(run, "_failed_observers", []):  # Sacred drops an observer that raised, and goes on
        print(f"openworld: warning: the Sacred observer {type(observer).__name__} failed during the run; "
              "its record is incomplete (the error was logged above)", file=sys.stderr, flush=True)
    return run.result


def sacred_safe(value: Any) -> Any:
    """Sacred (and MongoDB) refuse config keys with dots: a shift's ``set`` keys (``resources.berry.regrow``)
    are written with slashes (``resources/berry/regrow``) in Sacred's copy; ``.hydra/config.yaml`` has the
    original."""
    if isinstance(value, dict):
        return {str(key).replace(".", "/"): sacred_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [sacred_safe(item) for item in value]
    return value


def log_scalars(sacred_run: Any, step: int, interval: Mapping[str, float], deaths: int, steps_per_second: float,
                num_bodies: int, agent: Any) -> None:
    """A log line's scalars, in cleanrl's namespaces: ``charts/...`` for the run, ``losses/...`` (and
    whatever else the agent reports) from the learner."""
    from openworld.agent.protocol import agent_metrics

    for name, value in interval.items():
        sacred_run.log_scalar(f"charts/{name}", value, step)
    sacred_run.log_scalar("charts/deaths", deaths, step)
    sacred_run.log_scalar("charts/steps_per_second", steps_per_second, step)
    sacred_run.log_scalar("charts/body_steps_per_second", steps_per_second * num_bodies, step)
    for key, value in agent_metrics(agent).items():
        sacred_run.log_scalar(key, value, step)


def add_run_artifacts(sacred_run: Any, run_dir: Path, report_dir: Path | None) -> None:
    """Attach a finished run's summary, recording (below ``ARTIFACT_BYTES``) and report to its Sacred record."""
    # Renamed so that tools looking for run directories (summary.json, monitor.json) under a sweep
    # folder do not take Sacred's copies for runs of their own.
    sacred_run.add_artifact(str(run_dir / SUMMARY), f"run-{SUMMARY}")
    sacred_run.add_artifact(str(run_dir / MONITOR), f"run-{MONITOR}")
    chunks = sorted((run_dir / STREAM).glob("chunk-*.parquet"))
    total = sum(path.stat().st_size for path in chunks)
    if total <= ARTIFACT_BYTES:
        for path in chunks:
            sacred_run.add_artifact(str(path), f"stream-{path.name}")
    else:  # a long recording stays in the run directory only
        sacred_run.info["recording_not_attached"] = f"{total:,} bytes in {run_dir / STREAM}"
    if report_dir is not None:
        for path in sorted(report_dir.iterdir()):
            if path.suffix in (".md", ".png", ".csv", ".json"):
                sacred_run.add_artifact(str(path), f"{REPORT}-{path.name}")
