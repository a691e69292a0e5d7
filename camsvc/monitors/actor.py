"""The monitors actor (root child ``monitors``): runs each watcher as one task of its nursery."""

from __future__ import annotations

import attrs
import trio

from .health_watch import HealthWatcher
from .loop_lag import LoopLagMonitor
from .sampler import MetricsSampler


@attrs.define(eq=False)
class Monitors:
    lag: LoopLagMonitor
    sampler: MetricsSampler
    health_watch: HealthWatcher

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.lag.run)
            await nursery.start(self.sampler.run)
            await nursery.start(self.health_watch.run)
            task_status.started()
