"""External streams: the store, ffprobe result parsing, candidate scans and the real ffprobe's failures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import trio

from camsvc.cameras.external import (
    ExternalScanner,
    ExternalStream,
    ExternalStreamStore,
    ProbeResult,
    ffprobe_candidate,
    parse_ffprobe,
    scan_candidates,
    valid_url,
)
from camsvc.storage.state import StateStore
from tests.helpers import free_port


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("rtsp://192.0.2.1/live", True),
        ("rtsps://cam:pw@host:322/x?y=1", True),
        ("rtmp://h/app/key", True),
        ("https://h/stream.m3u8", True),
        ("srt://h:9000", True),
        ("file:///etc/passwd", False),
        ("rtsp://", False),
        ("rtsp:// host/x", False),
        ("udp://h:1234", False),
    ],
)
def test_url_check(url: str, ok: bool) -> None:
    assert valid_url(url) is ok


async def test_store_keeps_streams_and_settings(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "s.db")
    state.open()
    try:
        store = ExternalStreamStore(state)
        store.ensure_schema()
        store.ensure_schema()  # idempotent
        assert await store.insert(ExternalStream("a", "rtsp://h/a", "generic", "api", 2.0))
        assert await store.insert(ExternalStream("b", "rtsp://h/b", "onvif", "api", 1.0))
        assert not await store.insert(ExternalStream("a", "rtsp://h/other", "generic", "api", 3.0))
        assert [s.name for s in await store.load()] == ["b", "a"]  # in the order they were added
        assert await store.delete("a") and not await store.delete("a")
        assert await store.get_setting("k") is None
        await store.set_setting("k", "1.5")
        await store.set_setting("k", "2.5")
        assert await store.get_setting("k") == "2.5"
    finally:
        state.close()


def test_parse_ffprobe_takes_the_first_video_stream() -> None:
    out = {
        "streams": [
            {"codec_type": "audio", "codec_name": "aac"},
            {
                "codec_type": "video",
                "codec_name": "h264",
                "width": 1920,
                "height": 1080,
                "avg_frame_rate": "30000/1001",
            },
        ]
    }
    result = parse_ffprobe("rtsp://h/x", json.dumps(out).encode())
    assert result == ProbeResult(
        "rtsp://h/x", True, {"codec": "h264", "resolution": "1920x1080", "fps": 29.97}
    )
    audio_only = parse_ffprobe("u", json.dumps({"streams": [{"codec_type": "audio"}]}).encode())
    assert not audio_only.ok and audio_only.error == "no video stream"
    assert not parse_ffprobe("u", b"not json").ok
    odd = parse_ffprobe(
        "u", json.dumps({"streams": [{"codec_type": "video", "avg_frame_rate": "0/0"}]}).encode()
    )
    assert odd.ok and "fps" not in odd.info and "resolution" not in odd.info


async def test_scan_keeps_order_bounds_concurrency_and_survives_broken_probers() -> None:
    active = peak = 0

    async def prober(url: str, timeout: float) -> ProbeResult:  # noqa: ASYNC109
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await trio.sleep(0.01)
        active -= 1
        if url.endswith("boom"):
            raise RuntimeError("prober bug")
        return ProbeResult(url, not url.endswith("bad"), error=None if not url.endswith("bad") else "refused")

    urls = [f"rtsp://h/{i}" for i in range(6)] + ["rtsp://h/bad", "rtsp://h/boom"]
    report = await scan_candidates(urls, prober, timeout=1, concurrency=2)
    assert peak == 2
    assert [r.url for r in report.discovered] == urls[:6]
    assert [(r.url, r.error) for r in report.errors] == [
        ("rtsp://h/bad", "refused"),
        ("rtsp://h/boom", "RuntimeError: prober bug"),
    ]
    assert report.duration > 0


async def test_scanner_periodic_mode_and_interval_changes(autojump_clock: Any) -> None:
    calls: list[float] = []

    async def prober(url: str, timeout: float) -> ProbeResult:  # noqa: ASYNC109
        calls.append(trio.current_time())
        return ProbeResult(url, True)

    scanner = ExternalScanner(("rtsp://h/a",), timeout=1.0, prober=prober)
    assert scanner.enabled
    with pytest.raises(ValueError):
        scanner.set_interval(-1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(scanner.run_periodic)
        await trio.sleep(100)
        assert calls == []  # interval 0: on demand only
        scanner.set_interval(10)
        await trio.sleep(35)
        assert len(calls) == 3
        first = scanner.last
        assert await scanner.scan() is first  # periodic mode answers from the last result
        await scanner.scan(force=True)
        assert len(calls) == 4
        scanner.set_interval(0)
        await trio.sleep(100)
        assert len(calls) == 4
        nursery.cancel_scope.cancel()


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
async def test_ffprobe_reports_an_unreachable_candidate_quickly() -> None:
    url = f"rtsp://127.0.0.1:{free_port()}/nothing"
    with trio.fail_after(9):
        result = await ffprobe_candidate(url, 5.0)
    assert not result.ok and result.error
    assert "Connection refused" in result.error or "refused" in result.error.lower()


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
async def test_ffprobe_is_killed_at_its_timeout() -> None:
    # a listener that accepts and never answers: ffprobe would wait for a long time
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        began = trio.current_time()
        result = await ffprobe_candidate(f"rtsp://127.0.0.1:{port}/stall", 0.5)
        assert trio.current_time() - began < 5
    assert not result.ok and result.error == "no answer within 0.5 s"


async def test_missing_ffprobe_is_a_clear_error() -> None:
    result = await ffprobe_candidate("rtsp://h/x", 1.0, ffprobe="/nonexistent/ffprobe")
    assert (
        not result.ok
        and result.error is not None
        and result.error.startswith("cannot run /nonexistent/ffprobe")
    )
