"""An async JSON-RPC WebSocket client and an in-process service, for tests of every room.

    async with running_service(tmp_path) as service:            # the whole service, ports chosen by the OS
        async with rpc_client(ws_url(service), token=token_for(service, "admin")) as c:
            assert await c.call("ping") == "pong"
            with pytest.raises(RpcError) as err:
                await c.call("get_camera_status", {"device": "nope"})
            assert err.value.code == -32010
            event = await c.notification("camera_status_update")

The client reads in a background task: responses go to their caller by id,
notifications into a queue (:meth:`RpcClient.notification`).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from camsvc.app import Service, build
from camsvc.config import parse
from camsvc.security.roles import Role


class RpcError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')} {error.get('message')}: {error.get('data')}")
        self.code: int = error.get("code", 0)
        self.message: str = error.get("message", "")
        self.data: dict[str, Any] = error.get("data") or {}

    @property
    def reason(self) -> str | None:
        return self.data.get("reason")


class RpcClient:
    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[Any, trio.MemorySendChannel[Any]] = {}
        self._notify_send, self._notify_recv = trio.open_memory_channel[dict[str, Any]](10000)
        #: the close reason once the server closed the connection
        self.closed: Any = None
        self.closed_event = trio.Event()

    async def _reader(self) -> None:
        try:
            while True:
                text = await self.ws.get_message()
                message = json.loads(text)
                if isinstance(message, dict) and "id" not in message and "method" in message:
                    self._notify_send.send_nowait(message)
                    continue
                key = message.get("id") if isinstance(message, dict) else None
                if isinstance(message, list):
                    key = "__batch__"
                channel = self._waiting.pop(key, None) or self._waiting.pop("__raw__", None)
                if channel is not None:
                    channel.send_nowait(message)
        except ConnectionClosed as exc:
            self.closed = exc.reason
        finally:
            self.closed_event.set()
            for channel in self._waiting.values():
                channel.close()
            self._notify_send.close()

    async def _expect(self, key: Any, text: str, limit: float) -> Any:
        send, recv = trio.open_memory_channel[Any](1)
        self._waiting[key] = send
        await self.ws.send_message(text)
        with trio.fail_after(limit):
            try:
                return await recv.receive()
            except trio.EndOfChannel:
                raise ConnectionClosed(self.closed) from None

    async def request(self, method: str, params: Any = None, *, id: Any = None, limit: float = 10.0) -> dict[str, Any]:  # noqa: A002
        """Send one request; the whole response object (``result`` or ``error``)."""
        id_ = next(self._ids) if id is None else id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
        if params is not None:
            message["params"] = params
        return await self._expect(id_, json.dumps(message), limit)

    async def call(self, method: str, params: Any = None, *, limit: float = 10.0) -> Any:
        """The result, or RpcError for an error response."""
        response = await self.request(method, params, limit=limit)
        if "error" in response:
            raise RpcError(response["error"])
        return response["result"]

    async def raw(self, text: str | bytes, *, limit: float = 10.0, batch: bool = False) -> Any:
        """Send any text; the next response that matches no pending request (or the batch answer)."""
        return await self._expect("__batch__" if batch else "__raw__", text, limit)  # type: ignore[arg-type]

    async def send(self, text: str | bytes) -> None:
        await self.ws.send_message(text)

    async def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self.ws.send_message(json.dumps(message))

    async def notification(self, method: str | None = None, *, limit: float = 10.0) -> dict[str, Any]:
        """The next notification (of ``method`` when given; others are skipped)."""
        with trio.fail_after(limit):
            async for message in self._notify_recv:
                if method is None or message["method"] == method:
                    return message
        raise ConnectionClosed(self.closed)

    def pending_notifications(self) -> list[dict[str, Any]]:
        out = []
        while True:
            try:
                out.append(self._notify_recv.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                return out

    async def wait_closed(self, limit: float = 10.0) -> Any:
        with trio.fail_after(limit):
            await self.closed_event.wait()
        return self.closed


@asynccontextmanager
async def rpc_client(
    url: str,
    *,
    token: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    max_message_size: int = 64 * 1024 * 1024,
) -> AsyncIterator[RpcClient]:
    """A connected client (authenticated first when ``token`` is given)."""
    async with open_websocket_url(url, extra_headers=headers, max_message_size=max_message_size) as ws:
        client = RpcClient(ws)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client._reader)
            if token is not None:
                await client.call("authenticate", {"auth_token": token})
            yield client
            nursery.cancel_scope.cancel()


# ------------------------------------------------------------ the service


def service_config(tmp_path: Path, **sections: dict[str, Any]) -> Any:
    """A Config for an in-process service: ports 0, loopback, temp dirs, no device discovery."""
    raw: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 0},
        "http": {"host": "127.0.0.1", "port": 0},
        "storage": {"state_dir": str(tmp_path / "state")},
        "recording": {"dir": str(tmp_path / "recordings")},
        "snapshots": {"dir": str(tmp_path / "snapshots")},
        "cameras": {"discovery": "disabled"},
        "mediamtx": {"api_url": "http://127.0.0.1:9", "backoff_max": 1.0},
        "security": {"jwt_secret": "test-secret-0123456789-0123456789-abcdef"},
    }
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    return parse(raw, environ={}, source="test")


@asynccontextmanager
async def running_service(tmp_path: Path, config: Any = None, **sections: dict[str, Any]) -> AsyncIterator[Service]:
    """The whole service built by camsvc.app.build and started in-process; cancelled on exit.

    ``ws_url(service)`` is its WebSocket URL (ws://127.0.0.1:<bound port>/ws).
    """
    service = build(config if config is not None else service_config(tmp_path, **sections))
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        yield service
        nursery.cancel_scope.cancel()


def ws_url(service: Service) -> str:
    rpc = service.extras["rpc"]
    scheme = "wss" if service.config.server.tls_cert else "ws"
    return f"{scheme}://127.0.0.1:{rpc.bound_port}{service.config.server.ws_path}"


def token_for(service: Service, role: Role | str = Role.ADMIN, *, user: str = "tester", ttl: float = 3600) -> str:
    """A JWT signed with the service's secret."""
    role = Role.parse(role) if isinstance(role, str) else role
    token, _ = service.services.auth.issue_token(user, role, ttl)
    return token


async def apoll(fn: Any, *, limit: float = 10.0, what: str = "condition") -> Any:
    """Await ``fn()`` becoming truthy (polled with a deadline; for state of an in-process service)."""
    with trio.move_on_after(limit):
        while True:
            value = fn()
            if value:
                return value
            await trio.sleep(0.01)
    raise AssertionError(f"timed out after {limit}s waiting for {what}")
