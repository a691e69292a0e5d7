"""Opt-in memory tracing for leak hunts (``CAMSVC_TRACEMALLOC=<file>``; the soak's ``--trace-memory``).

A daemon thread takes a tracemalloc snapshot every ``CAMSVC_TRACEMALLOC_INTERVAL`` seconds (default 60)
and appends to the file the allocation sites that grew most since the first snapshot, with the traced
total beside the process's RSS: a site that keeps growing is a leak of ours; RSS growing while the traced
total stays flat is the allocator (fragmentation), not Python objects. Off by default: tracing costs CPU
and memory on every allocation.
"""

from __future__ import annotations

import linecache
import os
import threading
import time
import tracemalloc
from pathlib import Path

ENV = "CAMSVC_TRACEMALLOC"
INTERVAL_ENV = "CAMSVC_TRACEMALLOC_INTERVAL"
TOP = 25
FRAMES = 8


def start_from_env() -> bool:
    """Start tracing when the environment asks for it; True when it did."""
    target = os.environ.get(ENV)
    if not target:
        return False
    interval = float(os.environ.get(INTERVAL_ENV, "60"))
    tracemalloc.start(FRAMES)
    thread = threading.Thread(
        target=_dump_forever, args=(Path(target), interval), name="memtrace", daemon=True
    )
    thread.start()
    return True


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return float("nan")


def _dump_forever(target: Path, interval: float) -> None:
    # our own bookkeeping: the snapshots, and the source lines formatting them reads into linecache
    ignore = [tracemalloc.Filter(False, f) for f in (tracemalloc.__file__, __file__, linecache.__file__)]
    first: tracemalloc.Snapshot | None = None
    began = time.monotonic()
    while True:
        time.sleep(interval)
        snapshot = tracemalloc.take_snapshot().filter_traces(ignore)
        traced = sum(stat.size for stat in snapshot.statistics("filename")) / 1e6
        lines = [f"=== t={time.monotonic() - began:.0f}s traced={traced:.2f}MB rss={_rss_mb():.1f}MB"]
        if first is None:
            first = snapshot
        else:
            for stat in snapshot.compare_to(first, "traceback")[:TOP]:
                lines.append(
                    f"{stat.size_diff / 1e3:+.1f} kB {stat.count_diff:+d} blocks (now {stat.size / 1e3:.1f} kB)"
                )
                lines.extend(f"    {line}" for line in stat.traceback.format()[-2 * FRAMES :])
        with target.open("a") as out:
            out.write("\n".join(lines) + "\n")
