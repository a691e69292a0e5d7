"""Event-loop lag monitor: how late a short sleep wakes up is how long something blocked the loop."""

from __future__ import annotations

import collections

import trio


class LoopLagMonitor:
    def __init__(self, interval: float = 0.05, window: int = 200) -> None:
        self.interval = interval
        #: recent lags in seconds (window × interval ≈ the last 10 s)
        self._recent: collections.deque[float] = collections.deque(maxlen=window)
        self.max_seen = 0.0

    @property
    def current_ms(self) -> float:
        return round(1000 * self._recent[-1], 3) if self._recent else 0.0

    @property
    def recent_max_ms(self) -> float:
        return round(1000 * max(self._recent), 3) if self._recent else 0.0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            before = trio.current_time()
            await trio.sleep(self.interval)
            lag = max(0.0, trio.current_time() - before - self.interval)
            self._recent.append(lag)
            self.max_seen = max(self.max_seen, lag)
