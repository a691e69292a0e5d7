"""The monitors actor (root child ``monitors``): runs each watcher, and the heap trim, as one task of its nursery."""

from __future__ import annotations

import attrs
import trio

from .health_watch import HealthWatcher
from .heap_trim import HeapTrimmer
from .loop_lag import LoopLagMonitor
from .sampler import MetricsSampler


@attrs.define(eq=False)
class Monitors:
    lag: LoopLagMonitor
    sampler: MetricsSampler
    health_watch: HealthWatcher
    heap_trim: HeapTrimmer

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.lag.run)
            await nursery.start(self.sampler.run)
            await nursery.start(self.health_watch.run)
            await nursery.start(self.heap_trim.run)
            task_status.started()
