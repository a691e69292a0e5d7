"""System metrics sampled in the background, so get_metrics and /metrics never block the loop.

psutil calls run on a worker thread every ``interval`` seconds; MediaMTX stream
counts are read through its gateway at the same pace; disk figures are the storage
gate's own sample (taken on its thread with a timeout, so a hung mount stalls no
one). Readers get the latest immutable :class:`Sample`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import attrs
import psutil  # type: ignore[import-untyped]
import trio

from ..errors import CamsvcError
from ..services import Services

log = logging.getLogger("camsvc.monitors.sampler")


@attrs.frozen
class Sample:
    taken_at: float = 0.0
    #: this process
    process_cpu_percent: float = 0.0
    process_memory_percent: float = 0.0
    process_rss_bytes: int = 0
    #: the whole machine
    cpu_percent: float = 0.0
    memory_percent: float = 0.0
    #: the filesystem holding recordings
    disk_percent: float = 0.0
    disk_total: int = 0
    disk_used: int = 0
    disk_free: int = 0
    #: from MediaMTX (None while it cannot be asked)
    active_streams: int | None = None
    total_readers: int | None = None


class MetricsSampler:
    def __init__(self, services: Services, interval: float = 5.0) -> None:
        self.services = services
        self.interval = interval
        self.latest = Sample()
        self._process = psutil.Process()

    def _disk(self) -> dict[str, Any]:
        sample = self.services.media.gate.latest
        usage = sample.usages.get(self.services.config.recording.dir) if sample is not None else None
        if usage is None:
            return {}
        return {
            "disk_percent": round(usage.usage_percentage, 1),
            "disk_total": usage.total,
            "disk_used": usage.used,
            "disk_free": usage.available,
        }

    def _sample_sync(self) -> dict[str, Any]:
        with self._process.oneshot():
            process = {
                "process_cpu_percent": self._process.cpu_percent(None),
                "process_memory_percent": round(self._process.memory_percent(), 2),
                "process_rss_bytes": self._process.memory_info().rss,
            }
        return {
            "taken_at": time.time(),
            "cpu_percent": psutil.cpu_percent(None),
            "memory_percent": psutil.virtual_memory().percent,
            **process,
        }

    async def _streams(self) -> dict[str, Any]:
        gateway = self.services.mediamtx
        try:
            gateway.ensure_available()
            paths = await gateway.list_runtime()
        except CamsvcError:
            return {}
        return {
            "active_streams": sum(1 for p in paths if p.ready),
            "total_readers": sum(int(p.readers) for p in paths),
        }

    async def sample(self) -> Sample:
        values = await trio.to_thread.run_sync(self._sample_sync)
        values.update(self._disk())
        values.update(await self._streams())
        self.latest = Sample(**values)
        return self.latest

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            try:
                await self.sample()
            except Exception:  # sampling is best effort; the next round tries again
                log.exception("metrics sampling failed")
            await trio.sleep(self.interval)
