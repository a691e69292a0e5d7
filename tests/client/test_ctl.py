"""`camsvc ctl` against the whole service in process: `--json` prints each method's result as the API
returns it (shapes pinned here), people get tables, and every failure is one line on stderr with the
API's reason and a non-zero exit — never a traceback.
The emulator target only: these test the client side of camsvc's API; MediaMTX itself is tested on
both targets by tests/media and tests/mediamtx.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from camsvc import cli
from camsvc.app import Service
from camsvc.client import Client
from camsvc.security.roles import Role
from tests.client.test_sdk_live import camera_connected, same_file
from tests.helpers import REPO, free_port
from tests.media.test_media_e2e import media_service, pytestmark  # noqa: F401  (skip without ffmpeg)
from tests.mediamtx_targets import open_target
from tests.rpc_client import apoll, running_service, token_for, ws_url

CAMERA_KEYS = {"device", "status", "name", "resolution", "fps", "streams", "recording"}
FILE_KEYS = {"filename", "file_size", "created_time", "modified_time", "download_url", "device", "format"}


@attrs.frozen
class Done:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, self.err
        return json.loads(self.out)


def _main(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exc:  # argparse's usage errors
        return int(exc.code or 0)


class Ctl:
    def __init__(self, url: str, token: str | None, capsys: pytest.CaptureFixture[str]) -> None:
        self.url, self.token, self.capsys = url, token, capsys

    async def __call__(self, *args: str, token: str | None = None) -> Done:
        argv = ["ctl", "--url", self.url]
        if token or self.token:
            argv += ["--token", token or self.token or ""]
        code = await trio.to_thread.run_sync(_main, [*argv, *args])
        out = self.capsys.readouterr()
        assert "Traceback" not in out.err
        return Done(code, out.out, out.err)


@asynccontextmanager
async def live(tmp_path: Path) -> AsyncIterator[Service]:
    async with open_target("emulator", tmp_path / "mediamtx") as emu, media_service(tmp_path, emu) as service:
        async with Client(ws_url(service), token=token_for(service)) as client:
            await camera_connected(client)
        yield service


async def test_json_shapes(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with live(tmp_path) as service:
        ctl = Ctl(ws_url(service), token_for(service, Role.ADMIN), capsys)

        cameras = (await ctl("cameras", "--json")).json()
        assert set(cameras) == {"cameras", "total", "connected"} and cameras["total"] == 1
        assert set(cameras["cameras"][0]) == CAMERA_KEYS
        assert (await ctl("--json", "cameras")).json() == cameras  # --json before the command too

        status = (await ctl("status", "camera0", "--json")).json()
        assert CAMERA_KEYS | {"metrics", "capabilities"} <= set(status)
        system = (await ctl("status", "--json")).json()
        assert set(system) == {"status", "message", "available_cameras", "discovery_active"}

        snap = (await ctl("snapshot", "camera0", "--filename", "door", "--json")).json()
        assert {"device", "filename", "status", "timestamp", "file_size", "file_path", "download_url"} <= set(snap)
        assert snap["filename"] == "door.jpg" and snap["status"] == "SUCCESS"

        started = (await ctl("record", "start", "camera0", "--duration", "30", "--json")).json()
        assert {"device", "session_id", "filename", "status", "start_time", "duration", "format"} <= set(started)
        assert started["status"] == "RECORDING" and started["duration"] == 30
        stopped = (await ctl("record", "stop", "camera0", "--json")).json()
        assert {"device", "session_id", "status", "start_time", "end_time", "duration", "file_size", "files"} <= set(stopped)
        assert stopped["status"] == "STOPPED" and stopped["session_id"] == started["session_id"]

        recordings = (await ctl("files", "list", "--json")).json()
        assert set(recordings) == {"files", "total", "limit", "offset"} and recordings["total"] >= 1
        assert FILE_KEYS <= set(recordings["files"][0])
        snapshots = (await ctl("files", "list", "snapshots", "--device", "camera0", "--json")).json()
        assert [f["filename"] for f in snapshots["files"]] == ["door.jpg"]

        link = (await ctl("files", "download", "door.jpg", "--json")).json()
        assert set(link) == {"url", "expires_at"}
        assert same_file(tmp_path / "door.jpg", snap["file_path"])
        deleted = (await ctl("files", "delete", "door.jpg", "--json")).json()
        assert deleted == {"filename": "door.jpg", "deleted": True, "message": deleted["message"]}

        streams = (await ctl("streams", "--json")).json()
        assert isinstance(streams, list) and {"name", "source", "ready", "readers", "bytes_sent"} == set(streams[0])
        info = (await ctl("server-info", "--json")).json()
        assert info["supported_formats"] == ["fmp4", "mp4", "mpegts", "jpg", "png"]
        health = (await ctl("health", "--json")).json()
        assert set(health) == {"status", "uptime", "version", "components"}


async def test_tables_for_people(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with live(tmp_path) as service:
        ctl = Ctl(ws_url(service), token_for(service, Role.OPERATOR), capsys)
        cameras = await ctl("cameras")
        assert cameras.code == 0
        header, row, footer = cameras.out.splitlines()
        assert header.split() == ["DEVICE", "STATUS", "RESOLUTION", "FPS", "RECORDING", "NAME"]
        assert row.split()[:5] == ["camera0", "CONNECTED", "320x240", "15", "no"]
        assert footer == "1 of 1 connected"
        info = await ctl("server-info")
        assert "supported_formats: fmp4, mp4, mpegts, jpg, png" in info.out.splitlines()
        listed = await ctl("files", "list", "snapshots")
        assert listed.out.splitlines()[-1] == "0 of 0 snapshots"


async def test_watch_prints_live_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with running_service(tmp_path) as service:
        ctl = Ctl(ws_url(service), token_for(service, Role.VIEWER, user="watcher"), capsys)
        async with trio.open_nursery() as nursery:
            done: list[Done] = []

            async def watch() -> None:
                done.append(await ctl("watch", "--count", "1", "--json"))

            nursery.start_soon(watch)
            connections = service.extras["rpc"].connections
            await apoll(
                lambda: any(c.identity is not None and c.identity.user_id == "watcher" for c in connections.values()),
                what="watch to authenticate",
            )
            async with Client(ws_url(service), token=token_for(service, Role.OPERATOR)) as op:
                await op.add_external_stream("rtsp://127.0.0.1:9/x", "door")
        event = done[0].json()
        assert event["method"] == "camera_status_update" and event["params"]["device"] == "door"


async def test_errors_are_one_line_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAMSVC_TOKEN", raising=False)
    monkeypatch.delenv("CAMSVC_API_KEY", raising=False)
    async with running_service(tmp_path) as service:
        url = ws_url(service)
        ctl = Ctl(url, None, capsys)
        bad = await ctl("cameras", token="not-a-token")
        assert bad.code == 1 and bad.out == ""
        assert bad.err.startswith("camsvc ctl: invalid_token") and len(bad.err.splitlines()) == 1
        anonymous = await ctl("cameras")
        assert anonymous.code == 1 and "auth_required" in anonymous.err and "CAMSVC_TOKEN" in anonymous.err
        monkeypatch.setenv("CAMSVC_TOKEN", token_for(service, Role.VIEWER))
        assert (await ctl("cameras", "--json")).json()["total"] == 0  # the token from the environment
        denied = await ctl("files", "delete", "x.jpg")
        assert denied.code == 1 and "insufficient_role" in denied.err and '"required_role": "admin"' in denied.err
        missing = await ctl("status", "camera7")
        assert missing.code == 1 and "camera_not_found" in missing.err

        # a real process: its exit status, and nothing but the reason on stderr
        proc = await trio.run_process(
            [sys.executable, "-m", "camsvc", "ctl", "--url", url, "--token", "bad", "server-info"],
            cwd=REPO, capture_stdout=True, capture_stderr=True, check=False,
        )
        assert proc.returncode == 1 and proc.stdout == b""
        assert proc.stderr.decode().startswith("camsvc ctl: invalid_token")
    refused = await ctl("cameras", token="x")
    assert refused.code == 1 and "connection refused" in refused.err
    usage = await Ctl(f"ws://127.0.0.1:{free_port()}/ws", "x", capsys)("record", "pause", "camera0")
    assert usage.code == 2


def test_the_default_url_is_the_configured_server() -> None:
    from camsvc.config import parse
    from camsvc.ctl import default_url

    assert default_url(parse({}, environ={})) == "ws://localhost:8002/ws"
    assert default_url(parse({}, environ={"CAMSVC_SERVER__PORT": "9002"})) == "ws://localhost:9002/ws"
    assert default_url(parse({"server": {"host": "10.0.0.5", "ws_path": "/rpc"}}, environ={})) == "ws://10.0.0.5:8002/rpc"
    assert default_url(parse({"server": {"host": "::1"}}, environ={})) == "ws://[::1]:8002/ws"
