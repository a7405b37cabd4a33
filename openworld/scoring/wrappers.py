"""Gymnasium wrappers that record an openworld env's lifetime into a :class:`~openworld.scoring.recorder.Monitor`.

:class:`RecordLifetime` wraps a single env, :class:`RecordLifetimeVector` a vector env; both label the
rows with the world's shift schedule and name the world in the recording's metadata.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from openworld.scoring.recorder import DEFAULT_CHUNK_ROWS, DEFAULT_FLUSH_SECONDS, Monitor


class RecordLifetime(gym.Wrapper[Any, Any, Any, Any]):
    """Record the lifetime of an openworld single env into a :class:`Monitor`.

    Wrap the openworld env itself (innermost), since the wrapper reads ``obs["vitals"]`` and
    ``info``. Every ``step`` is recorded; a ``reset()`` that brings a dead body back records the
    clocks of its respawn delay as dead and the respawned body at the new clock. A ``reset(seed=s)``
    after recording started regenerates the world and raises ``ValueError`` at the next record: a
    recording follows one lifetime.

    Args:
        env: an openworld env (``gymnasium.make("openworld/...")``).
        directory: the run directory for the :class:`Monitor`.
        window, chunk_rows, flush_seconds: see :class:`Monitor`.
        metadata: run facts for the summary; ``world`` defaults to the env's world id.

    Example:
        >>> import tempfile, gymnasium as gym, openworld
        >>> from openworld.scoring.monitor import RecordLifetime, read_recording
        >>> env = RecordLifetime(gym.make("openworld/Meadow-v0"), tempfile.mkdtemp())
        >>> obs, info = env.reset(seed=0)
        >>> for _ in range(3):
        ...     obs, reward, terminated, truncated, info = env.step(0)
        >>> env.close()
        >>> read_recording(env.monitor.directory).columns["t"].tolist()
        [1, 2, 3]
    """

    def __init__(self, env: gym.Env[Any, Any], directory: str | os.PathLike[str], *, window: int = 1,
                 chunk_rows: int = DEFAULT_CHUNK_ROWS, flush_seconds: float | None = DEFAULT_FLUSH_SECONDS,
                 metadata: Mapping[str, Any] | None = None) -> None:
        super().__init__(env)
        self.monitor = _monitor_for(env.unwrapped, directory, 1, window, chunk_rows, flush_seconds, metadata)
        self._started = False

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        if not self._started:
            self.monitor.start([info["world_step"]])
            self._started = True
        elif info["world_step"] != self.monitor.clocks[0]:
            self.monitor.record([info["world_step"]], [info["alive"]], np.reshape(obs["vitals"], (1, -1)), [False])
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        # One body: its info holds scalars, and "death" among the names in info["events"].
        self.monitor.record([info["world_step"]], [info["alive"]], np.reshape(obs["vitals"], (1, -1)),
                            ["death" in info["events"]])
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        self.monitor.close()
        super().close()


class RecordLifetimeVector(gym.vector.VectorWrapper):
    """Record every body of an openworld vector env into a :class:`Monitor` (see :class:`RecordLifetime`).

    Under NEXT_STEP autoreset a world's clock jumps over its body's respawn delay; the skipped clocks
    are recorded as dead. A ``reset()`` without a seed respawns dead bodies now: their new clocks are
    recorded, the others' are left alone.

    Example:
        >>> import tempfile, gymnasium as gym, numpy as np, openworld
        >>> from openworld.scoring.monitor import RecordLifetimeVector, read_recording
        >>> envs = gym.make_vec("openworld/Meadow-v0", num_envs=3, vectorization_mode="vector_entry_point")
        >>> envs = RecordLifetimeVector(envs, tempfile.mkdtemp())
        >>> obs, info = envs.reset(seed=0)
        >>> obs, rewards, terminated, truncated, info = envs.step(np.zeros(3, dtype=np.int64))
        >>> envs.close()
        >>> read_recording(envs.monitor.directory).columns["body"].tolist()
        [0, 1, 2]
    """

    def __init__(self, env: gym.vector.VectorEnv, directory: str | os.PathLike[str], *,  # type: ignore[type-arg]
                 window: int = 1, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 flush_seconds: float | None = DEFAULT_FLUSH_SECONDS,
                 metadata: Mapping[str, Any] | None = None) -> None:
        super().__init__(env)
        self.monitor = _monitor_for(env.unwrapped, directory, env.num_envs, window, chunk_rows, flush_seconds,
                                    metadata)
        self._started = False

    def reset(self, *, seed: int | list[int] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)  # type: ignore[arg-type]
        clock = np.asarray(info["world_step"], dtype=np.int64)
        if not self._started:
            self.monitor.start(clock)
            self._started = True
        else:
            moved = np.flatnonzero(clock != self.monitor.clocks)
            if moved.size:
                self.monitor.record(clock[moved], np.asarray(info["alive"])[moved], np.asarray(obs["vitals"])[moved],
                                    np.zeros(moved.size, bool), bodies=moved)
        return obs, info

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        self.monitor.record_info(obs["vitals"], info)
        return obs, rewards, terminated, truncated, info

    def close(self, **kwargs: Any) -> None:
        self.monitor.close()
        super().close(**kwargs)


def _monitor_for(unwrapped: Any, directory: str | os.PathLike[str], num_bodies: int, window: int,
                 chunk_rows: int, flush_seconds: float | None, metadata: Mapping[str, Any] | None) -> Monitor:
    from openworld.world.shifts import ShiftSchedule

    spec = getattr(unwrapped, "world_spec", None)
    if spec is None:
        raise TypeError(f"the monitor wrappers need an openworld env (with a world_spec), got {unwrapped!r}")
    facts = {"world": f"{spec.name}-v{spec.version}", **(metadata or {})}
    return Monitor(directory, ShiftSchedule(spec), num_bodies, window=window, chunk_rows=chunk_rows,
                   flush_seconds=flush_seconds, metadata=facts)
