"""The evaluator's recorder: per-body survival and wellbeing streams on disk, in bounded memory.

This module is the recorder's public face: it documents what a recording holds and gathers the names
its users import. Each job lives in a module of its own: :mod:`~openworld.scoring.recorder` (the
:class:`Monitor` writer and its buffer), :mod:`~openworld.scoring.windows` (windowed rows),
:mod:`~openworld.scoring.labels` (regime and shift labels), :mod:`~openworld.scoring.wrappers` (the
Gymnasium wrappers), :mod:`~openworld.scoring.storage` (files and Parquet),
:mod:`~openworld.scoring.reading` (:func:`read_recording`) and :mod:`~openworld.scoring.summary`
(:func:`summarize`, scoring a recording).

A :class:`Monitor` receives, after every step, each body's world clock, whether it is alive, its
vitals (as fractions of their maxima) and whether it died, and writes one row per body and world
step (``window=1``) or one row per body and window of ``window`` world steps. It also labels every
row with the regime in force and the shift onsets, from the world's
:class:`~openworld.world.shifts.ShiftSchedule`: the evaluator's knowledge, never shown to the agent.

**World time.** Rows are keyed by world clock: the row with ``t = c`` describes the body just after
the step that brought its world's clock to ``c`` (so the first step after ``reset`` is ``t = 1``,
and a shift at ``t_k`` is first seen in the row ``t = t_k``). A world's clock can jump: the vector
env fast-forwards a world through its dead body's respawn delay, and the single env's ``reset()``
lets the delay pass. The monitor fills every skipped clock with a dead row (alive 0, wellbeing 0,
vitals 0), so alive fraction and wellbeing are measured over world time, as DESIGN.md section 5
defines them. Clocks of different worlds drift apart; each body's stream has its own clocks.

**On disk** (a run directory)::

    <directory>/monitor.json            how the stream was recorded (mode, window, vitals, metadata)
    <directory>/stream/chunk-00000000.parquet, chunk-00000001.parquet, ...
    <directory>/summary.json            written by :func:`summarize`

Rows are buffered in memory and written as one Parquet file per chunk (``chunk_rows`` rows, or
whatever is buffered after ``flush_seconds``), to a temporary name that is then renamed, so a reader
never sees half a chunk and a crash loses at most the rows not yet flushed. Memory is constant
however long the run: the buffer, plus per-body counters. :func:`read_recording` concatenates the
finished chunks and works while the run goes on.

**Columns** (``window=1``): ``body`` int32, ``t`` int64 (world clock), ``alive`` bool, ``died``
bool, ``wellbeing`` float32 (``alive * clip(min vital, 0, 1)``, exact: a float32 vital), one
``vital_<name>`` float32 per vital, ``regime`` (dictionary string: the
:meth:`~openworld.world.shifts.ShiftSchedule.regime_name` at ``t``) and ``shift`` (dictionary string,
null unless a shift starts at ``t``: ``kind:name@t``, several joined by ``|``).

With ``window=W > 1`` a row covers the clocks ``[t, t + steps)`` of one window ``[kW, (k+1)W)`` of
world time (windows are aligned to multiples of ``W``, so the rows of different bodies and runs
line up; only a body's first and last rows can be partial): ``steps``, ``alive_steps``, ``deaths``
(int32), ``alive_last`` (alive at the window's last step), ``wellbeing`` (float64 mean over the
window's steps, dead steps counting 0), ``vital_<name>`` (float64 means over the window's *alive*
steps, 0 if none), ``regime`` (at ``t``) and ``shift`` (every onset inside the window). A window
is written once complete; :meth:`Monitor.close` writes the partial last ones.

Example:
    >>> import tempfile
    >>> import numpy as np
    >>> from openworld.scoring.monitor import Monitor, read_recording
    >>> directory = tempfile.mkdtemp()
    >>> with Monitor(directory, schedule=None, num_bodies=2) as monitor:
    ...     monitor.record([1, 1], [True, True], np.full((2, 4), 0.5), [False, False])
    ...     monitor.record([2, 5], [True, True], np.full((2, 4), 0.25), [False, False])
    >>> recording = read_recording(directory)
    >>> recording.body(1)["t"].tolist(), recording.body(1)["alive"].tolist()
    ([1, 2, 3, 4, 5], [True, False, False, False, True])
"""

from __future__ import annotations

from openworld.scoring.reading import Recording, read_recording
from openworld.scoring.recorder import DEFAULT_CHUNK_ROWS, DEFAULT_FLUSH_SECONDS, VITAL_NAMES, Monitor
from openworld.scoring.storage import FORMAT, FORMAT_VERSION, META_FILE, STREAM_DIR, SUMMARY_FILE, chunk_files
from openworld.scoring.summary import CURVE_POINTS, rescore, summarize
from openworld.scoring.wrappers import RecordLifetime, RecordLifetimeVector

__all__ = ["CURVE_POINTS", "DEFAULT_CHUNK_ROWS", "DEFAULT_FLUSH_SECONDS", "FORMAT", "FORMAT_VERSION", "META_FILE",
           "STREAM_DIR", "SUMMARY_FILE", "VITAL_NAMES", "Monitor", "RecordLifetime", "RecordLifetimeVector",
           "Recording", "chunk_files", "read_recording", "rescore", "summarize"]
