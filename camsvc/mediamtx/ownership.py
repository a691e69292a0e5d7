"""The names of MediaMTX paths we created, persisted so that a restart of camsvc still
knows which leftover entries are ours to delete (table ``mediamtx_owned_paths``).

A failure to persist is logged and tolerated: the in-memory set stays right for this
process, and losing the record can at worst leave one stale path behind, which is
better than stopping reconciliation over a full disk.
"""

from __future__ import annotations

import logging
import sqlite3
import time

from ..storage.state import StateStore

log = logging.getLogger("camsvc.mediamtx")

MIGRATIONS = [
    "CREATE TABLE mediamtx_owned_paths (name TEXT PRIMARY KEY, created_at REAL NOT NULL)",
]


class OwnedPaths:
    def __init__(self, store: StateStore) -> None:
        self._store = store

    def ensure_schema(self) -> None:
        self._store.ensure_schema("mediamtx", MIGRATIONS)

    async def load(self) -> set[str]:
        try:
            rows = await self._store.fetchall("SELECT name FROM mediamtx_owned_paths")
        except sqlite3.Error as exc:
            log.warning("cannot read owned MediaMTX paths", extra={"error": str(exc)})
            return set()
        return {str(row[0]) for row in rows}

    async def update(self, added: set[str], removed: set[str]) -> None:
        if not added and not removed:
            return
        now = time.time()

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO mediamtx_owned_paths(name, created_at) VALUES(?, ?)",
                [(n, now) for n in sorted(added)],
            )
            conn.executemany("DELETE FROM mediamtx_owned_paths WHERE name = ?", [(n,) for n in sorted(removed)])

        try:
            await self._store.run(write)
        except (sqlite3.Error, RuntimeError) as exc:  # RuntimeError: store closed at shutdown
            log.warning(
                "cannot persist owned MediaMTX paths",
                extra={"error": str(exc), "added": len(added), "removed": len(removed)},
            )
