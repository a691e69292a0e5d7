"""The keepalive pings every client once per interval, in slices spread over the interval's first half."""

from __future__ import annotations

import types

import pytest
import trio
import trio.testing

from camsvc.rpc import server as rpc_server
from camsvc.rpc.server import RpcServer


class FakeConnection:
    def __init__(self) -> None:
        self.pinged_at: list[float] = []

    def ping(self) -> None:
        self.pinged_at.append(trio.current_time())


async def test_each_client_is_pinged_once_per_interval_in_spread_slices(
    autojump_clock: trio.testing.MockClock,
) -> None:
    conns = [FakeConnection() for _ in range(2 * rpc_server.KEEPALIVE_SLICE + 1)]
    fake = types.SimpleNamespace(
        config=types.SimpleNamespace(server=types.SimpleNamespace(ping_interval=30.0)),
        clients=lambda: list(conns),
    )
    start = trio.current_time()
    with trio.move_on_after(2 * 30.0 + 29.0):  # two passes, then cancelled before the third
        await RpcServer._keepalive(fake)  # type: ignore[arg-type]
    assert all(len(c.pinged_at) == 2 for c in conns)
    first_pass = sorted({c.pinged_at[0] - start for c in conns})
    # three slices (100 + 100 + 1), one scheduler turn each, paced across the first half of the interval
    assert len(first_pass) == 3
    assert first_pass[0] == pytest.approx(30.0)
    assert first_pass[-1] < 30.0 + 15.0
    assert all(c.pinged_at[1] - c.pinged_at[0] == pytest.approx(30.0) for c in conns)
