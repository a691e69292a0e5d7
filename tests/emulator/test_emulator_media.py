"""MediaMTX's media plane with real ffmpeg: on-demand publishing, RTSP reads, recording, pulled sources.

What camsvc relies on runs against the emulator and the real server (``media``); the rest is the
emulator's own. Skipped when ffmpeg/ffprobe (or the emulator's RTSP server) is unavailable.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from tests.mediamtx_targets import MediamtxTarget
from tools.mediamtx_emulator import Emulator

PUBLISH = (
    "ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc2=size=320x240:rate=10 -c:v libx264"
    " -preset ultrafast -tune zerolatency -g 10 -f rtsp rtsp://localhost:$RTSP_PORT/$MTX_PATH"
)


async def run(argv: list[str], limit: float = 15.0) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(limit):
        return await trio.run_process(argv, capture_stdout=True, capture_stderr=True, check=False)


async def ffprobe(file: Path) -> dict[str, Any]:
    result = await run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name,width,height",
            "-of",
            "json",
            str(file),
        ]  # fmt: skip
    )
    assert result.returncode == 0, result.stderr.decode()
    return dict(json.loads(result.stdout))


async def poll(fetch: Callable[[], Any], check: Callable[[Any], bool], limit: float = 10.0) -> Any:
    """Fetch until ``check`` accepts the value; fails after ``limit`` seconds."""
    last: Any = None
    with trio.move_on_after(limit):
        while True:
            last = await fetch()
            if check(last):
                return last
            await trio.sleep(0.1)  # polling interval of a deadline loop
    raise AssertionError(f"condition not met within {limit}s; last value: {last!r}")


def path_getter(api: httpx.AsyncClient, name: str) -> Callable[[], Any]:
    async def fetch() -> Any:
        return (await api.get(f"/v3/paths/get/{name}")).json()

    return fetch


async def test_on_demand_path_is_started_by_a_reader_and_serves_decodable_frames(
    media: MediamtxTarget, target_api: httpx.AsyncClient, tmp_path: Path, contract: Any
) -> None:
    resp = await target_api.post(
        "/v3/config/paths/add/cam1", json={"runOnDemand": PUBLISH, "runOnDemandCloseAfter": "3s"}
    )
    assert resp.status_code == 200
    assert (await target_api.get("/v3/paths/get/cam1")).json()["ready"] is False

    jpeg = tmp_path / "snap.jpg"
    result = await run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
            f"{media.rtsp_url}/cam1",
            "-frames:v",
            "1",
            "-update",
            "1",
            "-y",
            str(jpeg),
        ]  # fmt: skip
    )
    assert result.returncode == 0, result.stderr.decode()
    probe = await ffprobe(jpeg)
    assert probe["streams"][0]["codec_name"] == "mjpeg"
    assert (probe["streams"][0]["width"], probe["streams"][0]["height"]) == (320, 240)

    resp = await target_api.get("/v3/paths/get/cam1")
    item = contract.check("GET", "/v3/paths/get/{name}", resp)
    assert item["ready"] is True and item["available"] is True and item["readyTime"] is not None
    assert item["source"]["type"] == "rtspSession"
    assert item["tracks"] == ["H264"]
    assert item["tracks2"][0]["codecProps"]["width"] == 320
    assert item["inboundBytes"] > 0 and item["outboundBytes"] > 0
    assert item["readers"] == []  # the snapshot reader has left

    # runOnDemandCloseAfter after the last reader left, the command is stopped and the path idles.
    await poll(path_getter(target_api, "cam1"), lambda i: i["ready"] is False and i["source"] is None)


# emulator only: the reader asks for RTP over UDP, and each per-test real server listens on
# RTSP/TCP alone (UDP would need a free port pair per instance)
async def test_readers_are_listed_and_can_be_kicked(
    emu_media: Emulator, api: httpx.AsyncClient, contract: Any
) -> None:
    await api.post("/v3/config/paths/add/cam2", json={"runOnDemand": PUBLISH})
    # A reader with ffmpeg's default transport (UDP first), kept reading until kicked.
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", f"{emu_media.rtsp_url}/cam2", "-f", "null", "-"]
    async with trio.open_nursery() as nursery:
        reader = await nursery.start(
            functools.partial(trio.run_process, argv, capture_stdout=True, capture_stderr=True, check=False)
        )
        item = await poll(
            path_getter(api, "cam2"), lambda i: len(i["readers"]) == 1 and i["outboundBytes"] > 0
        )
        reader_id = item["readers"][0]["id"]
        assert item["readers"][0]["type"] == "rtspSession"

        sessions = contract.check("GET", "/v3/rtspsessions/list", await api.get("/v3/rtspsessions/list"))
        by_state = {s["state"]: s for s in sessions["items"]}
        assert set(by_state) == {"read", "publish"}
        assert by_state["read"]["id"] == reader_id and by_state["read"]["path"] == "cam2"
        assert by_state["read"]["transport"] == "UDP"
        assert by_state["publish"]["inboundBytes"] > 0
        contract.check("GET", "/v3/rtspconns/list", await api.get("/v3/rtspconns/list"))
        contract.check("GET", "/v3/rtspsessions/get/{id}", await api.get(f"/v3/rtspsessions/get/{reader_id}"))

        resp = await api.post(f"/v3/rtspsessions/kick/{reader_id}")
        assert resp.status_code == 200 and resp.json() == {"status": "ok"}
        with trio.fail_after(10):
            while reader.returncode is None:
                await reader.wait()
    assert (await api.get("/v3/paths/get/cam2")).json()["readers"] == []


@pytest.mark.parametrize(("record_format", "ext"), [("fmp4", ".mp4"), ("mpegts", ".ts")])
async def test_recording_writes_playable_segments(
    media: MediamtxTarget, target_api: httpx.AsyncClient, tmp_path: Path, record_format: str, ext: str
) -> None:
    conf = {
        "runOnInit": PUBLISH,
        "record": True,
        "recordFormat": record_format,
        "recordPath": "./rec/%path/%Y-%m-%d_%H-%M-%S-%f",
        "recordSegmentDuration": "1s",
        "recordPartDuration": "200ms",
    }
    assert (await target_api.post("/v3/config/paths/add/cam3", json=conf)).status_code == 200

    async def segments() -> list[str]:
        return [s["start"] for s in (await target_api.get("/v3/recordings/get/cam3")).json()["segments"]]

    starts = await poll(segments, lambda s: len(s) >= 3, limit=15)
    # Stop cleanly: ffmpeg gets SIGINT and finishes the last segment.
    assert (await target_api.patch("/v3/config/paths/patch/cam3", json={"record": False})).status_code == 200

    files = sorted((media.work_dir / "rec" / "cam3").iterdir())
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d-\d{6}" + re.escape(ext), f.name) for f in files)
    assert len(files) >= len(starts)
    for start, file in zip(starts, files, strict=False):
        # the API's start time is the one in the file name
        assert start[:19].replace("T", "_").replace(":", "-") == file.name[:19]
    for file in files[:-1]:  # complete segments
        probe = await ffprobe(file)
        assert probe["streams"][0]["codec_name"] == "h264" and probe["streams"][0]["width"] == 320
        assert 0.5 <= float(probe["format"]["duration"]) <= 3.0
    # The last one was being written when recording stopped; it must not be left truncated.
    last = await poll(lambda: ffprobe_or_none(files[-1]), lambda p: p is not None)
    assert last["streams"][0]["codec_name"] == "h264"

    resp = await target_api.delete("/v3/recordings/deletesegment", params={"path": "cam3", "start": starts[0]})
    assert resp.status_code == 200
    assert not files[0].exists()


async def ffprobe_or_none(file: Path) -> dict[str, Any] | None:
    result = await run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "json", str(file)]
    )
    return dict(json.loads(result.stdout)) if result.returncode == 0 else None


async def test_recording_does_not_start_an_on_demand_command(emu: Emulator, api: httpx.AsyncClient) -> None:
    # As in MediaMTX, only readers demand a runOnDemand source; record:true records while ready.
    resp = await api.post("/v3/config/paths/add/cam4", json={"runOnDemand": PUBLISH, "record": True})
    assert resp.status_code == 200
    path = emu.manager.paths["cam4"]
    assert path.on_demand is not None and path.on_demand.state == "initial"
    assert (await api.get("/v3/paths/get/cam4")).json()["ready"] is False


async def test_pulled_source_relays_another_stream(media: MediamtxTarget, target_api: httpx.AsyncClient) -> None:
    await target_api.post("/v3/config/paths/add/upstream", json={"runOnInit": PUBLISH})
    await poll(path_getter(target_api, "upstream"), lambda i: i["ready"])
    source = f"rtsp://127.0.0.1:{media.rtsp_port}/upstream"
    await target_api.post("/v3/config/paths/add/ipcam", json={"source": source, "rtspTransport": "tcp"})
    item = await poll(path_getter(target_api, "ipcam"), lambda i: i["ready"])
    assert item["source"] == {"type": "rtspSource", "id": ""}
    assert item["tracks"] == ["H264"]
    upstream = (await target_api.get("/v3/paths/get/upstream")).json()
    assert upstream["readers"] and upstream["readers"][0]["type"] == "rtspSession"

    await target_api.delete("/v3/config/paths/delete/upstream")
    item = await poll(path_getter(target_api, "ipcam"), lambda i: not i["ready"])
    assert item["source"] == {"type": "rtspSource", "id": ""}  # still there, waiting to reconnect


async def test_record_changes_are_hot_reloaded_and_other_changes_recreate_the_path(
    media: MediamtxTarget, target_api: httpx.AsyncClient
) -> None:
    await target_api.post("/v3/config/paths/add/cam5", json={"runOnInit": PUBLISH})
    first = await poll(path_getter(target_api, "cam5"), lambda i: i["ready"])
    publisher = first["source"]["id"]

    # record* settings are applied to the live path: same publisher, same readyTime
    resp = await target_api.patch(
        "/v3/config/paths/patch/cam5", json={"recordSegmentDuration": "2h", "recordDeleteAfter": "0s"}
    )
    assert resp.status_code == 200
    item = (await target_api.get("/v3/paths/get/cam5")).json()
    assert item["ready"] and item["source"]["id"] == publisher and item["readyTime"] == first["readyTime"]

    # an identical configuration changes nothing at all
    await target_api.post(
        "/v3/config/paths/replace/cam5",
        json={"runOnInit": PUBLISH, "recordSegmentDuration": "2h", "recordDeleteAfter": "0s"},
    )
    assert (await target_api.get("/v3/paths/get/cam5")).json()["source"]["id"] == publisher

    # anything else closes and recreates the path: runOnInit restarts and publishes anew
    await target_api.patch("/v3/config/paths/patch/cam5", json={"runOnInitRestart": True})
    item = await poll(path_getter(target_api, "cam5"), lambda i: i["ready"] and i["source"]["id"] != publisher)
    assert item["source"]["type"] == "rtspSession"
