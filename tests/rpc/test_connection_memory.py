"""A closed connection is freed by reference counting alone, so freezing it (camsvc/gc_policy.py) never leaks it.

``camsvc run`` freezes what lived through an age pass too big to walk (10,000 connections opened
at once, say): held connections are then left out of every collector pass. A frozen object that ends in a reference cycle would only be reclaimed by
the policy's rare thaw, so a connection's objects must hold no cycle once it has ended:
here connections are opened, authenticated, used, frozen and closed (both ways) with the
collector off, and every object the server made for them must be gone.
"""

from __future__ import annotations

import collections
import gc
import json
from collections.abc import Iterator

import pytest
import trio
import trio.testing

from camsvc import gc_policy
from camsvc.app import Service
from camsvc.rpc import connection
from camsvc.rpc.connection import Connection
from tests.rpc.test_frames import client_frame
from tests.rpc_client import apoll, token_for

CONNECTIONS = 60
TIMEOUTS = 1.0
UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


def tracked() -> collections.Counter[str]:
    """Every object the collector tracks, frozen ones included, by type."""
    gc.unfreeze()
    counts = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
    gc.freeze()
    return counts


async def until(stream: trio.SocketStream, marker: bytes) -> None:
    """Read until ``marker`` (no deadline of its own: see the test's timeouts)."""
    seen = b""
    while marker not in seen:
        data = await stream.receive_some(65536)
        assert data, "the server closed the connection"
        seen += data


async def open_client(service: Service, token: str) -> trio.SocketStream:
    """A raw client (no library objects of its own to count): upgraded, authenticated, pinged."""
    stream = await trio.open_tcp_stream("127.0.0.1", service.extras["rpc"].bound_port)
    await stream.send_all(UPGRADE)
    await until(stream, b"\r\n\r\n")
    auth = {"jsonrpc": "2.0", "id": 1, "method": "authenticate", "params": {"auth_token": token}}
    await stream.send_all(client_frame(1, json.dumps(auth).encode()))
    await until(stream, b'"authenticated":true')
    await stream.send_all(client_frame(1, b'{"jsonrpc":"2.0","id":2,"method":"ping"}'))
    await until(stream, b'"pong"')
    return stream


async def close_client(stream: trio.SocketStream, *, goodbye: bool) -> None:
    """With a closing handshake, or just gone."""
    if goodbye:
        await stream.send_all(client_frame(8, b"\x03\xe8"))
        await until(stream, b"\x88")
    await stream.aclose()


async def test_closed_connections_are_freed_without_the_collector(
    service: Service, collector_off: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # trio keeps an ended scope with a deadline (the upgrade's, the closing's) until that deadline
    # passes: short ones, so the test can wait them out rather than count trio's bookkeeping
    monkeypatch.setattr(connection, "HANDSHAKE_TIMEOUT", TIMEOUTS)
    monkeypatch.setattr(connection, "CLOSE_TIMEOUT", TIMEOUTS)
    monkeypatch.setattr(connection, "CLOSING_DEADLINE", TIMEOUTS)
    rpc = service.extras["rpc"]
    token = token_for(service, "viewer")
    # a connection of each kind first, so what the first one builds once (caches, counters) is not counted
    for goodbye in (True, False):
        await close_client(await open_client(service, token), goodbye=goodbye)
    await apoll(lambda: not rpc.connections, what="the first connections to end")
    await trio.sleep(TIMEOUTS)  # its deadlines expire
    await trio.testing.wait_all_tasks_blocked()
    before = tracked()

    clients = [await open_client(service, token) for _ in range(CONNECTIONS)]
    assert len(rpc.connections) == CONNECTIONS
    gc_policy.settle()  # as an age pass over budget does: collect (the upgrades' garbage), freeze the rest
    held = tracked()
    assert held["Connection"] - before["Connection"] == CONNECTIONS
    for n, stream in enumerate(clients):
        await close_client(stream, goodbye=bool(n % 2))
    del clients, stream
    await apoll(lambda: not rpc.connections, what="every connection to end")
    await trio.sleep(TIMEOUTS)  # their deadlines expire
    await trio.testing.wait_all_tasks_blocked()

    after = tracked()
    assert not any(isinstance(o, Connection) for o in gc.get_objects())
    grown = {kind: after[kind] - before[kind] for kind in after if after[kind] > before[kind]}
    # an object left behind by each connection would show as CONNECTIONS more of its type; the service's
    # own background work (the reconciler retrying an absent MediaMTX) leaves a few, with the collector off
    assert not {kind: n for kind, n in grown.items() if n >= CONNECTIONS // 2}, grown
    assert sum(held.values()) - sum(before.values()) > 20 * CONNECTIONS  # what the check would have caught
