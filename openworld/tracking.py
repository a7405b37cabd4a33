"""Sacred recording of runs: config, metrics, artifacts, host and versions.

Every ``openworld run`` is a Sacred run with a ``FileStorageObserver`` inside its run directory
(``<run_dir>/sacred/<id>/``: ``config.json``, ``run.json`` with host, dependencies and sources,
``metrics.json``, artifacts). With ``tracking.mongo_url=...`` a ``MongoObserver`` records the same run
to MongoDB as well. Sacred is imported lazily: it is only needed when a run is recorded.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

TRACKED_PACKAGES = ("openworld", "numpy", "torch", "gymnasium", "minigrid", "pettingzoo", "hydra-core", "sacred")


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

    ``mongo_client`` lets tests pass a ``mongomock.MongoClient`` (no MongoDB server installs here).
    """
    from sacred.observers import FileStorageObserver

    observers: list[Any] = [FileStorageObserver(str(run_dir / "sacred"))]
    if mongo_url or mongo_client is not None:
        from sacred.observers import MongoObserver

        if mongo_client is not None:
            observers.append(MongoObserver(client=mongo_client, db_name=mongo_db))
        else:
            observers.append(MongoObserver(url=mongo_url, db_name=mongo_db))
    return observers


def run_tracked(name: str, config: Mapping[str, Any], observers: list[Any],
                main: Callable[[Any], Any]) -> Any:
    """Run ``main(sacred_run)`` as a Sacred experiment with this config and these observers.

    ``main`` receives Sacred's ``Run`` (``log_scalar``, ``add_artifact``, ``info``) and its return
    value becomes the run's result.
    """
    from sacred import Experiment
    from sacred.utils import SacredInterrupt

    experiment = Experiment(name, save_git_info=False)
    experiment.add_config(dict(config))
    experiment.observers.extend(observers)

    def sacred_main(_run: Any) -> Any:
        _run.info["versions"] = package_versions()
        return main(_run)

    experiment.main(sacred_main)
    try:
        run = experiment.run(options={"--loglevel": "ERROR"})
    except SacredInterrupt:
        raise
    return run.result
