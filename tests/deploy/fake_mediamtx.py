#!/usr/bin/python3
"""A stand-in MediaMTX *binary* for the deployment test (stdlib only, runs on the container's python3).

The test installs it with ``tools/install.sh --mediamtx`` so that the real installer path, the real
``mediamtx.service`` unit and its hardening are exercised, and camsvc's ``/health/ready`` (which needs a
reachable MediaMTX control API) can gate the install. It keeps path configs in memory and answers the
v3 control API calls camsvc makes with MediaMTX-shaped JSON; it streams nothing.

Usage: fake_mediamtx.py [CONFIG]   (reads ``apiAddress:`` from CONFIG, default 127.0.0.1:9997)
       fake_mediamtx.py --version
"""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STARTED = datetime.now(UTC).isoformat().replace("+00:00", "Z")
PATHS: dict[str, dict[str, Any]] = {}
LOCK = threading.Lock()


def api_address(config_path: str | None) -> tuple[str, int]:
    host, port = "127.0.0.1", 9997
    if config_path:
        with open(config_path, encoding="utf-8") as handle:
            for line in handle:
                match = re.match(r"\s*apiAddress:\s*['\"]?([^'\"\s]*):(\d+)", line)
                if match:
                    host, port = match.group(1) or "0.0.0.0", int(match.group(2))
    return host, port


def page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"itemCount": len(items), "pageCount": 1 if items else 0, "items": items}


class Handler(BaseHTTPRequestHandler):
    def _reply(self, code: int, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return {}
        parsed = json.loads(self.rfile.read(length))
        return parsed if isinstance(parsed, dict) else {}

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        path = self.path.split("?", 1)[0]
        with LOCK:
            if path == "/v3/info":
                self._reply(200, {"version": "v1.20.1-fake", "started": STARTED})
            elif path == "/v3/config/global/get":
                self._reply(200, {"api": True, "apiAddress": ":9997"})
            elif path == "/v3/config/pathdefaults/get":
                self._reply(200, {"name": ""})
            elif path == "/v3/config/paths/list":
                self._reply(200, page([PATHS[name] for name in sorted(PATHS)]))
            elif path.startswith("/v3/config/paths/get/"):
                name = path.removeprefix("/v3/config/paths/get/")
                self._reply(200, PATHS[name]) if name in PATHS else self._reply(404, {"error": "path not found"})
            elif path.endswith("/list"):
                self._reply(200, page([]))
            else:
                self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        body = self._body()
        with LOCK:
            for verb in ("add", "replace"):
                prefix = f"/v3/config/paths/{verb}/"
                if path.startswith(prefix):
                    name = path.removeprefix(prefix)
                    if verb == "add" and name in PATHS:
                        self._reply(400, {"error": "path already exists"})
                        return
                    PATHS[name] = {**body, "name": name}
                    self._reply(200)
                    return
            self._reply(200, {"status": "ok"})

    def do_PATCH(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        body = self._body()
        with LOCK:
            name = path.removeprefix("/v3/config/paths/patch/")
            if path.startswith("/v3/config/paths/patch/"):
                if name not in PATHS:
                    self._reply(404, {"error": "path not found"})
                    return
                PATHS[name].update(body)
            self._reply(200)

    def do_DELETE(self) -> None:  # noqa: N802
        name = self.path.split("?", 1)[0].removeprefix("/v3/config/paths/delete/")
        with LOCK:
            if PATHS.pop(name, None) is None:
                self._reply(404, {"error": "path not found"})
            else:
                self._reply(200)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        sys.stderr.write("fake-mediamtx: " + (format % args) + "\n")


def main() -> None:
    if sys.argv[1:] == ["--version"]:  # what install.sh runs to check that the binary works here
        print("v1.20.1-stand-in")
        return
    server = ThreadingHTTPServer(api_address(sys.argv[1] if len(sys.argv) > 1 else None), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"fake-mediamtx: API listening on {server.server_address}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
