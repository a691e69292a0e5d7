"""Opt-in memory tracing for leak hunts: tracemalloc growth and a census of what holds the memory.

**Growth** (``CAMSVC_TRACEMALLOC=<file>``; the soak's ``--trace-memory``).

A daemon thread takes a tracemalloc snapshot every ``CAMSVC_TRACEMALLOC_INTERVAL`` seconds (default 60)
and appends to the file the allocation sites that grew most since the first snapshot, with the traced
total beside the process's RSS: a site that keeps growing is a leak of ours; RSS growing while the traced
total stays flat is the allocator (fragmentation), not Python objects. Off by default: tracing costs CPU
and memory on every allocation.

**Census** (``CAMSVC_MEMCENSUS=<file>``; the soak's ``--census``). Cheap enough to leave on for a whole
soak: every ``CAMSVC_MEMCENSUS_INTERVAL`` seconds (default 60) one JSON line with RSS, pymalloc's block
count, glibc's bytes in use and free (``mallinfo2``), SQLite's own heap, and the count of every
GC-tracked type that is not frozen (and how many are). It tells apart the three kinds of growth
tracemalloc cannot: Python objects (blocks and type counts rise), C libraries (SQLite, glibc in-use rise
with blocks flat), and fragmentation (only glibc's free bytes rise).
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import gc
import json
import linecache
import os
import sys
import threading
import time
import tracemalloc
import types
from pathlib import Path
from typing import Any

ENV = "CAMSVC_TRACEMALLOC"
INTERVAL_ENV = "CAMSVC_TRACEMALLOC_INTERVAL"
CENSUS_ENV = "CAMSVC_MEMCENSUS"
CENSUS_INTERVAL_ENV = "CAMSVC_MEMCENSUS_INTERVAL"
#: comma-separated type names whose holders each census line also lists (see :func:`holders`)
HOLDERS_ENV = "CAMSVC_MEMCENSUS_HOLDERS"
#: "1": each census line also counts the garbage a thaw would reclaim, by type (see :func:`frozen_garbage`)
GARBAGE_ENV = "CAMSVC_MEMCENSUS_GARBAGE"
TOP = 25
FRAMES = 8


def start_from_env() -> bool:
    """Start tracing and/or the census when the environment asks for them; True when it did."""
    started = False
    target = os.environ.get(ENV)
    if target:
        tracemalloc.start(FRAMES)
        interval = float(os.environ.get(INTERVAL_ENV, "60"))
        threading.Thread(
            target=_dump_forever, args=(Path(target), interval), name="memtrace", daemon=True
        ).start()
        started = True
    target = os.environ.get(CENSUS_ENV)
    if target:
        interval = float(os.environ.get(CENSUS_INTERVAL_ENV, "60"))
        threading.Thread(
            target=_census_forever, args=(Path(target), interval), name="memcensus", daemon=True
        ).start()
        started = True
    return started


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


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                     "keepcost")  # fmt: skip
    ]


def _c_function(library: str | None, name: str, restype: Any) -> Any | None:
    try:
        function = getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = []
    function.restype = restype
    return function


def census() -> dict[str, Any]:
    """One sample: RSS, pymalloc blocks, glibc heap, SQLite heap, GC-tracked objects by type."""
    import _sqlite3  # the extension links the SQLite library whose counter we read

    mallinfo2 = _c_function(ctypes.util.find_library("c"), "mallinfo2", _MallInfo2)
    sqlite_used = _c_function(_sqlite3.__file__, "sqlite3_memory_used", ctypes.c_int64)
    sample: dict[str, Any] = {"rss_mb": round(_rss_mb(), 2), "pymalloc_blocks": sys.getallocatedblocks()}
    if mallinfo2 is not None:
        info = mallinfo2()
        sample["malloc_in_use_mb"] = round(info.uordblks / 1e6, 2)
        sample["malloc_free_mb"] = round(info.fordblks / 1e6, 2)
        sample["malloc_mmapped_mb"] = round(info.hblkhd / 1e6, 2)
    if sqlite_used is not None:
        sample["sqlite_mb"] = round(sqlite_used() / 1e6, 3)
    # Only what is not frozen (camsvc/gc_policy.py freezes start-up, and what lived through an age pass too
    # big to run): thawing to look would freeze everything again after, garbage included.
    counts = _by_type(gc.get_objects())
    sample["gc_frozen"] = gc.get_freeze_count()
    sample["gc_objects"] = sum(counts.values())
    sample["types"] = counts
    return sample


def _by_type(objects: list[Any]) -> dict[str, int]:
    """Counts by type name, most numerous first."""
    return dict(collections.Counter(type(obj).__qualname__ for obj in objects).most_common())


def frozen_garbage() -> dict[str, int]:
    """Unreachable objects by type, found by a full pass over every object, frozen ones included.

    What camsvc/gc_policy.py's thaw would reclaim: cycles that became garbage after a freeze had taken
    them. Collects them too (this *is* a thaw), so a census that asks for it changes what it measures.
    """
    gc.unfreeze()
    flags = gc.get_debug()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        counts = _by_type(gc.garbage)
        gc.garbage.clear()
    finally:
        gc.set_debug(flags)
        gc.collect()
        gc.freeze()
    return counts


def holders(type_name: str, *, samples: int = 5, depth: int = 3) -> list[list[str]]:
    """For a few live objects of the named type, what holds them: chains of referrer descriptions.

    A dict is described by what owns it (an instance's ``__dict__``, a module), so a chain reads like
    ``RecordingService._locks -> dict -> Lock``.
    """
    found = [o for o in gc.get_objects() if type(o).__qualname__ == type_name][-samples:]  # the newest unfrozen
    return [_chain(o, depth) for o in found]


def _chain(obj: object, depth: int) -> list[str]:
    chain = [type(obj).__qualname__]
    for _ in range(depth):
        referrers = [r for r in gc.get_referrers(obj) if not isinstance(r, list | types.FrameType)]
        if not referrers:
            break
        obj = referrers[0]
        chain.append(_describe(obj))
    return chain


def _describe(obj: object) -> str:
    if isinstance(obj, dict):
        for owner in gc.get_referrers(obj):
            if getattr(owner, "__dict__", None) is obj:
                return f"{type(owner).__qualname__}.__dict__"
        return f"dict({', '.join(map(str, list(obj)[:3]))}{', ...' if len(obj) > 3 else ''})"
    return type(obj).__qualname__


def _census_forever(target: Path, interval: float) -> None:
    began = time.monotonic()
    watched = [name for name in os.environ.get(HOLDERS_ENV, "").split(",") if name]
    garbage = os.environ.get(GARBAGE_ENV) == "1"
    while True:
        sample = {"t": round(time.monotonic() - began, 1), **census()}
        if watched:
            sample["holders"] = {name: holders(name) for name in watched}
        if garbage:
            sample["frozen_garbage"] = frozen_garbage()
        with target.open("a") as out:
            out.write(json.dumps(sample) + "\n")
        time.sleep(interval)
