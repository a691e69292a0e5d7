"""Disk usage of the media directories and the storage gate (warn / block thresholds).

At ``block_percent`` new recordings and snapshots are refused *before* any file
is created (``InsufficientStorage`` → -32007), so a full disk never leaves a
partial file behind; at ``warn_percent`` they still work but are flagged. A
recording already running when the disk crosses ``block_percent`` is stopped by
its owner (``Recordings``), which waits on :meth:`StorageGate.wait_sample`.
The ``storage`` health check reads the same numbers: degraded at warn,
unhealthy at block.

Usage is read off the event loop: ``statvfs`` on a hung mount (dead NFS server,
failing disk) blocks in the kernel, so one sample is taken on a worker thread,
bounded by ``timeout`` and abandoned after it. At most one such thread exists at
a time: while one is stuck, no further one is started and the sample says the
disk is not answering (health unhealthy, new recordings refused with -32050).
The ``housekeeping`` child samples every ``interval``; the gate and health read
the latest sample, and a check finding it older than ``interval`` takes a fresh one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence

import attrs
import trio

from ..errors import DependencyFailed, InsufficientStorage
from ..health import DEGRADED, HEALTHY, UNHEALTHY, ComponentHealth


@attrs.frozen
class DiskUsage:
    path: str
    total: int
    used: int
    available: int

    @property
    def usage_percentage(self) -> float:
        return 100.0 * self.used / self.total if self.total else 100.0


def _existing_ancestor(path: str) -> str:
    """statvfs needs an existing path; a media dir not created yet lives on its parent's filesystem."""
    p = os.path.abspath(path)
    while not os.path.exists(p):
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    return p


def disk_usage(path: str) -> DiskUsage:
    """Bytes of the filesystem holding ``path``: used counts blocks taken (including root-reserved ones)."""
    where = _existing_ancestor(path)
    st = os.statvfs(where)
    total = st.f_blocks * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    available = st.f_bavail * st.f_frsize
    return DiskUsage(where, total, used, available)


@attrs.frozen
class DiskSample:
    """One reading of every media directory's filesystem (or why there is none)."""

    #: directory → usage; empty when the reading failed
    usages: Mapping[str, DiskUsage]
    #: trio.current_time() when the reading finished (or was given up)
    taken_at: float
    error: str | None = None

    def fullest(self) -> DiskUsage | None:
        return max(self.usages.values(), key=lambda u: u.usage_percentage, default=None)


@attrs.frozen
class GateResult:
    usage: DiskUsage
    #: at or over warn_percent (still allowed)
    warning: bool


class StorageGate:
    """Thresholds over the media filesystems, from samples taken on a worker thread."""

    def __init__(
        self,
        directories: Sequence[str],
        *,
        warn_percent: float,
        block_percent: float,
        usage: Callable[[str], DiskUsage] = disk_usage,
        interval: float = 5.0,
        timeout: float = 5.0,
    ) -> None:
        self.directories = list(directories)
        self.warn_percent = warn_percent
        self.block_percent = block_percent
        #: how often ``watch`` samples, and the age after which a check samples afresh
        self.interval = interval
        #: how long one sample may take before it is abandoned
        self.timeout = timeout
        self._usage = usage
        self._latest: DiskSample | None = None
        #: held while a worker thread is inside statvfs (released by that thread, however late)
        self._in_flight = threading.Lock()
        self._sampled = trio.Event()
        #: set when the reading in progress ends (None: none in progress)
        self._reading: trio.Event | None = None

    # ------------------------------------------------------------------ sampling

    @property
    def latest(self) -> DiskSample | None:
        return self._latest

    def _measure(self) -> dict[str, DiskUsage]:
        try:
            return {d: self._usage(d) for d in self.directories}
        finally:
            self._in_flight.release()

    async def sample(self) -> DiskSample:
        """Take one reading on a worker thread, bounded by ``timeout``; it becomes the latest sample."""
        while self._reading is not None:  # another task is reading now: share its result
            started_at = trio.current_time()
            await self._reading.wait()
            if self._latest is not None and self._latest.taken_at >= started_at:
                return self._latest
        if not self._in_flight.acquire(blocking=False):
            # An abandoned reading's thread is still stuck in the kernel: starting another would
            # only pile up threads on the same dead mount.
            return self._record({}, "disk usage not answering (an earlier reading is still pending)")
        self._reading = reading = trio.Event()
        try:
            with trio.move_on_after(self.timeout):
                usages = await trio.to_thread.run_sync(self._measure, abandon_on_cancel=True)
                return self._record(usages, None)
            return self._record({}, f"disk usage not answering after {self.timeout:g}s")
        except OSError as exc:
            return self._record({}, f"cannot read disk usage: {exc.strerror or exc}")
        finally:
            self._reading = None
            reading.set()

    def _record(self, usages: Mapping[str, DiskUsage], error: str | None) -> DiskSample:
        self._latest = sample = DiskSample(dict(usages), trio.current_time(), error)
        sampled, self._sampled = self._sampled, trio.Event()
        sampled.set()
        return sample

    async def wait_sample(self) -> DiskSample:
        """Wait for the next sample (the storage watch of running recordings)."""
        await self._sampled.wait()
        assert self._latest is not None
        return self._latest

    async def watch(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Sample now (started once it is taken, or given up after ``timeout``), then every ``interval``."""
        await self.sample()
        task_status.started()
        while True:
            await trio.sleep(self.interval)
            await self.sample()

    async def _current(self) -> DiskSample:
        latest = self._latest
        if latest is None or trio.current_time() - latest.taken_at >= self.interval:
            latest = await self.sample()
        return latest

    async def usage(self, directory: str | None = None) -> DiskUsage:
        """``directory``'s filesystem, else the fullest of them (they may be on different disks)."""
        sample = await self._current()
        usage = sample.usages.get(directory) if directory is not None else sample.fullest()
        if usage is None:
            raise DependencyFailed(
                "storage", sample.error or "disk usage unknown", reason="storage_unavailable"
            )
        return usage

    # ------------------------------------------------------------------ decisions

    def blocks(self, usage: DiskUsage) -> bool:
        return usage.usage_percentage >= self.block_percent

    async def check(self, directory: str | None = None) -> GateResult:
        """Raise InsufficientStorage at/over block_percent; otherwise say whether we are past warn."""
        usage = await self.usage(directory)
        pct = usage.usage_percentage
        if pct >= self.block_percent:
            raise InsufficientStorage(pct, self.block_percent)
        return GateResult(usage, pct >= self.warn_percent)

    def health(self) -> ComponentHealth:
        sample = self._latest
        if sample is None:
            return ComponentHealth(DEGRADED, {"detail": "disk usage not sampled yet"})
        usage = sample.fullest()
        if usage is None:
            return ComponentHealth(UNHEALTHY, {"error": sample.error})
        pct = usage.usage_percentage
        status = UNHEALTHY if pct >= self.block_percent else DEGRADED if pct >= self.warn_percent else HEALTHY
        return ComponentHealth(
            status,
            {
                "usage_percentage": round(pct, 2),
                "available_space": usage.available,
                "warn_percent": self.warn_percent,
                "block_percent": self.block_percent,
            },
        )
