"""The data-path frame parser (camsvc/rpc/frames.py) against wsproto's verdicts.

The server used wsproto for every frame before; the hand-written parser must read
the same messages and refuse the same malformed input with the same close codes.
Random frame sequences (well-formed and not, split at random points) go through
both and the outcomes are compared.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsproto import WSConnection
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Ping, Pong, Request, TextMessage

from camsvc.app import Service
from camsvc.rpc import frames
from camsvc.rpc.frames import FrameReader, close_frame, text_frame, unmask
from tests.rpc_client import running_service, token_for


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, masked: bool = True,
                 length_form: str = "min") -> bytes:
    """A client → server frame built by hand, with knobs to make it malformed."""
    n = len(payload)
    head = bytes(((0x80 if fin else 0) | (rsv << 4) | opcode,))
    mask_bit = 0x80 if masked else 0
    if length_form == "min":
        length_form = "7" if n < 126 else "16" if n < 65536 else "64"
    if length_form == "7":
        head += bytes((mask_bit | n,))
    elif length_form == "16":
        head += bytes((mask_bit | 126,)) + struct.pack("!H", n)
    else:
        head += bytes((mask_bit | 127,)) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def wsproto_outcome(chunks: list[bytes]) -> list[Any]:
    conn = Connection(ConnectionType.SERVER)
    out: list[Any] = []
    parts: list[str] = []
    for chunk in chunks:
        conn.receive_data(chunk)
        for event in conn.events():
            if isinstance(event, TextMessage):
                parts.append(event.data)
                if event.message_finished:
                    out.append("".join(parts))
                    parts = []
            elif isinstance(event, Ping):
                out.append((frames.PING, bytes(event.payload)))
            elif isinstance(event, Pong):
                out.append((frames.PONG,))
            elif isinstance(event, BytesMessage):
                return [*out, (frames.BINARY,)]
            elif isinstance(event, CloseConnection):
                # A peer's close moves wsproto to REMOTE_CLOSING; a parse failure leaves it OPEN.
                kind = frames.CLOSE if conn.state is ConnectionState.REMOTE_CLOSING else frames.FAIL
                return [*out, (kind, int(event.code))]
    return out


def reader_outcome(chunks: list[bytes]) -> list[Any]:
    reader = FrameReader(1 << 30)
    out: list[Any] = []
    for chunk in chunks:
        for event in reader.feed(chunk):
            if isinstance(event, str) or event[0] in (frames.PING, frames.PONG, frames.BINARY):
                out.append(event)
            else:
                out.append((event[0], event[1]))
        if reader.done:
            break
    return out


texts = st.text(max_size=40)
payloads = st.one_of(texts.map(str.encode), st.binary(max_size=40),
                     st.sampled_from([b"\xff", b"\xc3", "é".encode()[:1], "a€b".encode()[:3]]))
close_payloads = st.one_of(
    st.just(b""), st.binary(min_size=1, max_size=1),
    st.tuples(st.sampled_from([999, 1000, 1001, 1004, 1005, 1006, 1012, 1014, 1015, 2999, 3000, 4999, 5000]),
              st.binary(max_size=6)).map(lambda t: struct.pack("!H", t[0]) + t[1]),
)


@st.composite
def frame_specs(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["text", "cont", "bin", "ping", "pong", "close", "bad"]))
    fin = draw(st.booleans()) if kind in ("text", "cont") else True
    opcode = {"text": 1, "cont": 0, "bin": 2, "ping": 9, "pong": 10, "close": 8}.get(kind, 0)
    payload = draw(close_payloads) if kind == "close" else draw(payloads)
    if kind != "bad":
        return client_frame(opcode, payload, fin=fin)
    flaw = draw(st.sampled_from(["opcode", "rsv", "unmasked", "frag_ctl", "len16", "len64", "long_ctl", "big"]))
    if flaw == "opcode":
        return client_frame(draw(st.sampled_from([3, 7, 0xB, 0xF])), payload)
    if flaw == "rsv":
        return client_frame(1, payload, rsv=draw(st.integers(1, 7)))
    if flaw == "unmasked":
        return client_frame(1, payload, masked=False)
    if flaw == "frag_ctl":
        return client_frame(9, payload, fin=False)
    if flaw == "len16":
        return client_frame(1, payload, length_form="16")
    if flaw == "len64":
        return client_frame(1, payload, length_form="64")
    if flaw == "long_ctl":
        return client_frame(9, b"x" * 126)
    return client_frame(1, ("é" * draw(st.integers(60, 40000))).encode())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frame_specs(), min_size=1, max_size=8), st.lists(st.integers(1, 200), max_size=6))
def test_same_outcome_as_wsproto(specs: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(specs)
    chunks, pos = [], 0
    for cut in cuts:
        chunks.append(stream[pos:pos + cut])
        pos += cut
    chunks.append(stream[pos:])
    chunks = [c for c in chunks if c]
    assert reader_outcome(chunks) == wsproto_outcome(chunks)


def test_several_frames_in_one_receive_and_control_frames_between_fragments() -> None:
    data = (client_frame(1, b"one") + client_frame(1, b'{"a"', fin=False) + client_frame(9, b"hi")
            + client_frame(0, b":1}") + client_frame(10, b""))
    assert FrameReader(1024).feed(data) == ["one", (frames.PING, b"hi"), '{"a":1}', (frames.PONG,)]


def test_a_frame_split_byte_by_byte_is_reassembled() -> None:
    data = client_frame(1, ("x" * 300).encode())
    reader = FrameReader(1024)
    events: list[Any] = []
    for i in range(len(data)):
        events += reader.feed(data[i:i + 1])
    assert events == ["x" * 300]


def test_size_limit_counts_characters_and_refuses_declared_giants_early() -> None:
    limit = 1024
    too_big = (frames.TOO_BIG, "message larger than 1024 characters")
    assert FrameReader(limit).feed(client_frame(1, ("é" * limit).encode())) == ["é" * limit]  # 2048 bytes, 1024 chars
    assert FrameReader(limit).feed(client_frame(1, b"x" * (limit + 1))) == [too_big]
    # Only the header of a 1 GiB frame has arrived: refused without waiting for its bytes.
    header = bytes((0x81, 0xFF)) + struct.pack("!Q", 1 << 30) + b"mask"
    reader = FrameReader(limit)
    assert reader.feed(header) == [too_big]
    assert reader.done and reader.feed(client_frame(1, b"late")) == []
    fragmented = client_frame(1, b"x" * 600, fin=False) + client_frame(0, b"y" * 600)
    assert FrameReader(limit).feed(fragmented) == [too_big]


def test_unmask_round_trips_every_length() -> None:
    mask = b"\x12\x34\x56\x78"
    for n in range(0, 70):
        data = os.urandom(n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        assert unmask(masked, mask) == data


def test_server_frames_parse_in_wsproto_client() -> None:
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(text_frame(b"hello") + text_frame(b"x" * 70000) + close_frame(1009, "r" * 200))
    events = list(client.events())
    assert [e.data for e in events if isinstance(e, TextMessage)] == ["hello", "x" * 70000]
    close = events[-1]
    assert isinstance(close, CloseConnection) and close.code == 1009 and close.reason == "r" * 123
    assert close_frame(None) == close_frame(1005) == b"\x88\x00"


async def test_many_requests_in_one_write_are_all_answered_in_order(service: Service) -> None:
    """More frames in one receive than the server holds back before flushing (HOLD_MAX)."""
    count = 300
    stream = await trio.open_tcp_stream("127.0.0.1", service.extras["rpc"].bound_port)
    async with stream:
        client = WSConnection(ConnectionType.CLIENT)
        await stream.send_all(client.send(Request(host="127.0.0.1", target="/ws")))
        requests = b"".join(client_frame(1, b'{"jsonrpc":"2.0","id":%d,"method":"ping"}' % i) for i in range(count))
        await stream.send_all(requests + client_frame(9, b"between") + client_frame(1, b'{"jsonrpc":"2.0","id":"last","method":"ping"}'))
        texts: list[str] = []
        pongs: list[bytes] = []
        accepted = False
        with trio.fail_after(8):
            while len(texts) < count + 1:
                data = await stream.receive_some(65536)
                assert data, "server closed the connection"
                client.receive_data(data)
                for event in client.events():
                    accepted |= isinstance(event, AcceptConnection)
                    if isinstance(event, TextMessage):
                        texts.append(event.data)
                    elif isinstance(event, Pong):
                        pongs.append(bytes(event.payload))
    assert accepted and pongs == [b"between"]
    assert texts == [f'{{"jsonrpc":"2.0","id":{i},"result":"pong"}}' for i in range(count)] + [
        '{"jsonrpc":"2.0","id":"last","result":"pong"}'
    ]


class GatedDispatcher:
    """The real dispatcher, except that ``list_snapshots`` waits for ``release``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.release = trio.Event()
        #: list_snapshots calls waiting for ``release``
        self.waiting = 0

    def prepare(self, peer: Any, text: str) -> Any:
        return self.inner.prepare(peer, text)

    async def run(self, call: Any) -> Any:
        if call.method.name == "list_snapshots":
            self.waiting += 1
            await self.release.wait()
        return await self.inner.run(call)

    def run_now(self, call: Any) -> Any:
        return self.inner.run_now(call)


async def test_answers_held_for_one_write_leave_when_the_reader_waits_for_a_slot(tmp_path: Path) -> None:
    """A reader that must wait for a request slot first sends what it has answered so far."""
    async with running_service(tmp_path, server={"max_concurrent_requests": 1}) as svc:
        rpc = svc.extras["rpc"]
        gate = GatedDispatcher(rpc.dispatcher)
        rpc.dispatcher = gate
        token = token_for(svc, "viewer")
        stream = await trio.open_tcp_stream("127.0.0.1", rpc.bound_port)
        async with stream:
            client = WSConnection(ConnectionType.CLIENT)
            await stream.send_all(client.send(Request(host="127.0.0.1", target="/ws")))

            def request(id_: int, method: str, **params: str) -> bytes:
                return client_frame(1, json.dumps({"jsonrpc": "2.0", "id": id_, "method": method, "params": params}).encode())

            await stream.send_all(
                request(0, "authenticate", auth_token=token)  # inline: answered on the reader
                + request(1, "list_snapshots")  # takes the only slot, then waits
                + request(2, "ping")  # inline
                + request(3, "list_snapshots")  # the reader waits for the slot
            )
            answers: list[Any] = []
            with trio.fail_after(5):
                while len(answers) < 2:
                    client.receive_data(await stream.receive_some(65536))
                    answers += [json.loads(e.data) for e in client.events() if isinstance(e, TextMessage)]
            assert [a["id"] for a in answers] == [0, 2] and "result" in answers[0]
            gate.release.set()
            with trio.fail_after(5):
                while len(answers) < 4:
                    client.receive_data(await stream.receive_some(65536))
                    answers += [json.loads(e.data) for e in client.events() if isinstance(e, TextMessage)]
            assert [a["id"] for a in answers] == [0, 2, 1, 3]
