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
