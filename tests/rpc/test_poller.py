"""The input poller (camsvc/rpc/poller.py) and the inline handlers it runs outside any task."""

from __future__ import annotations

import ast
import inspect
import json
import math
import socket
import struct
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import Request

from camsvc.app import Service
from camsvc.errors import NotFound
from camsvc.rpc.connection import Connection
from camsvc.rpc.dispatch import Dispatcher
from camsvc.rpc.stats import RpcStats
from camsvc.rpc.table import Method, MethodTable
from tests.rpc.test_frames import GatedDispatcher, client_frame
from tests.rpc_client import apoll, rpc_client, running_service, token_for, ws_url


def _awaits(function: Any) -> list[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Await | ast.AsyncFor | ast.AsyncWith)]


async def test_inline_handlers_never_await(service: Service) -> None:
    """The poller runs inline handlers to their end in one step: one that awaited would be stopped."""
    inline = [m for m in service.extras["rpc"].table if m.inline]
    assert {"ping", "get_camera_list"} <= {m.name for m in inline}
    assert {m.name: _awaits(m.handler) for m in inline if _awaits(m.handler)} == {}


@types.coroutine
def _suspend() -> Any:
    yield "suspended"


class _Peer:
    id, identity, address, host = "p", None, "127.0.0.1", None

    def take_token(self) -> float:
        return 0.0


def _run_now(service: Service, handler: Any, method: str = "m") -> Any:
    dispatcher = Dispatcher(MethodTable([Method(method, handler, None, "test", inline=True)]), service.services, RpcStats())
    prepared = dispatcher.prepare(_Peer(), f'{{"jsonrpc":"2.0","id":7,"method":"{method}"}}')  # type: ignore[arg-type]
    answer = dispatcher.run_now(prepared.calls[0])
    return json.loads(answer) if answer is not None else None


async def test_an_inline_handler_that_suspends_is_stopped_with_an_internal_error(service: Service) -> None:
    finished: list[bool] = []

    async def bad(ctx: Any, params: dict[str, Any]) -> str:
        try:
            await _suspend()
            return "never"
        finally:
            finished.append(True)

    answer = _run_now(service, bad)
    assert answer["id"] == 7 and answer["error"]["code"] == -32603 and answer["error"]["data"]["request_id"]
    assert finished == [True]  # closed, not left half-run


async def test_inline_handlers_run_now_answer_as_run_does(service: Service) -> None:
    async def ok(ctx: Any, params: dict[str, Any]) -> dict[str, int]:
        return {"n": 1}

    async def not_found(ctx: Any, params: dict[str, Any]) -> None:
        raise NotFound("camera", "camera9")

    async def broken(ctx: Any, params: dict[str, Any]) -> None:
        raise ZeroDivisionError

    async def not_json(ctx: Any, params: dict[str, Any]) -> float:
        return math.nan

    assert _run_now(service, ok) == {"jsonrpc": "2.0", "id": 7, "result": {"n": 1}}
    assert _run_now(service, not_found)["error"]["code"] == -32010
    for handler in (broken, not_json):
        error = _run_now(service, handler)["error"]
        assert error["code"] == -32603 and error["data"]["reason"] == "internal_error"


async def test_connections_leave_the_poller_however_they_end(tmp_path: Path) -> None:
    """A normal close, input the server refuses (1003) and a peer that just disconnects."""
    async with running_service(tmp_path) as svc:
        rpc = svc.extras["rpc"]
        async with rpc_client(ws_url(svc)) as a, rpc_client(ws_url(svc)) as b, rpc_client(ws_url(svc)) as c:
            for _ in range(3):
                assert await a.call("ping") == "pong" and await b.call("ping") == "pong"
            assert await c.call("ping") == "pong"
            assert len(rpc.poller) == 3
            await b.send(b"binary")
            assert (await b.wait_closed()).code == 1003
            stream = await trio.open_tcp_stream("127.0.0.1", rpc.bound_port)
            client = WSConnection(ConnectionType.CLIENT)
            await stream.send_all(client.send(Request(host="127.0.0.1", target="/ws")))
            await stream.receive_some(4096)  # the 101
            await apoll(lambda: len(rpc.connections) == 3, what="raw client admitted")
            await stream.aclose()
            assert await a.call("ping") == "pong"
        await apoll(lambda: not rpc.connections, what="connections gone")
        assert len(rpc.poller) == 0


async def test_a_failure_while_the_poller_handles_input_fails_that_connection_only(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    rpc = service.extras["rpc"]
    prepare = rpc.dispatcher.prepare

    def failing(peer: Any, text: str) -> Any:
        if "boom" in text:
            raise RuntimeError("a bug")
        return prepare(peer, text)

    monkeypatch.setattr(rpc.dispatcher, "prepare", failing)
    async with rpc_client(ws_url(service)) as ok, rpc_client(ws_url(service)) as bad:
        await bad.send('{"jsonrpc":"2.0","id":1,"method":"boom"}')
        await bad.wait_closed()
        assert await ok.call("ping") == "pong"


async def test_a_peer_hanging_up_while_its_reader_has_the_socket_is_not_polled_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """epoll reports a hang-up whatever the event mask: a paused socket must be out of it, or every pass sees it."""
    calls: list[int] = []
    on_readable = Connection.on_readable

    def counted(self: Connection) -> None:
        calls.append(1)
        on_readable(self)

    monkeypatch.setattr(Connection, "on_readable", counted)
    async with running_service(tmp_path, server={"max_concurrent_requests": 1}) as svc:
        rpc = svc.extras["rpc"]
        gate = GatedDispatcher(rpc.dispatcher)
        rpc.dispatcher = gate
        stream = await trio.open_tcp_stream("127.0.0.1", rpc.bound_port)
        client = WSConnection(ConnectionType.CLIENT)
        await stream.send_all(client.send(Request(host="127.0.0.1", target="/ws")))
        await stream.receive_some(4096)  # the 101
        token = token_for(svc, "viewer")
        auth = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "authenticate", "params": {"auth_token": token}})
        slow = '{"jsonrpc":"2.0","id":1,"method":"list_snapshots"}'
        # the second request waits for the only slot: the reader task has the socket
        await stream.send_all(client_frame(1, auth.encode()) + client_frame(1, slow.encode()) * 2)
        await apoll(lambda: len(rpc.poller) == 1 and gate.waiting, what="reader waiting for a slot")
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.aclose()  # a reset
        calls.clear()
        for _ in range(100):  # scheduler passes, each with an I/O poll
            await trio.lowlevel.checkpoint()
        assert len(calls) <= 1
        gate.release.set()
        await apoll(lambda: not rpc.connections, what="connection gone")
        assert len(rpc.poller) == 0
