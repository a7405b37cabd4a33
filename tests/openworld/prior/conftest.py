"""The prior core tests use private dataset and prior stores (``prior_stores``, ``make_dataset``:
tests/conftest.py), and the small priors of ``tiny_priors.py`` (importable as ``tiny_priors``: the test suite
imports its files by path, so the module is loaded here once and registered)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

import openworld  # noqa: F401  (registers the worlds)


def _load_tiny_priors() -> None:
    if "tiny_priors" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location("tiny_priors", Path(__file__).with_name("tiny_priors.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tiny_priors"] = module
    spec.loader.exec_module(module)


_load_tiny_priors()


@pytest.fixture(autouse=True)
def stores(prior_stores: Path) -> Path:
    return prior_stores
