"""The monitors actor (root child ``monitors``): runs each watcher as one task of its nursery."""

from __future__ import annotations

import logging

import attrs
import trio

from ..security.api_keys import ApiKeyStore
from .health_watch import HealthWatcher
from .loop_lag import LoopLagMonitor
from .sampler import MetricsSampler

log = logging.getLogger("camsvc.monitors")

#: how soon a key revoked by ``camsvc keys revoke`` in another process stops working here
KEY_REFRESH_INTERVAL = 1.0


@attrs.define(eq=False)
class Monitors:
    lag: LoopLagMonitor
    sampler: MetricsSampler
    health_watch: HealthWatcher
    #: the API keys to reload when another process changes them; None without authentication
    keys: ApiKeyStore | None = None

    async def _refresh_keys(self, keys: ApiKeyStore) -> None:
        while True:
            await trio.sleep(KEY_REFRESH_INTERVAL)
            try:
                await keys.refresh_if_changed()
            except Exception:  # the database may be briefly locked by the CLI; try again next time
                log.exception("API key refresh failed")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.lag.run)
            await nursery.start(self.sampler.run)
            await nursery.start(self.health_watch.run)
            if self.keys is not None:
                nursery.start_soon(self._refresh_keys, self.keys)
            task_status.started()
