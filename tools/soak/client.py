"""A small JSON-RPC 2.0 client over one WebSocket: calls matched to replies by id, notifications to a callback."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection


class RpcError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')} {error.get('message')}: {error.get('data')}")
        self.code: int = int(error.get("code", 0))
        data = error.get("data") or {}
        self.reason: str = str(data.get("reason", "")) if isinstance(data, dict) else ""


class Disconnected(Exception):
    """The server closed the connection (or it broke) while a call was waiting."""


class Client:
    def __init__(self, ws: WebSocketConnection, on_notification: Callable[[dict[str, Any]], None]) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, trio.MemorySendChannel[dict[str, Any]]] = {}
        self._on_notification = on_notification
        self.closed = trio.Event()

    async def reader(self) -> None:
        try:
            while True:
                message = json.loads(await self.ws.get_message())
                if "id" not in message:
                    self._on_notification(message)
                    continue
                channel = self._waiting.pop(message["id"], None)
                if channel is not None:
                    channel.send_nowait(message)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()
            for channel in self._waiting.values():
                channel.close()
            self._waiting.clear()

    async def call(self, method: str, params: dict[str, Any] | None = None, *, limit: float = 30.0) -> Any:
        """The result; :class:`RpcError` for an error reply, :class:`Disconnected`, or trio.TooSlowError."""
        if self.closed.is_set():
            raise Disconnected(method)
        key = next(self._ids)
        send, receive = trio.open_memory_channel[dict[str, Any]](1)
        self._waiting[key] = send
        request = {"jsonrpc": "2.0", "id": key, "method": method, "params": params or {}}
        try:
            with trio.fail_after(limit):
                try:
                    await self.ws.send_message(json.dumps(request))
                except ConnectionClosed:
                    raise Disconnected(method) from None
                try:
                    reply = await receive.receive()
                except trio.EndOfChannel:
                    raise Disconnected(method) from None
        finally:
            self._waiting.pop(key, None)
        if "error" in reply:
            raise RpcError(reply["error"])
        return reply.get("result")
