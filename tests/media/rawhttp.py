"""A tiny HTTP/1.1 client over a trio socket that sends the request target *exactly* as given.

httpx and browsers normalise ``..`` and some escapes before sending; traversal tests need the raw bytes.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import trio


@attrs.frozen
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def request(
    port: int,
    target: str | bytes,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    host: str = "127.0.0.1",
) -> RawResponse:
    raw_target = target if isinstance(target, bytes) else target.encode("latin-1")
    lines = [
        method.encode() + b" " + raw_target + b" HTTP/1.1",
        b"Host: " + host.encode(),
        b"Connection: close",
    ]
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}".encode("latin-1"))
    payload = b"\r\n".join(lines) + b"\r\n\r\n"
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(payload)
            data = bytearray()
            # hypercorn may keep the socket open after the reply: frame the body by its headers.
            while b"\r\n\r\n" not in data:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                data += chunk
            head, _, body = bytes(data).partition(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            status = int(status_line.split()[1])
            parsed = {}
            for line in header_lines:
                key, _, value = line.partition(":")
                parsed[key.strip().lower()] = value.strip()
            buf = bytearray(body)
            if method == "HEAD" or status in (204, 304):
                return RawResponse(status, parsed, b"")
            if parsed.get("transfer-encoding") == "chunked":
                while not buf.endswith(b"0\r\n\r\n"):
                    chunk = await stream.receive_some(65536)
                    if not chunk:
                        break
                    buf += chunk
                return RawResponse(status, parsed, _dechunk(bytes(buf)))
            length = int(parsed.get("content-length", "0"))
            while len(buf) < length:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                buf += chunk
            return RawResponse(status, parsed, bytes(buf))


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)
