"""camsvc.allocator: the arena cap really holds when many threads allocate at once (glibc only)."""

from __future__ import annotations

import platform
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="needs glibc (mallopt, malloc_info)"
)

# Many threads allocating at once, then glibc's own count of the heaps (arenas) it made.
PROBE = r"""
import ctypes, ctypes.util, os, sys, tempfile, threading
if sys.argv[1] == "capped":
    from camsvc.allocator import limit_arenas
    assert limit_arenas()
barrier = threading.Barrier(16)
def work():
    barrier.wait()
    for _ in range(2000):
        [bytearray(512) for _ in range(50)]
threads = [threading.Thread(target=work) for _ in range(16)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.fdopen.restype = ctypes.c_void_p
with tempfile.TemporaryFile() as f:
    stream = libc.fdopen(os.dup(f.fileno()), b"w")
    libc.malloc_info(0, ctypes.c_void_p(stream))
    libc.fclose(ctypes.c_void_p(stream))
    f.seek(0)
    sys.stdout.write(f.read().decode())
"""


def _heaps(mode: str) -> int:
    env = {"PATH": "/usr/bin:/bin"}  # no MALLOC_ARENA_MAX from the caller's environment
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, env=env, timeout=60
    ).stdout
    return len(re.findall(r"<heap nr=", out))


def test_the_cap_bounds_the_arenas_threads_create() -> None:
    assert _heaps("capped") <= 2
    assert _heaps("uncapped") > 2  # the probe does make glibc create more without the cap
