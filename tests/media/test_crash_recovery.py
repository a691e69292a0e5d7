"""The service SIGKILLed mid-recording and restarted: the session is reconciled and no file is lost or
truncated by us.

Both run as real processes: MediaMTX, emulator or real binary (which keeps recording), and
``python -m camsvc run`` (killed with SIGKILL, then started again on the same state and dirs).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import trio
import yaml

from camsvc.media.ffmpeg import FfmpegRunner
from tests.helpers import REPO, free_port, own_group, stop_group
from tests.mediamtx_targets import target_process
from tests.rpc_client import RpcClient, rpc_client

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
        reason="ffmpeg/ffprobe not installed",
    ),
]

SECRET = "crash-test-secret-0123456789-0123456789-abcdef"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CAMSVC_")}


def _config(tmp: Path, api_url: str, rtsp_port: int) -> tuple[Path, int, int]:
    ws_port, http_port = free_port(), free_port()
    config = {
        "server": {"host": "127.0.0.1", "port": ws_port},
        "http": {"host": "127.0.0.1", "port": http_port},
        "mediamtx": {
            "api_url": api_url,
            "rtsp_port": rtsp_port,
            "reconcile_interval": 0.5,
            "backoff_max": 0.5,
        },
        "cameras": {
            "discovery": "disabled",
            "synthetic": [{"id": "camera0", "width": 320, "height": 240, "fps": 15}],
            "keyframe_interval": 0.5,
        },
        "recording": {"dir": str(tmp / "recordings"), "segment_duration": 1.0, "resume_grace": 10.0},
        "snapshots": {"dir": str(tmp / "snapshots")},
        "storage": {"state_dir": str(tmp / "state")},
        "security": {"jwt_secret": SECRET},
        "logging": {"level": "WARNING", "format": "json"},
    }
    path = tmp / "camsvc.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, ws_port, http_port


def _service(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "camsvc", "run", "--config", str(config)],
            cwd=REPO, env=_clean_env(), stdout=out, stderr=out, **own_group(),
        )  # fmt: skip


def _token() -> str:
    now = int(time.time())
    return jwt.encode({"user_id": "crash", "role": "admin", "iat": now, "exp": now + 3600}, SECRET, "HS256")


async def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until the service accepts connections (its start has no other signal we can see)."""
    deadline = trio.current_time() + 15
    while True:
        try:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
        except OSError:
            if proc.poll() is not None or trio.current_time() > deadline:
                raise AssertionError(f"service did not start: {_tail(log)}") from None
            await trio.sleep(0.1)
        else:
            await stream.aclose()
            return


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


def _segments(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in directory.glob("camera0_*") if not p.name.startswith(".")}


async def _until(fn: Any, what: str, limit: float = 10.0) -> Any:
    with trio.move_on_after(limit):
        while True:
            value = await fn()
            if value:
                return value
            await trio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_sigkill_mid_recording_then_restart_resumes_and_loses_nothing(
    tmp_path: Path, mediamtx_kind: str
) -> None:
    recordings = tmp_path / "recordings"
    runner = FfmpegRunner()
    with target_process(mediamtx_kind, tmp_path / "mtx") as (api_url, rtsp_port):
        config, ws_port, _ = _config(tmp_path, api_url, rtsp_port)
        log = tmp_path / "service.log"

        first = _service(config, log)
        try:
            await _wait_listening(ws_port, first, log)
            async with rpc_client(f"ws://127.0.0.1:{ws_port}/ws", token=_token()) as client:
                await _until(lambda: _camera_connected(client), "camera0 connected")
                started = await client.call("start_recording", {"device": "camera0"})
                # at least two segments on disk (MediaMTX rotates every second)
                await _until(lambda: _async(len(_segments(recordings)) >= 2), "two segments")
                first.send_signal(signal.SIGKILL)  # no cleanup of any kind
                first.wait(timeout=10)
        finally:
            stop_group(first)
        before = _segments(recordings)
        assert len(before) >= 2

        second = _service(config, log)
        try:
            await _wait_listening(ws_port, second, log)
            async with rpc_client(f"ws://127.0.0.1:{ws_port}/ws", token=_token()) as client:
                status = await _until(
                    lambda: _recording_status(client, started["session_id"]), "the session resumed"
                )
                assert status["filename"] == started["filename"]
                await _until(lambda: _async(len(_segments(recordings)) > len(before)), "recording continues")
                stopped = await client.call("stop_recording", {"device": "camera0"})
                assert stopped["session_id"] == started["session_id"] and stopped["status"] == "STOPPED"
                assert set(before) <= set(stopped["files"])  # the pre-crash files belong to the session
        finally:
            stop_group(second)

    after = _segments(recordings)
    for name, size in before.items():
        assert name in after, f"{name} lost"
        assert after[name] >= size, f"{name} shrank from {size} to {after[name]}"
        info = await runner.probe(recordings / name, timeout=10)
        assert info.duration is not None and info.duration > 0 and info.resolution == "320x240"


async def _async(value: Any) -> Any:
    return value


async def _camera_connected(client: RpcClient) -> bool:
    cameras = (await client.call("get_camera_list"))["cameras"]
    return any(c["device"] == "camera0" and c["status"] == "CONNECTED" for c in cameras)


async def _recording_status(client: RpcClient, session_id: str) -> dict[str, Any] | None:
    status = await client.call("get_recording_status", {"device": "camera0"})
    return status if status["recording"] and status["session_id"] == session_id else None
