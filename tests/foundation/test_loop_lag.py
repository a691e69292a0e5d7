"""The loop-lag monitor times scheduler passes: a task that keeps the loop busy is what it reports."""

from __future__ import annotations

import time

import trio
import trio.testing

from camsvc.monitors.loop_lag import LoopLagMonitor


async def test_a_blocking_task_is_reported_as_lag_and_a_busy_one_as_hold() -> None:
    monitor = LoopLagMonitor()
    async with trio.open_nursery() as nursery:
        await nursery.start(monitor.run)
        await trio.testing.wait_all_tasks_blocked()

        time.sleep(0.06)  # noqa: ASYNC251 - the point: block the loop (wall time, hardly any CPU)
        await trio.lowlevel.checkpoint()
        await trio.lowlevel.checkpoint()
        assert monitor.recent_max_ms >= 60
        assert monitor.max_seen >= 0.06

        spent = time.thread_time()
        while time.thread_time() - spent < 0.06:  # holds the loop on CPU
            pass
        await trio.lowlevel.checkpoint()
        await trio.lowlevel.checkpoint()
        assert monitor.recent_max_hold_ms >= 60
        nursery.cancel_scope.cancel()
    # the instrument leaves with its task: a second monitor can be added and removed cleanly
    async with trio.open_nursery() as nursery:
        await nursery.start(LoopLagMonitor().run)
        nursery.cancel_scope.cancel()
