"""Memory benchmark of scoring: summarising a long recording, reading it whole (the old path) or a batch of
bodies at a time (``openworld.scoring.summary.summarize`` today).

Records a synthetic recording with the monitor (no environment: the point is scoring), ``--bodies`` bodies for
``--steps`` world steps each (default 64 x 120,000, the size of the issue's run), with deaths whose respawn delay
the monitor fills with dead rows, labelled with Shiftlands-v0's schedule. Then scores it twice, each in a fresh
process so that neither inherits the other's peak: ``old`` (:func:`old_summary`, the scoring as it was before it
streamed: :func:`read_recording` of every column of every chunk, then every body's stream at once) and ``new``
(:func:`~openworld.scoring.summary.summarize`). Checks that both give the same summary.

Prints one JSON object per line: ``{"name": "recording", ...}`` (rows, disk size, ``reference_mb``: the rows held in
memory as the monitor's columns, 42 bytes a row, what reading the recording whole costs at least), then one
``{"name": "old" | "new", ...}`` per path: ``peak_rss_mb`` (getrusage of that process, imports included),
``baseline_rss_mb`` (its RSS before scoring), ``traced_peak_mb`` (tracemalloc's peak of the Python and numpy
allocations while scoring) and ``seconds``; finally ``{"name": "same_summary", "value": true}``. Figures, not
assertions.

Usage::

    python benchmarks/scoring_memory.py                    # 64 bodies x 120k steps (~7.7M rows), about a minute
    python benchmarks/scoring_memory.py --bodies 16 --steps 20000
    python benchmarks/scoring_memory.py --quick            # smoke run (a few seconds)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

BYTES_PER_ROW = 4 + 8 + 1 + 1 + 4 + 4 * 4 + 4 + 4  # body, t, alive, died, wellbeing, 4 vitals, regime, shift
RESPAWN_DELAY = 100
DEATH_PROBABILITY = 1e-3


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return peak_rss_mb()


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def record(directory: Path, bodies: int, steps: int, window: int, seed: int) -> int:
    """A synthetic recording: wellbeing cycling with the steps, deaths and their clock jumps; returns its rows."""
    from openworld.registry import load_world_spec
    from openworld.scoring.monitor import Monitor
    from openworld.world.shifts import ShiftSchedule

    rng = np.random.default_rng(seed)
    pool = rng.uniform(0.2, 1.0, size=(64, bodies, 4)).astype(np.float32)
    deaths = rng.random((1024, bodies)) < DEATH_PROBABILITY
    monitor = Monitor(directory, ShiftSchedule(load_world_spec("Shiftlands-v0")), bodies, window=window,
                      metadata={"world": "Shiftlands-v0", "agent": "synthetic", "seed": seed})
    clock = np.zeros(bodies, np.int64)
    alive = np.ones(bodies, bool)
    monitor.start(clock)
    for step in range(steps):
        clock += np.where(alive, 1, RESPAWN_DELAY)
        died = deaths[step % len(deaths)] & alive
        alive = ~died
        monitor.record(clock, alive, pool[step % len(pool)] * (0.5 + 0.5 * math.cos(step / 3000)), died)
    monitor.close()
    return monitor.rows


def old_summary(directory: Path, window: int, tolerance: float, **facts: Any) -> dict[str, Any]:
    """The summary as :func:`~openworld.scoring.summary.summarize` computed it before it streamed: the whole
    recording read at once, every body's stream built at once, the mean stream by ``np.mean`` over the bodies."""
    from openworld.scoring import summary as scoring
    from openworld.scoring.reading import read_recording
    from openworld.scoring.scores import SURVIVAL_SCORES

    recording = read_recording(directory)
    facts = {**recording.metadata, **facts}
    step = recording.window
    streams = [scoring._BodyStream.of(recording, b) for b in range(recording.num_bodies)]
    streams = [s for s in streams if s.t.size]
    first = max(s.t[0] // step for s in streams)
    last = min(s.t[-1] // step for s in streams)
    common = [s.between(first, last) for s in streams]

    def mean(parts: Sequence[Any]) -> Any:
        if len(parts) == 1:
            return parts[0]
        base = parts[0]
        wellbeing = np.mean([s.wellbeing for s in parts], axis=0)
        alive_steps = np.mean([s.alive_fraction for s in parts], axis=0) * base.steps
        return scoring._BodyStream(-1, base.width, base.t, base.steps, alive_steps, base.deaths, base.alive_last,
                                   wellbeing, base.regime, base.shift, base.shift_labels, base.regime_names)

    each = [cast(dict[str, float], scoring._survival(s)) for s in common]
    survival = {score.key: float(np.mean([s[score.key] for s in each])) for score in SURVIVAL_SCORES}
    top = scoring._score(mean(common), window, tolerance, survival=cast(Any, survival))
    summary: dict[str, Any] = {"steps": top.pop("steps"), "world": str(facts["world"]), "agent": str(facts["agent"]),
                               "seed": int(facts["seed"]), **top}
    summary.update({key: value for key, value in facts.items() if key not in summary})
    summary.update({"num_bodies": len(streams), "window": window, "tolerance": tolerance,
                    "recording": {"mode": recording.mode, "window": recording.window, "closed": recording.closed}})
    summary["bodies"] = [{"body": s.body, **scoring._score(s, window, tolerance)} for s in streams]
    mean_stream = mean(common)
    summary["wellbeing_curve"] = scoring._curve(mean_stream, mean_stream.wellbeing, "wellbeing")
    summary["alive_curve"] = scoring._curve(mean_stream, mean_stream.alive_fraction, "alive_fraction")
    return summary


def measure(path: str, directory: Path, window: int, out: Path) -> None:
    """Score with one path in this process; write its figures and summary to ``out``."""
    import pyarrow.parquet  # noqa: F401  (imported before the baseline: its import is no part of scoring)

    from openworld.scoring.summary import summarize

    baseline = rss_mb()
    tracemalloc.start()
    start = time.perf_counter()
    summary = old_summary(directory, window, 0.05) if path == "old" else summarize(directory, window=window,
                                                                                    write=False)
    seconds = time.perf_counter() - start
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out.write_text(json.dumps({"figures": {"name": path, "peak_rss_mb": round(peak_rss_mb(), 1),
                                           "baseline_rss_mb": round(baseline, 1),
                                           "traced_peak_mb": round(traced / 2**20, 1), "seconds": round(seconds, 1)},
                               "summary": summary}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bodies", type=int, default=64, help="bodies recorded at once (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=120_000, help="world steps per body (default: %(default)s)")
    parser.add_argument("--window", type=int, default=1, help="world steps per recorded row (default: %(default)s)")
    parser.add_argument("--metrics-window", type=int, default=500, help="W of the scores (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 4 bodies x 3,000 steps")
    parser.add_argument("--measure", nargs=3, metavar=("PATH", "DIR", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        measure(args.measure[0], Path(args.measure[1]), args.metrics_window, Path(args.measure[2]))
        return 0
    bodies, steps = (4, 3_000) if args.quick else (args.bodies, args.steps)
    work = Path(tempfile.mkdtemp(prefix="scoring_memory_"))
    try:
        rows = record(work / "run", bodies, steps, args.window, args.seed)
        disk = sum(p.stat().st_size for p in (work / "run").rglob("*") if p.is_file()) / 2**20
        print(json.dumps({"name": "recording", "bodies": bodies, "steps": steps, "rows": rows,
                          "disk_mb": round(disk, 1), "reference_mb": round(rows * BYTES_PER_ROW / 2**20, 1)}),
              flush=True)
        summaries = {}
        for path in ("old", "new"):
            out = work / f"{path}.json"
            subprocess.run([sys.executable, __file__, "--metrics-window", str(args.metrics_window), "--measure", path,
                            str(work / "run"), str(out)], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
            result = json.loads(out.read_text())
            print(json.dumps(result["figures"]), flush=True)
            summaries[path] = result["summary"]
        print(json.dumps({"name": "same_summary", "value": summaries["old"] == summaries["new"]}), flush=True)
    finally:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
