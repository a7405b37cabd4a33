"""A reset-free lifetime cut into Minari episodes, in bounded memory.

Each slot of the vector env (a world, or a body of a world) streams into its own segment; a segment ends

* at a death: its last step has ``terminated=True`` and its last observation is the one the death left;
* at ``segment_steps`` stored steps, or at the end of the collection: ``truncated=True`` (the lifetime goes
  on; the next segment starts from the same observation).

The steps between a death and the respawn (the vector env's autoreset step, whose action the env ignores, or
a dead body's waiting steps) are not stored: the next segment starts from the observation of the respawned
body. A segment of ``N`` steps holds ``N + 1`` observations and ``N + 1`` info rows (row 0: what the segment
started from), as Minari's episodes do. Rows are written into preallocated ``(slots, segment_steps + 1)``
arrays, so memory is bounded by ``slots x segment_steps`` rows whatever the length of the collection, and each
segment goes to disk as soon as it ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

# The info keys of a step (docs/data.md). Those prefixed eval_ are the evaluator's labels, never an agent input.
INFO_KEYS = ("world_step", "alive", "vitals", "event_death", "event_respawn", "event_consumed_kind", "event_damage",
             "eval_regime", "eval_shift_onset")

EpisodeSink = Callable[[int, Any, dict[str, Any]], None]  # (slot, EpisodeBuffer, episode metadata)


class SegmentRecorder:
    """Rows of ``slots`` streams, cut into segments handed to ``sink`` as Minari ``EpisodeBuffer`` s.

    Args:
        slots: streams recorded (the vector env's ``num_envs``).
        segment_steps: stored steps after which a segment is cut (truncated).
        vitals_size: the length of the ``vitals`` observation.
        view_shape: the shape of one ``view`` observation.
        labels: turns the rows' clocks into regime and shift-onset names (:class:`ScheduleLabels`).
        sink: called with each finished segment.
        resource_kinds: the catalogue code (:class:`~openworld.enums.ResourceKind`) of each of the world's
            resources, by the env's resource index: a consumption is stored as the kind's code (0: none), which
            means the same in every world's dataset, where the index would not.
    """

    def __init__(self, slots: int, segment_steps: int, vitals_size: int, view_shape: tuple[int, ...],
                 labels: ScheduleLabels, sink: EpisodeSink, resource_kinds: Sequence[int] = ()) -> None:
        rows = segment_steps + 1
        self.kind_of_index = np.array([0, *resource_kinds], np.int64)  # index -1 (none) -> 0
        self.slots, self.segment_steps, self.labels, self.sink = slots, segment_steps, labels, sink
        self.view = np.zeros((slots, rows, *view_shape), np.uint8)
        self.vitals = np.zeros((slots, rows, vitals_size), np.float32)
        self.actions = np.zeros((slots, rows), np.int64)
        self.rewards = np.zeros((slots, rows), np.float64)
        self.terminated = np.zeros((slots, rows), bool)
        self.world_step = np.zeros((slots, rows), np.int64)
        self.alive = np.zeros((slots, rows), bool)
        self.death = np.zeros((slots, rows), bool)
        self.respawn = np.zeros((slots, rows), bool)
        self.consumed = np.zeros((slots, rows), np.int64)
        self.damage = np.zeros((slots, rows), np.float64)
        self.regime = np.zeros((slots, rows), np.int32)
        self.onset = np.zeros((slots, rows), np.int32)
        self.length = np.zeros(slots, np.int64)  # stored steps of each open segment
        self.waiting = np.zeros(slots, bool)  # dead: rows are not stored until the body is back
        self.started_at = np.zeros(slots, np.int64)  # lifetime step each open segment started at
        self.index = np.arange(slots)

    def start(self, obs: Mapping[str, np.ndarray], info: Mapping[str, Any], previous_clock: np.ndarray) -> None:
        """Open every slot's first segment at the reset's observation."""
        self._write_rows(self.index, np.zeros(self.slots, np.int64), obs, info, previous_clock)

    def record(self, step: int, actions: np.ndarray, obs: Mapping[str, np.ndarray], rewards: np.ndarray,
               info: Mapping[str, Any], previous_clock: np.ndarray) -> None:
        """Record lifetime step ``step`` (1-based): the actions taken, then what they led to."""
        alive = np.asarray(info["alive"], bool)
        died = np.asarray(info["events"]["death"], bool)
        back = self.waiting & alive  # respawned: a new segment starts from this observation
        storing = ~self.waiting
        slots = self.index[storing]
        at = self.length[storing]
        self.actions[slots, at] = actions[storing]
        self.rewards[slots, at] = rewards[storing]
        self.terminated[slots, at] = died[storing]
        self._write_rows(slots, at + 1, obs, info, previous_clock, rows_of=storing)
        self.length[storing] += 1
        for slot in np.flatnonzero(storing & (died | (self.length >= self.segment_steps))).tolist():
            last = int(self.length[slot])
            self.finish(slot, truncated=not died[slot])
            self.waiting[slot] = bool(died[slot])
            if not died[slot]:  # cut: the next segment starts where this one ended
                self._copy_row_to_start(slot, last)
            self.started_at[slot] = step
        if back.any():
            self.waiting[back] = False
            self.started_at[back] = step
            self._write_rows(self.index[back], np.zeros(int(back.sum()), np.int64), obs, info, previous_clock,
                             rows_of=back)

    def close(self) -> None:
        """End every open segment with steps in it (truncated: the lifetime did not end)."""
        for slot in np.flatnonzero(~self.waiting & (self.length > 0)).tolist():
            self.finish(slot, truncated=True)

    def finish(self, slot: int, truncated: bool) -> None:
        """Hand the slot's segment to the sink and empty it."""
        from minari.data_collector.episode_buffer import EpisodeBuffer

        steps = int(self.length[slot])
        rows = slice(0, steps + 1)
        truncations = np.zeros(steps, bool)
        truncations[-1] = truncated
        buffer = EpisodeBuffer(observations={"view": self.view[slot, rows].copy(),
                                             "vitals": self.vitals[slot, rows].copy()},
                               actions=self.actions[slot, :steps].copy(),
                               rewards=self.rewards[slot, :steps].tolist(),
                               terminations=self.terminated[slot, :steps].tolist(),
                               truncations=truncations.tolist(), infos=self._infos(slot, rows))
        self.sink(slot, buffer, {"lifetime_step": int(self.started_at[slot]), "steps": steps,
                                 "world_step_start": int(self.world_step[slot, 0])})
        self.length[slot] = 0

    def _infos(self, slot: int, rows: slice) -> dict[str, Any]:
        regimes, onsets = self.labels.regime_names, self.labels.onset_names
        # One-dimensional columns as lists: Minari 0.5's Arrow reader cannot read back a 1-D array column.
        return {"world_step": self.world_step[slot, rows].tolist(), "alive": self.alive[slot, rows].tolist(),
                "vitals": self.vitals[slot, rows].copy(), "event_death": self.death[slot, rows].tolist(),
                "event_respawn": self.respawn[slot, rows].tolist(),
                "event_consumed_kind": self.consumed[slot, rows].tolist(),
                "event_damage": self.damage[slot, rows].tolist(),
                "eval_regime": [regimes[code] for code in self.regime[slot, rows].tolist()],
                "eval_shift_onset": [onsets[code] if code >= 0 else "" for code in self.onset[slot, rows].tolist()]}

    def _write_rows(self, slots: np.ndarray, rows: np.ndarray, obs: Mapping[str, np.ndarray],
                    info: Mapping[str, Any], previous_clock: np.ndarray, rows_of: np.ndarray | None = None) -> None:
        """Write the observation and info of ``slots`` (the env rows ``rows_of``, all if None) at ``rows``."""
        pick = (lambda values: np.asarray(values)[rows_of]) if rows_of is not None else np.asarray
        events = info["events"]
        clock = pick(info["world_step"])
        self.view[slots, rows] = pick(obs["view"])
        self.vitals[slots, rows] = pick(obs["vitals"])
        self.world_step[slots, rows] = clock
        self.alive[slots, rows] = pick(info["alive"])
        self.death[slots, rows] = pick(events["death"])
        self.respawn[slots, rows] = pick(events["respawn"])
        self.consumed[slots, rows] = self.kind_of_index[pick(events["consumed"]).astype(np.int64) + 1]
        self.damage[slots, rows] = pick(events["damage"])
        self.regime[slots, rows], self.onset[slots, rows] = self.labels.codes(pick(previous_clock), clock)

    def _copy_row_to_start(self, slot: int, last: int) -> None:
        for column in (self.view, self.vitals, self.world_step, self.alive, self.death, self.respawn, self.consumed,
                       self.damage, self.regime, self.onset):
            column[slot, 0] = column[slot, last]


class ScheduleLabels:
    """The evaluator's labels of world clocks: the regime in force and the shift onsets passed since the
    previous clock (codes into :attr:`regime_names` and :attr:`onset_names`; -1: no onset)."""

    def __init__(self, schedule: Any) -> None:
        from openworld.scoring.labels import ScheduleLookup

        self.lookup = ScheduleLookup(schedule)

    @property
    def regime_names(self) -> list[str]:
        return self.lookup.regime_names

    @property
    def onset_names(self) -> list[str]:
        return self.lookup.shift_labels

    def codes(self, previous_clock: np.ndarray, clock: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Regime codes at ``clock`` and onset codes in ``(previous_clock, clock]``."""
        if clock.size == 0:
            return np.zeros(0, np.int32), np.zeros(0, np.int32)
        start = np.minimum(previous_clock + 1, clock)
        self.lookup.cover(int(start.min()), int(clock.max()) + 1)
        return self.lookup.regimes(clock), self.lookup.onsets_in(start, clock + 1)
