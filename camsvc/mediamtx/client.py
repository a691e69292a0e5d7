"""An async client for the MediaMTX v3 control API, with typed errors.

Only the HTTP status code decides success or failure: MediaMTX up to v1.15.4
answered success with an empty body and errors with ``{"error": ...}``; from
v1.15.5 on it answers ``{"status": "ok"}`` / ``{"status": "error", "error": ...}``.
Both generations read the same here.

Errors:

- :class:`NotFound` (404), :class:`AlreadyExists` (400 ``path already exists``),
  :class:`Invalid` (any other 400, carrying the server's message),
- :class:`Unauthorized` (401/403: credentials missing or wrong),
- :class:`Unavailable` (cannot connect, timed out, 5xx, or an answer that is not
  the JSON the API promises); :class:`Unreachable`, its subclass, when nothing
  accepted the connection (MediaMTX is down or restarting).

Every request is bounded as a whole by ``timeout`` seconds (httpx's own timeouts
are per phase, so a server trickling bytes could otherwise hold a call forever).
MediaMTX sleeps up to 4 s before answering a request with *wrong* credentials, so
timeouts below about 5 s turn a credentials problem into a timeout.

Usage::

    async with MediamtxClient("http://127.0.0.1:9997", timeout=6) as api:
        info = await api.info()
        await api.replace_path_config("cam1", {"source": "publisher"})
        confs = await api.list_path_configs()
"""

from __future__ import annotations

import json
import urllib.parse
from types import TracebackType
from typing import Any

import attrs
import httpcore  # noqa: F401  httpx imports it when the first client is made, on the loop: a 20-25 ms hold
import httpx
import trio

#: MediaMTX's default page size is 100; larger pages mean fewer round trips on big boxes
DEFAULT_ITEMS_PER_PAGE = 1000
#: a list with more pages than this is not a MediaMTX we understand
MAX_PAGES = 10_000


class MediamtxError(Exception):
    """A control-API call failed; ``status`` is the HTTP status (None without an answer)."""

    def __init__(self, message: str, *, status: int | None = None, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.url = url

    def __str__(self) -> str:
        where = f"{self.method} {self.url}: " if self.method else ""
        code = f"HTTP {self.status}: " if self.status is not None else ""
        return f"{where}{code}{self.message}"


class NotFound(MediamtxError):
    """404: the path (config entry or runtime path) does not exist, or the route is unknown."""


class AlreadyExists(MediamtxError):
    """400 ``path already exists`` from add."""


class Invalid(MediamtxError):
    """400: MediaMTX refused the request; ``message`` is its validator's text."""


class Unauthorized(MediamtxError):
    """401/403: the API wants (other) credentials (see mediamtx.username/password)."""


class Unavailable(MediamtxError):
    """No usable answer: connection refused, timeout, 5xx, or a malformed body."""


class Unreachable(Unavailable):
    """Nothing accepted the connection: MediaMTX is not running (yet). Cheap to retry soon."""


@attrs.frozen
class ServerInfo:
    """``GET /v3/info``; ``started`` changes when MediaMTX restarts."""

    version: str | None
    started: str | None


def path_url(name: str) -> str:
    """A path name as an URL path segment (slashes kept, ``~`` and regexp characters encoded)."""
    return urllib.parse.quote(name, safe="/")


def _error_text(response: httpx.Response) -> str:
    """The ``error`` of a JSON error body (both generations), else the body text, else the reason."""
    text = response.text.strip()
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    if text:
        return text[:300]
    return response.reason_phrase or f"HTTP {response.status_code}"


class MediamtxClient:
    """One httpx AsyncClient (keep-alive pool) for the control API at ``base_url``."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        username: str | None = None,
        password: str | None = None,
        items_per_page: int = DEFAULT_ITEMS_PER_PAGE,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if items_per_page < 1:
            raise ValueError("items_per_page must be >= 1")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.items_per_page = items_per_page
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            auth=auth,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            # The API is local; a proxy from the environment would only get in the way.
            trust_env=False,
            # Certificates only for an https API: loading the CA bundle costs 1.6 MB of RSS, and a
            # plain-HTTP API (the default) never speaks TLS.
            verify=httpx.URL(self.base_url).scheme == "https",
            headers={"Accept": "application/json"},
        )

    async def __aenter__(self) -> MediamtxClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._http.aclose()

    # ------------------------------------------------------------- transport

    async def request(self, method: str, url: str, *, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        """Send one request; return the decoded JSON body (None when empty) or raise a typed error."""
        content = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"} if content is not None else None
        response: httpx.Response | None = None
        with trio.move_on_after(self.timeout):
            try:
                response = await self._http.request(method, url, content=content, params=params, headers=headers)
                # httpx's response and its stream refer to each other, so a read response (and the request,
                # its headers, the pool's bookkeeping: ~60 objects) waits for the cycle collector, which
                # camsvc runs only every 30 s (camsvc/gc_policy.py). The body is read: drop the stream, break the cycle.
                response.stream = httpx.ByteStream(b"")
            except httpx.TimeoutException:
                pass  # reported below like the overall deadline
            except httpx.ConnectError as exc:
                raise Unreachable(_describe(exc), method=method, url=url) from None
            except httpx.HTTPError as exc:
                # reset, protocol error: MediaMTX is not (properly) there
                raise Unavailable(_describe(exc), method=method, url=url) from None
        if response is None:
            raise Unavailable(f"no answer within {self.timeout:g}s", method=method, url=url)
        status = response.status_code
        if 200 <= status < 300:
            text = response.text.strip()
            if not text:
                return None  # <= v1.15.4 success
            try:
                return json.loads(text)
            except ValueError:
                raise Unavailable(f"answer is not JSON: {text[:100]!r}", status=status, method=method, url=url) from None
        message = _error_text(response)
        kind: type[MediamtxError]
        if status == 404:
            kind = NotFound
        elif status == 400 and message == "path already exists":
            kind = AlreadyExists
        elif status == 400:
            kind = Invalid
        elif status in (401, 403):
            kind = Unauthorized
        elif status >= 500:
            kind = Unavailable
        else:
            kind = MediamtxError
        raise kind(message, status=status, method=method, url=url)

    async def _list(self, url: str) -> list[dict[str, Any]]:
        """Every item of a paginated list (0-based ``page``), de-duplicated by name."""
        items: dict[str, dict[str, Any]] = {}
        unnamed: list[dict[str, Any]] = []
        page = 0
        while True:
            body = await self.request("GET", url, params={"page": page, "itemsPerPage": self.items_per_page})
            if not isinstance(body, dict) or not isinstance(body.get("items", []), list):
                raise Unavailable("list answer is not {itemCount, pageCount, items}", method="GET", url=url)
            for item in body.get("items") or []:
                if not isinstance(item, dict):
                    raise Unavailable("list item is not an object", method="GET", url=url)
                name = item.get("name")
                if isinstance(name, str):
                    # An entry added between two page reads can shift another onto the next page twice.
                    items[name] = item
                else:
                    unnamed.append(item)
            page_count = body.get("pageCount")
            page += 1
            if not isinstance(page_count, int) or page >= page_count or page >= MAX_PAGES:
                break
        return [*items.values(), *unnamed]

    # ------------------------------------------------------------- endpoints

    async def info(self) -> ServerInfo:
        body = await self.request("GET", "/v3/info")
        if not isinstance(body, dict):
            raise Unavailable("info answer is not an object", method="GET", url="/v3/info")
        version, started = body.get("version"), body.get("started")
        return ServerInfo(
            version=version if isinstance(version, str) else None,
            started=started if isinstance(started, str) else None,
        )

    async def list_path_configs(self) -> list[dict[str, Any]]:
        """``GET /v3/config/paths/list``: every configured entry's *effective* PathConf."""
        return await self._list("/v3/config/paths/list")

    async def get_path_config(self, name: str) -> dict[str, Any]:
        url = f"/v3/config/paths/get/{path_url(name)}"
        body = await self.request("GET", url)
        if not isinstance(body, dict):
            raise Unavailable("path config is not an object", method="GET", url=url)
        return body

    async def add_path_config(self, name: str, conf: dict[str, Any]) -> None:
        """Create an entry; :class:`AlreadyExists` when present (also for mediamtx.yml entries)."""
        await self.request("POST", f"/v3/config/paths/add/{path_url(name)}", body=conf)

    async def patch_path_config(self, name: str, conf: dict[str, Any]) -> None:
        """Merge ``conf`` into an existing entry; :class:`NotFound` when missing."""
        await self.request("PATCH", f"/v3/config/paths/patch/{path_url(name)}", body=conf)

    async def replace_path_config(self, name: str, conf: dict[str, Any]) -> None:
        """Make ``conf`` the entry's whole override set; creates the entry when missing."""
        await self.request("POST", f"/v3/config/paths/replace/{path_url(name)}", body=conf)

    async def delete_path_config(self, name: str) -> None:
        """Remove an entry; :class:`NotFound` when missing."""
        await self.request("DELETE", f"/v3/config/paths/delete/{path_url(name)}")

    async def list_runtime_paths(self) -> list[dict[str, Any]]:
        """``GET /v3/paths/list``: runtime state of every path that exists now."""
        return await self._list("/v3/paths/list")

    async def get_runtime_path(self, name: str) -> dict[str, Any]:
        """Runtime state of one path; :class:`NotFound` when it has no runtime path."""
        url = f"/v3/paths/get/{path_url(name)}"
        body = await self.request("GET", url)
        if not isinstance(body, dict):
            raise Unavailable("runtime path is not an object", method="GET", url=url)
        return body


def _describe(exc: httpx.HTTPError) -> str:
    """A short, traceback-free description of a transport error."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {text}"
    return f"{type(exc).__name__}: {text}"
