"""Sacred tracking: the file observer records config, metrics, artifacts, host and versions; a failed
run is recorded as failed; the MongoDB observer is wired from a URL or a client (mongomock here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openworld.runner.tracking import make_observers, package_versions, run_tracked
from openworld.runner.tracking import sacred_safe as _sacred_safe


def test_file_observer_records_config_metrics_artifacts_and_versions(tmp_path: Path) -> None:
    artifact = tmp_path / "notes.txt"
    artifact.write_text("hello")

    def main(run) -> dict[str, int]:
        for step in (10, 20):
            run.log_scalar("charts/alive_fraction", step / 20, step)
        run.add_artifact(str(artifact), "notes.txt")
        print("a line for cout")
        return {"answer": 42}

    config = {"seed": 3, "world": {"resources": {"berry": {"regrow": 0.02}}}}
    result = run_tracked("test", config, make_observers(tmp_path), main, artifacts=[(artifact, "at-start.txt")])
    assert result == {"answer": 42}
    record = tmp_path / "sacred" / "1"
    assert json.loads((record / "config.json").read_text())["world"]["resources"]["berry"]["regrow"] == 0.02
    metrics = json.loads((record / "metrics.json").read_text())["charts/alive_fraction"]
    assert metrics["steps"] == [10, 20] and metrics["values"] == [0.5, 1.0]
    run = json.loads((record / "run.json").read_text())
    assert run["status"] == "COMPLETED" and run["result"] == {"answer": 42}
    assert set(run["artifacts"]) == {"notes.txt", "at-start.txt"} and (record / "notes.txt").read_text() == "hello"
    assert run["host"]["hostname"] and run["host"]["python_version"]
    assert json.loads((record / "info.json").read_text())["versions"] == package_versions()
    assert "a line for cout" in (record / "cout.txt").read_text()


def test_a_failing_run_is_recorded_as_failed_and_raises(tmp_path: Path) -> None:
    def main(run) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_tracked("test", {"seed": 0}, make_observers(tmp_path), main)
    run = json.loads((tmp_path / "sacred" / "1" / "run.json").read_text())
    assert run["status"] == "FAILED" and "boom" in "".join(run["fail_trace"])


def test_dotted_keys_are_made_safe_for_sacred() -> None:
    config = {"world": {"shifts": [{"set": {"resources.berry.regrow": 0.002}}]}}
    assert _sacred_safe(config) == {"world": {"shifts": [{"set": {"resources/berry/regrow": 0.002}}]}}


def test_package_versions_are_strings() -> None:
    versions = package_versions()
    assert versions["sacred"] and all(isinstance(value, str) for value in versions.values())


def test_mongo_observer_from_a_mongomock_client(tmp_path: Path) -> None:
    mongomock = pytest.importorskip("mongomock")
    pytest.importorskip("pymongo")
    client = mongomock.MongoClient()
    observers = make_observers(tmp_path, mongo_client=client, mongo_db="unit")
    assert [type(observer).__name__ for observer in observers] == ["FileStorageObserver", "MongoObserver"]

    def main(run) -> str:
        run.log_scalar("losses/value_loss", 0.5, 1)
        return "done"

    assert run_tracked("test", {"seed": 1}, observers, main) == "done"
    (run,) = list(client["unit"]["runs"].find())
    assert run["status"] == "COMPLETED" and run["config"]["seed"] == 1
    (metric,) = list(client["unit"]["metrics"].find())
    assert metric["name"] == "losses/value_loss" and metric["values"] == [0.5]


def test_mongo_url_without_pymongo_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_pymongo(name: str, *args, **kwargs):
        if name == "pymongo" or name.startswith("pymongo."):
            raise ImportError("No module named 'pymongo'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pymongo)
    with pytest.raises(ImportError, match="pip install pymongo"):
        make_observers(tmp_path, mongo_url="mongodb://localhost:27017")
