"""Hostile peers at the frame level: bounded memory per connection, and failures that say why.

Raw sockets throughout: the clients here do what no well-behaved library would
(ping without reading, never finish a message, send malformed frames).
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import trio
import wsproto
from wsproto.events import AcceptConnection, CloseConnection, Request

from camsvc.app import Service
from camsvc.rpc import apidocs, frames
from camsvc.rpc.frames import MAX_FRAGMENTS, FrameReader
from tests.rpc.test_frames import client_frame
from tests.rpc_client import apoll, rpc_client, running_service, ws_url

PONG_FRAME = 2 + 125  # header + the largest control payload


async def open_raw(service: Service, *, receive_buffer: int | None = None) -> tuple[trio.SocketStream, wsproto.WSConnection]:
    """A WebSocket connection on a bare socket, upgrade done (a small ``receive_buffer`` makes a slow reader)."""
    sock = trio.socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    await sock.connect(("127.0.0.1", service.extras["rpc"].bound_port))
    stream = trio.SocketStream(sock)
    ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    await stream.send_all(ws.send(Request(host="127.0.0.1", target="/ws")))
    with trio.fail_after(5):
        while True:
            ws.receive_data(await stream.receive_some(4096))
            if any(isinstance(e, AcceptConnection) for e in ws.events()):
                return stream, ws


async def close_frame_received(stream: trio.SocketStream, ws: wsproto.WSConnection) -> CloseConnection:
    """Read to the end of the connection; the server's close frame."""
    close: CloseConnection | None = None
    with trio.fail_after(8):
        while True:
            try:
                data = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                data = b""
            ws.receive_data(data or None)
            for event in ws.events():
                if isinstance(event, CloseConnection) and close is None:
                    close = event
            if not data:
                break
    assert close is not None, "the connection ended without a close frame"
    return close


# ----------------------------------------------------------------- the frame parser


def test_one_message_takes_at_most_max_fragments_frames() -> None:
    first = client_frame(1, b"{", fin=False)
    empty = client_frame(0, b"", fin=False)
    last = client_frame(0, b"}")
    assert FrameReader(1024).feed(first + empty * (MAX_FRAGMENTS - 2) + last) == ["{}"]
    reader = FrameReader(1024)
    events = reader.feed(first + empty * (MAX_FRAGMENTS - 1) + last)
    assert events == [(frames.TOO_BIG, f"message in more than {MAX_FRAGMENTS} frames")]
    assert reader.done
    assert f"at most {MAX_FRAGMENTS} frames" in apidocs.HEADER  # docs/api.md states the limit


def test_empty_continuation_frames_hold_no_memory() -> None:
    """Before the cap trips, empty fragments leave nothing behind (5M of them once grew 38 MB)."""
    reader = FrameReader(1024)
    reader.feed(client_frame(1, b"[", fin=False) + client_frame(0, b"", fin=False) * (MAX_FRAGMENTS - 2))
    message = reader._message
    assert message is not None and message.parts == ["["] and message.frames == MAX_FRAGMENTS - 1


# ---------------------------------------------------------- outbound queue bounds


@pytest.mark.parametrize(
    ("queue", "queue_bytes"),
    [(16, 1 << 30), (1 << 20, 65536)],
    ids=["frame-bound", "byte-bound"],
)
async def test_a_peer_that_pings_and_never_reads_is_closed_with_1008(tmp_path: Path, queue: int, queue_bytes: int) -> None:
    """Pongs count against the outbound bounds: queued bytes stay bounded, then the peer is closed."""
    bound = min(queue * PONG_FRAME, queue_bytes) + PONG_FRAME
    async with running_service(tmp_path, server={"outbound_queue": queue, "outbound_queue_bytes": queue_bytes}) as svc:
        rpc = svc.extras["rpc"]
        stream, ws = await open_raw(svc, receive_buffer=4096)
        pings = client_frame(9, b"p" * 125) * 1000
        high_water = 0
        done = trio.Event()

        async def watch_queues() -> None:
            nonlocal high_water
            while not done.is_set():
                for conn in rpc.clients():
                    high_water = max(high_water, sum(len(chunk) for chunk in conn._out))
                await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_queues)
            with trio.fail_after(8):
                while not rpc.stats.closed_by_server["slow_consumer"]:
                    await stream.send_all(pings)  # 1000 pings, 131 kB: the server reads while we write
            done.set()
        assert high_water <= bound
        async with stream:
            close = await close_frame_received(stream, ws)
        assert (close.code, close.reason) == (1008, "outbound queue full")
        async with rpc_client(ws_url(svc)) as other:  # nobody else waited for it
            assert await other.call("ping") == "pong"


# ------------------------------------------------- failing the connection (RFC 6455 §7.1.7)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (client_frame(1, b"{}", rsv=4), 1002),  # a reserved bit
        (client_frame(0, b"{}"), 1002),  # a continuation with no message open
        (client_frame(1, b"\xff\xfe"), 1007),  # text that is not UTF-8
        (client_frame(1, b"x" * 5000), 1009),  # over max_message_bytes
        (client_frame(1, b"[", fin=False) + client_frame(0, b"", fin=False) * MAX_FRAGMENTS, 1009),  # too many frames
        (client_frame(2, b"\x00"), 1003),  # binary
    ],
    ids=["reserved-bit", "stray-continuation", "invalid-utf8", "too-big", "too-many-fragments", "binary"],
)
async def test_refused_input_gets_a_close_frame_with_its_code(tmp_path: Path, frame: bytes, code: int) -> None:
    async with running_service(tmp_path, server={"max_message_bytes": 1024}) as svc:
        stream, ws = await open_raw(svc)
        async with stream:
            await stream.send_all(frame)
            close = await close_frame_received(stream, ws)
        assert close.code == code
        await apoll(lambda: not svc.extras["rpc"].connections, what="the connection to end")


async def test_a_failed_peer_still_sending_gets_the_close_frame(tmp_path: Path) -> None:
    """Bytes the server never reads must not turn its FIN into a reset that destroys the close frame."""
    async with running_service(tmp_path, server={"max_message_bytes": 1024}) as svc:
        stream, ws = await open_raw(svc)
        async with stream:
            # Declares a 1 MiB message, refused at its header; the rest keeps arriving.
            giant = client_frame(1, b"x" * (1 << 20))
            await stream.send_all(giant[:64])
            close: CloseConnection | None = None
            with trio.fail_after(8):
                await stream.send_all(giant[64:])
                close = await close_frame_received(stream, ws)
        assert close.code == 1009
