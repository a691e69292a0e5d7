"""``system_health_update`` (spec §5): published when the overall health status changes.

Health is computed from snapshots (camsvc.health); this watcher looks at it every
second and at once when the supervisor reports an event, and publishes only
changes of the overall status.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from ..events import EventBus
from ..health import Health

log = logging.getLogger("camsvc.monitors.health")


def health_event(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": doc["status"],
        "components": {name: c.get("status") for name, c in doc["components"].items()},
        "timestamp": doc["timestamp"],
    }


class HealthWatcher:
    def __init__(self, health: Health, bus: EventBus, interval: float = 1.0) -> None:
        self.health = health
        self.bus = bus
        self.interval = interval
        self.status: str | None = None
        self._poke = trio.Event()

    def poke(self, *_: object) -> None:
        """Supervisor listener: look again now."""
        self._poke.set()

    def check(self) -> None:
        doc = self.health.system()
        status = doc["status"]
        if self.status is not None and status != self.status:
            log.info("overall health changed", extra={"from": self.status, "to": status})
            self.bus.publish("system_health_update", health_event(doc))
        self.status = status

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            try:
                self.check()
            except Exception:  # a broken check must not stop the watcher
                log.exception("health check failed")
            with trio.move_on_after(self.interval):
                await self._poke.wait()
            self._poke = trio.Event()
