"""The control-API client against scripted answers (httpx.MockTransport) and raw sockets.

Scripted answers cover what an emulator cannot easily be made to do: both response-body
generations of MediaMTX, odd bodies, and servers that never answer.
"""

from __future__ import annotations

import base64
import gc
import json
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx
import pytest
import trio

from camsvc.mediamtx.client import (
    AlreadyExists,
    Invalid,
    MediamtxClient,
    MediamtxError,
    NotFound,
    Unauthorized,
    Unavailable,
    path_url,
)

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, **kw: Any) -> MediamtxClient:
    return MediamtxClient("http://mtx.test:9997/", timeout=kw.pop("timeout", 2.0), transport=httpx.MockTransport(handler), **kw)


def answer(status: int, body: Any = None, *, raw: bytes | None = None) -> httpx.Response:
    if raw is not None:
        return httpx.Response(status, content=raw)
    return httpx.Response(status, json=body) if body is not None else httpx.Response(status)


# Both generations of MediaMTX bodies: (<= v1.15.4, >= v1.15.5)
OK_BODIES = [b"", b'{"status":"ok"}']
ERROR_BODIES = [
    lambda msg: json.dumps({"error": msg}).encode(),
    lambda msg: json.dumps({"status": "error", "error": msg}).encode(),
]


@pytest.mark.parametrize("body", OK_BODIES)
async def test_success_of_either_generation(body: bytes) -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return answer(200, raw=body)

    async with client(handler) as api:
        await api.add_path_config("cam1", {"source": "publisher"})
        await api.patch_path_config("cam1", {"record": True})
        await api.replace_path_config("cam1", {})
        await api.delete_path_config("cam1")
    assert [(r.method, r.url.path) for r in seen] == [
        ("POST", "/v3/config/paths/add/cam1"),
        ("PATCH", "/v3/config/paths/patch/cam1"),
        ("POST", "/v3/config/paths/replace/cam1"),
        ("DELETE", "/v3/config/paths/delete/cam1"),
    ]
    assert json.loads(seen[0].content) == {"source": "publisher"}
    # an empty conf is sent as {} (an empty body is a 400 in MediaMTX)
    assert seen[2].content == b"{}"
    assert seen[0].headers["content-type"] == "application/json"


@pytest.mark.parametrize("make_body", ERROR_BODIES)
@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (400, "path already exists", AlreadyExists),
        (400, "json: unknown field \"foo\"", Invalid),
        (404, "path not found", NotFound),
        (401, "authentication error", Unauthorized),
        (500, "terminated", Unavailable),
        (503, "busy", Unavailable),
        (409, "odd", MediamtxError),
    ],
)
async def test_errors_are_typed_with_the_servers_message(
    make_body: Callable[[str], bytes], status: int, message: str, kind: type[MediamtxError]
) -> None:
    async with client(lambda req: answer(status, raw=make_body(message))) as api:
        with pytest.raises(kind) as info:
            await api.add_path_config("cam1", {})
    assert type(info.value) is kind
    assert info.value.status == status
    assert info.value.message == message
    assert "POST /v3/config/paths/add/cam1" in str(info.value)


async def test_plain_text_404_of_an_unknown_route() -> None:
    async with client(lambda req: answer(404, raw=b"404 page not found")) as api:
        with pytest.raises(NotFound, match="404 page not found"):
            await api.info()


async def test_only_the_status_code_decides() -> None:
    # a 200 whose body says error is still a success; a 400 whose body says ok is still an error
    async with client(lambda req: answer(200, {"status": "error", "error": "x"})) as api:
        await api.delete_path_config("cam1")
    async with client(lambda req: answer(400, {"status": "ok"})) as api:
        with pytest.raises(Invalid):
            await api.delete_path_config("cam1")


async def test_info() -> None:
    body = {"version": "v1.20.1", "started": "2026-01-01T10:00:00.123456789+01:00"}
    async with client(lambda req: answer(200, body)) as api:
        info = await api.info()
    assert info.version == "v1.20.1"
    assert info.started == "2026-01-01T10:00:00.123456789+01:00"


async def test_non_json_success_is_unavailable() -> None:
    async with client(lambda req: answer(200, raw=b"<html>proxy</html>")) as api:
        with pytest.raises(Unavailable, match="not JSON"):
            await api.info()


async def test_json_of_the_wrong_shape_is_unavailable() -> None:
    async with client(lambda req: answer(200, [1, 2])) as api:
        with pytest.raises(Unavailable, match="info answer is not an object"):
            await api.info()
        with pytest.raises(Unavailable, match="path config is not an object"):
            await api.get_path_config("cam1")


def paged(items: list[dict[str, Any]], seen: list[tuple[int, int]]) -> Handler:
    def handler(req: httpx.Request) -> httpx.Response:
        page = int(req.url.params["page"])
        per = int(req.url.params["itemsPerPage"])
        seen.append((page, per))
        chunk = items[page * per : (page + 1) * per]
        count = (len(items) + per - 1) // per
        return answer(200, {"itemCount": len(items), "pageCount": count, "items": chunk})

    return handler


async def test_pagination_is_zero_based_and_complete() -> None:
    items = [{"name": f"cam{i:03d}"} for i in range(25)]
    seen: list[tuple[int, int]] = []
    async with client(paged(items, seen), items_per_page=10) as api:
        got = await api.list_path_configs()
    assert [i["name"] for i in got] == [i["name"] for i in items]
    assert seen == [(0, 10), (1, 10), (2, 10)]


async def test_empty_list() -> None:
    seen: list[tuple[int, int]] = []
    async with client(paged([], seen)) as api:
        assert await api.list_runtime_paths() == []
    assert seen == [(0, 1000)]


async def test_list_tolerates_an_entry_shifting_between_pages() -> None:
    pages = [
        {"itemCount": 3, "pageCount": 2, "items": [{"name": "a"}, {"name": "b"}]},
        {"itemCount": 3, "pageCount": 2, "items": [{"name": "b"}, {"name": "c"}]},
    ]
    async with client(lambda req: answer(200, pages[int(req.url.params["page"])]), items_per_page=2) as api:
        assert [i["name"] for i in await api.list_path_configs()] == ["a", "b", "c"]


async def test_malformed_list_is_unavailable() -> None:
    async with client(lambda req: answer(200, {"items": "nope"})) as api:
        with pytest.raises(Unavailable, match="list answer"):
            await api.list_path_configs()


async def test_basic_auth_is_sent_when_configured() -> None:
    headers: list[str | None] = []

    def handler(req: httpx.Request) -> httpx.Response:
        headers.append(req.headers.get("authorization"))
        return answer(200, {"version": "v1", "started": "t"})

    async with client(handler, username="api", password="s3cret") as api:
        await api.info()
    async with client(handler) as api:
        await api.info()
    assert headers == ["Basic " + base64.b64encode(b"api:s3cret").decode(), None]


def test_names_are_url_encoded_but_keep_slashes() -> None:
    assert path_url("group/cam1") == "group/cam1"
    assert path_url("~^cam(\\d+)$") == "~%5Ecam%28%5Cd%2B%29%24"


async def test_runtime_get_and_not_found() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/v3/paths/get/cam1":
            return answer(200, {"name": "cam1", "ready": False})
        return answer(404, {"status": "error", "error": "path not found"})

    async with client(handler) as api:
        assert (await api.get_runtime_path("cam1"))["name"] == "cam1"
        with pytest.raises(NotFound, match="path not found"):
            await api.get_runtime_path("nope")


def test_bad_construction_is_refused() -> None:
    with pytest.raises(ValueError, match="timeout"):
        MediamtxClient("http://x", timeout=0)
    with pytest.raises(ValueError, match="items_per_page"):
        MediamtxClient("http://x", timeout=1, items_per_page=0)


# ---------------------------------------------------------------- real sockets


async def test_connection_refused_is_unavailable() -> None:
    with trio.socket.socket() as s:
        await s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connect is refused
        async with MediamtxClient(f"http://127.0.0.1:{port}", timeout=2) as api:
            with pytest.raises(Unavailable, match="cannot connect"):
                await api.info()


async def test_a_server_that_never_answers_times_out_as_unavailable() -> None:
    accepted: list[trio.SocketStream] = []

    async def silent(stream: trio.SocketStream) -> None:
        accepted.append(stream)
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, silent, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        async with MediamtxClient(f"http://127.0.0.1:{port}", timeout=0.3) as api:
            start = trio.current_time()
            with pytest.raises(Unavailable, match=r"no answer within 0.3s"):
                await api.info()
            elapsed = trio.current_time() - start
        assert accepted, "the request reached the server"
        assert elapsed < 2.0, "bounded by the client's timeout"
        nursery.cancel_scope.cancel()


async def test_answered_requests_leave_no_cycle_for_the_collector() -> None:
    """Reference counting frees each request's objects: camsvc's GC policy runs the cycle collector over old
    objects only hourly, and httpx's response and stream refer to each other (~60 objects a request)."""
    api = client(lambda request: httpx.Response(200, json={"version": "v1.20.1", "started": "2026-12-06T00:00:00Z"}))
    await api.info()  # the pool and its first connection exist from here on
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            await api.info()
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_making_a_client_imports_nothing_on_the_event_loop() -> None:
    # httpx imports httpcore when its first transport is made; camsvc makes its client inside the running
    # reconciler, where that import held the loop for 20-25 ms. camsvc.mediamtx.client imports it up front.
    probe = (
        "import sys\n"
        "from camsvc.mediamtx.client import MediamtxClient\n"
        "before = set(sys.modules)\n"
        "MediamtxClient('http://127.0.0.1:9997', timeout=1.0)\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout
