"""HTTP downloads: auth, ranges, conditional requests, HEAD, and traversal attempts that must read nothing."""

from __future__ import annotations

import email.utils
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from camsvc.http.files_routes import FileBody, files_blueprint, parse_range
from camsvc.http.server import HttpServer, create_app
from tests.media.fakes import Rig, make_rig
from tests.media.rawhttp import request
from tests.rpc_client import apoll

AUTH = {"Authorization": "Bearer viewer-token"}


@asynccontextmanager
async def serving(rig: Rig) -> AsyncIterator[int]:
    rig.build_media(http_port=lambda: http.bound_port)
    http = HttpServer(create_app([files_blueprint(rig.services)]), "127.0.0.1", 0)
    async with trio.open_nursery() as nursery:
        await nursery.start(http.run)
        assert http.bound_port is not None
        yield http.bound_port
        nursery.cancel_scope.cancel()


def _payload(n: int = 700_000) -> bytes:
    return bytes((i * 7 + i // 251) % 256 for i in range(n))


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    rig = make_rig(tmp_path)
    Path(rig.config.snapshots.dir).mkdir(parents=True, exist_ok=True)
    return rig


async def test_whole_file_with_headers(rig: Rig) -> None:
    data = _payload()
    (Path(rig.config.recording.dir) / "camera0_2026-11-27_09-00-00-000001.mp4").write_bytes(data)
    async with serving(rig) as port:
        r = await request(port, "/files/recordings/camera0_2026-11-27_09-00-00-000001.mp4", headers=AUTH)
        assert r.status == 200
        assert hashlib.sha256(r.body).digest() == hashlib.sha256(data).digest()
        assert r.headers["content-type"] == "video/mp4"
        assert r.headers["content-length"] == str(len(data))
        assert r.headers["accept-ranges"] == "bytes"
        assert (
            r.headers["content-disposition"]
            == 'attachment; filename="camera0_2026-11-27_09-00-00-000001.mp4"'
        )
        assert r.headers["etag"].startswith('"') and email.utils.parsedate_to_datetime(
            r.headers["last-modified"]
        )
        # HEAD: same headers, no body
        h = await request(
            port, "/files/recordings/camera0_2026-11-27_09-00-00-000001.mp4", method="HEAD", headers=AUTH
        )
        assert h.status == 200 and h.body == b"" and h.headers["content-length"] == str(len(data))
        assert h.headers["etag"] == r.headers["etag"]
        # If-None-Match → 304
        c = await request(
            port,
            "/files/recordings/camera0_2026-11-27_09-00-00-000001.mp4",
            headers={**AUTH, "If-None-Match": r.headers["etag"]},
        )
        assert c.status == 304 and c.body == b""


async def test_ranges(rig: Rig) -> None:
    data = _payload(100_000)
    (Path(rig.config.snapshots.dir) / "shot.jpg").write_bytes(data)
    async with serving(rig) as port:
        url = "/files/snapshots/shot.jpg"
        r = await request(port, url, headers={**AUTH, "Range": "bytes=1000-1999"})
        assert r.status == 206 and r.body == data[1000:2000]
        assert r.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
        assert r.headers["content-type"] == "image/jpeg"
        r = await request(port, url, headers={**AUTH, "Range": "bytes=-10"})
        assert r.status == 206 and r.body == data[-10:]
        r = await request(port, url, headers={**AUTH, "Range": "bytes=99990-"})
        assert r.status == 206 and r.body == data[99990:]
        r = await request(port, url, headers={**AUTH, "Range": "bytes=99990-200000"})
        assert r.status == 206 and r.body == data[99990:]
        r = await request(port, url, headers={**AUTH, "Range": f"bytes={len(data)}-"})
        assert r.status == 416 and r.headers["content-range"] == f"bytes */{len(data)}"
        assert r.json()["reason"] == "range_not_satisfiable"
        r = await request(port, url, headers={**AUTH, "Range": "bytes=0-1,5-6"})  # multi-range: whole file
        assert r.status == 200 and r.body == data
        r = await request(port, url, headers={**AUTH, "Range": "bytes=0-9", "If-Range": '"stale"'})
        assert r.status == 200 and len(r.body) == len(data)


def test_parse_range_edge_cases() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("bytes=0-0", 10) == (0, 0)
    assert parse_range("bytes=5-2", 10) is None
    assert parse_range("bytes=-0", 10) is None  # werkzeug: malformed, so ignored
    assert parse_range("bytes=0-", 0) == "unsatisfiable"
    assert parse_range("items=0-1", 10) is None
    assert parse_range("bytes=a-b", 10) is None


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_file_body_holds_a_descriptor_only_while_read(tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    path.write_bytes(_payload(600_000))
    baseline = open_fds()
    unsent = FileBody(path, path.stat(), 0, 600_000)
    await unsent.aclose()  # a response never sent opened nothing
    assert open_fds() == baseline
    body = FileBody(path, path.stat(), 10, 600_000 - 10)
    first = await body.__anext__()
    assert first == _payload(600_000)[10 : 10 + len(first)] and open_fds() == baseline + 1
    await body.aclose()  # the client went away mid-download
    assert open_fds() == baseline
    with pytest.raises(StopAsyncIteration):
        await body.__anext__()


async def test_replaced_file_ends_the_body_instead_of_serving_other_data(tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    path.write_bytes(b"old" * 1000)
    body = FileBody(path, path.stat(), 0, 3000)
    (tmp_path / "b.mp4").write_bytes(b"new" * 1000)  # created while a.mp4 exists: another inode
    os.replace(tmp_path / "b.mp4", path)
    assert [chunk async for chunk in body] == []


async def test_client_leaving_mid_download_releases_the_file(rig: Rig) -> None:
    name = "camera0_2026-11-27_09-00-00-000002.mp4"
    (Path(rig.config.recording.dir) / name).write_bytes(_payload(8_000_000))
    async with serving(rig) as port:
        await request(port, "/files/recordings/missing.mp4", headers=AUTH)  # warm up lazily opened fds
        baseline = open_fds()
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(
            f"GET /files/recordings/{name} HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH['Authorization']}\r\n\r\n".encode()
        )
        assert b"200" in await stream.receive_some(65536)
        await stream.aclose()
        await apoll(lambda: open_fds() <= baseline, what="the file and socket closed")


async def test_auth(rig: Rig) -> None:
    (Path(rig.config.snapshots.dir) / "a.jpg").write_bytes(b"img")
    (Path(rig.config.snapshots.dir) / "b.jpg").write_bytes(b"other")
    async with serving(rig) as port:
        r = await request(port, "/files/snapshots/a.jpg")
        assert r.status == 401 and r.json() == {"error": "credentials required", "reason": "auth_required"}
        r = await request(port, "/files/snapshots/a.jpg", headers={"Authorization": "Bearer nope"})
        assert r.status == 401 and r.json()["reason"] == "invalid_token"
        r = await request(port, "/files/snapshots/a.jpg", headers={"X-API-Key": "admin-key"})
        assert r.status == 200 and r.body == b"img"
        token, _ = rig.auth.sign_download("snapshot", "a.jpg", 60)
        r = await request(port, f"/files/snapshots/a.jpg?token={token}")
        assert r.status == 200 and r.body == b"img"
        r = await request(port, f"/files/snapshots/b.jpg?token={token}")  # a token is for one file only
        assert r.status == 401
        r = await request(port, f"/files/recordings/a.jpg?token={token}")  # ... and one kind
        assert r.status == 401
        r = await request(port, "/files/snapshots/missing.jpg", headers=AUTH)
        assert r.status == 404 and r.json()["reason"] == "file_not_found"


async def test_get_download_url_gives_a_working_link(rig: Rig) -> None:
    (Path(rig.config.snapshots.dir) / "a.jpg").write_bytes(b"img")
    async with serving(rig) as port:
        media = rig.services.media
        link = await media.download_link(media.snapshot_files.kind, "a.jpg", 60, "127.0.0.1")
        assert link["url"].startswith(f"http://127.0.0.1:{port}/files/snapshots/a.jpg?token=")
        assert link["expires_at"].endswith("Z")
        r = await request(port, link["url"].split(str(port), 1)[1])
        assert r.status == 200 and r.body == b"img"


TRAVERSALS = [
    "/files/snapshots/..%2fsecret.jpg",
    "/files/snapshots/%2e%2e%2fsecret.jpg",
    "/files/snapshots/%2e%2e/secret.jpg",
    "/files/snapshots/..%2F..%2Fsecret.jpg",
    "/files/snapshots/%2e%2e%5csecret.jpg",
    "/files/snapshots/..\\secret.jpg",
    "/files/snapshots/%2fetc%2fpasswd",
    "/files/snapshots//etc/passwd",
    "/files/snapshots/secret.jpg%00.jpg",
    "/files/snapshots/%00",
    "/files/snapshots/.hidden.jpg",
    "/files/snapshots/link.jpg",
    "/files/snapshots/%2e%2e",
    "/files/snapshots/..",
    "/files/snapshots/../secret.jpg",
    "/files/snapshots/sub/..%2f..%2fsecret.jpg",
    "/files/recordings/..%2fsnapshots%2flink.jpg",
    "/files/snapshots/",
]


@pytest.mark.parametrize("target", TRAVERSALS)
async def test_traversal_attempts_get_4xx_and_read_nothing_outside(
    rig: Rig, target: str, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"TOP-SECRET")
    snaps = Path(rig.config.snapshots.dir)
    (snaps / "link.jpg").symlink_to(secret)
    (snaps / ".hidden.jpg").write_bytes(b"TOP-SECRET temp")
    async with serving(rig) as port:
        for headers in (AUTH, {}):
            r = await request(port, target, headers=headers)
            assert 400 <= r.status < 500, (target, r.status)
            assert b"TOP-SECRET" not in r.body
            assert r.headers["content-type"].startswith("application/json")
            assert "reason" in r.json()
    assert secret.read_bytes() == b"TOP-SECRET"


async def test_bad_names_are_400_with_a_reason(rig: Rig) -> None:
    async with serving(rig) as port:
        r = await request(port, "/files/snapshots/..%2fx.jpg", headers=AUTH)
        assert r.status == 400 and r.json()["reason"] == "invalid_filename"
        r = await request(port, "/files/other/x.jpg", headers=AUTH)
        assert r.status == 404
