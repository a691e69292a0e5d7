from __future__ import annotations

from pathlib import Path

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
