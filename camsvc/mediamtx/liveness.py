"""Watching MediaMTX's API server for death without polling it.

While MediaMTX is up the reconciler holds one idle TCP connection to its API port and
waits for it to become readable. A MediaMTX that exits (killed, crashed, restarting)
closes the connection at once, so its death is seen with no request at all; while it is
down the reconciler falls back to its short probe backoff.

The connection also ends for harmless reasons (MediaMTX closes idle connections after
its ``readTimeout``, 10 s by default): the reconciler then probes once, which also catches
a restart faster than the close was noticed (a changed ``started``), and watches again.

A connection that never closes (a host gone without a reset, a NAT dropping state) is not
seen here; the periodic full pass (``mediamtx.reconcile_interval``) still is.
"""

from __future__ import annotations

import urllib.parse

import trio


class ConnectionWatch:
    """Where to hold one idle TCP connection to the API server."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    @classmethod
    def for_url(cls, api_url: str) -> ConnectionWatch | None:
        """None when a plain TCP connection says nothing about the server (https: a TLS
        terminator or proxy may sit in front), so the reconciler keeps timed probes."""
        url = urllib.parse.urlsplit(api_url)
        if url.scheme != "http" or not url.hostname:
            return None
        return cls(url.hostname, url.port or 80)

    async def connect(self) -> trio.abc.Stream:
        """The idle connection to hold; OSError when it cannot be opened."""
        return await trio.open_tcp_stream(self.host, self.port)


async def until_closed(stream: trio.abc.Stream) -> None:
    """Return once the peer closes or resets ``stream`` (which is left to the caller to close).

    Any byte counts as an end too: an HTTP server sends nothing unasked except just before
    it closes (e.g. a 408 on timeout).
    """
    try:
        await stream.receive_some(1)
    except trio.BrokenResourceError:
        pass  # reset by the peer: it is gone
