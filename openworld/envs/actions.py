"""Action checking for every env: one action (:func:`check_action`) or a batch (:func:`check_actions`).

Both raise ``TypeError`` for what is not an integer and ``ValueError`` for NaN, a wrong shape or an
action outside ``[0, len(names) - 1]``, with a message that says what is wrong and lists the actions.
``names`` defaults to openworld's :class:`~openworld.enums.Action`; a world with its own action set
(MiniGridStream) passes its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from openworld.enums import Action

ACTION_NAMES = tuple(a.name.lower() for a in Action)


def check_action(action: Any, names: Sequence[str] = ACTION_NAMES) -> int:
    """A valid action as an int, or a ``ValueError``/``TypeError`` that says what is wrong."""
    last = len(names) - 1
    if isinstance(action, np.ndarray):
        if action.size != 1:
            raise ValueError(f"expected one action, got an array of shape {action.shape}")
        action = action.reshape(()).item()
    if isinstance(action, bool | np.bool_):
        raise TypeError(f"action must be an integer in [0, {last}], got a bool ({action})")
    if isinstance(action, float | np.floating):
        if np.isnan(action):
            raise ValueError(f"action is NaN; this world takes discrete actions (integers in [0, {last}]: "
                             f"{', '.join(names)})")
        raise TypeError(f"action must be an integer in [0, {last}], got the float {action!r}")
    if not isinstance(action, int | np.integer):
        raise TypeError(f"action must be an integer in [0, {last}], got {type(action).__name__}")
    if not 0 <= action < len(names):
        raise ValueError(f"action {int(action)} is outside the action space [0, {last}] ({', '.join(names)})")
    return int(action)


def check_actions(actions: Any, count: int, names: Sequence[str] = ACTION_NAMES) -> np.ndarray:
    """``count`` valid actions (one per env of a vector env) as an int64 array of shape ``(count,)``."""
    last = len(names) - 1
    arr = np.asarray(actions)
    if arr.shape != (count,):
        raise ValueError(f"expected actions of shape ({count},), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
            raise ValueError(f"actions contain NaN at env(s) {np.flatnonzero(np.isnan(arr)).tolist()}; "
                             f"this world takes integers in [0, {last}]")
        raise TypeError(f"actions must be integers in [0, {last}], got dtype {arr.dtype}")
    bad = (arr < 0) | (arr >= len(names))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"action {int(arr[i])} of env {i} is outside the action space [0, {last}]")
    return arr.astype(np.int64, copy=False)
