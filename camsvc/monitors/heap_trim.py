"""The periodic heap trim: hands glibc's free pages back to the system (see :mod:`camsvc.allocator`).

Without it a months-long process keeps the high-water mark of every burst: in a 10-minute soak one
``malloc_trim`` returned ~4 MB that glibc held free. The trim runs on a worker thread, so the event
loop is never the one walking the heap (it may wait on the arena's lock for a malloc meanwhile): a
trim that hands back 26 MB takes ~12 ms, the next ones ~2 ms, once a minute.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from .. import allocator


class HeapTrimmer:
    def __init__(self, interval: float = 60.0, trim: Callable[[], bool] = allocator.trim) -> None:
        self.interval = interval
        self._trim = trim
        #: trims that returned memory, for tests and the curious
        self.returned = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await trio.sleep(self.interval)
            if await trio.to_thread.run_sync(self._trim):
                self.returned += 1
