"""Memory benchmark of the monitor: a 10M body-step recording in constant memory.

Records synthetic streams (no environment: the point is the recorder) of ``--bodies`` bodies for
``--steps`` world steps each (default 100 bodies x 100,000 steps = 10M body-steps, one row each),
with the clock-jump pattern of real deaths: every body dies now and then and its world's clock
jumps over a 100-step respawn delay, which the monitor fills with dead rows. Regime and shift labels
come from Shiftlands-v0's schedule.

Prints one JSON object per line:

* ``{"name": "sample", ...}`` every 1M body-steps: the process's resident memory now (``rss_mb``,
  VmRSS from /proc/self/status) and at its peak (``peak_rss_mb``, ``getrusage``), side by side
  with ``reference_mb``: the resident memory of keeping the same rows in memory instead, as numpy
  columns with the monitor's types (42 bytes a row with four vitals). The reference is computed,
  not measured: the RSS at the first sample plus ``rows * 42`` bytes, a lower bound for any
  in-memory recorder (a Python list of per-step records takes several times more). Also the rows
  so far and the size of the chunk files on disk. The first sample comes after the first chunk
  files were written, so it includes the one-time cost of pyarrow's first write (its memory pool
  and compressor, about 60 MB); what matters is that RSS stays flat after it.
* ``{"name": "result", ...}``: growth of RSS from the first to the last sample against the
  reference's growth, rows, disk size, bytes per row on disk, wall time and body-steps per second.

Usage::

    python benchmarks/monitor_memory.py                  # 100 bodies x 100k steps, ~10 s of CPU
    python benchmarks/monitor_memory.py --bodies 10 --steps 1000000
    python benchmarks/monitor_memory.py --window 100     # per-window records
    python benchmarks/monitor_memory.py --quick          # smoke run (~2 s, mostly imports)
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet  # noqa: F401  (loaded before the first sample: RSS growth is the recording's)

from openworld.registry import load_world_spec
from openworld.scoring.monitor import DEFAULT_CHUNK_ROWS, Monitor
from openworld.world.shifts import ShiftSchedule

BYTES_PER_ROW = 4 + 8 + 1 + 1 + 4 + 4 * 4 + 4 + 4  # body, t, alive, died, wellbeing, 4 vitals, regime, shift
SAMPLE_EVERY = 1_000_000  # body-steps
RESPAWN_DELAY = 100
DEATH_PROBABILITY = 1e-3  # per body and step: a death (and a clock jump) every ~1,000 steps


def rss_mb() -> float:
    """Resident memory now, in MiB (VmRSS); the peak if /proc is not there."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20  # KiB on Linux, bytes on macOS


def disk_mb(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bodies", type=int, default=100, help="bodies recorded at once (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=100_000, help="world steps per body (default: %(default)s)")
    parser.add_argument("--window", type=int, default=1, help="world steps per row (default: %(default)s)")
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS,
                        help="rows per chunk file (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="write the recording here and keep it")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 bodies x 4,000 steps")
    args = parser.parse_args(argv)
    bodies, steps = (10, 4_000) if args.quick else (args.bodies, args.steps)
    chunk_rows = 4096 if args.quick else args.chunk_rows
    sample_every = 10_000 if args.quick else SAMPLE_EVERY

    rng = np.random.default_rng(args.seed)
    # A pool of synthetic vitals, cycled through, so that generating data costs little next to recording.
    pool = rng.uniform(0.2, 1.0, size=(64, bodies, 4)).astype(np.float32)
    deaths = rng.random((1024, bodies)) < DEATH_PROBABILITY
    schedule = ShiftSchedule(load_world_spec("Shiftlands-v0"))
    directory = args.keep or Path(tempfile.mkdtemp(prefix="monitor_memory_"))
    monitor = Monitor(directory, schedule, bodies, window=args.window, chunk_rows=chunk_rows,
                      metadata={"world": "Shiftlands-v0", "agent": "synthetic", "seed": args.seed})
    clock = np.zeros(bodies, np.int64)
    alive = np.ones(bodies, bool)
    monitor.start(clock)
    first: dict[str, float] | None = None
    start = time.perf_counter()
    body_steps = 0
    for step in range(steps):
        clock += np.where(alive, 1, RESPAWN_DELAY)  # a body that died comes back after the delay: a jump
        died = deaths[step % len(deaths)] & alive
        alive = ~died
        monitor.record(clock, alive, pool[step % len(pool)], died)
        body_steps += bodies
        if body_steps % sample_every < bodies:
            now = {"rss_mb": rss_mb(), "rows": monitor.rows}
            first = first or now
            reference = first["rss_mb"] + (now["rows"] - first["rows"]) * BYTES_PER_ROW / 2**20
            print(json.dumps({"name": "sample", "body_steps": body_steps, "rows": monitor.rows,
                              "rss_mb": round(now["rss_mb"], 1), "peak_rss_mb": round(peak_rss_mb(), 1),
                              "reference_mb": round(reference, 1), "disk_mb": round(disk_mb(directory), 2)}),
                  flush=True)
    monitor.close()
    seconds = time.perf_counter() - start
    assert first is not None, "no sample: raise --steps"
    size = disk_mb(directory)
    print(json.dumps({
        "name": "result", "bodies": bodies, "steps": steps, "window": args.window, "body_steps": body_steps,
        "rows": monitor.rows, "rss_growth_mb": round(rss_mb() - first["rss_mb"], 1),
        "reference_growth_mb": round((monitor.rows - first["rows"]) * BYTES_PER_ROW / 2**20, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1), "disk_mb": round(size, 2),
        "disk_bytes_per_row": round(size * 2**20 / max(monitor.rows, 1), 2), "seconds": round(seconds, 1),
        "body_steps_per_s": round(body_steps / seconds)}), flush=True)
    if args.keep is None:
        shutil.rmtree(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
