from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio

from camsvc.storage.state import StateStore


async def test_schema_migrations_apply_once_and_data_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state" / "camsvc.db"
    store = StateStore(path)
    store.open()
    store.ensure_schema("things", ["CREATE TABLE things (id TEXT PRIMARY KEY, n INTEGER)"])
    await store.execute("INSERT INTO things VALUES (?, ?)", ("a", 1))
    store.close()

    store = StateStore(path)
    store.open()
    store.ensure_schema(
        "things",
        ["CREATE TABLE things (id TEXT PRIMARY KEY, n INTEGER)", "ALTER TABLE things ADD COLUMN note TEXT"],
    )
    rows = await store.fetchall("SELECT id, n, note FROM things")
    assert [tuple(r) for r in rows] == [("a", 1, None)]
    store.close()


async def test_failed_transaction_rolls_back(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db")
    store.open()
    store.ensure_schema("t", ["CREATE TABLE t (id INTEGER PRIMARY KEY)"])

    def insert_then_fail(conn):  # type: ignore[no-untyped-def]
        conn.execute("INSERT INTO t VALUES (1)")
        raise ValueError("nope")

    try:
        await store.run(insert_then_fail)
    except ValueError:
        pass
    assert await store.fetchall("SELECT * FROM t") == []


async def test_concurrent_callers_are_serialised(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db")
    store.open()
    store.ensure_schema("c", ["CREATE TABLE c (n INTEGER)"])
    async with trio.open_nursery() as nursery:
        for i in range(50):
            nursery.start_soon(store.execute, "INSERT INTO c VALUES (?)", (i,))
    row = await store.fetchone("SELECT count(*), sum(n) FROM c")
    assert tuple(row) == (50, sum(range(50)))


class KeepingCursors:
    """A connection whose cursors outlive their use: what a traceback, a cycle or a memory census does."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        object.__setattr__(self, "conn", conn)
        object.__setattr__(self, "cursors", [])

    def execute(self, *args: Any) -> sqlite3.Cursor:
        cursor = self.conn.execute(*args)
        self.cursors.append(cursor)
        return cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.conn, name, value)


async def test_statements_end_with_their_use_not_when_their_cursor_is_freed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A soak's memory census (it holds every object for a moment) made start-up fail with "cannot commit
    # transaction - SQL statements in progress": PRAGMA journal_mode answers a row nobody read, and its
    # statement ran on until its cursor was freed.
    real_connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **kw: KeepingCursors(real_connect(*a, **kw)))
    store = StateStore(tmp_path / "s.db")
    store.open()
    store.ensure_schema("things", ["CREATE TABLE things (id TEXT PRIMARY KEY)"])
    store.ensure_schema("things", ["CREATE TABLE things (id TEXT PRIMARY KEY)"])  # reads its version row
    await store.execute("INSERT INTO things VALUES ('a'), ('b')")
    assert (await store.fetchone("SELECT id FROM things ORDER BY id"))[0] == "a"
    await store.execute("INSERT INTO things VALUES ('c')")  # commits after the reads above
    assert len(await store.fetchall("SELECT id FROM things")) == 3
