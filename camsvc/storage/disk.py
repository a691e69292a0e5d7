"""Disk usage of the media directories and the storage gate (warn / block thresholds).

At ``block_percent`` new recordings and snapshots are refused *before* any file
is created (``InsufficientStorage`` → -32007), so a full disk never leaves a
partial file behind; at ``warn_percent`` they still work but are flagged.
The ``storage`` health check reads the same numbers: degraded at warn,
unhealthy at block.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import attrs

from ..errors import InsufficientStorage
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
class GateResult:
    usage: DiskUsage
    #: at or over warn_percent (still allowed)
    warning: bool


class StorageGate:
    """Thresholds over the fullest of the media filesystems."""

    def __init__(
        self,
        directories: Sequence[str],
        *,
        warn_percent: float,
        block_percent: float,
        usage: Callable[[str], DiskUsage] = disk_usage,
    ) -> None:
        self.directories = list(directories)
        self.warn_percent = warn_percent
        self.block_percent = block_percent
        self._usage = usage

    def usage(self) -> DiskUsage:
        """The fullest filesystem among the media directories (they may be on different disks)."""
        return max((self._usage(d) for d in self.directories), key=lambda u: u.usage_percentage)

    def usage_of(self, directory: str) -> DiskUsage:
        return self._usage(directory)

    def check(self, directory: str | None = None) -> GateResult:
        """Raise InsufficientStorage at/over block_percent; otherwise say whether we are past warn."""
        usage = self._usage(directory) if directory is not None else self.usage()
        pct = usage.usage_percentage
        if pct >= self.block_percent:
            raise InsufficientStorage(pct, self.block_percent)
        return GateResult(usage, pct >= self.warn_percent)

    def health(self) -> ComponentHealth:
        try:
            usage = self.usage()
        except OSError as exc:
            return ComponentHealth(UNHEALTHY, {"error": f"cannot read disk usage: {exc.strerror or exc}"})
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
