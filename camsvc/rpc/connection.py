"""One WebSocket client: a reader task, a bounded outbound queue and a writer task.

The socket layer drives ``wsproto`` directly over a trio stream (plain TCP or
TLS). Measured against trio-websocket on this service's hot path (closed-loop ping
at 50 connections), trio-websocket's own echo server reached ~3.6-4.0k msg/s while
the same JSON-RPC layering on raw wsproto reached ~6k msg/s: trio-websocket puts
every message through an extra task and channel, and its send lock allows no
write coalescing. The actor shape of the design is kept:

- the reader parses frames, answers control frames, and hands each message to
  the dispatcher: ``inline`` methods (``ping``...) are answered on the reader,
  the others run in their own task, at most ``server.max_concurrent_requests``
  at once per connection (a slow snapshot never blocks a ping);
- every outgoing frame (responses, event notifications, pongs, close) goes
  through one queue of at most ``server.outbound_queue`` messages; the writer
  sends everything queued with one ``send_all``. A full queue means the client is
  not keeping up: it is closed with 1008 and nobody else waits for it.

Data frames are built here (server frames are unmasked, so one notification
frame is shared by every connection); wsproto builds control frames and keeps
the closing handshake state.
"""

from __future__ import annotations

import collections
import logging
import os
from typing import TYPE_CHECKING, Any

import trio
import wsproto
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from .dispatch import Prepared
from .frames import text_frame
from .ratelimit import TokenBucket
from .table import Identity

if TYPE_CHECKING:
    from .server import RpcServer

log = logging.getLogger("camsvc.rpc.connection")

RECEIVE_BYTES = 65536
#: write answers straight to the socket when nothing is queued (see Connection.send_frame);
#: a switch so the benchmark can measure the queued-only path it replaced
DIRECT_SEND = True
#: run ``inline`` methods on the reader task (see Connection._on_message); a switch for the benchmark
INLINE_METHODS = True
#: start the writer task only while something is queued (idle connections then hold one task,
#: not two); a switch so the benchmark can measure the always-running writer it replaced
LAZY_WRITER = True
#: how long a closing handshake may take before the socket is simply closed
CLOSE_TIMEOUT = 2.0
HANDSHAKE_TIMEOUT = 10.0

# close codes (RFC 6455 §7.4.1)
NORMAL, GOING_AWAY, UNSUPPORTED_DATA, POLICY, TOO_BIG, TRY_AGAIN = 1000, 1001, 1003, 1008, 1009, 1013


def _host_only(host: str | None) -> str | None:
    """The Host header without its port ("[::1]:8002" → "::1")."""
    if not host:
        return None
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else None
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _peer_address(stream: trio.abc.Stream) -> str:
    inner: Any = stream
    while isinstance(inner, trio.SSLStream):
        inner = inner.transport_stream
    try:
        return str(inner.socket.getpeername()[0])
    except (AttributeError, OSError, IndexError):
        return "unknown"


class Connection:
    """A client connection; the server creates one per accepted socket and awaits :meth:`serve`."""

    # Slots: ten thousand idle connections are the scale target; every object and dict counts.
    __slots__ = (
        "server", "stream", "id", "address", "host", "identity", "topics", "bucket", "unanswered_pings",
        "close_code", "_proto", "_out", "_queued", "_limit", "_max_message", "_wake", "_closing", "_writing",
        "_fd", "_writer_running", "_writer_exited", "_slots", "_read_scope", "_nursery",
    )

    def __init__(self, server: RpcServer, stream: trio.abc.Stream, conn_id: str) -> None:
        cfg = server.config.server
        self.server = server
        self.stream = stream
        self.id = conn_id
        self.address = _peer_address(stream)
        self.host: str | None = None
        self.identity: Identity | None = None
        #: topic as given → device filter (spec §5; kept exactly as the client named them)
        self.topics: dict[str, str | None] = {}
        self.bucket = TokenBucket(cfg.rate_limit_per_second, cfg.rate_limit_burst)
        self.unanswered_pings = 0
        self.close_code: int | None = None
        #: the frame protocol once the handshake is done (the HTTP handshake state is then dropped)
        self._proto: wsproto.connection.Connection | None = None
        self._out: collections.deque[bytes] = collections.deque()
        self._queued = 0
        self._limit = cfg.outbound_queue
        self._max_message = cfg.max_message_bytes
        #: wakes an always-running writer (LAZY_WRITER off); None while nobody waits on it
        self._wake: trio.Event | None = None
        self._closing = False
        self._writing = False
        #: the plain TCP socket's descriptor for direct writes (-1: TLS, or closed)
        self._fd = stream.socket.fileno() if isinstance(stream, trio.SocketStream) else -1
        self._writer_running = False
        self._writer_exited: trio.Event | None = None
        #: request slots, made on the first request that needs a task (idle connections hold none)
        self._slots: trio.Semaphore | None = None
        self._read_scope = trio.CancelScope()
        self._nursery: trio.Nursery | None = None

    # --------------------------------------------------- Peer (dispatch.py)

    def take_token(self) -> float:
        return self.bucket.take()

    def authenticated(self, identity: Identity) -> None:
        first = self.identity is None
        self.identity = identity
        if first and not self.topics:
            self.server.hub.subscribe(self, self.server.default_topics)

    # --------------------------------------------------------- outbound

    def send_text(self, text: str | None) -> None:
        """Send a response (directly when the socket takes it at once)."""
        if text is not None:
            self.send_frame(text_frame(text.encode()), direct=True)

    def send_frame(self, frame: bytes, *, direct: bool = False) -> None:
        """Queue one message frame; a client whose queue is full is closed with 1008.

        ``direct`` (responses): when nothing is queued or being written, try writing the frame
        to the socket right here (non-blocking); only what does not fit goes through the
        writer. That spares a task switch per answer. Notifications never write directly, so
        a fan-out to many connections stays a quick loop of appends.
        """
        if self._closing:
            return
        if self._queued >= self._limit:
            self.server.stats.closed_by_server["slow_consumer"] += 1
            log.warning("client not keeping up; closing", extra={"connection": self.id, "queued": self._queued})
            self.close(POLICY, "outbound queue full", discard=True)
            return
        if not self._enqueue(frame, direct):
            self._queued += 1

    def _enqueue(self, data: bytes, direct: bool) -> bool:
        """Write ``data`` now (``direct`` and the socket idle and willing: True) or queue it for the writer."""
        if direct and DIRECT_SEND and self._fd >= 0 and not self._out and not self._writing:
            try:
                sent = os.write(self._fd, data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # a broken socket: the writer finds out and ends the connection
            if sent == len(data):
                return True
            data = data[sent:]
        self._out.append(data)
        if self._writer_running:
            if self._wake is not None:
                self._wake.set()
        elif self._nursery is not None:
            # The writer exists while there is something to write (idle connections hold no task for it).
            self._writer_running = True
            self._writer_exited = trio.Event()
            self._nursery.start_soon(self._writer)
        return False

    def _send_control(self, event: Ping | Pong | CloseConnection) -> None:
        if self._proto is None:
            return
        try:
            data = self._proto.send(event)
        except LocalProtocolError:
            return  # the connection is already past the point where this frame may be sent
        self._enqueue(data, direct=True)

    def ping(self) -> None:
        """Keepalive tick: drop the peer after ``missed`` unanswered pings, else ping it."""
        if self._closing:
            return
        if self.unanswered_pings >= self.server.config.server.missed_pongs:
            self.server.stats.closed_by_server["missed_pongs"] += 1
            self.close(GOING_AWAY, "keepalive timeout", discard=True)
            return
        self.unanswered_pings += 1
        self._send_control(Ping(b"ka"))

    def close(self, code: int = NORMAL, reason: str = "", *, discard: bool = False) -> None:
        """Start the closing handshake; the connection ends within CLOSE_TIMEOUT whatever the peer does."""
        if self._closing:
            return
        self.close_code = code
        if discard:
            self._out.clear()
            self._queued = 0
        self._send_control(CloseConnection(code=code, reason=reason))
        self._closing = True
        self._read_scope.deadline = min(self._read_scope.deadline, trio.current_time() + CLOSE_TIMEOUT)

    async def _writer(self) -> None:
        """Send everything queued, coalesced; ends when the queue is empty (LAZY_WRITER) or closed."""
        stream = self.stream
        out = self._out
        try:
            while True:
                if not out:
                    if self._closing or LAZY_WRITER:
                        return
                    self._wake = trio.Event()
                    await self._wake.wait()
                    continue
                data = b"".join(out) if len(out) > 1 else out[0]
                out.clear()
                self._queued = 0
                self._writing = True
                await stream.send_all(data)
                self._writing = False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._closing = True
            self._read_scope.cancel()
        finally:
            self._writer_running = False
            if self._writer_exited is not None:
                self._writer_exited.set()

    # ----------------------------------------------------------- inbound

    async def serve(self) -> None:
        """Run the connection until it is closed (by either side) or cancelled."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if not await self._handshake():
                    nursery.cancel_scope.cancel()
                    return
                if not LAZY_WRITER:
                    self._writer_running = True
                    self._writer_exited = trio.Event()
                    nursery.start_soon(self._writer)
                with self._read_scope:
                    await self._read_loop()
                if not self._closing:
                    self._closing = True
                    if self._wake is not None:
                        self._wake.set()
                # Let the writer flush what is queued (a close reply), bounded.
                if self._writer_running and self._writer_exited is not None:
                    with trio.move_on_after(CLOSE_TIMEOUT):
                        await self._writer_exited.wait()
                nursery.cancel_scope.cancel()
        finally:
            self._nursery = None
            self._closing = True
            self._fd = -1  # never write to a descriptor number the OS may hand to someone else
            await trio.aclose_forcefully(self.stream)

    async def _receive(self) -> bytes:
        try:
            return bytes(await self.stream.receive_some(RECEIVE_BYTES))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return b""

    async def _handshake(self) -> bool:
        """The HTTP upgrade: path, Origin and connection-count checks. True when accepted."""
        ws = WSConnection(ConnectionType.SERVER)
        request: Request | None = None
        with trio.move_on_after(HANDSHAKE_TIMEOUT):
            while request is None:
                data = await self._receive()
                if not data:
                    return False
                try:
                    ws.receive_data(data)
                except RemoteProtocolError as exc:
                    await self._reject_raw(ws, exc.event_hint)
                    return False
                for event in ws.events():
                    if isinstance(event, Request):
                        request = event
                        break
        if request is None:
            return False
        cfg = self.server.config
        path = request.target.split("?", 1)[0]
        if path != cfg.server.ws_path:
            await self._reject(ws, 404, "no WebSocket endpoint at this path")
            return False
        origin = next((v.decode("latin-1") for k, v in request.extra_headers if k.lower() == b"origin"), None)
        allowed = cfg.security.allowed_origins
        if allowed and origin is not None and origin not in allowed:
            self.server.stats.closed_by_server["origin"] += 1
            await self._reject(ws, 403, "origin not allowed")
            return False
        self.host = _host_only(request.host)
        try:
            await self.stream.send_all(ws.send(AcceptConnection()))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        self._proto = ws.connection
        # Bytes that came right behind the upgrade request (a client that does not wait for the
        # 101) stay in h11's buffer: wsproto's server side does not pass them on, so we do.
        h11_conn = getattr(ws.handshake, "_h11_connection", None)
        trailing = h11_conn.trailing_data[0] if h11_conn is not None else b""
        if trailing and self._proto is not None:
            self._proto.receive_data(bytes(trailing))
        if not self.server.admit(self):
            # Over max_connections: the handshake completes so the client sees a proper 1013.
            self.server.stats.closed_by_server["max_connections"] += 1
            data = ws.send(CloseConnection(code=TRY_AGAIN, reason="too many connections"))
            with trio.move_on_after(CLOSE_TIMEOUT):
                try:
                    await self.stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
            return False
        return True

    async def _reject(self, ws: WSConnection, status: int, text: str) -> None:
        body = text.encode()
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
        try:
            data = ws.send(RejectConnection(status_code=status, headers=headers, has_body=True))
            data += ws.send(RejectData(data=body, body_finished=True))
            with trio.move_on_after(CLOSE_TIMEOUT):
                await self.stream.send_all(data)
        except (LocalProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def _reject_raw(self, ws: WSConnection, hint: Any) -> None:
        if isinstance(hint, RejectConnection):
            await self._reject(ws, hint.status_code, "bad WebSocket upgrade request")

    async def _read_loop(self) -> None:
        proto = self._proto
        assert proto is not None
        parts: list[str] = []
        size = 0
        while True:
            # Events first: frames sent right behind the upgrade request are already buffered.
            for event in proto.events():
                if isinstance(event, TextMessage):
                    size += len(event.data)
                    if size > self._max_message:
                        self.close(TOO_BIG, f"message larger than {self._max_message} bytes", discard=True)
                        return
                    if not event.message_finished:
                        parts.append(event.data)
                        continue
                    if parts:
                        parts.append(event.data)
                        text = "".join(parts)
                        parts = []
                    else:
                        text = event.data
                    size = 0
                    if not self._closing:
                        await self._on_message(text)
                elif isinstance(event, Pong):
                    self.unanswered_pings = 0
                elif isinstance(event, Ping):
                    self._send_control(event.response())
                elif isinstance(event, CloseConnection):
                    # Peer closed (or sent a malformed frame: wsproto reports it as a close with 1002/1007).
                    if proto.state is wsproto.connection.ConnectionState.REMOTE_CLOSING:
                        self._send_control(event.response())
                    if event.code not in (NORMAL, GOING_AWAY, 1005):
                        self.close_code = self.close_code or event.code
                    return
                elif isinstance(event, BytesMessage):
                    self.close(UNSUPPORTED_DATA, "binary frames are not supported; send JSON text", discard=True)
                    return
            data = await self._receive()
            if not data:
                return
            try:
                proto.receive_data(data)
            except LocalProtocolError:
                return  # data after the closing handshake

    async def _on_message(self, text: str) -> None:
        server = self.server
        prepared = server.dispatcher.prepare(self, text)
        calls = prepared.calls
        if not calls:
            self.send_text(prepared.answer)
            return
        if not prepared.batch and calls[0].method.inline and INLINE_METHODS:
            self.send_text(await server.dispatcher.run(calls[0]))
            return
        if self._slots is None:
            self._slots = trio.Semaphore(server.config.server.max_concurrent_requests)
        await self._slots.acquire()
        assert self._nursery is not None
        self._nursery.start_soon(self._run, prepared)

    async def _run(self, prepared: Prepared) -> None:
        try:
            dispatcher = self.server.dispatcher
            if not prepared.batch:
                self.send_text(await dispatcher.run(prepared.calls[0]))
                return
            results: list[str | None] = [None] * len(prepared.calls)
            limiter = trio.CapacityLimiter(self.server.config.server.max_concurrent_requests)

            async def one(index: int) -> None:
                async with limiter:
                    results[index] = await dispatcher.run(prepared.calls[index])

            async with trio.open_nursery() as nursery:
                for index in range(len(prepared.calls)):
                    nursery.start_soon(one, index)
            self.send_text(prepared.assemble(results))
        finally:
            assert self._slots is not None
            self._slots.release()
