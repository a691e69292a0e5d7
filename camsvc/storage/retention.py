"""The retention policy (persisted) and the cleanup it drives.

Nothing is ever deleted automatically unless an admin enabled an ``age`` or
``size`` policy. Cleanup works oldest first and never touches the segment
MediaMTX is still writing (nor temp files, which are never listed).

- ``age``: files last written more than ``max_age_days`` ago are deleted.
- ``size``: while recordings + snapshots exceed ``max_size_gb`` (GiB, 1024³ bytes), the oldest go.
- ``manual``: nothing automatic; ``cleanup_old_files`` reports ``cleanup_executed: false``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import attrs
import trio

from ..errors import InvalidParams
from .files import FileEntry, FileStore
from .state import StateStore, fetch_one

log = logging.getLogger("camsvc.storage.retention")

POLICY_TYPES = ("age", "size", "manual")
GIB = 1024**3

SCHEMA = [
    """
    CREATE TABLE retention_policy (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        policy_type TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        max_age_days REAL,
        max_size_gb REAL,
        updated_at REAL NOT NULL
    )
    """
]


@attrs.frozen
class RetentionPolicy:
    policy_type: str = "manual"
    enabled: bool = False
    max_age_days: float | None = 30
    max_size_gb: float | None = 10.0

    @property
    def active(self) -> bool:
        """Whether this policy deletes anything (only an enabled age/size policy does)."""
        return self.enabled and self.policy_type in ("age", "size")

    def to_api(self) -> dict[str, Any]:
        def num(v: float | None) -> float | int | None:
            return int(v) if v is not None and float(v).is_integer() and v == int(v) else v

        return {
            "policy_type": self.policy_type,
            "enabled": self.enabled,
            "max_age_days": num(self.max_age_days),
            "max_size_gb": self.max_size_gb,
        }


def validated_policy(
    current: RetentionPolicy,
    policy_type: str,
    enabled: bool,
    max_age_days: float | None,
    max_size_gb: float | None,
) -> RetentionPolicy:
    """The new policy, or InvalidParams naming the offending param. Values not given are kept."""
    if policy_type not in POLICY_TYPES:
        raise InvalidParams(
            "policy_type", "invalid_value", f"policy_type must be one of {', '.join(POLICY_TYPES)}"
        )
    if max_age_days is not None and not max_age_days > 0:
        raise InvalidParams("max_age_days", "out_of_range", "max_age_days must be > 0")
    if max_size_gb is not None and not max_size_gb > 0:
        raise InvalidParams("max_size_gb", "out_of_range", "max_size_gb must be > 0")
    if policy_type == "age" and max_age_days is None:
        raise InvalidParams("max_age_days", "required", "max_age_days is required for an age policy")
    if policy_type == "size" and max_size_gb is None:
        raise InvalidParams("max_size_gb", "required", "max_size_gb is required for a size policy")
    return RetentionPolicy(
        policy_type,
        bool(enabled),
        max_age_days if max_age_days is not None else current.max_age_days,
        float(max_size_gb) if max_size_gb is not None else current.max_size_gb,
    )


@attrs.frozen
class CleanupResult:
    executed: bool
    files_deleted: int
    space_freed: int
    message: str
    deleted: tuple[str, ...] = ()

    def to_api(self) -> dict[str, Any]:
        return {
            "cleanup_executed": self.executed,
            "files_deleted": self.files_deleted,
            "space_freed": self.space_freed,
            "message": self.message,
        }


class Retention:
    """Owns the persisted policy and runs cleanups over the media file stores (one at a time)."""

    def __init__(self, store: StateStore, file_stores: Sequence[FileStore]) -> None:
        self._store = store
        self._files = list(file_stores)
        self._policy = RetentionPolicy()
        self._lock = trio.Lock()
        self.last_run: float | None = None

    def open(self) -> None:
        """Create the table and load the policy (synchronous, at build time)."""
        self._store.ensure_schema("retention", SCHEMA)

        def load(conn: Any) -> Any:
            return fetch_one(
                conn, "SELECT policy_type, enabled, max_age_days, max_size_gb FROM retention_policy WHERE id = 1"
            )

        row = self._store.run_sync(load)
        if row is not None:
            self._policy = RetentionPolicy(row[0], bool(row[1]), row[2], row[3])

    def refresh_listings(self) -> None:
        """Make the next scan of every media directory stat each file (see FileStore.scan_sync)."""
        for fs in self._files:
            fs.invalidate()

    @property
    def policy(self) -> RetentionPolicy:
        return self._policy

    async def set_policy(self, policy: RetentionPolicy) -> RetentionPolicy:
        await self._store.execute(
            "INSERT INTO retention_policy(id, policy_type, enabled, max_age_days, max_size_gb, updated_at) "
            "VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET policy_type = excluded.policy_type, "
            "enabled = excluded.enabled, max_age_days = excluded.max_age_days, "
            "max_size_gb = excluded.max_size_gb, updated_at = excluded.updated_at",
            (policy.policy_type, int(policy.enabled), policy.max_age_days, policy.max_size_gb, time.time()),
        )
        self._policy = policy
        log.info("retention policy set", extra=policy.to_api())
        return policy

    async def cleanup(self, *, now: float | None = None) -> CleanupResult:
        """Apply the current policy once."""
        policy = self._policy
        if not policy.enabled:
            return CleanupResult(False, 0, 0, "retention policy is disabled; nothing deleted")
        if policy.policy_type == "manual":
            return CleanupResult(False, 0, 0, "retention policy is manual; nothing deleted automatically")
        async with self._lock:
            result = await self._run(policy, time.time() if now is None else now)
        self.last_run = time.time()
        return result

    async def _run(self, policy: RetentionPolicy, now: float) -> CleanupResult:
        # (store, entry) of every file, and the names that must never be deleted.
        candidates: list[tuple[FileStore, FileEntry]] = []
        total = 0
        for fs in self._files:
            entries = await fs.scan()
            busy = fs.in_progress(entries)
            total += sum(e.size for e in entries)
            candidates.extend((fs, e) for e in entries if e.name not in busy)
        candidates.sort(key=lambda c: (c[1].created, c[1].modified))
        doomed: list[tuple[FileStore, FileEntry]] = []
        if policy.policy_type == "age":
            assert policy.max_age_days is not None
            cutoff = now - policy.max_age_days * 86400
            doomed = [c for c in candidates if c[1].modified < cutoff]
            describe = f"files older than {policy.max_age_days:g} days"
        else:
            assert policy.max_size_gb is not None
            limit = int(policy.max_size_gb * GIB)
            excess = total - limit
            for c in candidates:
                if excess <= 0:
                    break
                doomed.append(c)
                excess -= c[1].size
            describe = f"oldest files beyond {policy.max_size_gb:g} GiB"
        deleted: list[str] = []
        freed = 0
        for fs, entry in doomed:
            try:
                if await fs.remove(entry):
                    deleted.append(entry.name)
                    freed += entry.size
            except OSError as exc:
                log.warning(
                    "retention could not delete a file", extra={"file": entry.name, "error": str(exc)}
                )
        message = f"deleted {len(deleted)} {describe}" if deleted else f"no {describe}; nothing deleted"
        log.info(
            "retention cleanup", extra={"policy": policy.policy_type, "deleted": len(deleted), "freed": freed}
        )
        return CleanupResult(True, len(deleted), freed, message, tuple(deleted))
