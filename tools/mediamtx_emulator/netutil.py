"""Listening sockets: one port for IPv4 and IPv6 loopback, even when the OS picks it (port 0).

``ffmpeg ... rtsp://localhost:$RTSP_PORT/...`` may resolve ``localhost`` to ``::1`` first, and a
MediaMTX listening on ``:8554`` answers on both families, so the emulator binds both when it can.
"""

from __future__ import annotations

import errno
import socket

import trio


async def _bind(family: socket.AddressFamily, host: str, port: int) -> trio.SocketListener:
    sock = trio.socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        await sock.bind((host, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return trio.SocketListener(sock)


async def open_listeners(host: str, port: int) -> tuple[list[trio.SocketListener], int]:
    """Listen on ``host:port`` (and the other loopback/wildcard family on the same port when possible).

    Returns the listeners and the bound port.
    """
    if host in ("", "0.0.0.0", "::"):
        primary, secondary = ("0.0.0.0", socket.AF_INET), ("::", socket.AF_INET6)
    elif host in ("127.0.0.1", "localhost"):
        primary, secondary = ("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)
    elif ":" in host:
        primary, secondary = (host, socket.AF_INET6), None
    else:
        primary, secondary = (host, socket.AF_INET), None
    first = await _bind(primary[1], primary[0], port)
    bound_port = first.socket.getsockname()[1]
    listeners = [first]
    if secondary is not None:
        try:
            listeners.append(await _bind(secondary[1], secondary[0], bound_port))
        except OSError as exc:
            if exc.errno not in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, errno.EADDRINUSE):
                raise
    return listeners, bound_port


def is_loopback(host: str) -> bool:
    return host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1") or host.startswith("::ffff:127.")


async def _udp_socket(family: socket.AddressFamily, host: str, port: int) -> trio.socket.SocketType:
    sock = trio.socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        await sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def open_udp_pairs(
    listeners: list[trio.SocketListener], rtp_port: int
) -> tuple[dict[int, tuple[trio.socket.SocketType, trio.socket.SocketType]], int]:
    """RTP/RTCP sockets (ports P and P+1, P even) on the addresses the RTSP listeners use.

    ``rtp_port`` 0 picks a free even port. Returns sockets by address family, and P.
    """
    addresses = [(ln.socket.family, ln.socket.getsockname()[0]) for ln in listeners]
    pairs: dict[int, tuple[trio.socket.SocketType, trio.socket.SocketType]] = {}
    family, host = addresses[0]
    for _ in range(50 if rtp_port == 0 else 1):
        rtp = await _udp_socket(family, host, rtp_port)
        port = rtp.getsockname()[1]
        if port % 2 == 1:
            rtp.close()
            continue
        try:
            rtcp = await _udp_socket(family, host, port + 1)
        except OSError:
            rtp.close()
            if rtp_port != 0:
                raise
            continue
        pairs[family] = (rtp, rtcp)
        break
    else:
        raise OSError(errno.EADDRINUSE, "no free RTP/RTCP port pair")
    for other_family, other_host in addresses[1:]:
        try:
            pairs[other_family] = (
                await _udp_socket(other_family, other_host, port),
                await _udp_socket(other_family, other_host, port + 1),
            )
        except OSError:
            pass  # that family then falls back to TCP (SETUP answers 461 for UDP)
    return pairs, port
