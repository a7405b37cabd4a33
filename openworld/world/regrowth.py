"""Lazy regrowth: a depleted cell stores the step at which its resource is back, instead of a per-step coin.

When a cell is consumed, its regrowth time is drawn once from the geometric distribution with the
regrow probability in force (exactly the waiting time of a per-step coin flip), and the cell is
available again once ``clock >= ready_at``. Regrowth therefore costs nothing per step instead of a
pass over every cell of every world; a shift of a regrow rate acts on cells depleted after it. Rules
that postpone or hasten regrowth (``worlds/commons_rules.py``, ``worlds/drought.py``) draw their waits
with :func:`geometric_delay` too.

Example:
    >>> import numpy as np
    >>> geometric_delay(np.array([1.0, 0.5, 0.0]), np.array([0.3, 0.9, 0.3])).tolist()[:2]
    [1, 4]
"""

from __future__ import annotations

import numpy as np

from openworld.world.shifts import NEVER

NEVER_READY = np.iinfo(np.int32).max  # ready_at is int32 (halves the view gather): worlds live < 2**31 steps


def geometric_delay(probability: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Steps until the first success of a per-step coin with this probability (>= 1; NEVER for 0).

    Inverse-CDF sampling from uniforms in [0, 1), so zero and tiny probabilities need no special
    generator call.
    """
    p = np.clip(probability, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = np.ceil(np.log1p(-uniform) / np.log1p(-p))
    steps = np.where(p >= 1.0, 1.0, np.where(p <= 0.0, float(NEVER), steps))
    return np.clip(np.nan_to_num(steps, nan=1.0, posinf=float(NEVER)), 1, NEVER).astype(np.int64)
