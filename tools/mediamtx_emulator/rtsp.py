"""A small RTSP 1.0 server relaying RTP between publishers and readers (the emulator's media plane).

Publishers use ANNOUNCE/SETUP(mode=record)/RECORD, readers DESCRIBE/SETUP/PLAY. Transports: RTP
interleaved in the TCP connection, or unicast UDP through one shared RTP/RTCP port pair (MediaMTX's
``rtpAddress``/``rtcpAddress``), packets told apart by their source address. Multicast SETUPs are
answered ``461 Unsupported Transport`` (clients then retry with another transport). Packets are
forwarded untouched; each reader has a bounded queue (MediaMTX's ``writeQueueSize``, 512) and loses
packets rather than slowing the publisher down.

Sessions and connections are visible through ``/v3/rtspsessions`` and ``/v3/rtspconns``; the
emulator's own relay and recorder connections are hidden, as MediaMTX's internal readers are.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

import attrs
import trio

from tools.mediamtx_emulator.gotypes import format_go_time
from tools.mediamtx_emulator.paths import PathError, PathManager, RuntimePath
from tools.mediamtx_emulator.sdp import SdpError, SessionDescription, parse_sdp
from tools.mediamtx_emulator.stream import Stream

log = logging.getLogger(__name__)

WRITE_QUEUE_SIZE = 512
MAX_HEADER = 64 * 1024
MAX_BODY = 1024 * 1024
_REASONS = {
    200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 454: "Session Not Found",
    455: "Method Not Valid in This State", 459: "Aggregate Operation Not Allowed", 461: "Unsupported Transport",
    500: "Internal Server Error", 501: "Not Implemented",
}  # fmt: skip
_CONTROL = re.compile(r"^(?:trackID|streamid)=(\d+)$")
_PUBLIC = "DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD, PAUSE, GET_PARAMETER, SET_PARAMETER, TEARDOWN"


@attrs.define
class RtspRequest:
    method: str
    url: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


@attrs.define
class RtspResponse:
    status: int
    headers: list[tuple[str, str]] = attrs.Factory(list)
    body: bytes = b""
    after_send: Callable[[], None] | None = None


class RtspFailure(Exception):
    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message or _REASONS.get(status, ""))
        self.status = status


def split_url(url: str) -> tuple[str, str]:
    """``(path, query)`` of an RTSP URL; a control suffix glued after the query moves back to the path."""
    parts = urllib.parse.urlsplit(url)
    path = urllib.parse.unquote(parts.path).lstrip("/")
    query = parts.query
    m = re.search(r"/((?:trackID|streamid)=\d+)$", query)
    if m:
        query = query[: m.start()]
        path = path.rstrip("/") + "/" + m.group(1)
    return path.rstrip("/"), query


def _parse_transport(value: str) -> tuple[str, dict[str, str]]:
    """First transport spec: ``("TCP"|"UDP"|"MULTICAST", params)``."""
    spec = value.split(",")[0].strip()
    fields = [f.strip() for f in spec.split(";") if f.strip()]
    if not fields:
        raise RtspFailure(400, "missing transport")
    profile = fields[0].upper()
    params: dict[str, str] = {}
    flags: set[str] = set()
    for f in fields[1:]:
        key, sep, val = f.partition("=")
        if sep:
            params[key.lower()] = val.strip('"')
        else:
            flags.add(key.lower())
    if profile.startswith("RTP/AVP/TCP"):
        kind = "TCP"
    elif "multicast" in flags:
        kind = "MULTICAST"
    else:
        kind = "UDP"
    return kind, params


class RtspConnection:
    def __init__(self, server: RtspServer, stream: trio.SocketStream, remote: str) -> None:
        self.server = server
        self.stream = stream
        self.remote = remote
        self.api_id = str(uuid.uuid4())
        self.created_ns = time.time_ns()
        self.bytes_in = 0
        self.bytes_out = 0
        self.send_lock = trio.Lock()
        self.session: RtspSession | None = None
        self.family = 0
        self.peer_host = ""
        self.cancel_scope = trio.CancelScope()
        self.nursery: trio.Nursery | None = None

    async def send(self, data: bytes) -> None:
        async with self.send_lock:
            await self.stream.send_all(data)
        self.bytes_out += len(data)

    def api_item(self) -> dict[str, Any]:
        return {
            "id": self.api_id,
            "created": format_go_time(self.created_ns),
            "remoteAddr": self.remote,
            "inboundBytes": self.bytes_in,
            "outboundBytes": self.bytes_out,
            "bytesReceived": self.bytes_in,
            "bytesSent": self.bytes_out,
            "session": self.session.api_id
            if self.session is not None and not self.session.internal
            else None,
            "tunnel": "none",
        }


class RtspSession:
    """An RTSP session; a StreamClient when it reads, a source when it publishes."""

    def __init__(self, conn: RtspConnection, user_agent: str) -> None:
        self.conn = conn
        self.api_id = str(uuid.uuid4())
        self.header_id = secrets.token_hex(8)
        self.created_ns = time.time_ns()
        self.user_agent = user_agent
        self.internal = False
        self.role = ""  # "read" | "publish"
        self.state = "idle"  # API state: idle | read | publish
        self.path_name = ""
        self.query = ""
        self.path: RuntimePath | None = None  # the runtime path read from / published to
        self.stream: Stream | None = None
        self.relay = False  # the emulator's own pull relay publishing a static source
        self.desc: SessionDescription | None = None
        self.channels: dict[int, tuple[int, bool]] = {}  # publisher: interleaved channel -> (track, rtcp)
        self.published_tracks: set[int] = set()
        self.udp_keys: list[tuple[str, int]] = []  # publisher over UDP: registered source addresses
        # reader: track -> (rtp target, rtcp target): channels (TCP) or (host, port) addresses (UDP)
        self.setups: dict[int, tuple[Any, Any]] = {}
        self.udp: UdpEndpoint | None = None
        self.transport: str | None = None
        self.inbound_bytes = 0
        self.outbound_bytes = 0
        self.rtp_in = self.rtcp_in = self.rtp_out = self.rtcp_out = self.discarded = 0
        # queued (target, data): target None = TCP frame, else (address, rtcp) for UDP
        self._send, self._receive = trio.open_memory_channel[tuple[Any, bytes]](WRITE_QUEUE_SIZE)
        self.playing = False

    # StreamClient
    def api_ref(self) -> dict[str, str]:
        return {"type": "rtspSession", "id": self.api_id}

    def kick(self) -> None:
        self.conn.cancel_scope.cancel()

    def on_packet(self, track: int, rtcp: bool, payload: bytes) -> int:
        targets = self.setups.get(track)
        if targets is None or not self.playing:
            return 0
        target = targets[1] if rtcp else targets[0]
        if self.transport == "TCP":
            item: tuple[Any, bytes] = (
                None,
                b"$" + bytes([target]) + len(payload).to_bytes(2, "big") + payload,
            )
        else:
            item = ((target, rtcp), payload)
        try:
            self._send.send_nowait(item)
        except trio.WouldBlock:
            self.discarded += 1
            return 0
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return 0
        if rtcp:
            self.rtcp_out += 1
        else:
            self.rtp_out += 1
        self.outbound_bytes += len(payload)
        return len(payload)

    async def write_packets(self) -> None:
        """Send queued packets, a batch per write."""
        async with self._receive:
            async for first in self._receive:
                batch = [first]
                while len(batch) < 64:
                    try:
                        batch.append(self._receive.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break  # at EndOfChannel the batch is still sent; the loop then ends
                try:
                    if self.transport == "TCP":
                        await self.conn.send(b"".join(data for _, data in batch))
                    else:
                        assert self.udp is not None
                        for (address, rtcp), data in batch:
                            await self.udp.send(data, address, rtcp)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self.kick()  # the reader went away
                    return

    def api_item(self) -> dict[str, Any]:
        return {
            "id": self.api_id,
            "created": format_go_time(self.created_ns),
            "remoteAddr": self.conn.remote,
            "state": self.state,
            "path": self.path_name,
            "query": self.query,
            "user": "",
            "userAgent": self.user_agent,
            "transport": self.transport,
            "profile": "AVP" if self.transport else None,
            "conns": [self.conn.api_id],
            "inboundBytes": self.inbound_bytes,
            "inboundRTPPackets": self.rtp_in,
            "inboundRTPPacketsLost": 0,
            "inboundRTPPacketsInError": 0,
            "inboundRTPPacketsJitter": 0,
            "inboundRTCPPackets": self.rtcp_in,
            "inboundRTCPPacketsInError": 0,
            "outboundBytes": self.outbound_bytes,
            "outboundRTPPackets": self.rtp_out,
            "outboundRTPPacketsReportedLost": 0,
            "outboundRTPPacketsDiscarded": self.discarded,
            "outboundRTCPPackets": self.rtcp_out,
            "bytesReceived": self.inbound_bytes,
            "bytesSent": self.outbound_bytes,
            "rtpPacketsReceived": self.rtp_in,
            "rtpPacketsSent": self.rtp_out,
            "rtpPacketsLost": 0,
            "rtpPacketsInError": 0,
            "rtpPacketsJitter": 0,
            "rtcpPacketsReceived": self.rtcp_in,
            "rtcpPacketsSent": self.rtcp_out,
            "rtcpPacketsInError": 0,
        }


class UdpEndpoint:
    """The shared RTP and RTCP sockets of one address family."""

    def __init__(self, server: RtspServer, rtp: trio.socket.SocketType, rtcp: trio.socket.SocketType) -> None:
        self.server = server
        self.rtp = rtp
        self.rtcp = rtcp
        self.rtp_port = rtp.getsockname()[1]

    async def send(self, data: bytes, address: tuple[str, int], rtcp: bool) -> None:
        try:
            await (self.rtcp if rtcp else self.rtp).sendto(data, address)
        except OSError:
            pass  # UDP: a vanished reader is noticed through its RTSP connection

    async def receive(self, rtcp: bool) -> None:
        sock = self.rtcp if rtcp else self.rtp
        while True:
            try:
                data, address = await sock.recvfrom(65536)
            except OSError:
                continue
            route = self.server.udp_routes.get((address[0], address[1]))
            if route is None:
                continue  # receiver reports, hole punching, strangers
            session, track, is_rtcp = route
            if session.stream is None:
                continue
            session.inbound_bytes += len(data)
            if is_rtcp:
                session.rtcp_in += 1
            else:
                session.rtp_in += 1
            session.conn.bytes_in += len(data)
            session.stream.publish(track, is_rtcp, data)


class RtspServer:
    def __init__(
        self,
        manager: PathManager,
        listeners: list[trio.SocketListener],
        udp_pairs: dict[int, tuple[trio.socket.SocketType, trio.socket.SocketType]] | None = None,
    ) -> None:
        self.manager = manager
        self.listeners = listeners
        self.conns: dict[str, RtspConnection] = {}
        self.sessions: dict[str, RtspSession] = {}  # by Session header id
        self.udp = {family: UdpEndpoint(self, rtp, rtcp) for family, (rtp, rtcp) in (udp_pairs or {}).items()}
        self.udp_routes: dict[tuple[str, int], tuple[RtspSession, int, bool]] = {}

    async def run(self) -> None:
        """Serve until cancelled (sockets are bound beforehand, so the ports are known early)."""
        async with trio.open_nursery() as nursery:
            for endpoint in self.udp.values():
                nursery.start_soon(endpoint.receive, False)
                nursery.start_soon(endpoint.receive, True)
            await trio.serve_listeners(self._serve_conn, self.listeners)

    def close_all(self) -> None:
        for conn in list(self.conns.values()):
            conn.cancel_scope.cancel()

    # ---- API views

    def api_sessions(self) -> list[dict[str, Any]]:
        items = [s.api_item() for s in self.sessions.values() if not s.internal]
        return sorted(items, key=lambda i: i["created"])

    def api_conns(self) -> list[dict[str, Any]]:
        visible = [c for c in self.conns.values() if c.session is None or not c.session.internal]
        return sorted((c.api_item() for c in visible), key=lambda i: i["created"])

    def kick_session(self, api_id: str) -> bool:
        for session in self.sessions.values():
            if session.api_id == api_id and not session.internal:
                session.kick()
                return True
        return False

    # ---- connection

    async def _serve_conn(self, stream: trio.SocketStream) -> None:
        try:
            peer = stream.socket.getpeername()
            remote = f"[{peer[0]}]:{peer[1]}" if ":" in peer[0] else f"{peer[0]}:{peer[1]}"
        except OSError:
            remote = ""
        conn = RtspConnection(self, stream, remote)
        conn.family = stream.socket.family
        conn.peer_host = peer[0] if remote else ""
        self.conns[conn.api_id] = conn
        try:
            with conn.cancel_scope:
                async with trio.open_nursery() as nursery:
                    conn.nursery = nursery
                    try:
                        await self._read_loop(conn)
                    except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
                        pass
                    except RtspFailure as exc:
                        log.debug("rtsp %s: %s", remote, exc)
                    nursery.cancel_scope.cancel()
        except Exception:  # one misbehaving client must not take the server down
            log.exception("rtsp %s: connection failed", remote)
        finally:
            self.conns.pop(conn.api_id, None)
            if conn.session is not None:
                self._end_session(conn.session)
            await trio.aclose_forcefully(stream)

    def _end_session(self, session: RtspSession) -> None:
        self.sessions.pop(session.header_id, None)
        for key in session.udp_keys:
            self.udp_routes.pop(key, None)
        session.udp_keys.clear()
        session._send.close()
        if session.path is not None:
            if session.role == "publish":
                session.path.remove_publisher(session)
            elif session.internal:
                if session.stream is not None:
                    session.stream.detach(session)
            else:
                session.path.remove_reader(session)
                if session.stream is not None:
                    session.stream.detach(session)
                self.manager.maybe_close(session.path)
        session.path = None
        session.stream = None

    async def _read_loop(self, conn: RtspConnection) -> None:
        buf = bytearray()
        while True:
            while True:
                if buf[:1] == b"$":
                    if len(buf) < 4:
                        break
                    length = int.from_bytes(buf[2:4], "big")
                    if len(buf) < 4 + length:
                        break
                    self._on_interleaved(conn, buf[1], bytes(buf[4 : 4 + length]))
                    del buf[: 4 + length]
                    continue
                end = buf.find(b"\r\n\r\n")
                if end == -1:
                    if len(buf) > MAX_HEADER:
                        raise RtspFailure(400, "request too large")
                    break
                head = bytes(buf[:end]).decode("utf-8", errors="replace")
                request = _parse_head(head)
                length = int(request.headers.get("content-length", "0") or 0)
                if length > MAX_BODY:
                    raise RtspFailure(400, "body too large")
                if len(buf) < end + 4 + length:
                    break
                request.body = bytes(buf[end + 4 : end + 4 + length])
                del buf[: end + 4 + length]
                response = await self._dispatch(conn, request)
                await conn.send(_render(request, response))
                if response.after_send is not None:
                    response.after_send()
            data = await conn.stream.receive_some(65536)
            if not data:
                return
            conn.bytes_in += len(data)
            buf += data

    def _on_interleaved(self, conn: RtspConnection, channel: int, payload: bytes) -> None:
        session = conn.session
        if session is None:
            return
        if session.role == "publish" and session.stream is not None:
            target = session.channels.get(channel)
            if target is None:
                return
            track, rtcp = target
            session.inbound_bytes += len(payload)
            if rtcp:
                session.rtcp_in += 1
            else:
                session.rtp_in += 1
            session.stream.publish(track, rtcp, payload)
        elif session.role == "read":
            session.rtcp_in += 1  # receiver reports
            session.inbound_bytes += len(payload)

    # ---- requests

    async def _dispatch(self, conn: RtspConnection, req: RtspRequest) -> RtspResponse:
        handler = {
            "OPTIONS": self._options,
            "DESCRIBE": self._describe,
            "ANNOUNCE": self._announce,
            "SETUP": self._setup,
            "PLAY": self._play,
            "RECORD": self._record,
            "PAUSE": self._pause,
            "GET_PARAMETER": self._keepalive,
            "SET_PARAMETER": self._keepalive,
            "TEARDOWN": self._teardown,
        }.get(req.method)
        if handler is None:
            return RtspResponse(501)
        try:
            return await handler(conn, req)
        except RtspFailure as exc:
            log.debug("rtsp %s %s: %s %s", req.method, req.url, exc.status, exc)
            return RtspResponse(exc.status)
        except PathError as exc:
            log.info("rtsp %s %s: %s", req.method, req.url, exc.message)
            return RtspResponse(exc.status)

    def _session_for(self, conn: RtspConnection, req: RtspRequest, create: bool) -> RtspSession | None:
        header = req.headers.get("session", "").split(";")[0].strip()
        if header:
            session = self.sessions.get(header)
            if session is None or session.conn is not conn:
                raise RtspFailure(454)
            return session
        if conn.session is not None:
            return conn.session
        if not create:
            return None
        session = RtspSession(conn, req.headers.get("user-agent", ""))
        conn.session = session
        self.sessions[session.header_id] = session
        return session

    async def _options(self, conn: RtspConnection, req: RtspRequest) -> RtspResponse:
        return RtspResponse(200, [("Public", _PUBLIC)])

    async def _describe(self, conn: RtspConnection, req: RtspRequest) -> RtspResponse:
        name, query = split_url(req.url)
        stream = await self._stream_for_reader(name, query)
        base = req.url if req.url.endswith("/") else req.url + "/"
        return RtspResponse(
            200,
            [("Content-Base", base), ("Content-Type", "application/sdp")],
            stream.sdp.encode(),
        )

    async def _stream_for_reader(self, name: str, query: str) -> Stream:
        mount = self.manager.resolve_internal(name)
        if mount is not None:
            if mount.role != "recorder" or mount.path.stream is None:
                raise RtspFailure(404)
            return mount.path.stream
        path = self.manager.get_or_create(name)
        try:
            return await path.wait_stream(query)
        except PathError:
            self.manager.maybe_close(path)
            raise

    async def _announce(self, conn: RtspConnection, req: RtspRequest) -> RtspResponse:
        if req.headers.get("content-type", "").split(";")[0].strip().lower() != "application/sdp":
            raise RtspFailure(400, "missing SDP")
        try:
            desc = parse_sdp(req.body.decode("utf-8", errors="replace"))
        except SdpError as exc:
            raise RtspFailure(400, str(exc)) from None
        name, query = split_url(req.url)
        session = self._session_for(conn, req, create=True)
        assert session is not None
        if session.role:
            raise RtspFailure(455)
        mount = self.manager.resolve_internal(name)
        if mount is not None:
            if mount.role != "source":
                raise RtspFailure(400)
            session.internal = session.relay = True
            session.path = mount.path
        else:
            path = self.manager.get_or_create(name)
            if path.conf["source"] != "publisher":
                self.manager.maybe_close(path)
                raise PathError(400, f"can't publish to path '{name}' since 'source' is not 'publisher'")
            session.path = path
        session.role = "publish"
        session.path_name = name
        session.query = query
        session.desc = desc
        return RtspResponse(200, [("Session", session.header_id)])

    async def _setup(self, conn: RtspConnection, req: RtspRequest) -> RtspResponse:
        kind, params = _parse_transport(req.headers.get("transport", ""))
        session = self._session_for(conn, req, create=True)
        assert session is not None
        full, query = split_url(req.url)
        base, _, last = full.rpartition("/")
        m = _CONTROL.match(last)
        if session.role == "publish":
            assert session.desc is not None
            track = self._publisher_track(session, full, last, m)
            if params.get("mode", "").lower() != "record":
                raise RtspFailure(400, "transport mode must be record")
        else:
            if session.role == "" and not session.setups:
                name = base if m else full
                session.stream = await self._stream_for_reader(name, query)
                mount = self.manager.resolve_internal(name)
                if mount is not None:
                    session.internal = True
                    session.path = mount.path
                else:
                    session.path = self.manager.get_or_create(name)
                session.role = "read"
                session.path_name = name
                session.query = query
            if session.role != "read" or session.stream is None:
                raise RtspFailure(455)
            track = int(m.group(1)) if m else 0
            if track >= len(session.stream.desc.medias):
                raise RtspFailure(404, "track not found")
        if session.transport is not None and session.transport != kind:
            raise RtspFailure(461, "can't mix transports in one session")
        if kind.lower() not in self.manager.store.global_conf["rtspTransports"]:
            raise RtspFailure(461)  # switched off by rtspTransports
        if kind == "TCP":
            transport = self._setup_tcp(session, track, params)
        elif kind == "UDP":
            transport = self._setup_udp(conn, session, track, params)
        else:
            raise RtspFailure(461)  # multicast is not emulated; clients retry with another transport
        session.transport = kind
        if session.role == "publish":
            transport += ";mode=record"
        return RtspResponse(200, [("Transport", transport), ("Session", f"{session.header_id};timeout=60")])

    @staticmethod
    def _setup_tcp(session: RtspSession, track: int, params: dict[str, str]) -> str:
        try:
            rtp_ch, _, rtcp_ch = params.get("interleaved", "").partition("-")
            channels = (int(rtp_ch), int(rtcp_ch) if rtcp_ch else int(rtp_ch) + 1)
        except ValueError:
            channels = (2 * track, 2 * track + 1)
        if session.role == "publish":
            session.channels[channels[0]] = (track, False)
            session.channels[channels[1]] = (track, True)
            session.published_tracks.add(track)
        else:
            session.setups[track] = channels
        return f"RTP/AVP/TCP;unicast;interleaved={channels[0]}-{channels[1]}"

    def _setup_udp(
        self, conn: RtspConnection, session: RtspSession, track: int, params: dict[str, str]
    ) -> str:
        endpoint = self.udp.get(conn.family)
        if endpoint is None:
            raise RtspFailure(461)
        try:
            first, _, second = params["client_port"].partition("-")
            ports = (int(first), int(second) if second else int(first) + 1)
        except (KeyError, ValueError):
            raise RtspFailure(400, "missing client_port") from None
        host = conn.peer_host
        session.udp = endpoint
        if session.role == "publish":
            for port, rtcp in ((ports[0], False), (ports[1], True)):
                self.udp_routes[(host, port)] = (session, track, rtcp)
                session.udp_keys.append((host, port))
            session.published_tracks.add(track)
        else:
            session.setups[track] = ((host, ports[0]), (host, ports[1]))
        server_ports = f"{endpoint.rtp_port}-{endpoint.rtp_port + 1}"
        return f"RTP/AVP/UDP;unicast;client_port={ports[0]}-{ports[1]};server_port={server_ports}"

    @staticmethod
    def _publisher_track(session: RtspSession, full: str, last: str, m: re.Match[str] | None) -> int:
        assert session.desc is not None
        for index, media in enumerate(session.desc.medias):
            if media.control and (media.control == last or media.control.rstrip("/").endswith("/" + full)):
                return index
        if m:
            track = int(m.group(1))
            if track < len(session.desc.medias):
                return track
        if len(session.desc.medias) == 1:
            return 0
        raise RtspFailure(400, "unknown track")

    async def _play(self, conn: RtspConnection, req: RtspRequest) -> RtspResponse:
        session = self._session_for(conn, req, create=False)
        if session is None or session.role != "read" or not session.setups or session.path is None:
            raise RtspFailure(455)
        if not session.playing:
            if session.internal:
                if session.stream is None or session.path.stream is not session.stream:
                    raise RtspFailure(404)
                session.stream.attach(session)
            else:
                stream = session.path.add_reader(session)
                if stream is not session.stream:
                    session.path.remove_reader(session)
                    raise RtspFailure(404)
            session.state = "read"

            def start() -> None:
                session.playing = True
                assert conn.nursery is not None
                conn.nursery.start_soon(session.write_packets)

            return RtspResponse(
                200, [("Session", session.header_id), ("Range", "npt=0.000-")], after_send=start
            )
        return RtspResponse(200, [("Session", session.header_id)])

    async def _record(self, conn: RtspConnection, req: RtspRequest) -> RtspResponse:
        session = self._session_for(conn, req, create=False)
        if (
            session is None
            or session.role != "publish"
            or not session.published_tracks
            or session.path is None
        ):
            raise RtspFailure(455)
        assert session.desc is not None
        if session.stream is None:
            if session.relay:
                session.stream = session.path.add_relay_publisher(session, session.desc)
            else:
                session.stream = session.path.add_publisher(session, session.desc)
            session.state = "publish"
        return RtspResponse(200, [("Session", session.header_id)])

    async def _pause(self, conn: RtspConnection, req: RtspRequest) -> RtspResponse:
        session = self._session_for(conn, req, create=False)
        if session is None:
            raise RtspFailure(454)
        return RtspResponse(200, [("Session", session.header_id)])

    async def _keepalive(self, conn: RtspConnection, req: RtspRequest) -> RtspResponse:
        return RtspResponse(200)

    async def _teardown(self, conn: RtspConnection, req: RtspRequest) -> RtspResponse:
        session = self._session_for(conn, req, create=False)
        if session is not None:
            conn.session = None
            self._end_session(session)
        return RtspResponse(200)


def _parse_head(head: str) -> RtspRequest:
    lines = head.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("RTSP/"):
        raise RtspFailure(400, f"bad request line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    return RtspRequest(parts[0].upper(), parts[1], headers, b"")


def _render(req: RtspRequest, resp: RtspResponse) -> bytes:
    lines = [f"RTSP/1.0 {resp.status} {_REASONS.get(resp.status, 'Error')}"]
    if "cseq" in req.headers:
        lines.append(f"CSeq: {req.headers['cseq']}")
    lines.append("Server: gortsplib")
    lines.extend(f"{k}: {v}" for k, v in resp.headers)
    if resp.body:
        lines.append(f"Content-Length: {len(resp.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + resp.body
