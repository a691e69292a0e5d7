"""A small HTTP/1.1 server on trio streams and h11, enough for a JSON control API.

A framework would add its own 404/405 pages and redirects; MediaMTX's router (gin) answers in its own
exact way, so the emulator owns every byte of the response instead.
"""

from __future__ import annotations

import http
import logging
import urllib.parse
from collections.abc import Awaitable, Callable

import attrs
import h11
import trio

log = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024  # MediaMTX refuses larger request bodies
_READ_SIZE = 65536


@attrs.frozen
class Request:
    method: str
    target: str  # raw request target, e.g. "/v3/paths/get/cam1?x=1"
    path: str  # percent-decoded path
    query: dict[str, str]  # first value of each query key
    headers: dict[str, str]  # lower-cased names
    body: bytes
    client_host: str


@attrs.frozen
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


class BodyTooLarge(Exception):
    pass


Handler = Callable[[Request], Awaitable[Response]]


def _parse_target(target: str) -> tuple[str, dict[str, str]]:
    raw_path, _, raw_query = target.partition("?")
    query: dict[str, str] = {}
    for key, value in urllib.parse.parse_qsl(raw_query, keep_blank_values=True):
        query.setdefault(key, value)
    return urllib.parse.unquote(raw_path), query


async def _next_event(conn: h11.Connection, stream: trio.abc.Stream) -> h11.Event:
    while True:
        event = conn.next_event()
        if event is h11.PAUSED:
            return h11.ConnectionClosed()  # pipelined data after a response we will close on
        if event is not h11.NEED_DATA:
            assert isinstance(event, h11.Event)
            return event
        data = await stream.receive_some(_READ_SIZE)
        conn.receive_data(bytes(data))
        if not data and conn.their_state is h11.DONE:
            return h11.ConnectionClosed()


async def _read_request(conn: h11.Connection, stream: trio.abc.Stream, client_host: str) -> Request | None:
    event = await _next_event(conn, stream)
    if isinstance(event, h11.ConnectionClosed):
        return None
    if not isinstance(event, h11.Request):
        return None
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in event.headers}
    length = headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        raise BodyTooLarge()
    chunks: list[bytes] = []
    size = 0
    while True:
        body_event = await _next_event(conn, stream)
        if isinstance(body_event, h11.Data):
            size += len(body_event.data)
            if size > MAX_BODY:
                raise BodyTooLarge()
            chunks.append(bytes(body_event.data))
        elif isinstance(body_event, h11.EndOfMessage):
            break
        else:
            return None
    target = event.target.decode("latin-1")
    path, query = _parse_target(target)
    return Request(
        method=event.method.decode("ascii"),
        target=target,
        path=path,
        query=query,
        headers=headers,
        body=b"".join(chunks),
        client_host=client_host,
    )


async def _send_response(conn: h11.Connection, stream: trio.abc.Stream, response: Response) -> None:
    headers: list[tuple[str, str]] = [("Server", "mediamtx")]
    if response.content_type is not None:
        headers.append(("Content-Type", response.content_type))
    headers.append(("Content-Length", str(len(response.body))))
    headers.extend(response.headers)
    try:
        reason = http.HTTPStatus(response.status).phrase.encode()
    except ValueError:
        reason = b""
    data = conn.send(h11.Response(status_code=response.status, headers=headers, reason=reason))
    assert data is not None
    body = conn.send(h11.Data(data=response.body)) if response.body else b""
    end = conn.send(h11.EndOfMessage())
    await stream.send_all(data + (body or b"") + (end or b""))


def _client_host(stream: trio.abc.Stream) -> str:
    sock = getattr(stream, "socket", None)
    try:
        return str(sock.getpeername()[0]) if sock is not None else ""
    except OSError:
        return ""


async def handle_connection(stream: trio.abc.Stream, handler: Handler) -> None:
    """Serve requests on one connection until the client closes it or the protocol breaks."""
    conn = h11.Connection(h11.SERVER)
    client_host = _client_host(stream)
    try:
        while True:
            try:
                request = await _read_request(conn, stream, client_host)
            except BodyTooLarge:
                body = b'{"error":"size exceeds maximum allowed","status":"error"}'
                await _send_response(conn, stream, Response(400, body, headers=(("Connection", "close"),)))
                return
            if request is None:
                return
            response = await handler(request)
            await _send_response(conn, stream, response)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
    except h11.RemoteProtocolError as exc:
        log.debug("bad HTTP request: %s", exc)
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            try:
                await _send_response(conn, stream, Response(exc.error_status_hint, b"", content_type=None))
            except (trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
                pass
    except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
        return
    except Exception:  # one bad connection must not take the server down
        log.exception("HTTP connection failed")
    finally:
        await trio.aclose_forcefully(stream)
