"""Keep glibc's malloc from holding memory a long-running service no longer uses.

camsvc's Python heap stays flat under load (docs/soak.md has the measurements), yet RSS crept up:
glibc kept freed memory. Three settings bound that, each cheap:

- **Two arenas.** glibc gives each thread that meets lock contention its own arena, up to 8 per core,
  and returns little of an arena's freed memory. camsvc's blocking work (SQLite, file scans, stat) runs
  on trio's worker threads; two arenas cost negligible contention, as the GIL serialises most
  allocation anyway.
- **A fixed mmap threshold.** By default glibc raises the threshold each time a large block is freed
  (up to 32 MiB), after which big transient buffers (a long listing's JSON, a file chunk) come from the
  heap and pin it. A fixed threshold keeps them in their own mappings, given back on free.
- **A periodic trim** (:func:`trim`, run by the monitors room): ``malloc_trim`` hands back free pages
  inside the heap, which glibc otherwise keeps until the heap's top is free.

Settings already given in the environment (``MALLOC_ARENA_MAX``, ``MALLOC_MMAP_THRESHOLD_``) win.
Elsewhere than glibc (musl has no ``mallopt``) all of this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Any

# mallopt parameter numbers (glibc's malloc.h)
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
ARENAS = 2
#: glibc's own starting value; blocks this big or bigger get their own mapping
MMAP_THRESHOLD = 128 * 1024


def _libc() -> Any | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):  # not glibc
        return None
    return libc


_LIBC = _libc()


def configure(arenas: int = ARENAS, mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """Cap arenas and fix the mmap threshold (call before threads start); False when not glibc."""
    if _LIBC is None:
        return False
    if "MALLOC_ARENA_MAX" not in os.environ:
        _LIBC.mallopt(M_ARENA_MAX, arenas)
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        _LIBC.mallopt(M_MMAP_THRESHOLD, mmap_threshold)
    return True


def trim() -> bool:
    """Give free heap pages back to the system; True when some were. Blocking: call it on a worker thread."""
    if _LIBC is None:
        return False
    return bool(_LIBC.malloc_trim(0))
