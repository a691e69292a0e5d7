"""The MediaMTX v3 control API (notes §1–§10): routing the way gin does, handlers the way MediaMTX does.

* Unknown routes and wrong methods: plain-text ``404 page not found`` (gin), never JSON.
* ``/*name`` routes: the name may contain slashes; an empty name is 400 ``invalid name``; the route
  without its trailing slash is redirected (301 for GET, 307 otherwise), as gin does.
* Success without payload: ``{"status":"ok"}``; errors: ``{"status":"error","error":"..."}``.
* Auth runs before routing (so unauthenticated callers get 401 even on unknown routes).
"""

from __future__ import annotations

import base64
import binascii
import logging
import random
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from tools.mediamtx_emulator.confstore import ConfError, paginate
from tools.mediamtx_emulator.faults import RequestRecord
from tools.mediamtx_emulator.globalconf import encode_global_conf
from tools.mediamtx_emulator.gotypes import GoValueError, format_go_time, go_json_dumps, parse_rfc3339
from tools.mediamtx_emulator.httpserver import Request, Response
from tools.mediamtx_emulator.netutil import is_loopback
from tools.mediamtx_emulator.pathconf import encode_path_conf
from tools.mediamtx_emulator.recordpath import (
    encode_segment_path,
    find_recorded_names,
    list_segments,
    resolve,
)

if TYPE_CHECKING:
    from tools.mediamtx_emulator.app import Emulator

log = logging.getLogger(__name__)

JSON_OK = go_json_dumps({"status": "ok"})
_PLAIN_404 = Response(404, b"404 page not found", content_type="text/plain")
_HEX = re.compile(r"^[0-9a-fA-F]+$")

Handler = Callable[[Request, str], Awaitable[Response]]


def json_response(status: int, value: Any) -> Response:
    return Response(status, go_json_dumps(value))


def error_response(status: int, message: str) -> Response:
    return json_response(status, {"status": "error", "error": message})


def ok_response() -> Response:
    return Response(200, JSON_OK)


def parse_uuid(value: str) -> str | None:
    """``uuid.Parse`` (google/uuid) error message, or None when ``value`` is a valid UUID."""
    n = len(value)
    if n == 36:
        body = value
    elif n == 38:
        if value[0] != "{" or value[-1] != "}":
            return "invalid UUID format"
        body = value[1:-1]
    elif n == 45:
        if value[:9].lower() != "urn:uuid:":
            return f'invalid urn prefix: "{value[:9]}"'
        body = value[9:]
    elif n == 32:
        return None if _HEX.match(value) else "invalid UUID format"
    else:
        return f"invalid UUID length: {n}"
    if any(body[i] != "-" for i in (8, 13, 18, 23)):
        return "invalid UUID format"
    return None if _HEX.match(body.replace("-", "")) else "invalid UUID format"


class ControlApi:
    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator
        # (method, route, kind, handler); kind: "exact" | "wild" (gin *name) | "param" (gin :id)
        self.routes: list[tuple[str, str, str, Handler]] = []
        self._build_routes()

    # ---- entry point

    async def handle(self, req: Request) -> Response:
        record_index = self.emu.record_request(RequestRecord(req.method, req.target, None))
        try:
            response = await self._handle(req)
        except Exception as exc:  # a bug in the emulator: answer like a Go handler that failed
            log.exception("API %s %s failed", req.method, req.target)
            response = error_response(500, str(exc))
        self.emu.complete_request(record_index, response.status)
        return response

    async def _handle(self, req: Request) -> Response:
        faults = self.emu.faults
        if faults.applies_to(req.path):
            if faults.mode == "hang":
                await faults.wait_released()
            elif faults.mode == "fail":
                return error_response(faults.status, faults.error)
            elif faults.mode == "delay":
                await trio.sleep(faults.seconds)
        extra: tuple[tuple[str, str], ...] = ()
        if "origin" in req.headers:
            extra = (("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Credentials", "true"))
        if req.method == "OPTIONS" and "access-control-request-method" in req.headers:
            return Response(
                204,
                content_type=None,
                headers=extra
                + (
                    ("Access-Control-Allow-Methods", "OPTIONS, GET, POST, PATCH, DELETE"),
                    ("Access-Control-Allow-Headers", "Authorization, Content-Type"),
                ),
            )
        denied = await self._authenticate(req)
        if denied is not None:
            return denied
        response = await self._route(req)
        if extra:
            response = Response(
                response.status, response.body, response.content_type, response.headers + extra
            )
        return response

    async def _authenticate(self, req: Request) -> Response | None:
        cfg = self.emu.config
        creds = _credentials(req.headers.get("authorization", ""))
        if cfg.auth is None:
            # Stock users: 'any' may use the API from loopback only.
            if is_loopback(req.client_host):
                return None
        elif creds == cfg.auth:
            return None
        if creds is None:
            return Response(
                401,
                go_json_dumps({"status": "error", "error": "authentication error"}),
                headers=(("WWW-Authenticate", 'Basic realm="mediamtx"'),),
            )
        delay = cfg.auth_failure_delay
        await trio.sleep(random.uniform(0, 4) if delay is None else delay)  # MediaMTX slows down guessing
        return error_response(401, "authentication error")

    async def _route(self, req: Request) -> Response:
        path = req.path
        for method, route, kind, handler in self.routes:
            if kind == "exact":
                if path == route and method == req.method:
                    return await handler(req, "")
            elif kind == "wild":
                if path.startswith(route + "/") and method == req.method:
                    name = path[len(route) + 1 :]
                    if name == "":
                        return error_response(400, "invalid name")
                    return await handler(req, name)
                if path == route and method == req.method:
                    return _redirect(req, route + "/")
            elif kind == "param":
                if path.startswith(route + "/") and method == req.method:
                    param = path[len(route) + 1 :]
                    if param and "/" not in param:
                        return await handler(req, param)
        return _PLAIN_404

    def _build_routes(self) -> None:
        add = self.routes.append
        add(("GET", "/v3/info", "exact", self.info))
        add(("POST", "/v3/auth/jwks/refresh", "exact", self.jwks_refresh))
        add(("GET", "/v3/config/global/get", "exact", self.global_get))
        add(("PATCH", "/v3/config/global/patch", "exact", self.global_patch))
        add(("GET", "/v3/config/pathdefaults/get", "exact", self.defaults_get))
        add(("PATCH", "/v3/config/pathdefaults/patch", "exact", self.defaults_patch))
        add(("GET", "/v3/config/paths/list", "exact", self.conf_list))
        add(("GET", "/v3/config/paths/get", "wild", self.conf_get))
        add(("POST", "/v3/config/paths/add", "wild", self.conf_add))
        add(("PATCH", "/v3/config/paths/patch", "wild", self.conf_patch))
        add(("POST", "/v3/config/paths/replace", "wild", self.conf_replace))
        add(("DELETE", "/v3/config/paths/delete", "wild", self.conf_delete))
        add(("GET", "/v3/paths/list", "exact", self.paths_list))
        add(("GET", "/v3/paths/get", "wild", self.paths_get))
        add(("GET", "/v3/paths/forward/list", "exact", self.forward_list))
        add(("GET", "/v3/rtspconns/list", "exact", self.rtsp_conns_list))
        add(("GET", "/v3/rtspconns/get", "param", self.rtsp_conns_get))
        add(("GET", "/v3/rtspsessions/list", "exact", self.rtsp_sessions_list))
        add(("GET", "/v3/rtspsessions/get", "param", self.rtsp_sessions_get))
        add(("POST", "/v3/rtspsessions/kick", "param", self.rtsp_sessions_kick))
        # Servers that are on in the stock config but have no clients in the emulator.
        for group, not_found, kickable in (
            ("rtmpconns", "connection not found", True),
            ("hlsmuxers", "muxer not found", False),
            ("hlssessions", "session not found", True),
            ("webrtcsessions", "session not found", True),
            ("srtconns", "connection not found", True),
            ("moqsessions", "session not found", True),
        ):
            add(("GET", f"/v3/{group}/list", "exact", self._empty_list))
            add(
                (
                    "GET",
                    f"/v3/{group}/get",
                    "param",
                    self._unknown_item(not_found, check_uuid=group != "hlsmuxers"),
                )
            )
            if kickable:
                add(("POST", f"/v3/{group}/kick", "param", self._unknown_item(not_found, check_uuid=True)))
        add(("GET", "/v3/recordings/list", "exact", self.recordings_list))
        add(("GET", "/v3/recordings/get", "wild", self.recordings_get))
        add(("DELETE", "/v3/recordings/deletesegment", "exact", self.recordings_delete_segment))

    # ---- general

    async def info(self, req: Request, _: str) -> Response:
        return json_response(
            200, {"version": self.emu.config.version, "started": format_go_time(self.emu.started_ns)}
        )

    async def jwks_refresh(self, req: Request, _: str) -> Response:
        return ok_response()

    # ---- configuration

    async def _mutate(self, action: Callable[[], None]) -> Response:
        try:
            action()
        except ConfError as exc:
            return error_response(exc.status, exc.message)
        await self.emu.apply_config()
        return ok_response()

    async def global_get(self, req: Request, _: str) -> Response:
        return json_response(200, encode_global_conf(self.emu.store.global_conf))

    async def global_patch(self, req: Request, _: str) -> Response:
        return await self._mutate(lambda: self.emu.store.patch_global(req.body))

    async def defaults_get(self, req: Request, _: str) -> Response:
        return json_response(200, encode_path_conf(self.emu.store.effective_defaults()))

    async def defaults_patch(self, req: Request, _: str) -> Response:
        return await self._mutate(lambda: self.emu.store.patch_path_defaults(req.body))

    async def conf_list(self, req: Request, _: str) -> Response:
        paths = self.emu.store.effective_paths()
        items = [encode_path_conf(paths[name]) for name in sorted(paths)]
        return self._paginated(req, items)

    async def conf_get(self, req: Request, name: str) -> Response:
        conf = self.emu.store.effective_path(name)
        if conf is None:
            return error_response(404, "path configuration not found")
        return json_response(200, encode_path_conf(conf))

    async def conf_add(self, req: Request, name: str) -> Response:
        return await self._mutate(lambda: self.emu.store.add_path(name, req.body))

    async def conf_patch(self, req: Request, name: str) -> Response:
        return await self._mutate(lambda: self.emu.store.patch_path(name, req.body))

    async def conf_replace(self, req: Request, name: str) -> Response:
        return await self._mutate(lambda: self.emu.store.replace_path(name, req.body))

    async def conf_delete(self, req: Request, name: str) -> Response:
        return await self._mutate(lambda: self.emu.store.delete_path(name))

    # ---- runtime

    def _paginated(self, req: Request, items: list[Any]) -> Response:
        try:
            return json_response(200, paginate(items, req.query))
        except ConfError as exc:
            return error_response(exc.status, exc.message)

    async def paths_list(self, req: Request, _: str) -> Response:
        return self._paginated(req, self.emu.manager.api_items())

    async def paths_get(self, req: Request, name: str) -> Response:
        item = self.emu.manager.api_item(name)
        if item is None:
            return error_response(404, "path not found")
        return json_response(200, item)

    async def forward_list(self, req: Request, _: str) -> Response:
        if self.emu.manager.api_item(req.query.get("path", "")) is None:
            return error_response(404, "path not found")
        return self._paginated(req, [])

    async def rtsp_conns_list(self, req: Request, _: str) -> Response:
        return self._paginated(req, self.emu.rtsp_conns())

    async def rtsp_conns_get(self, req: Request, conn_id: str) -> Response:
        return self._by_id(conn_id, self.emu.rtsp_conns(), "connection not found")

    async def rtsp_sessions_list(self, req: Request, _: str) -> Response:
        return self._paginated(req, self.emu.rtsp_sessions())

    async def rtsp_sessions_get(self, req: Request, session_id: str) -> Response:
        return self._by_id(session_id, self.emu.rtsp_sessions(), "session not found")

    async def rtsp_sessions_kick(self, req: Request, session_id: str) -> Response:
        problem = parse_uuid(session_id)
        if problem is not None:
            return error_response(400, problem)
        if not self.emu.kick_rtsp_session(session_id):
            return error_response(404, "session not found")
        return ok_response()

    @staticmethod
    def _by_id(item_id: str, items: list[dict[str, Any]], not_found: str) -> Response:
        problem = parse_uuid(item_id)
        if problem is not None:
            return error_response(400, problem)
        for item in items:
            if item["id"] == item_id.lower():
                return json_response(200, item)
        return error_response(404, not_found)

    async def _empty_list(self, req: Request, _: str) -> Response:
        return self._paginated(req, [])

    def _unknown_item(self, not_found: str, check_uuid: bool) -> Handler:
        async def handler(req: Request, item_id: str) -> Response:
            if check_uuid:
                problem = parse_uuid(item_id)
                if problem is not None:
                    return error_response(400, problem)
            return error_response(404, not_found)

        return handler

    # ---- recordings

    async def recordings_list(self, req: Request, _: str) -> Response:
        store = self.emu.store
        base = self.emu.base_dir

        def collect() -> list[dict[str, Any]]:
            names: set[str] = set()
            for conf_name, conf in store.effective_paths().items():
                for name in find_recorded_names(base, conf["recordPath"], conf["recordFormat"]):
                    try:
                        if store.find(name).conf_name == conf_name:
                            names.add(name)
                    except ConfError:
                        pass
            items = []
            for name in sorted(names):
                match = store.find(name).conf
                segments = list_segments(base, match["recordPath"], match["recordFormat"], name)
                items.append({"name": name, "segments": [{"start": s.start_text} for s in segments]})
            return items

        return self._paginated(req, await trio.to_thread.run_sync(collect))

    async def recordings_get(self, req: Request, name: str) -> Response:
        try:
            conf = self.emu.store.find(name).conf
        except ConfError as exc:
            return error_response(400, exc.message)
        base = self.emu.base_dir
        segments = await trio.to_thread.run_sync(
            lambda: list_segments(base, conf["recordPath"], conf["recordFormat"], name)
        )
        return json_response(200, {"name": name, "segments": [{"start": s.start_text} for s in segments]})

    async def recordings_delete_segment(self, req: Request, _: str) -> Response:
        name = req.query.get("path", "")
        try:
            conf = self.emu.store.find(name).conf
        except ConfError as exc:
            return error_response(400, exc.message)
        try:
            start, _nanos = parse_rfc3339(req.query.get("start", ""))
        except GoValueError as exc:
            return error_response(400, f"invalid 'start' parameter: {exc}")
        relative = encode_segment_path(conf["recordPath"], conf["recordFormat"], name, start)
        target = resolve(self.emu.base_dir, relative)
        try:
            await trio.to_thread.run_sync(target.unlink)
        except FileNotFoundError:
            return error_response(400, f"remove {relative}: no such file or directory")
        except OSError as exc:
            return error_response(400, f"remove {relative}: {exc.strerror.lower() if exc.strerror else exc}")
        return ok_response()


def _credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ("", "")
    elif scheme.lower() == "bearer":
        decoded = value.strip()
    else:
        return None
    user, _, password = decoded.partition(":")
    return (user, password)


def _redirect(req: Request, location: str) -> Response:
    if req.method == "GET":
        body = f'<a href="{location}">Moved Permanently</a>.\n\n'.encode()
        return Response(301, body, "text/html; charset=utf-8", (("Location", location),))
    return Response(307, b"", None, (("Location", location),))
