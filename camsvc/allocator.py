"""Bound glibc's malloc arenas: a long-running service with a worker-thread pool must not grow them.

glibc gives each thread that meets lock contention its own arena, up to 8 per core, and returns little
of an arena's freed memory to the system. camsvc's blocking work (SQLite, file scans, stat) runs on
trio's worker threads, so under load RSS crept up while the Python heap stayed flat (docs/soak.md has
the measurement). Two arenas cap that at a negligible cost in lock contention: the GIL serialises most
allocation anyway. An explicit ``MALLOC_ARENA_MAX`` in the environment wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

#: glibc's mallopt parameter number for the arena limit (malloc.h)
M_ARENA_MAX = -8
ARENAS = 2


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap malloc arenas (call before threads start); False when not glibc or already set by the environment."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
