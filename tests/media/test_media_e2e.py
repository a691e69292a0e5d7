"""Media end to end: the real service in process, MediaMTX (emulator and real), a synthetic camera, real ffmpeg.

snapshot → a decodable JPEG of the camera's size; a 5 s timed recording → auto-stop notification and a
file of ~5 s; list → info → download (whole and a range, bytes compared) → delete; and every file
parameter and URL tried with traversal tricks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from camsvc.app import Service, build
from camsvc.media.ffmpeg import FfmpegRunner
from camsvc.security.roles import Role
from tests.media.rawhttp import request
from tests.mediamtx_targets import MediamtxTarget
from tests.rpc_client import RpcClient, RpcError, rpc_client, service_config, token_for, ws_url

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None, reason="ffmpeg/ffprobe not installed"
)


def camera_config(tmp_path: Path, target: MediamtxTarget, *, mediamtx: dict[str, Any] | None = None,
                  **sections: dict[str, Any]) -> Any:  # fmt: skip
    """The service config of the end-to-end tests: ``target``'s MediaMTX and one synthetic camera0."""
    return service_config(
        tmp_path,
        mediamtx={
            "api_url": target.api_url,
            "rtsp_port": target.rtsp_port,
            "reconcile_interval": 0.5,
            "backoff_max": 0.5,
            "request_timeout": 3.0,
            "on_demand_close_after": 1.0,
            **(mediamtx or {}),
        },
        cameras={
            "discovery": "disabled",
            "synthetic": [{"id": "camera0", "width": 320, "height": 240, "fps": 15}],
            "keyframe_interval": 0.5,
        },
        **sections,
    )


@contextlib.asynccontextmanager
async def media_service(tmp_path: Path, emu: MediamtxTarget, **sections: dict[str, Any]) -> AsyncIterator[Service]:
    config = camera_config(tmp_path, emu, **sections)
    service = build(config)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        yield service
        nursery.cancel_scope.cancel()


async def _camera_ready(client: RpcClient) -> None:
    with trio.fail_after(8):
        while True:
            cameras = (await client.call("get_camera_list"))["cameras"]
            if any(c["device"] == "camera0" and c["status"] == "CONNECTED" for c in cameras):
                return
            await trio.sleep(0.05)


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _ls(directory: Path, suffix: str = "") -> list[str]:
    """Names in ``directory`` (hidden ones included) ending with ``suffix``."""
    return sorted(n for n in os.listdir(directory) if n.endswith(suffix))


async def test_snapshot_record_list_info_download_delete(tmp_path: Path, mediamtx_target: MediamtxTarget) -> None:
    runner = FfmpegRunner()
    async with (
        media_service(tmp_path, mediamtx_target) as service,
        rpc_client(ws_url(service), token=token_for(service, Role.OPERATOR)) as op,
        rpc_client(ws_url(service), token=token_for(service, Role.ADMIN)) as admin,
    ):
        await _camera_ready(op)
        http_port = service.http.bound_port
        assert http_port is not None

        snap = await op.call("take_snapshot", {"device": "camera0"})
        assert snap["status"] == "SUCCESS" and snap["device"] == "camera0"
        info = await runner.probe(snap["file_path"], timeout=10)
        assert info.resolution == "320x240"
        assert _read(Path(snap["file_path"]))[:2] == b"\xff\xd8"
        assert snap["download_url"] == f"http://127.0.0.1:{http_port}/files/snapshots/{snap['filename']}"

        started = await op.call("start_recording", {"device": "camera0", "duration": 5})
        assert started["status"] == "RECORDING" and started["duration"] == 5 and started["format"] == "fmp4"
        assert started["filename"].startswith("camera0_") and started["filename"].endswith(".mp4")
        status = await op.call("get_recording_status", {"device": "camera0"})
        assert status["recording"] is True and status["session_id"] == started["session_id"]
        with pytest.raises(RpcError) as err:
            await op.call("start_recording", {"device": "camera0"})
        assert (err.value.code, err.value.reason) == (-32020, "already_recording")

        while True:  # auto-stop after 5 s of media
            note = await op.notification("recording_status_update", limit=15)
            if note["params"]["status"] != "RECORDING":
                break
        event = note["params"]
        assert event["status"] == "STOPPED" and event["session_id"] == started["session_id"]
        assert event["reason"] == "duration_reached" and event["files"]

        listed = await op.call("list_recordings", {"device": "camera0"})
        names = [f["filename"] for f in listed["files"]]
        assert set(event["files"]) <= set(names) and listed["total"] == len(names)
        durations = []
        for name in event["files"]:
            file_info = await op.call("get_recording_info", {"filename": name})
            assert file_info["filename"] == name and file_info["device"] == "camera0"
            durations.append(file_info["duration"])
            probed = await runner.probe(Path(service.config.recording.dir) / name, timeout=10)
            assert probed.duration is not None and abs(probed.duration - file_info["duration"]) < 0.01
        # Never short (the top-up tolerance), and long by at most the time the stop takes to land: the
        # top-up errs long by design, and on a loaded box MediaMTX keeps writing a little past it.
        assert 5.0 - 0.2 <= sum(durations) <= 5.0 + 2.0, durations

        name = event["files"][0]
        on_disk = _read(Path(service.config.recording.dir) / name)
        link = await op.call(
            "get_download_url", {"file_type": "recording", "filename": name, "expires_in": 60}
        )
        target = link["url"].split(f":{http_port}", 1)[1]
        whole = await request(http_port, target)
        assert whole.status == 200 and whole.body == on_disk and whole.headers["content-type"] == "video/mp4"
        part = await request(http_port, target, headers={"Range": "bytes=100-4195"})
        assert part.status == 206 and part.body == on_disk[100:4196]

        deleted = await admin.call("delete_recording", {"filename": name})
        assert deleted == {"filename": name, "deleted": True, "message": deleted["message"]}
        assert not (Path(service.config.recording.dir) / name).exists()
        with pytest.raises(RpcError) as err:
            await op.call("get_recording_info", {"filename": name})
        assert err.value.code == -32010
        assert (await request(http_port, target)).status == 404

        snaps = await op.call("list_snapshots", {})
        assert [f["filename"] for f in snaps["files"]] == [snap["filename"]]
        assert (await admin.call("delete_snapshot", {"filename": snap["filename"]}))["deleted"] is True
        assert (await op.call("list_snapshots", {}))["total"] == 0


FILE_PARAM_ATTACKS = [
    "../secret.mp4",
    "..",
    "/etc/passwd",
    "a/b.mp4",
    "a\\b.mp4",
    "x\x00.mp4",
    ".hidden.mp4",
    "%2e%2e%2fsecret.mp4",
]


async def test_every_file_param_refuses_traversal_and_touches_nothing_outside(tmp_path: Path, mediamtx_target: MediamtxTarget) -> None:
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"TOP-SECRET")
    async with (
        media_service(tmp_path, mediamtx_target) as service,
        rpc_client(ws_url(service), token=token_for(service, Role.ADMIN)) as admin,
    ):
        rec = Path(service.config.recording.dir)
        (rec / "link.mp4").symlink_to(secret)
        (Path(service.config.snapshots.dir) / "link.jpg").symlink_to(secret)
        calls: list[tuple[str, dict[str, Any]]] = []
        for bad in [*FILE_PARAM_ATTACKS, "link.mp4", "link.jpg", str(secret)]:
            calls += [
                ("get_recording_info", {"filename": bad}),
                ("get_snapshot_info", {"filename": bad}),
                ("delete_recording", {"filename": bad}),
                ("delete_snapshot", {"filename": bad}),
                ("get_download_url", {"file_type": "recording", "filename": bad}),
                ("get_download_url", {"file_type": "snapshot", "filename": bad}),
            ]
        calls += [
            ("take_snapshot", {"device": "camera0", "filename": bad})
            for bad in [*FILE_PARAM_ATTACKS, str(secret)]
        ]
        for method, params in calls:
            with pytest.raises(RpcError) as err:
                await admin.call(method, params)
            assert err.value.code in (-32602, -32010), (method, params, err.value.code)
        with pytest.raises(RpcError) as err:  # a snapshot never writes through a symlink either
            await admin.call("take_snapshot", {"device": "camera0", "filename": "link.jpg"})
        assert (err.value.code, err.value.reason) == (-32020, "file_exists")
        assert secret.read_bytes() == b"TOP-SECRET"
        assert (rec / "link.mp4").is_symlink()
        assert not _ls(tmp_path, ".jpg")  # no snapshot escaped the snapshots dir


async def test_block_threshold_refuses_snapshots_and_recordings_without_partial_files(tmp_path: Path, mediamtx_target: MediamtxTarget) -> None:
    async with (
        media_service(tmp_path, mediamtx_target, storage={"warn_percent": 0.0, "block_percent": 0.001}) as service,
        rpc_client(ws_url(service), token=token_for(service, Role.OPERATOR)) as op,
    ):
        await _camera_ready(op)
        for method in ("take_snapshot", "start_recording"):
            with pytest.raises(RpcError) as err:
                await op.call(method, {"device": "camera0"})
            assert err.value.code == -32007
            assert err.value.data["block_percent"] == 0.001 and err.value.data["usage_percentage"] > 0.001
        assert _ls(Path(service.config.snapshots.dir)) == []
        assert _ls(Path(service.config.recording.dir)) == []
        assert (await op.call("get_recording_status", {"device": "camera0"}))["recording"] is False
        assert service.health.check("storage").status == "unhealthy"  # type: ignore[union-attr]
