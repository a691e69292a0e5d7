"""`camsvc run --demo` on a fresh machine (empty state dir, default discovery, no /dev/video0): a synthetic
camera0 with real capabilities, published to MediaMTX (the emulator and the real binary) as a path it accepts."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import trio
from trio_websocket import open_websocket_url

from tests.helpers import REPO, free_port, own_group
from tests.mediamtx_targets import MediamtxTarget

SECRET = "demo-test-secret-0123456789-0123456789-abcdef"


async def poll_until(fn: Any, *, within: float, what: str) -> Any:
    with trio.move_on_after(within):
        while True:
            try:
                value = await fn()
            except (httpx.HTTPError, OSError):
                value = None
            if value:
                return value
            await trio.sleep(0.1)
    raise AssertionError(f"timed out after {within} s waiting for {what}")


async def rpc(url: str, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    results = []
    async with open_websocket_url(url) as ws:
        for n, (method, params) in enumerate(calls):
            await ws.send_message(json.dumps({"jsonrpc": "2.0", "id": n, "method": method, "params": params}))
            while True:
                reply = json.loads(await ws.get_message())
                if reply.get("id") == n:
                    break
            assert "result" in reply, reply
            results.append(reply["result"])
    return results


@pytest.mark.skipif(os.path.exists("/dev/video0"), reason="a real /dev/video0 exists: --demo adds no camera0")
async def test_camsvc_run_demo_shows_a_synthetic_camera(tmp_path: Path, mediamtx_target: MediamtxTarget) -> None:
    http_port, ws_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMSVC_")}
    env.update(
        {
            "CAMSVC_STORAGE__STATE_DIR": str(tmp_path / "state"),
            "CAMSVC_RECORDING__DIR": str(tmp_path / "recordings"),
            "CAMSVC_SNAPSHOTS__DIR": str(tmp_path / "snapshots"),
            "CAMSVC_HTTP__HOST": "127.0.0.1",
            "CAMSVC_HTTP__PORT": str(http_port),
            "CAMSVC_SERVER__HOST": "127.0.0.1",
            "CAMSVC_SERVER__PORT": str(ws_port),
            "CAMSVC_MEDIAMTX__API_URL": mediamtx_target.api_url,
            "CAMSVC_MEDIAMTX__RTSP_PORT": str(mediamtx_target.rtsp_port),
            "CAMSVC_SECURITY__JWT_SECRET": SECRET,
            "CAMSVC_CONFIG": "",
        }
    )
    with (tmp_path / "camsvc.log").open("wb") as log:  # noqa: ASYNC230 - opening a local file is instant
        proc = await trio.lowlevel.open_process(
            [sys.executable, "-m", "camsvc", "run", "--demo"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            **own_group(die_with_parent=False),
        )
    try:
        async with httpx.AsyncClient(timeout=2) as client:

            async def cameras_health() -> Any:
                reply = await client.get(f"http://127.0.0.1:{http_port}/health/cameras")
                return reply.json() if reply.status_code == 200 else None

            health = await poll_until(cameras_health, within=20, what="/health/cameras")
        assert health["details"]["cameras"]["synthetic"] == 1
        assert health["details"]["discovery"] == "hybrid"  # the default: udev if present, else polling

        now = int(time.time())
        token = jwt.encode(
            {"user_id": "t", "role": "viewer", "iat": now, "exp": now + 600}, SECRET, "HS256"
        )
        _, listing, caps = await rpc(
            f"ws://127.0.0.1:{ws_port}/ws",
            [
                ("authenticate", {"auth_token": token}),
                ("get_camera_list", {}),
                ("get_camera_capabilities", {"device": "camera0"}),
            ],
        )
        [camera] = listing["cameras"]
        assert (camera["device"], camera["status"], camera["resolution"], camera["fps"]) == (
            "camera0",
            "CONNECTED",
            "640x480",
            15,
        )
        assert caps["validation_status"] == "CONFIRMED" and caps["resolutions"] == ["640x480"]

        path = await poll_until(
            lambda: mediamtx_target.path_conf("camera0"), within=10, what="camera0 path in MediaMTX"
        )
        assert "testsrc2=size=640x480:rate=15" in path["runOnDemand"]
    finally:
        proc.terminate()
        with trio.move_on_after(10):
            await proc.wait()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything the service left in its group
    assert proc.returncode == 0, (tmp_path / "camsvc.log").read_text()[-2000:]
