"""One logical connection to the service over a series of WebSocket sessions.

The :class:`Connection` keeps a session up for as long as it is open: it
authenticates each new socket, replays the subscriptions the caller made, keeps a
JWT fresh with ``refresh_token``, and when the socket drops it reconnects with a
capped exponential backoff. Calls in flight when a socket drops fail with
:class:`ConnectionLost` (whether they took effect is unknown, so they are never
replayed); calls made while reconnecting wait for the next session.

Everything runs in the nursery given to :meth:`Connection.open`; nothing here
knows the API's methods beyond ``authenticate``, ``refresh_token`` and
``subscribe_events``.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any

import attrs
import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, connect_websocket_url

from .errors import AuthError, ClientError, ConnectError, ConnectionLost, error_from

log = logging.getLogger("camsvc.client")

#: a token source for re-authentication once the given credential is refused
TokenProvider = Callable[[], str | Awaitable[str]]


class CallTimeout(ClientError):
    """No answer within the call's timeout."""


@attrs.frozen
class Backoff:
    """Delays between reconnect attempts: ``initial * factor**n`` capped at ``max``, ± ``jitter``."""

    initial: float = 0.2
    factor: float = 2.0
    max: float = 10.0
    jitter: float = 0.1

    def delays(self) -> Iterator[float]:
        delay = self.initial
        while True:
            yield delay * (1 + random.uniform(-self.jitter, self.jitter))
            delay = min(delay * self.factor, self.max)


DEFAULT_BACKOFF = Backoff()


@attrs.frozen
class Notification:
    """A server → client event: ``method`` (e.g. ``camera_status_update``) and its ``params``."""

    method: str
    params: Any


class _Notifications:
    """A bounded buffer: a caller that never reads loses the oldest events, never memory."""

    def __init__(self, size: int) -> None:
        self._items: collections.deque[Notification] = collections.deque(maxlen=size)
        self._changed = trio.Event()
        self.dropped = 0
        self.closed = False

    def put(self, item: Notification) -> None:
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(item)
        self._changed.set()

    def close(self) -> None:
        self.closed = True
        self._changed.set()

    async def get(self) -> Notification | None:
        """The next event; None once closed and drained."""
        while not self._items:
            if self.closed:
                return None
            self._changed = trio.Event()
            await self._changed.wait()
        return self._items.popleft()


def _why(exc: BaseException) -> str:
    """The OS's words for a failed connect (trio wraps them: "all attempts to connect ... failed")."""
    cause = exc.__cause__
    if isinstance(cause, BaseExceptionGroup):
        reasons = sorted({e.strerror for e in cause.exceptions if isinstance(e, OSError) and e.strerror})
        if reasons:
            return ", ".join(r.rsplit(": ", 1)[-1].lower() for r in reasons)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc)


def _wall_time(iso: Any) -> float | None:
    if not isinstance(iso, str):
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class Connection:
    def __init__(
        self,
        url: str,
        *,
        credential: str | None = None,
        token_provider: TokenProvider | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        connect_timeout: float = 10.0,
        call_timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        notification_buffer: int = 1000,
        max_message_size: int = 64 * 1024 * 1024,
    ) -> None:
        self.url = url
        self.credential = credential
        self._token_provider = token_provider
        self.backoff = backoff
        self.connect_timeout = connect_timeout
        self.call_timeout = call_timeout
        self._ssl = ssl_context
        self._max_message_size = max_message_size
        self._ids = itertools.count(1)
        self._pending: dict[int, trio.MemorySendChannel[dict[str, Any]]] = {}
        self._ws: WebSocketConnection | None = None
        self._up = trio.Event()
        self._closed = False
        #: the service's answer to the last ``authenticate`` (role, expires_at, ...); None before
        self.session: dict[str, Any] | None = None
        #: (topics, filters) of every subscribe_events still in force, replayed on each new socket
        self.subscriptions: list[tuple[list[str], dict[str, Any]]] = []
        self.notifications = _Notifications(notification_buffer)
        #: how many times a lost socket was replaced
        self.reconnects = 0
        self._nursery: trio.Nursery | None = None

    # ---------------------------------------------------------------- lifecycle

    async def open(self, nursery: trio.Nursery) -> None:
        """Connect and authenticate once (raising ConnectError / AuthError), then keep it up in ``nursery``."""
        self._nursery = nursery
        ws = await self._connect()
        await nursery.start(self._maintain, ws)

    async def aclose(self) -> None:
        ws = self._ws
        self._close_for_good()
        if ws is not None:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await ws.aclose()

    @property
    def connected(self) -> bool:
        return self._up.is_set() and not self._closed

    async def _connect(self) -> WebSocketConnection:
        assert self._nursery is not None
        try:
            with trio.fail_after(self.connect_timeout):
                return await connect_websocket_url(
                    self._nursery, self.url, self._ssl, max_message_size=self._max_message_size
                )
        except trio.TooSlowError:
            raise ConnectError(f"cannot connect to {self.url}: timed out after {self.connect_timeout:g} s") from None
        except HandshakeError as exc:
            raise ConnectError(f"cannot connect to {self.url}: WebSocket handshake failed ({exc!r})") from None
        except (OSError, ValueError) as exc:
            raise ConnectError(f"cannot connect to {self.url}: {_why(exc)}") from None

    async def _maintain(self, ws: WebSocketConnection, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        first = True
        delays = self.backoff.delays()
        while True:
            failure = await self._session(ws, task_status=task_status)
            if first and failure is not None:
                raise failure  # the caller's credential or the first socket is bad: open() reports it
            first, task_status = False, trio.TASK_STATUS_IGNORED
            if isinstance(failure, AuthError):
                log.warning("re-authentication refused; giving up: %s", failure.reason)
                self._close_for_good()
                return
            if self._closed:
                return
            if failure is None:
                delays = self.backoff.delays()  # a session ran: start again from the shortest delay
            ws = await self._reconnect(delays)

    def _close_for_good(self) -> None:
        self._closed = True
        self.notifications.close()
        self._fail_pending()
        self._up.set()  # wakes callers waiting for a session: they see the connection is closed

    async def _reconnect(self, delays: Iterator[float]) -> WebSocketConnection:
        """A new socket, trying after each of ``delays`` (kept across failed handshakes, so they grow)."""
        for delay in delays:
            await trio.sleep(delay)
            try:
                ws = await self._connect()
            except ConnectError as exc:
                log.info("reconnect failed: %s", exc)
                continue
            self.reconnects += 1
            return ws
        raise AssertionError("unreachable: the backoff never ends")

    async def _session(self, ws: WebSocketConnection, *, task_status: Any) -> ClientError | None:
        """One socket: read it, authenticate, resubscribe, serve until it closes.

        Returns why the handshake failed (None when the session ran and the socket closed).
        """
        failure: ClientError | None = ConnectionLost(f"{self.url} closed the connection during the handshake")
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read, ws, nursery.cancel_scope)
                try:
                    await self._handshake(ws)
                except ClientError as exc:
                    failure = exc
                    nursery.cancel_scope.cancel()
                    return failure
                failure = None
                self._ws = ws
                self._up.set()
                task_status.started()
                nursery.start_soon(self._keep_fresh, ws)
        finally:
            if self._ws is ws:
                self._ws = None
                if not self._closed:
                    self._up = trio.Event()
            self._fail_pending()
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await ws.aclose()
        return failure

    async def _read(self, ws: WebSocketConnection, scope: trio.CancelScope) -> None:
        try:
            while True:
                text = await ws.get_message()
                try:
                    message = json.loads(text)
                except ValueError:
                    log.warning("ignoring a message that is not JSON")
                    continue
                if not isinstance(message, dict):
                    continue
                if "method" in message and "id" not in message:
                    self.notifications.put(Notification(str(message["method"]), message.get("params")))
                    continue
                request_id = message.get("id")
                waiter = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
                if waiter is not None:
                    waiter.send_nowait(message)
        except ConnectionClosed as exc:
            log.info("connection closed: %s", exc.reason)
        finally:
            scope.cancel()

    def _fail_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for waiter in pending.values():
            waiter.close()

    # -------------------------------------------------------------- the session

    async def _handshake(self, ws: WebSocketConnection) -> None:
        if self.credential is not None or self._token_provider is not None:
            await self._authenticate(ws)
        for topics, filters in self.subscriptions:
            params: dict[str, Any] = {"topics": topics}
            if filters:
                params["filters"] = filters
            await self._request(ws, "subscribe_events", params)

    async def _authenticate(self, ws: WebSocketConnection) -> None:
        if self.credential is None:
            self.credential = await self._provided_token()
        try:
            self.session = await self._request(ws, "authenticate", {"auth_token": self.credential})
        except AuthError as exc:
            if self._token_provider is None or exc.reason not in ("token_expired", "invalid_token"):
                raise
            self.credential = await self._provided_token()
            self.session = await self._request(ws, "authenticate", {"auth_token": self.credential})

    async def _provided_token(self) -> str:
        assert self._token_provider is not None
        token = self._token_provider()
        return token if isinstance(token, str) else await token

    async def reauthenticate(self) -> None:
        """Authenticate the current socket again (after ``token_expired``)."""
        ws = await self._wait_up()
        await self._authenticate(ws)

    async def _keep_fresh(self, ws: WebSocketConnection) -> None:
        """Swap a JWT for a fresh one before it expires (API keys are not refreshed)."""
        while self.session is not None and self.session.get("auth_method", "jwt") == "jwt":
            expires = _wall_time(self.session.get("expires_at"))
            if expires is None:
                return
            # at 80 % of the remaining life: early enough for a slow answer, rare enough to be free
            await trio.sleep(max(0.0, (expires - time.time()) * 0.8))
            try:
                fresh = await self._request(ws, "refresh_token", {})
            except AuthError:
                return  # too late: the next call gets token_expired and re-authenticates
            except ConnectionLost:
                return
            self.credential = fresh["auth_token"]
            self.session = {**self.session, "expires_at": fresh["expires_at"]}

    # ------------------------------------------------------------------- calls

    async def _wait_up(self) -> WebSocketConnection:
        while True:
            if self._closed:
                raise ConnectionLost(f"the connection to {self.url} is closed")
            ws = self._ws
            if ws is not None and self._up.is_set():
                return ws
            await self._up.wait()

    async def _request(self, ws: WebSocketConnection, method: str, params: dict[str, Any] | None) -> Any:
        request_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params:
            message["params"] = params
        send, receive = trio.open_memory_channel[dict[str, Any]](1)
        self._pending[request_id] = send
        try:
            try:
                await ws.send_message(json.dumps(message))
                response = await receive.receive()
            except (ConnectionClosed, trio.EndOfChannel, trio.BrokenResourceError):
                raise ConnectionLost(f"connection lost during {method}") from None
        finally:
            self._pending.pop(request_id, None)
        if "error" in response:
            raise error_from(response["error"])
        return response.get("result")

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Send one request on the current session (waiting for one while reconnecting).

        A call refused with ``token_expired`` is sent once more after re-authenticating: the
        server checks the session before it runs anything, so the first attempt did nothing.
        """
        limit = self.call_timeout
        try:
            with trio.fail_after(limit):
                try:
                    result = await self._request(await self._wait_up(), method, params)
                except AuthError as exc:
                    if exc.reason != "token_expired" or method == "authenticate":
                        raise
                    await self.reauthenticate()
                    result = await self._request(await self._wait_up(), method, params)
        except trio.TooSlowError:
            raise CallTimeout(f"{method}: no answer within {limit:g} s") from None
        self._remember(method, params or {}, result)
        return result

    def _remember(self, method: str, params: dict[str, Any], result: Any) -> None:
        """Session state a new socket must restore: the credential and the subscriptions."""
        if method == "authenticate":
            self.credential, self.session = params.get("auth_token", params.get("token")), result
        elif method == "refresh_token":
            self.credential = result["auth_token"]
            self.session = {**(self.session or {}), "expires_at": result["expires_at"]}
        elif method == "subscribe_events":
            self.subscriptions.append((list(params["topics"]), dict(params.get("filters") or {})))
        elif method == "unsubscribe_events":
            gone = params.get("topics")
            kept = [([t for t in topics if gone is not None and t not in gone], filters) for topics, filters in self.subscriptions]
            self.subscriptions = [(topics, filters) for topics, filters in kept if topics]

    async def iterate(self) -> AsyncIterator[Notification]:
        while True:
            item = await self.notifications.get()
            if item is None:
                return
            yield item
