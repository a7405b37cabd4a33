"""Smoke test for benchmarks/fast_forward_memory.py: it measures a short wait and reports both figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "fast_forward_memory.py"


def test_fast_forward_memory_measures_a_short_wait() -> None:
    spec = importlib.util.spec_from_file_location("fast_forward_memory", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.measure(steps=200, slots=4)
    assert result["whole_wait_mib"] == 200 * 2 * 16 * 4 * 8 / 2**20
    assert 0 < result["peak_mib"] and result["seconds"] >= 0
