"""Recordings end to end against both MediaMTX targets (the emulator and the real binary): the name a
client is given is the file on disk, and an outage of MediaMTX shows on the session."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from camsvc.app import Service
from camsvc.security.roles import Role
from camsvc.storage.disk import DiskUsage
from tests.media.test_media_e2e import media_service, pytestmark  # noqa: F401  (skip without ffmpeg)
from tests.mediamtx_targets import MediamtxTarget
from tests.rpc_client import RpcClient, rpc_client, token_for, ws_url


@contextlib.asynccontextmanager
async def operator(service: Service) -> AsyncIterator[RpcClient]:
    async with rpc_client(ws_url(service), token=token_for(service, Role.OPERATOR)) as op:
        with trio.fail_after(8):
            while not any(  # noqa: ASYNC110 - polling the API under test, with a deadline
                c["device"] == "camera0" and c["status"] == "CONNECTED"
                for c in (await op.call("get_camera_list"))["cameras"]
            ):
                await trio.sleep(0.05)
        yield op


async def _exists(path: Path, limit: float = 10.0) -> None:
    with trio.fail_after(limit):
        # MediaMTX is another process: there is no event to wait on, only the file appearing
        while not await trio.Path(path).exists():  # noqa: ASYNC110
            await trio.sleep(0.05)


@pytest.mark.parametrize("first_segment_wait", [3.0, 0.0], ids=["waited", "announced_later"])
async def test_the_announced_recording_name_is_the_file_on_disk(
    tmp_path: Path, mediamtx_target: MediamtxTarget, first_segment_wait: float
) -> None:
    """The name start_recording and its first event give is the file MediaMTX writes; when the segment
    is not there yet (wait 0) they say null and a later RECORDING event names it."""
    async with (
        media_service(tmp_path, mediamtx_target, recording={"first_segment_wait": first_segment_wait}) as service,
        operator(service) as op,
    ):
        started = await op.call("start_recording", {"device": "camera0"})
        first = (await op.notification("recording_status_update"))["params"]
        assert first["status"] == "RECORDING" and first["session_id"] == started["session_id"]
        assert first["filename"] == started["filename"]
        name = started["filename"]
        if first_segment_wait:
            assert name is not None, f"{mediamtx_target.kind}: no first segment within {first_segment_wait}s"
        while name is None:
            later = (await op.notification("recording_status_update"))["params"]
            assert later["status"] == "RECORDING" and later["session_id"] == started["session_id"]
            name = later["filename"]
        await _exists(Path(service.config.recording.dir) / name)
        status = await op.call("get_recording_status", {"device": "camera0"})
        assert status["filename"] == name
        stopped = await op.call("stop_recording", {"device": "camera0"})
        assert stopped["filename"] == name and stopped["files"][0] == name


async def _event(op: RpcClient, matches: Any, limit: float = 20.0) -> dict[str, Any]:
    with trio.fail_after(limit):
        while True:
            params: dict[str, Any] = (await op.notification("recording_status_update", limit=limit))["params"]
            if matches(params):
                return params


async def _frames_in(path: Path) -> int:
    """Video frames ffprobe can read from a file (0: not playable)."""
    probe = await trio.run_process(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
         "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", str(path)],
        capture_stdout=True,
        check=False,
    )  # fmt: skip
    text = probe.stdout.decode().strip()
    return int(text) if probe.returncode == 0 and text.isdigit() else 0


async def _has_media(path: Path) -> None:
    with trio.fail_after(10):
        while not await _frames_in(path):  # noqa: ASYNC110 - media is written by another process
            await trio.sleep(0.1)


async def test_a_mediamtx_outage_shows_on_the_session(tmp_path: Path, mediamtx_target: MediamtxTarget) -> None:
    """MediaMTX goes away for 2 s mid-recording: an event when the media stops, one when it resumes,
    and the gap kept on the session (status, stop result) — not `recording: true` throughout."""
    async with media_service(tmp_path, mediamtx_target) as service, operator(service) as op:
        started = await op.call("start_recording", {"device": "camera0"})
        name = started["filename"] or (await _event(op, lambda p: p["filename"] is not None))["filename"]
        first = Path(service.config.recording.dir) / name
        await _exists(first)
        await _has_media(first)
        await mediamtx_target.restart(downtime=2.0)
        down = await _event(op, lambda p: p["interrupted"])
        assert down["status"] == "RECORDING" and down["reason"] == "mediamtx_unavailable"
        assert down["session_id"] == started["session_id"] and down["gaps"][0]["end"] is None
        up = await _event(op, lambda p: p.get("reason") == "recording_resumed")
        assert up["interrupted"] is False and len(up["gaps"]) == 1
        gap = up["gaps"][0]
        assert gap["start"] == down["gaps"][0]["start"]
        assert gap["duration"] >= 2.0  # no media while it was down, so the gap holds the whole downtime
        status = await op.call("get_recording_status", {"device": "camera0"})
        assert status["recording"] is True and status["interrupted"] is False and status["gaps"] == up["gaps"]
        newest = max(await trio.Path(service.config.recording.dir).glob("camera0_*"))
        await _has_media(Path(newest))  # the emulator's ffmpeg opens a segment before its first frame
        stopped = await op.call("stop_recording", {"device": "camera0"})
        assert stopped["gaps"] == up["gaps"] and stopped["files"][0] == name and len(stopped["files"]) >= 2
        for file in stopped["files"]:
            assert await _frames_in(Path(service.config.recording.dir) / file) > 0, f"{file} is not playable"


async def test_a_full_disk_stops_the_recording_with_playable_files(tmp_path: Path, mediamtx_target: MediamtxTarget) -> None:
    """The disk crosses storage.block_percent mid-recording: STOPPED with reason storage_full, and the
    segments MediaMTX wrote are complete files."""
    level = {"pct": 50.0}

    def statvfs(path: str) -> DiskUsage:  # the disk-usage seam
        return DiskUsage(path, 1000, int(level["pct"] * 10), 1000 - int(level["pct"] * 10))

    async with (
        media_service(tmp_path, mediamtx_target, storage={"disk_check_interval": 0.2}) as service,
        operator(service) as op,
    ):
        service.services.media.gate._usage = statvfs  # type: ignore[attr-defined]
        started = await op.call("start_recording", {"device": "camera0"})
        name = started["filename"] or (await _event(op, lambda p: p["filename"] is not None))["filename"]
        await _has_media(Path(service.config.recording.dir) / name)
        level["pct"] = 96.0
        stopped = await _event(op, lambda p: p["status"] != "RECORDING")
        assert (stopped["status"], stopped["reason"]) == ("STOPPED", "storage_full")
        assert stopped["session_id"] == started["session_id"] and stopped["files"][0] == name
        assert (await op.call("get_recording_status", {"device": "camera0"}))["recording"] is False
        for file in stopped["files"]:
            assert await _frames_in(Path(service.config.recording.dir) / file) > 0, f"{file} is not playable"
