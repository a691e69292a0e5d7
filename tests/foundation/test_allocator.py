"""camsvc.allocator: each glibc setting really does what it is there for (glibc only)."""

from __future__ import annotations

import platform
import re
import subprocess
import sys

import pytest
import trio

from camsvc.monitors.heap_trim import HeapTrimmer

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="needs glibc (mallopt, malloc_info)")

# glibc's own report of its heaps and mappings, printed by the probes below
MALLOC_INFO = r"""
import ctypes, ctypes.util, tempfile
def malloc_info():
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.fdopen.restype = ctypes.c_void_p
    with tempfile.TemporaryFile() as f:
        stream = libc.fdopen(os.dup(f.fileno()), b"w")
        libc.malloc_info(0, ctypes.c_void_p(stream))
        libc.fclose(ctypes.c_void_p(stream))
        f.seek(0)
        return f.read().decode()
"""

# Many threads allocating at once, then the count of heaps (arenas) glibc made.
ARENAS_PROBE = r"""
import os, sys, threading
if sys.argv[1] == "configured":
    from camsvc.allocator import configure
    assert configure()
barrier = threading.Barrier(16)
def work():
    barrier.wait()
    for _ in range(2000):
        [bytearray(512) for _ in range(50)]
threads = [threading.Thread(target=work) for _ in range(16)]
for t in threads: t.start()
for t in threads: t.join()
""" + MALLOC_INFO + "print(malloc_info())"

# A 4 MiB block freed (glibc then raises its threshold past it), then a 300 kB block kept: from where?
THRESHOLD_PROBE = r"""
import os, sys
if sys.argv[1] == "configured":
    from camsvc.allocator import configure
    assert configure()
big = bytearray(4 << 20)
del big
kept = bytearray(300_000)
""" + MALLOC_INFO + "print(malloc_info())"

# 60 MB of small blocks freed while the last one pins the heap's top, so only a trim can return them.
TRIM_PROBE = r"""
import sys
from camsvc.allocator import trim
def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
blocks = [bytearray(2000) for _ in range(30_000)]
pin = bytearray(2000)
del blocks
before = rss_kb()
returned = trim()
print(before, rss_kb(), returned)
"""


def _run(probe: str, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin"}  # no MALLOC_* settings from the caller's environment
    return subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True, env=env, timeout=60
    ).stdout


@glibc_only
def test_two_arenas_bound_what_threads_create() -> None:
    def heaps(mode: str) -> int:
        return len(re.findall(r"<heap nr=", _run(ARENAS_PROBE, mode)))

    assert heaps("configured") <= 2
    assert heaps("default") > 2  # the probe does make glibc create more without the cap


@glibc_only
def test_a_fixed_mmap_threshold_keeps_big_blocks_out_of_the_heap() -> None:
    def mmapped_bytes(mode: str) -> int:
        found = re.search(r'<total type="mmap" count="\d+" size="(\d+)"', _run(THRESHOLD_PROBE, mode))
        assert found is not None
        return int(found.group(1))

    # Without the fixed threshold, glibc's moving one put the kept block in the heap.
    assert mmapped_bytes("configured") - mmapped_bytes("default") >= 300_000


@glibc_only
def test_trim_returns_free_heap_pages() -> None:
    before, after, returned = _run(TRIM_PROBE).split()
    assert returned == "True"
    assert int(before) - int(after) > 30_000  # kB: most of the 60 MB freed


@pytest.mark.parametrize("finds", [True, False])
async def test_the_trimmer_trims_again_and_again_and_counts_what_returned_memory(finds: bool) -> None:
    calls = 0
    fourth = trio.Event()
    token = trio.lowlevel.current_trio_token()

    def fake_trim() -> bool:  # runs on a worker thread, like the real one
        nonlocal calls
        calls += 1
        if calls == 4:
            trio.from_thread.run_sync(fourth.set, trio_token=token)
        return finds

    trimmer = HeapTrimmer(interval=0.001, trim=fake_trim)
    async with trio.open_nursery() as nursery:
        await nursery.start(trimmer.run)
        with trio.fail_after(10):
            await fourth.wait()
        nursery.cancel_scope.cancel()
    assert calls >= 4
    if finds:
        assert trimmer.returned >= 3
    else:
        assert trimmer.returned == 0
