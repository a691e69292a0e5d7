"""The WebSocket layer: handshake checks, limits, close codes, keepalive, TLS."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

import pytest
import trio
import trio.testing
import wsproto
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request

from camsvc.app import Service
from tests.rpc_client import apoll, rpc_client, running_service, service_config, ws_url


async def test_wrong_path_is_rejected_with_404(service: Service) -> None:
    with pytest.raises(ConnectionRejected) as err:
        async with open_websocket_url(ws_url(service).replace("/ws", "/nope")):
            pass
    assert err.value.status_code == 404


async def test_plain_http_request_is_rejected(service: Service) -> None:
    port = service.extras["rpc"].bound_port
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
        with trio.fail_after(5):
            data = await stream.receive_some(4096)
    assert data.startswith(b"HTTP/1.1 4")


async def test_origin_allow_list(tmp_path: Path) -> None:
    async with running_service(tmp_path, security={"allowed_origins": ["https://app.example"]}) as svc:
        with pytest.raises(ConnectionRejected) as err:
            async with open_websocket_url(ws_url(svc), extra_headers=[("Origin", "https://evil.example")]):
                pass
        assert err.value.status_code == 403
        async with rpc_client(ws_url(svc), headers=[("Origin", "https://app.example")]) as c:
            assert await c.call("ping") == "pong"
        async with rpc_client(ws_url(svc)) as c:  # non-browser clients send no Origin
            assert await c.call("ping") == "pong"


async def test_connections_over_the_limit_are_closed_with_1013(tmp_path: Path) -> None:
    async with running_service(tmp_path, server={"max_connections": 2}) as svc:
        async with rpc_client(ws_url(svc)) as a, rpc_client(ws_url(svc)) as b:
            async with open_websocket_url(ws_url(svc)) as third:
                with pytest.raises(ConnectionClosed) as err, trio.fail_after(5):
                    await third.get_message()
                assert err.value.reason.code == 1013
            assert await a.call("ping") == "pong" and await b.call("ping") == "pong"
        # Closed connections free their slots.
        await apoll(lambda: not svc.extras["rpc"].connections, what="connections released")
        async with rpc_client(ws_url(svc)) as c:
            assert await c.call("ping") == "pong"


async def test_message_over_the_size_limit_closes_with_1009(tmp_path: Path) -> None:
    async with running_service(tmp_path, server={"max_message_bytes": 2048}) as svc:
        async with rpc_client(ws_url(svc)) as ok:
            assert await ok.call("ping", {"pad": "x" * 1500}) == "pong"
        async with rpc_client(ws_url(svc)) as c:
            await c.send('{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"' + "x" * 5000 + '"}}')
            closed = await c.wait_closed()
            assert closed.code == 1009


async def test_binary_frames_close_with_1003(service: Service) -> None:
    async with rpc_client(ws_url(service)) as c:
        await c.send(b'{"jsonrpc":"2.0","id":1,"method":"ping"}')
        closed = await c.wait_closed()
        assert closed.code == 1003


async def test_ping_frames_are_answered(service: Service) -> None:
    async with open_websocket_url(ws_url(service)) as ws:
        with trio.fail_after(5):
            await ws.ping(b"hello")  # returns once the matching pong arrives


class RawClient:
    """A WebSocket client over a bare stream that never answers pings (a dead peer)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)

    async def handshake(self) -> None:
        await self.stream.send_all(self.ws.send(Request(host="127.0.0.1", target="/ws")))
        while True:
            self.ws.receive_data(await self.stream.receive_some(4096))
            if any(isinstance(e, AcceptConnection) for e in self.ws.events()):
                return

    async def events(self) -> list[object]:
        data = await self.stream.receive_some(4096)
        self.ws.receive_data(data or None)
        return list(self.ws.events())


async def test_peers_missing_pongs_are_dropped(tmp_path: Path) -> None:
    async with running_service(tmp_path, server={"ping_interval": 0.05, "missed_pongs": 2}) as svc:
        async with rpc_client(ws_url(svc)) as alive:  # trio-websocket answers pings: it stays
            stream = await trio.open_tcp_stream("127.0.0.1", svc.extras["rpc"].bound_port)
            async with stream:
                raw = RawClient(stream)
                await raw.handshake()
                pings = 0
                close: CloseConnection | None = None
                with trio.fail_after(8):
                    while close is None:
                        for event in await raw.events():
                            pings += isinstance(event, Ping)
                            if isinstance(event, CloseConnection):
                                close = event
                assert pings >= 2
                assert close.code == 1001
            assert svc.extras["rpc"].stats.closed_by_server["missed_pongs"] == 1
            assert await alive.call("ping") == "pong"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed (needed to make a test certificate)")
async def test_tls(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    await trio.run_process(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_stdout=True, capture_stderr=True,
    )
    config = service_config(tmp_path, server={"tls_cert": str(cert), "tls_key": str(key)})
    async with running_service(tmp_path, config=config) as svc:
        context = ssl.create_default_context(cafile=str(cert))
        async with open_websocket_url(ws_url(svc), ssl_context=context) as ws:
            await ws.send_message('{"jsonrpc":"2.0","id":1,"method":"ping"}')
            with trio.fail_after(5):
                assert await ws.get_message() == '{"jsonrpc":"2.0","id":1,"result":"pong"}'


def masked_text_frame(text: str) -> bytes:
    """A client → server text frame (masked, RFC 6455 §5.3), built by hand."""
    payload = text.encode()
    mask = b"\x01\x02\x03\x04"
    assert len(payload) < 126
    return bytes((0x81, 0x80 | len(payload))) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_frame_sent_right_behind_the_upgrade_request_is_answered(service: Service) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", service.extras["rpc"].bound_port)
    async with stream:
        client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        upgrade = client.send(Request(host="127.0.0.1", target="/ws"))
        await stream.send_all(upgrade + masked_text_frame('{"jsonrpc":"2.0","id":5,"method":"ping"}'))
        messages: list[str] = []
        with trio.fail_after(5):
            while not messages:
                client.receive_data(await stream.receive_some(4096))
                messages += [e.data for e in client.events() if isinstance(e, wsproto.events.TextMessage)]
    assert messages == ['{"jsonrpc":"2.0","id":5,"result":"pong"}']


async def test_frame_behind_an_upgrade_request_split_inside_its_blank_line(service: Service) -> None:
    """The request head is cut off where it ends, even when its closing blank line spans two reads."""
    stream = await trio.open_tcp_stream("127.0.0.1", service.extras["rpc"].bound_port)
    async with stream:
        client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        upgrade = client.send(Request(host="127.0.0.1", target="/ws"))
        assert upgrade.endswith(b"\r\n\r\n")
        await stream.send_all(upgrade[:-2])  # the blank line's "\n" in one read, "\r\n" in the next
        await trio.testing.wait_all_tasks_blocked()
        await stream.send_all(upgrade[-2:] + masked_text_frame('{"jsonrpc":"2.0","id":6,"method":"ping"}'))
        messages: list[str] = []
        with trio.fail_after(5):
            while not messages:
                client.receive_data(await stream.receive_some(4096))
                messages += [e.data for e in client.events() if isinstance(e, wsproto.events.TextMessage)]
    assert messages == ['{"jsonrpc":"2.0","id":6,"result":"pong"}']
