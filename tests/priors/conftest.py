"""The prior tests use private dataset and prior stores (``prior_stores`` and ``make_dataset``: tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import openworld  # noqa: F401  (registers the worlds)


@pytest.fixture(autouse=True)
def stores(prior_stores: Path) -> Path:
    return prior_stores
