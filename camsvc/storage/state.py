"""The SQLite state store: what must survive restarts (API keys, external streams,
retention policy, recording sessions).

One connection, in WAL mode, used by one worker thread at a time: every call goes
through ``trio.to_thread.run_sync`` under a capacity limiter of 1, so the event loop
never blocks on disk and SQLite never sees concurrent use of the connection. Rooms
declare their own tables with :meth:`StateStore.ensure_schema`; nobody else touches
another room's tables.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import trio

T = TypeVar("T")

#: the connection's page cache, in KiB
CACHE_KIB = 1024


def fetch_one(conn: sqlite3.Connection, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
    """The first row (a ``sqlite3.Row``) or None, with the statement reset at once.

    A cursor left after ``fetchone()`` keeps its statement stepping until the cursor is freed,
    and while it steps a COMMIT fails ("SQL statements in progress") and a read keeps the WAL
    from being checkpointed past it. Reference counting usually frees it at once; anything that
    holds it a moment longer (a traceback, a cycle, a memory census walking every object) does not.
    """
    cursor = conn.execute(sql, params)
    try:
        return cursor.fetchone()
    finally:
        cursor.close()


class StateStore:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._limiter = trio.CapacityLimiter(1)
        self._lock = threading.Lock()

    # Opening is synchronous and cheap; the composition root does it before the tree runs,
    # so a state dir that cannot be written is reported at start, not at first use.
    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        conn.row_factory = sqlite3.Row
        fetch_one(conn, "PRAGMA journal_mode=WAL")  # it answers the new mode: read, so its statement ends
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        # SQLite's page cache only grows (to 2 MiB by default) as the sessions table does; 1 MiB is plenty
        # for a table read in pages, and the OS caches the file anyway.
        conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        conn.execute("CREATE TABLE IF NOT EXISTS schema_versions (room TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        self._conn = conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"state store {self.path} is not open")
        return self._conn

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in one transaction, on the calling thread (start-up code and tests)."""
        conn = self._require()
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in one transaction on a worker thread."""
        return await trio.to_thread.run_sync(self.run_sync, fn, limiter=self._limiter)

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Execute one statement; returns the number of rows changed."""
        return await self.run(lambda c: c.execute(sql, params).rowcount)

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return await self.run(lambda c: c.execute(sql, params).fetchall())

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = await self.run(lambda c: fetch_one(c, sql, params))
        return row

    def ensure_schema(self, room: str, migrations: Iterable[str]) -> None:
        """Apply the room's migrations not yet applied (each a SQL script), in order, at start-up."""
        steps = list(migrations)

        def migrate(conn: sqlite3.Connection) -> None:
            row = fetch_one(conn, "SELECT version FROM schema_versions WHERE room = ?", (room,))
            current = row[0] if row else 0
            for version, script in enumerate(steps[current:], start=current + 1):
                for statement in filter(None, (s.strip() for s in script.split(";"))):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_versions(room, version) VALUES(?, ?) "
                    "ON CONFLICT(room) DO UPDATE SET version = excluded.version",
                    (room, version),
                )

        self.run_sync(migrate)
