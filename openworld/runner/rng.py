"""The process-wide generators (Python's, numpy's legacy and torch's): openworld never draws from them,
but a user's agent might, so a checkpoint holds them and an exact resumption restores them."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np


def global_rngs() -> dict[str, Any]:
    """The state of the process-wide generators."""
    import torch

    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_global_rngs(state: Mapping[str, Any]) -> None:
    """Restore a state of :func:`global_rngs`."""
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
