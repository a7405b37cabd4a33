"""Helpers for the experiment tests: ``openworld run`` as a subprocess (the real command line, with tiny
budgets), in-process through :func:`openworld.runner.hydra_main`, or composed with Hydra's compose API."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

# Hydra's own logging would reconfigure the test process's root logger.
QUIET = ("hydra/job_logging=disabled", "hydra/hydra_logging=disabled")


def command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "openworld.tools.cli", "run", *args]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"})
    return env


@pytest.fixture
def openworld_run() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``openworld run <args>`` in a subprocess; returns the completed process (stdout, stderr, returncode)."""

    def run(args: Sequence[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command(args), cwd=cwd, env=environment(), capture_output=True, text=True,
                              timeout=timeout)

    return run


@pytest.fixture
def openworld_popen() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """``openworld run <args>`` started in the background (stdout and stderr merged); killed if left over."""
    started: list[subprocess.Popen[str]] = []

    def start(args: Sequence[str], cwd: Path) -> subprocess.Popen[str]:
        process = subprocess.Popen(command(args), cwd=cwd, env=environment(), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def run_in_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., int]:
    """``openworld run <args>`` in this process (cwd: ``tmp_path``); returns the exit code."""
    from openworld.runner import hydra_main

    monkeypatch.chdir(tmp_path)

    def run(args: Sequence[str]) -> int:
        return hydra_main([*args, *QUIET])

    return run


@pytest.fixture
def compose() -> Callable[..., Any]:
    """The composed config of ``openworld run <overrides>`` (without running it)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    from openworld.runner import register_config_groups

    register_config_groups()

    def make(overrides: Sequence[str] = ()) -> Any:
        with initialize_config_module(config_module="openworld.experiments.conf", version_base="1.3"):
            return hydra_compose(config_name="config", overrides=list(overrides))

    return make


@pytest.fixture
def snapshot() -> Callable[[Path], dict[str, bytes]]:
    """``snapshot(directory)``: every file under ``directory`` with its bytes."""

    def take(directory: Path) -> dict[str, bytes]:
        return {str(path.relative_to(directory)): path.read_bytes() for path in sorted(directory.rglob("*"))
                if path.is_file()}

    return take
