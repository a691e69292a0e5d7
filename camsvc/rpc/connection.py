"""One WebSocket client: a reader task, a bounded outbound queue and a writer task.

The socket layer drives ``wsproto`` (the HTTP upgrade) and our own frame parser
(frames.py, the data path) directly over a trio stream (plain TCP or TLS). Measured against trio-websocket on this service's hot path (closed-loop ping
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

Frames are built by frames.py (server frames are unmasked, so one notification
frame is shared by every connection); the connection keeps the closing-handshake
state (``_state``) wsproto kept before. All frames of one receive are handled in
one pass and the answers they produce leave in one write (``_hold``).
"""

from __future__ import annotations

import collections
import logging
import os
from typing import TYPE_CHECKING, Any

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, RejectConnection, RejectData, Request
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from ..security.identity import Identity
from . import frames
from .dispatch import Prepared
from .frames import FrameReader, close_frame, ping_frame, pong_frame, text_frame
from .ratelimit import TokenBucket

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

#: frames of one receive whose answers may be held back for one write; beyond this they are flushed
HOLD_MAX = 64
OPEN, LOCAL_CLOSING, REMOTE_CLOSING, CLOSED = 0, 1, 2, 3

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
        "close_code", "_reader", "_state", "_hold", "_out", "_queued", "_limit", "_max_message", "_wake", "_closing", "_writing",
        "_fd", "_trailing", "_writer_running", "_writer_exited", "_slots", "_read_scope", "_nursery",
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
        #: the frame parser once the handshake is done (the HTTP handshake state is then dropped)
        self._reader: FrameReader | None = None
        #: closing handshake (RFC 6455 §7): OPEN, LOCAL_CLOSING (ours sent), REMOTE_CLOSING (theirs read), CLOSED
        self._state = OPEN
        #: while the reader handles one receive, answers are queued, not written (one write per receive)
        self._hold = False
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
        #: bytes that arrived right behind the upgrade request
        self._trailing = b""
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
        if self._hold:
            # The reader is handling one receive: everything joins the queue in order and
            # leaves in one write when it is done (_flush_out).
            self._out.append(data)
            if len(self._out) >= HOLD_MAX:
                self._hold = False
                self._flush_out()
                self._hold = True
            return False
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

    def _flush_out(self) -> None:
        """Write everything queued now, in one write, unless the writer has it in hand."""
        out = self._out
        if not out:
            return
        if self._writer_running:
            if self._wake is not None:
                self._wake.set()
            return
        data = b"".join(out) if len(out) > 1 else out[0]
        out.clear()
        if self._enqueue(data, direct=True):
            self._queued = 0

    def _send_control(self, frame: bytes, *, closing: bool = False) -> None:
        """Queue a control frame; ping/pong only while OPEN, close while OPEN or answering the peer's."""
        state = self._state
        if self._reader is None or not (state == OPEN or (closing and state == REMOTE_CLOSING)):
            return  # the connection is already past the point where this frame may be sent
        if closing:
            self._state = LOCAL_CLOSING if state == OPEN else CLOSED
        self._enqueue(frame, direct=True)

    def ping(self) -> None:
        """Keepalive tick: drop the peer after ``missed`` unanswered pings, else ping it."""
        if self._closing:
            return
        if self.unanswered_pings >= self.server.config.server.missed_pongs:
            self.server.stats.closed_by_server["missed_pongs"] += 1
            self.close(GOING_AWAY, "keepalive timeout", discard=True)
            return
        self.unanswered_pings += 1
        self._send_control(ping_frame(b"ka"))

    def close(self, code: int = NORMAL, reason: str = "", *, discard: bool = False) -> None:
        """Start the closing handshake; the connection ends within CLOSE_TIMEOUT whatever the peer does."""
        if self._closing:
            return
        self.close_code = code
        if discard:
            self._out.clear()
            self._queued = 0
        self._send_control(close_frame(code, reason), closing=True)
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

    async def _receive_frames(self) -> bytes:
        """The next bytes from the peer (b"": closed).

        On plain TCP this waits for readability and then reads once: a receive_some tries
        the read first, and on a request/answer connection that try nearly always fails
        (the next request is not there yet right after the answer), a wasted system call
        per message. Waiting first keeps one read per message and a checkpoint per read.
        """
        fd = self._fd
        if fd < 0:
            return await self._receive()
        try:
            await trio.lowlevel.wait_readable(fd)
            return os.read(fd, RECEIVE_BYTES)
        except (BlockingIOError, InterruptedError):
            return await self._receive()  # woken without data after all: the general path
        except (OSError, trio.ClosedResourceError):
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
        self._reader = FrameReader(self._max_message)
        # Bytes that came right behind the upgrade request (a client that does not wait for the
        # 101) stay in h11's buffer: wsproto's server side does not pass them on, so we do.
        h11_conn = getattr(ws.handshake, "_h11_connection", None)
        self._trailing = bytes(h11_conn.trailing_data[0]) if h11_conn is not None else b""
        if not self.server.admit(self):
            # Over max_connections: the handshake completes so the client sees a proper 1013.
            self.server.stats.closed_by_server["max_connections"] += 1
            data = close_frame(TRY_AGAIN, "too many connections")
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
        reader = self._reader
        assert reader is not None
        data, self._trailing = self._trailing, b""
        while True:
            if data:
                if self._state == CLOSED:
                    return  # data after the closing handshake
                self._hold = True
                try:
                    if not await self._on_frames(reader.feed(data)):
                        return
                finally:
                    self._hold = False
                    self._flush_out()
            data = await self._receive_frames()
            if not data:
                return

    async def _on_frames(self, events: list[Any]) -> bool:
        """Handle the frames of one receive; False when the connection is done reading."""
        for event in events:
            if type(event) is str:
                if not self._closing:
                    await self._on_message(event)
                continue
            kind = event[0]
            if kind == frames.PONG:
                self.unanswered_pings = 0
            elif kind == frames.PING:
                self._send_control(pong_frame(event[1]))
            elif kind == frames.CLOSE:
                code = event[1]
                if self._state == OPEN:  # the peer started the closing handshake: answer it
                    self._state = REMOTE_CLOSING
                    self._send_control(close_frame(code, event[2]), closing=True)
                else:
                    self._state = CLOSED
                if code not in (NORMAL, GOING_AWAY, 1005):
                    self.close_code = self.close_code or code
                return False
            elif kind == frames.FAIL:
                # A malformed frame (1002) or text that is not UTF-8 (1007): the socket is simply closed.
                self.close_code = self.close_code or event[1]
                return False
            elif kind == frames.BINARY:
                self.close(UNSUPPORTED_DATA, "binary frames are not supported; send JSON text", discard=True)
                return False
            else:  # TOO_BIG
                self.close(TOO_BIG, f"message larger than {self._max_message} bytes", discard=True)
                return False
        return True

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
        if not self._slots.value:
            self._flush_out()  # about to wait for a free slot: what is answered so far goes now
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
