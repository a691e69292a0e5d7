"""The ``housekeeping`` root child: the storage watch and the retention cleanup.

It samples disk usage every ``storage.disk_check_interval`` (the gate, health and
running recordings read that sample) and runs the retention cleanup every
``storage.housekeeping_interval``. The cleanup deletes nothing unless an admin
enabled an age or size policy; with the default (manual, disabled) policy each
tick is a no-op.
"""

from __future__ import annotations

import logging

import attrs
import trio

from .disk import StorageGate
from .retention import Retention

log = logging.getLogger("camsvc.storage.housekeeping")


@attrs.define(eq=False)
class Housekeeping:
    retention: Retention
    gate: StorageGate
    interval: float
    runs: int = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.gate.watch)  # health has a sample once we are running
            task_status.started()
            while True:
                await trio.sleep(self.interval)
                await self.tick()

    async def tick(self) -> None:
        self.retention.refresh_listings()  # bounds how long an in-place rewrite can go unnoticed
        if not self.retention.policy.active:
            return
        try:
            await self.retention.cleanup()
        except OSError as exc:
            # A failing disk must not restart-loop the child; the next tick retries.
            log.warning("housekeeping cleanup failed", extra={"error": str(exc)})
        self.runs += 1
