"""A scripted oracle for MiniGridStream (:mod:`openworld.worlds.minigrid_stream`): it reads the task's full
grid, so it is privileged, not an agent of the benchmark; it shows that the stream is livable and is the
scripted agent of ``openworld show --gif``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium.vector import SyncVectorEnv

from openworld.worlds.minigrid_stream import ACTION_NAMES

if TYPE_CHECKING:
    from minigrid.core.grid import Grid
    from minigrid.minigrid_env import MiniGridEnv

    from openworld.worlds.minigrid_stream import MiniGridStreamEnv


class StreamOracle:
    """A scripted policy for MiniGridStream that reads the task's full grid (privileged: not an
    agent of the benchmark, but the demonstration that the stream is livable, and the scripted agent
    of ``openworld show --gif``).

    It plans a shortest path to the goal (breadth-first over cells), fetching the key of a locked door
    and opening doors on the way, and follows it, re-planning when the body is off the plan.

    Args:
        knows_lava: plan around lava. ``False`` is the policy of an agent that has never met lava: it
            walks through, and dies there.
        knows_doors: open doors, and fetch the key of a locked one. ``False`` is the policy of an agent
            that has never met a door: it treats doors as walls, and starves behind them.

    The two skills give the non-adapting contrast of the tests: a policy with the skills of the
    regimes before a shift, and no more.
    """

    def __init__(self, knows_lava: bool = True, knows_doors: bool = True) -> None:
        self.knows_lava = knows_lava
        self.knows_doors = knows_doors

    def act(self, env: Any) -> int:
        """The next action for an env (or wrapper) whose ``unwrapped`` is a :class:`MiniGridStreamEnv`."""
        stream: MiniGridStreamEnv = env.unwrapped
        task = stream.task
        if task is None or not stream.alive:
            return ACTION_NAMES.index("done")
        grid, direction = task.grid, int(task.agent_dir)
        pos = (int(task.agent_pos[0]), int(task.agent_pos[1]))
        carrying_key = task.carrying is not None and task.carrying.type == "key"

        def passable(cell: tuple[int, int]) -> bool:
            obj = grid.get(*cell)
            if obj is None or obj.type in ("goal", "floor"):
                return True
            if obj.type == "lava":
                return not self.knows_lava
            if obj.type == "door":
                door: Any = obj
                return bool(door.is_open or (self.knows_doors and (not door.is_locked or carrying_key)))
            return False

        def is_type(kind: str) -> Callable[[tuple[int, int]], bool]:
            return lambda cell: (obj := grid.get(*cell)) is not None and obj.type == kind

        plan = _path(grid, pos, is_type("goal"), passable)
        if plan is None and self.knows_doors and not carrying_key:
            plan = _path(grid, pos, is_type("key"), passable)
        if plan is None:
            return ACTION_NAMES.index("done")
        target = plan[1] if len(plan) > 1 else pos
        return _move_toward(task, pos, direction, target)


def _path(grid: Grid, start: tuple[int, int], is_target: Callable[[tuple[int, int]], bool],
          passable: Callable[[tuple[int, int]], bool]) -> list[tuple[int, int]] | None:
    """Cells from ``start`` to the first target cell found (breadth-first). Targets that cannot be
    walked onto (a key) end the path next to them, the last cell being the target."""
    parents: dict[tuple[int, int], tuple[int, int] | None] = {start: None}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        if cell != start and is_target(cell):
            path = [cell]
            while parents[path[-1]] is not None:
                path.append(parents[path[-1]])  # type: ignore[arg-type]
            return path[::-1]
        for dx, dy in ((1, 0), (0, 1), (-1, 0), (0, -1)):
            nxt = (cell[0] + dx, cell[1] + dy)
            if nxt in parents or not (0 <= nxt[0] < grid.width and 0 <= nxt[1] < grid.height):
                continue
            if is_target(nxt) and not passable(nxt):  # stand next to it: the path ends on it
                parents[nxt] = cell
                queue.appendleft(nxt)
            elif passable(nxt):
                parents[nxt] = cell
                queue.append(nxt)
    return None


def _move_toward(task: MiniGridEnv, pos: tuple[int, int], direction: int, target: tuple[int, int]) -> int:
    """Turn to face ``target`` (a neighbour), then act on it: open, pick up, or step forward."""
    if target == pos:
        return ACTION_NAMES.index("done")
    wanted = {(1, 0): 0, (0, 1): 1, (-1, 0): 2, (0, -1): 3}[(target[0] - pos[0], target[1] - pos[1])]
    if wanted != direction:
        return ACTION_NAMES.index("right" if (wanted - direction) % 4 != 3 else "left")
    obj: Any = task.grid.get(*target)
    if obj is not None and obj.type == "door" and not obj.is_open:
        return ACTION_NAMES.index("toggle")
    if obj is not None and obj.type == "key":
        return ACTION_NAMES.index("pickup")
    return ACTION_NAMES.index("forward")


def stream_oracle_actions(envs: SyncVectorEnv | Sequence[Any], oracle: StreamOracle) -> np.ndarray:
    """The oracle's action for every stream of a ``SyncVectorEnv`` (or a list of envs)."""
    members = envs.envs if isinstance(envs, SyncVectorEnv) else envs
    return np.array([oracle.act(env) for env in members], dtype=np.int64)
