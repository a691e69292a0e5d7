"""Event-loop lag monitor: how long each scheduler pass keeps the loop from looking at I/O.

A trio instrument times every batch of task steps, from the end of one I/O wait to the
start of the next: that is how late any socket event or timer can be served, so the
longest batch is the longest hold by a handler or periodic task. Two clocks:

- ``lag``: wall time, what a client feels (it includes the machine descheduling us);
- ``hold``: this thread's CPU time, what our own code spent (the same on a busy box).

It replaces a 20 Hz sleep probe, which cost idle CPU, and only saw a hold when the hold
happened to cover its wake-up. Readers get the maxima of the last ~``window`` seconds.
"""

from __future__ import annotations

import collections
import time

import trio

from ..instruments import keep_installed


class _Window:
    """Per-second maxima of the last ``seconds`` seconds (one slot per second that had a batch)."""

    __slots__ = ("_slots",)

    def __init__(self, seconds: int) -> None:
        #: [second, largest value in it]
        self._slots: collections.deque[list[float]] = collections.deque(maxlen=seconds)

    def add(self, second: int, value: float) -> None:
        slots = self._slots
        if slots and slots[-1][0] == second:
            if value > slots[-1][1]:
                slots[-1][1] = value
        else:
            slots.append([second, value])

    def recent_max(self, now: float, seconds: int) -> float:
        return max((value for second, value in self._slots if second > now - seconds), default=0.0)


class LoopLagMonitor(trio.abc.Instrument):
    def __init__(self, window: int = 10) -> None:
        self.window = window
        self._lag = _Window(window)
        self._hold = _Window(window)
        #: clocks at the end of the last I/O wait (None: no batch open)
        self._started: tuple[float, float] | None = None
        self.last = 0.0
        self.max_seen = 0.0
        self.max_hold_seen = 0.0

    # --------------------------------------------------------- trio.abc.Instrument

    def after_io_wait(self, timeout: float) -> None:
        self._started = (time.perf_counter(), time.thread_time())

    def before_io_wait(self, timeout: float) -> None:
        started = self._started
        if started is None:
            return
        now = time.perf_counter()
        lag = now - started[0]
        hold = time.thread_time() - started[1]
        second = int(now)
        self._lag.add(second, lag)
        self._hold.add(second, hold)
        self.last = lag
        if lag > self.max_seen:
            self.max_seen = lag
        if hold > self.max_hold_seen:
            self.max_hold_seen = hold

    # ------------------------------------------------------------------- readers

    @property
    def current_ms(self) -> float:
        return round(1000 * self.last, 3)

    @property
    def recent_max_ms(self) -> float:
        """Longest batch (wall time) of the last ~window seconds."""
        return round(1000 * self._lag.recent_max(time.perf_counter(), self.window), 3)

    @property
    def recent_max_hold_ms(self) -> float:
        """Most CPU time one batch took in the last ~window seconds."""
        return round(1000 * self._hold.recent_max(time.perf_counter(), self.window), 3)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Watch the loop while this task runs (the instrument goes with it)."""
        self._started = None
        await keep_installed(self, task_status=task_status)
