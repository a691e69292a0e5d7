"""Cameras end to end: the real service (in process) with MediaMTX (the emulator and the real binary).

Hot-plug → camera actor → MediaMTX path added/removed by the reconciler; the --demo synthetic camera is a
path MediaMTX accepts and, with ffmpeg, a stream a client can read; start/stop_streaming switch the path
between on-demand and always-on.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from camsvc.app import Service, build
from camsvc.cameras.device_source import FakeSource
from camsvc.security.roles import Role
from tests.cameras.fakes import FakeProber, eventually
from tests.mediamtx_targets import MediamtxTarget
from tests.rpc_client import rpc_client, service_config, token_for, ws_url


@contextlib.asynccontextmanager
async def service_with(
    tmp_path: Path, mtx: MediamtxTarget, *, demo: bool = False, fake: FakeSource | None = None, **mediamtx: Any
) -> AsyncIterator[Service]:
    config = service_config(
        tmp_path,
        mediamtx={
            "api_url": mtx.api_url,
            "rtsp_port": mtx.rtsp_port,
            "reconcile_interval": 0.5,
            "backoff_max": 0.5,
            "request_timeout": 3.0,
            **mediamtx,
        },
        cameras={"discovery": "disabled" if fake is None else "hybrid", "debounce": 0},
        # nothing publishes in most of these tests: do not wait long for a first recording segment
        recording={"first_segment_wait": 0.2},
    )
    service = build(config, demo=demo)
    if fake is not None:
        service.extras["cameras"].discovery.source = fake
        service.extras["cameras"].discovery.prober = FakeProber()
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        yield service
        nursery.cancel_scope.cancel()


async def test_hot_plug_adds_and_removes_the_mediamtx_path(
    tmp_path: Path, mediamtx_target: MediamtxTarget
) -> None:
    fake = FakeSource()
    async with (
        service_with(tmp_path, mediamtx_target, fake=fake, ffmpeg_path="true") as service,
        rpc_client(ws_url(service), token=token_for(service, Role.VIEWER)) as client,
    ):
        await client.call("subscribe_events", {"topics": ["camera_status_update"]})
        await fake.add("/dev/video0")
        update = await client.notification("camera_status_update")
        assert (update["params"]["device"], update["params"]["status"]) == ("camera0", "CONNECTED")
        path = await eventually(lambda: mediamtx_target.path_conf("camera0"), what="camera0 path in MediaMTX")
        command = path["runOnDemand"]
        assert "-f v4l2" in command and "-i /dev/video0" in command and "-c:v libx264" in command
        assert path["source"] == "publisher"
        child = service.extras["cameras"].supervisor.snapshot()
        assert "camera0" in [c.name for c in child.children]

        await fake.remove("/dev/video0")
        update = await client.notification("camera_status_update")
        assert (update["params"]["device"], update["params"]["status"]) == ("camera0", "DISCONNECTED")
        await eventually(lambda: mediamtx_target.path_gone("camera0"), what="camera0 path removed")
        assert service.services.registry.get("camera0") is None


async def test_network_camera_added_at_run_time_is_a_pulled_path(
    tmp_path: Path, mediamtx_target: MediamtxTarget
) -> None:
    async with (
        service_with(tmp_path, mediamtx_target) as service,
        rpc_client(ws_url(service), token=token_for(service, Role.OPERATOR)) as client,
    ):
        await client.call(
            "add_external_stream", {"stream_url": "rtsp://192.0.2.44:554/main", "stream_name": "yard"}
        )
        path = await eventually(lambda: mediamtx_target.path_conf("yard"), what="yard path")
        assert path["source"] == "rtsp://192.0.2.44:554/main" and path["sourceOnDemand"] is True
        await client.call("remove_external_stream", {"stream_name": "yard"})
        await eventually(lambda: mediamtx_target.path_gone("yard"), what="yard path removed")


async def test_demo_camera_is_a_real_stream_and_streaming_leases_keep_it_up(
    tmp_path: Path, mediamtx_target: MediamtxTarget
) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not found")
    async with (
        service_with(tmp_path, mediamtx_target, demo=True) as service,
        rpc_client(ws_url(service), token=token_for(service, Role.OPERATOR)) as client,
    ):
        caps = await client.call("get_camera_capabilities", {"device": "camera0"})
        assert caps == {
            "device": "camera0",
            "formats": ["H264"],
            "resolutions": ["640x480"],
            "fps_options": [15],
            "validation_status": "CONFIRMED",
        }
        path = await eventually(lambda: mediamtx_target.path_conf("camera0"), what="demo camera path")
        assert "testsrc2=size=640x480:rate=15" in path["runOnDemand"]

        started = await client.call("start_streaming", {"device": "camera0"})
        assert started["status"] == "STARTED" and started["stream_name"] == "camera0"
        assert started["stream_url"] == f"rtsp://127.0.0.1:{mediamtx_target.rtsp_port}/camera0"
        assert started["auto_close_after"] == 300
        path = await mediamtx_target.path_conf("camera0")
        assert path is not None and path["runOnInit"] and not path["runOnDemand"]

        # a client reads real frames from the always-on stream
        url = f"rtsp://127.0.0.1:{mediamtx_target.rtsp_port}/camera0"
        with trio.fail_after(9):
            done = await trio.run_process(
                [
                    "ffmpeg",
                    "-v",
                    "error",
                    "-rtsp_transport",
                    "tcp",
                    "-i",
                    url,
                    "-frames:v",
                    "2",
                    "-f",
                    "null",
                    "-",
                ],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-400:]

        stopped = await client.call("stop_streaming", {"device": "camera0"})
        assert stopped["status"] == "STOPPED" and stopped["start_time"] == started["start_time"]
        assert stopped["end_time"] >= stopped["start_time"] and stopped["duration"] > 0
        await eventually(
            lambda: _run_on_demand(mediamtx_target, "camera0"),
            what="back to on demand",
        )


async def test_unplugging_a_recording_camera_fails_its_session(
    tmp_path: Path, mediamtx_target: MediamtxTarget
) -> None:
    """The real media room's on_removed callback ends the session: FAILED, reason camera_disconnected."""
    fake = FakeSource()
    async with (
        service_with(tmp_path, mediamtx_target, fake=fake, ffmpeg_path="true") as service,
        rpc_client(ws_url(service), token=token_for(service, Role.OPERATOR)) as client,
    ):
        await client.call("subscribe_events", {"topics": ["recording_status_update", "camera_status_update"]})
        await fake.add("/dev/video1")
        await eventually(lambda: mediamtx_target.path_conf("camera1"), what="camera1 path")
        started = await client.call("start_recording", {"device": "camera1"})
        assert started["status"] == "RECORDING"
        path = await mediamtx_target.path_conf("camera1")
        assert path is not None and path["record"] is True
        await fake.remove("/dev/video1")
        seen: list[tuple[str, str]] = []
        while ("camera_status_update", "DISCONNECTED") not in seen:
            note = await client.notification()
            seen.append((note["method"], note["params"]["status"]))
            if note["method"] == "recording_status_update" and note["params"]["status"] == "FAILED":
                assert note["params"]["reason"] == "camera_disconnected"
                assert note["params"]["session_id"] == started["session_id"]
        assert seen.index(("recording_status_update", "FAILED")) < seen.index(
            ("camera_status_update", "DISCONNECTED")
        )
        await eventually(lambda: mediamtx_target.path_gone("camera1"), what="camera1 path removed")


async def _run_on_demand(mtx: MediamtxTarget, name: str) -> str:
    return str((await mtx.path_conf(name) or {}).get("runOnDemand") or "")
