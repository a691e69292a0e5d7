"""The web console (docs/console.md): ``GET /`` and its static files under ``/console/``.

The files in ``console/`` are shipped in the package as they are (no build step); the one
vendored library (hls.js) sits in ``console/vendor/`` with its licence. The page is static,
so everything that depends on where the browser reached us comes from ``GET /console/config``:
the WebSocket URL (same host as the page, the configured RPC port and path, ``wss`` when the
RPC server has TLS) and the HLS origin of MediaMTX.

Every console response carries a strict Content-Security-Policy: scripts and styles only from
this origin (no inline code), network access only to this origin, the RPC WebSocket and the
HLS origin, nothing framed or framing. The login token lives in the browser's sessionStorage
and travels only inside the WebSocket; a ``#token=`` link keeps it in the URL fragment, which
browsers never send to a server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from quart import Blueprint, Response, request, send_from_directory
from werkzeug.exceptions import BadRequest, ServiceUnavailable

from ..cameras.views import StreamUrls
from ..config import Config

CONSOLE_DIR = Path(__file__).parent / "console"

# A Host header's host part: a name, IPv4, or a bracketed IPv6 literal. Anything else is refused
# before it can reach a response header.
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(:\d{1,5})?$")


@attrs.frozen
class ConsoleOrigins:
    """Where the console page, served at ``page_host``, finds the RPC WebSocket and the HLS streams."""

    ws_url: str
    ws_origin: str
    media_origin: str

    @classmethod
    def build(cls, config: Config, host_header: str, ws_port: int) -> ConsoleOrigins:
        match = _HOST.match(host_header)
        if match is None:
            raise BadRequest("invalid Host header")
        host = match.group(1)
        scheme = "wss" if config.server.tls_cert else "ws"
        ws_origin = f"{scheme}://{host}:{ws_port}"
        urls = StreamUrls.from_config(config.mediamtx)
        media_origin = f"http://{urls.host(host.strip('[]'))}:{urls.hls_port}"
        return cls(ws_url=ws_origin + config.server.ws_path, ws_origin=ws_origin, media_origin=media_origin)

    def content_security_policy(self) -> str:
        return "; ".join(
            [
                "default-src 'none'",
                "script-src 'self'",
                "style-src 'self'",
                "img-src 'self' data:",
                # hls.js feeds the <video> through MediaSource (blob:); Safari plays the HLS URL natively
                f"media-src 'self' blob: {self.media_origin}",
                f"connect-src 'self' {self.ws_origin} {self.media_origin}",
                "base-uri 'none'",
                "form-action 'self'",
                "frame-ancestors 'none'",
            ]
        )


def console_blueprint(config: Config, ws_port: Callable[[], int | None]) -> Blueprint:
    """``ws_port`` answers the port the RPC server really bound (None until it listens)."""
    bp = Blueprint("console", __name__, static_folder=str(CONSOLE_DIR), static_url_path="/console")

    def origins() -> ConsoleOrigins:
        port = ws_port()
        if port is None:
            raise ServiceUnavailable("the JSON-RPC server is not listening yet")
        return ConsoleOrigins.build(config, request.host, port)

    @bp.get("/")
    async def index() -> Response:
        return await send_from_directory(CONSOLE_DIR, "index.html")

    @bp.get("/console/config")
    async def console_config() -> dict[str, Any]:
        o = origins()
        return {"ws_url": o.ws_url, "media_origin": o.media_origin}

    @bp.after_request
    async def console_headers(response: Response) -> Response:
        try:
            policy = origins().content_security_policy()
        except (BadRequest, ServiceUnavailable):
            policy = "default-src 'none'; frame-ancestors 'none'"
        response.headers["Content-Security-Policy"] = policy
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        # revalidate, so an upgraded service never runs against yesterday's script
        response.headers["Cache-Control"] = "no-cache"
        return response

    return bp
