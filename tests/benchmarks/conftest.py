"""What the benchmark smoke tests share: running a script of benchmarks/ as the README's commands do."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

RunBenchmark = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_benchmark() -> RunBenchmark:
    """``run_benchmark(script, *args, timeout=600)``: ``python benchmarks/<script> args`` from the repository root,
    output captured, never raising on a non-zero exit."""
    def run(script: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / script), *args], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=timeout, check=False)
    return run
