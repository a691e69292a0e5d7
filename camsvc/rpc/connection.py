"""One WebSocket client: a reader task, a bounded outbound queue and a writer task.

The socket layer drives ``wsproto`` (the HTTP upgrade, through its public API) and
our own frame parser (frames.py, the data path) directly over a trio stream (plain
TCP or TLS). Measured against trio-websocket on this service's hot path (closed-loop
ping at 50 connections), trio-websocket's own echo server reached ~3.6-4.0k msg/s
while the same JSON-RPC layering on raw wsproto reached ~6k msg/s: trio-websocket
puts every message through an extra task and channel, and its send lock allows no
write coalescing. The actor shape of the design is kept:

- the reader parses frames, answers control frames, and hands each message to
  the dispatcher: ``inline`` methods (``ping``...) are answered on the reader,
  the others run in their own task, at most ``server.max_concurrent_requests``
  at once per connection (a slow snapshot never blocks a ping);
- while the reader waits for input on a plain TCP socket, the server's poller
  (poller.py) watches the socket instead and does all of the above that needs no
  waiting in its own pass (:meth:`Connection.on_readable`): no task switch and no
  re-arming of the socket per message. The reader task is woken only for what
  must wait (a free request slot, the closing handshake, refused input) or the end
  of the input, and has the socket to itself until it waits again;
- an answer is written straight to the socket when nothing is queued and the
  socket takes it at once (direct_socket.py); everything else (notifications,
  pongs, what did not fit) waits in one queue that a writer task, started only
  while something waits, sends with one ``send_all``;
- that queue is bounded by ``server.outbound_queue`` frames and
  ``server.outbound_queue_bytes`` bytes, control frames included. Over either, the
  client is not reading: it is closed with 1008 and nobody else waits for it. Only
  our close frame may pass the bound: it is the last frame a connection ever queues.
  With what the writer has in hand, one connection holds at most twice the byte
  bound plus one frame.

Frames are built by frames.py (server frames are unmasked, so one notification
frame is shared by every connection); the connection keeps the closing-handshake
state (``_state``) wsproto kept before. All frames of one receive are handled in
one pass and the answers they produce leave in one write (``_hold``). Input the
parser refuses (1002, 1007, 1009, and 1003 for binary) fails the connection as
RFC 6455 §7.1.7 asks: our close frame with the code goes out first, then the
socket is half-closed and the peer's remaining bytes drained (bounded by
CLOSE_TIMEOUT), so the close frame is not lost to a reset.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any

import outcome
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, RejectConnection, RejectData, Request
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from ..security.identity import Identity
from . import frames
from .direct_socket import DirectSocket
from .dispatch import Prepared
from .frames import FrameReader, close_frame, ping_frame, pong_frame, text_frame

if TYPE_CHECKING:
    from .server import RpcServer

log = logging.getLogger("camsvc.rpc.connection")

#: how long each stage of a closing handshake (the peer's answer, the flush of our close frame,
#: the drain) may take before the socket is simply closed
CLOSE_TIMEOUT = 2.0
#: a closing handshake we started ends within this, whatever the peer does: its three stages
CLOSING_DEADLINE = 3 * CLOSE_TIMEOUT
HANDSHAKE_TIMEOUT = 10.0

#: frames of one receive whose answers may be held back for one write; beyond this they are flushed
HOLD_MAX = 64
OPEN, LOCAL_CLOSING, REMOTE_CLOSING, CLOSED = 0, 1, 2, 3
#: the blank line that ends an HTTP request head (h11 accepts bare LF line ends too)
_HEAD_END = re.compile(rb"\n\r?\n")

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

    # Slots: ten thousand idle connections are the scale target; every object and dict counts,
    # so small per-connection state (the token bucket) lives here rather than in objects of its own.
    __slots__ = (
        "server", "stream", "id", "address", "host", "identity", "topics", "unanswered_pings",
        "close_code", "_reader", "_state", "_hold", "_out", "_queued", "_queued_bytes", "_limit", "_limit_bytes",
        "_max_message", "_closing", "_writing", "_partial", "_socket", "_trailing", "_writer_running", "_writer_exited",
        "_slots", "_nursery", "_parked", "_rate", "_burst", "_tokens", "_stamp",
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
        #: the rate limit's token bucket (``server.rate_limit_per_second`` / ``rate_limit_burst``)
        self._rate = cfg.rate_limit_per_second
        self._burst = self._tokens = float(cfg.rate_limit_burst)
        self._stamp = time.monotonic()
        self.unanswered_pings = 0
        self.close_code: int | None = None
        #: the frame parser once the handshake is done (the HTTP handshake state is then dropped)
        self._reader: FrameReader | None = None
        #: closing handshake (RFC 6455 §7): OPEN, LOCAL_CLOSING (ours sent), REMOTE_CLOSING (theirs read), CLOSED
        self._state = OPEN
        #: while the reader handles one receive, answers are queued, not written (one write per receive)
        self._hold = False
        #: a list, not a deque: only appended, joined and cleared, and an idle connection's empty
        #: deque holds a 640-byte block (another after each clear) of 10,000 connections' memory
        self._out: list[bytes] = []
        #: frames and bytes in ``_out`` (what the writer has taken no longer counts)
        self._queued = 0
        self._queued_bytes = 0
        self._limit = cfg.outbound_queue
        self._limit_bytes = cfg.outbound_queue_bytes
        self._max_message = cfg.max_message_bytes
        self._closing = False
        self._writing = False
        #: ``_out[0]`` is the rest of a frame already partly written: it must go, whatever is discarded
        self._partial = False
        self._socket = DirectSocket(stream)
        #: bytes that arrived right behind the upgrade request
        self._trailing = b""
        self._writer_running = False
        self._writer_exited: trio.Event | None = None
        #: request slots, made on the first request that needs a task (idle connections hold none)
        self._slots: trio.Semaphore | None = None
        #: the connection's tasks (writer, requests); its cancel scope also bounds the read loop
        self._nursery: trio.Nursery | None = None
        #: the reader task while it waits for the poller to hand it input (poller.py)
        self._parked: trio.lowlevel.Task | None = None

    # --------------------------------------------------- Peer (dispatch.py)

    def take_token(self) -> float:
        """Take one token: 0.0 when granted, else the seconds until one is available."""
        now = time.monotonic()
        tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return 0.0
        self._tokens = tokens
        return (1.0 - tokens) / self._rate

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
        if self._queue_full():
            return
        self._enqueue(frame, direct)

    def _queue_full(self) -> bool:
        """True (and the client closed with 1008) when its queue is at either bound."""
        if self._queued < self._limit and self._queued_bytes < self._limit_bytes:
            return False
        self.server.stats.closed_by_server["slow_consumer"] += 1
        log.warning(
            "client not keeping up; closing",
            extra={"connection": self.id, "queued": self._queued, "queued_bytes": self._queued_bytes},
        )
        self.close(POLICY, "outbound queue full", discard=True)
        return True

    def _enqueue(self, frame: bytes, direct: bool) -> None:
        """Hold ``frame`` while the reader handles a receive, else write it now or queue it."""
        if self._hold:
            # The reader is handling one receive: everything joins the queue in order and
            # leaves in one write when it is done (_flush_out).
            self._out.append(frame)
            self._queued += 1
            self._queued_bytes += len(frame)
            if len(self._out) >= HOLD_MAX:
                self._flush_out()
            return
        self._write_or_queue(frame, direct, 1)

    def _write_or_queue(self, data: bytes, direct: bool, frames: int) -> None:
        """Write ``data`` (``frames`` frames) now when ``direct`` and the socket is idle and willing, else queue it."""
        if direct and not self._out and not self._writing:
            sent = self._socket.try_write(data)
            if sent == len(data):
                self._partial = False
                return
            if sent:
                data = data[sent:]
                self._partial = True
        self._out.append(data)
        self._queued += frames
        self._queued_bytes += len(data)
        if not self._writer_running and self._nursery is not None:
            # The writer exists while there is something to write (idle connections hold no task for it).
            self._writer_running = True
            self._writer_exited = trio.Event()
            self._nursery.start_soon(self._writer)

    def _flush_out(self) -> None:
        """Write everything queued now, in one write, unless the writer has it in hand."""
        out = self._out
        if not out or self._writer_running:
            return
        data = b"".join(out) if len(out) > 1 else out[0]
        frames = self._queued
        out.clear()
        self._queued = self._queued_bytes = 0
        self._write_or_queue(data, True, frames)

    def _send_control(self, frame: bytes, *, closing: bool = False) -> None:
        """Queue a control frame; ping/pong only while OPEN, close while OPEN or answering the peer's.

        Pings and pongs count against the queue's bounds like any frame (a peer that sends
        pings and reads nothing is closed with 1008); the close frame is the last frame the
        connection sends, so it alone may go past them.
        """
        state = self._state
        if self._reader is None or not (state == OPEN or (closing and state == REMOTE_CLOSING)):
            return  # the connection is already past the point where this frame may be sent
        if closing:
            self._state = LOCAL_CLOSING if state == OPEN else CLOSED
        elif self._queue_full():
            return
        self._enqueue(frame, True)

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
        """Start the closing handshake; the connection ends within CLOSING_DEADLINE whatever the peer does."""
        if self._closing:
            return
        self.close_code = code
        if discard:
            out = self._out
            rest = out[0] if self._partial and out else b""
            self._partial = bool(rest)
            out.clear()
            self._queued = self._queued_bytes = 0
            if rest:  # cutting a frame short would turn our close frame into part of its payload
                out.append(rest)
                self._queued, self._queued_bytes = 1, len(rest)
        self._send_control(close_frame(code, reason), closing=True)
        self._closing = True
        if self._nursery is not None:
            scope = self._nursery.cancel_scope
            scope.deadline = min(scope.deadline, trio.current_time() + CLOSING_DEADLINE)

    async def _writer(self) -> None:
        """Send everything queued, coalesced; ends when the queue is empty."""
        stream = self.stream
        out = self._out
        try:
            while out:
                data = b"".join(out) if len(out) > 1 else out[0]
                out.clear()
                self._queued = self._queued_bytes = 0
                self._partial = False
                self._writing = True
                await stream.send_all(data)
                self._writing = False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._closing = True
            if self._nursery is not None:
                self._nursery.cancel_scope.cancel()
        finally:
            self._writing = False
            self._writer_running = False
            if self._writer_exited is not None:
                self._writer_exited.set()

    # ----------------------------------------------------------- inbound

    async def serve(self) -> None:
        """Run the connection until it is closed (by either side) or cancelled: the server's handler.

        An idle connection is this one task waiting to read, and its nursery (for the writer
        and request tasks). The nursery's cancel scope is also the read loop's: close() puts
        its deadline on it, so the reading for the peer's answer, the flush and the drain end
        within CLOSING_DEADLINE in all; no scope of its own per connection (10,000 idle ones
        add up).
        """
        try:
            try:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    reader = await self._handshake()
                    if reader is not None:
                        await self._read_loop(reader, nursery)
                        self._closing = True
                        # Let the writer flush what is queued (a close reply), bounded.
                        if self._writer_running and self._writer_exited is not None:
                            with trio.move_on_after(CLOSE_TIMEOUT):
                                await self._writer_exited.wait()
                        if self._state == LOCAL_CLOSING:  # our close frame went unanswered
                            with trio.move_on_after(CLOSE_TIMEOUT):
                                await self._drain()
                    nursery.cancel_scope.cancel()
            finally:
                self._nursery = None
                self._closing = True
                self._socket.detach()  # never write to a descriptor number the OS may hand to someone else
                await trio.aclose_forcefully(self.stream)
        except Exception:  # one connection's failure must never take the server down
            log.exception("connection failed", extra={"connection": self.id})
        finally:
            self.server.release(self)

    async def _drain(self) -> None:
        """After a close frame of ours the peer did not answer: half-close, then read until it closes too.

        Closing a socket whose receive buffer holds unread bytes sends a reset, and a reset
        discards what is still queued to send, our close frame with it (a failed peer is
        often still sending). The half-close lets a peer that waits for the server to close
        first (RFC 6455 §7.1.1) see that we are done.
        """
        if isinstance(self.stream, trio.abc.HalfCloseableStream):
            try:
                await self.stream.send_eof()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
        while await self._socket.receive():
            pass

    async def _read_request(self, ws: WSConnection) -> Request | None:
        """Feed the upgrade request to wsproto; the bytes behind its head go to ``_trailing``.

        wsproto's server side keeps bytes that arrive right behind the request (a client that
        sends frames without waiting for the 101) to itself, so the head is cut off here and
        only the head is fed to it.
        """
        head = bytearray()
        while True:
            data = await self._socket.receive()
            if not data:
                return None
            seen = len(head)
            head += data
            end = _HEAD_END.search(head, max(0, seen - 2))
            if end is not None:
                self._trailing = bytes(head[end.end():])
                data = data[: len(data) - len(self._trailing)]
            try:
                ws.receive_data(data)
            except RemoteProtocolError as exc:
                await self._reject_raw(ws, exc.event_hint)
                return None
            for event in ws.events():
                if isinstance(event, Request):
                    return event
            if end is not None:  # a complete head that is no upgrade request
                await self._reject(ws, 400, "bad WebSocket upgrade request")
                return None

    async def _handshake(self) -> FrameReader | None:
        """The HTTP upgrade: path, Origin and connection-count checks; the frame reader when accepted."""
        ws = WSConnection(ConnectionType.SERVER)
        request: Request | None = None
        with trio.move_on_after(HANDSHAKE_TIMEOUT):
            request = await self._read_request(ws)
        if request is None:
            return None
        cfg = self.server.config
        path = request.target.split("?", 1)[0]
        if path != cfg.server.ws_path:
            await self._reject(ws, 404, "no WebSocket endpoint at this path")
            return None
        origin = next((v.decode("latin-1") for k, v in request.extra_headers if k.lower() == b"origin"), None)
        allowed = cfg.security.allowed_origins
        if allowed and origin is not None and origin not in allowed:
            self.server.stats.closed_by_server["origin"] += 1
            await self._reject(ws, 403, "origin not allowed")
            return None
        self.host = _host_only(request.host)
        try:
            await self.stream.send_all(ws.send(AcceptConnection()))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return None
        reader = self._reader = FrameReader(self._max_message)
        if not self.server.admit(self):
            # Over max_connections: the handshake completes so the client sees a proper 1013.
            self.server.stats.closed_by_server["max_connections"] += 1
            data = close_frame(TRY_AGAIN, "too many connections")
            with trio.move_on_after(CLOSE_TIMEOUT):
                try:
                    await self.stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
            return None
        return reader

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

    async def _read_loop(self, reader: FrameReader, nursery: trio.Nursery) -> None:
        data, self._trailing = self._trailing, b""
        events: list[Any] | None = reader.feed(data) if data else []
        try:
            while events is not None:
                if events:
                    self._hold = True
                    try:
                        if not await self._on_frames(events, nursery):
                            return
                    finally:
                        self._hold = False
                        self._flush_out()
                events = await self._next_events(reader)
        finally:
            self.server.poller.forget(self._socket.fd)

    async def _next_events(self, reader: FrameReader) -> list[Any] | None:
        """The events of the next input the reader task must handle; None at the end of the input.

        A plain TCP socket is handed to the poller while the reader waits: what needs no
        waiting is handled there (:meth:`on_readable`) and this returns only with the rest.
        """
        fd = self._socket.fd
        if fd >= 0 and self.server.poller.arm(fd, self):
            self._parked = trio.lowlevel.current_task()
            rest: list[Any] | None = await trio.lowlevel.wait_task_rescheduled(self._unpark)
            return rest
        data = await self._socket.receive()
        if not data or self._state == CLOSED:
            return None  # closed, or data after the closing handshake
        return reader.feed(data)

    def _unpark(self, _: Any) -> trio.lowlevel.Abort:
        """The waiting reader is cancelled (close timeout, shutdown): it takes its socket back."""
        self._parked = None
        self.server.poller.pause(self._socket.fd)
        return trio.lowlevel.Abort.SUCCEEDED

    def on_readable(self) -> None:
        """The poller saw input while the reader task waits: handle here all that needs no waiting.

        The reader task is woken with the events from the first one that needs it (a request
        waiting for a slot, the peer's close, refused input), with None at the end of the
        input, or with what went wrong.
        """
        task, reader = self._parked, self._reader
        if task is None or reader is None:
            return
        try:
            rest = self._input_now(reader)
        except Exception as exc:  # a bug: it fails this connection (in its own task), not the poller
            self._wake(task, outcome.Error(exc))
            return
        if rest is None or rest:
            self._wake(task, outcome.Value(rest))

    def _input_now(self, reader: FrameReader) -> list[Any] | None:
        """Read and handle what needs no waiting; the events the reader task must continue with
        ([] when none: the reader sleeps on), None at the end of the input."""
        data = self._socket.read_now()
        if data is None:
            return []  # nothing there after all
        if not data or self._state == CLOSED:
            return None  # closed, or data after the closing handshake
        events = reader.feed(data)
        self._hold = True
        try:
            done = self._handle_now(events, 0)
        finally:
            self._hold = False
            self._flush_out()
        return events[done:]

    def _wake(self, task: trio.lowlevel.Task, result: outcome.Outcome[list[Any] | None]) -> None:
        self._parked = None
        self.server.poller.pause(self._socket.fd)
        trio.lowlevel.reschedule(task, result)

    async def _on_frames(self, events: list[Any], nursery: trio.Nursery) -> bool:
        """Handle the frames of one receive; False when the connection is done reading."""
        index = self._handle_now(events, 0)
        while index < len(events):
            event = events[index]
            if type(event) is not Prepared:
                return self._on_end(event)
            # A request waiting for a free slot: what is answered so far goes now, and nothing
            # more is read until it has one.
            self._flush_out()
            slots = self._slots
            assert slots is not None
            await slots.acquire()
            nursery.start_soon(self._run, event, slots)
            index = self._handle_now(events, index + 1)
        return True

    def _handle_now(self, events: list[Any], start: int) -> int:
        """Handle ``events`` from ``start`` on up to the first that needs the reader task; its index.

        A request that must wait for a request slot replaces its text in ``events`` with its
        :class:`Prepared` form (it is checked and counted once). ``len(events)``: all handled.
        """
        for index in range(start, len(events)):
            event = events[index]
            kind = type(event)
            if kind is str:
                if not self._closing:
                    waiting = self._on_message(event)
                    if waiting is not None:
                        events[index] = waiting
                        return index
            elif kind is Prepared:
                return index
            elif event[0] == frames.PONG:
                self.unanswered_pings = 0
            elif event[0] == frames.PING:
                self._send_control(pong_frame(event[1]))
            else:
                return index
        return len(events)

    def _on_end(self, event: tuple[Any, ...]) -> bool:
        """The peer's close or input we refuse: the last event the connection reads (returns False)."""
        kind = event[0]
        if kind == frames.CLOSE:
            code = event[1]
            if self._state == OPEN:  # the peer started the closing handshake: answer it
                self._state = REMOTE_CLOSING
                self._send_control(close_frame(code, event[2]), closing=True)
            else:
                self._state = CLOSED
            if code not in (NORMAL, GOING_AWAY, 1005):
                self.close_code = self.close_code or code
            return False
        # Input we refuse: a malformed frame (1002), text that is not UTF-8 (1007),
        # a binary frame (1003) or a message too big (1009). Fail the connection.
        if kind == frames.FAIL:
            code, reason = event[1], event[2]
        elif kind == frames.BINARY:
            code, reason = UNSUPPORTED_DATA, "binary frames are not supported; send JSON text"
        else:
            code, reason = TOO_BIG, event[1]
        self.close(code, reason, discard=True)
        return False

    def _on_message(self, text: str) -> Prepared | None:
        """Answer one message, or start its request task; the request itself when it must wait for a slot."""
        server = self.server
        prepared = server.dispatcher.prepare(self, text)
        calls = prepared.calls
        if not calls:
            self.send_text(prepared.answer)
            return None
        if not prepared.batch and calls[0].method.inline:
            self.send_text(server.dispatcher.run_now(calls[0]))
            return None
        slots = self._slots
        if slots is None:
            slots = self._slots = trio.Semaphore(server.config.server.max_concurrent_requests)
        if not slots.value:
            return prepared
        slots.acquire_nowait()
        assert self._nursery is not None  # set for as long as the connection serves
        self._nursery.start_soon(self._run, prepared, slots)
        return None

    async def _run(self, prepared: Prepared, slots: trio.Semaphore) -> None:
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
            slots.release()
