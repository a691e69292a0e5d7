"""A supervised mediamtx's output in our log: MediaMTX's levels kept, ffmpeg's chatter at debug."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio

from camsvc.mediamtx.process import MediamtxExited, MediamtxProcess
from camsvc.mediamtx.server_log import classify

from .conftest import synthetic

DEBUG, INFO, WARNING, ERROR = logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR

#: what ffmpeg 5.1 prints on stderr when run without -hide_banner/-nostats/-loglevel (trimmed)
FFMPEG_CHATTER = """\
ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers
  built with gcc 12 (Debian 12.2.0-14+deb12u1)
  configuration: --prefix=/usr --extra-version=0+deb12u1 --toolchain=hardened --enable-gpl
  libavutil      57. 28.100 / 57. 28.100
  libpostproc    56.  6.100 / 56.  6.100
Input #0, lavfi, from 'testsrc=size=64x64:rate=5':
  Duration: N/A, start: 0.000000, bitrate: N/A
  Stream #0:0: Video: rawvideo (RGB[24] / 0x18424752), rgb24, 64x64 [SAR 1:1 DAR 1:1], 5 tbr, 5 tbn
Stream mapping:
  Stream #0:0 -> #0:0 (rawvideo (native) -> h264 (libx264))
Press [q] to stop, [?] for help
Output #0, rtsp, to 'rtsp://localhost:8554/camera0':
  Metadata:
    encoder         : Lavf59.27.100
      cpb: bitrate max/min/avg: 0/0/0 buffer size: 0 vbv_delay: N/A
frame=    6 fps=6.0 q=3.0 size=N/A time=00:00:00.40 bitrate=N/A speed=0.397x
size=N/A time=00:00:01.80 bitrate=N/A speed=0.894x
video:12kB audio:0kB subtitle:0kB other streams:0kB global headers:0kB muxing overhead: 50.895573%
"""


@pytest.mark.parametrize(
    ("line", "level", "message"),
    [
        ("2026/01/14 16:33:17 INF [RTSP] listener opened on :8554 (TCP)", INFO, "[RTSP] listener opened on :8554 (TCP)"),
        ("2026/01/14 16:33:17 WAR [path camera0] runOnInit command exited", WARNING, "[path camera0] runOnInit command exited"),
        ("2026/01/14 16:33:17 ERR [API] listen tcp: address already in use", ERROR, "[API] listen tcp: address already in use"),
        ("2026/01/14 16:33:17 DEB [RTSP] [conn 127.0.0.1:5] c->s OPTIONS", DEBUG, "[RTSP] [conn 127.0.0.1:5] c->s OPTIONS"),
    ],
)  # fmt: skip
def test_mediamtx_lines_keep_their_level_and_lose_their_timestamp(line: str, level: int, message: str) -> None:
    entry = classify(line, WARNING)
    assert (entry.level, entry.message, entry.source) == (level, message, "mediamtx")


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("[error] Could not write header for output file #0: Connection refused", ERROR),
        ("[tcp @ 0x564cdc642dc0] [error] Connection to tcp://127.0.0.1:1 failed: Connection refused", ERROR),
        ("[video4linux2,v4l2 @ 0x55d] [warning] Dequeued v4l2 buffer contains corrupted data (0 bytes).", WARNING),
        ("[fatal] something unrecoverable", logging.CRITICAL),
        ("[libx264 @ 0x55ece9a449c0] [info] using cpu capabilities: MMX2 SSE2Fast", INFO),
    ],
)  # fmt: skip
def test_ffmpeg_lines_tagged_with_a_level_get_that_level(line: str, level: int) -> None:
    entry = classify(line, WARNING)
    assert (entry.level, entry.message, entry.source) == (level, line, "ffmpeg")


@pytest.mark.parametrize("line", FFMPEG_CHATTER.splitlines())
def test_ffmpeg_banner_and_progress_are_debug(line: str) -> None:
    entry = classify(line, WARNING)
    assert (entry.level, entry.source) == (DEBUG, "ffmpeg")


def test_other_lines_keep_the_streams_level() -> None:
    # untagged ffmpeg context lines may be errors: info, visible, not a warning nor hidden
    assert classify("[libx264 @ 0x55ece9a449c0] profile High, level 1.0", WARNING).level == INFO
    # a Go panic (stack indented with tabs) on stderr stays a warning
    assert classify("panic: runtime error: invalid memory address", WARNING).level == WARNING
    assert classify("\t/go/src/mediamtx/internal/core/core.go:123 +0x1d", WARNING).level == WARNING
    assert classify("something on stdout", INFO) == classify("something on stdout", INFO)
    assert classify("something on stdout", INFO).level == INFO


def test_the_publisher_command_asks_ffmpeg_for_tagged_warnings_only() -> None:
    from camsvc.mediamtx.paths import PathSettings, publish_command

    command = publish_command(synthetic("camera0"), PathSettings())
    assert "-hide_banner -nostats -loglevel level+warning" in command


async def test_a_supervised_mediamtx_relays_levels_truthfully(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the real pipes: MediaMTX lines on stdout, a hook's ffmpeg banner and CR-separated progress on stderr."""
    chatter = tmp_path / "chatter.txt"
    chatter.write_text(FFMPEG_CHATTER)
    binary = tmp_path / "mediamtx"
    binary.write_text(
        "#!/bin/sh\n"
        "echo '2026/01/14 16:33:17 INF MediaMTX v1.20.1'\n"
        "echo '2026/01/14 16:33:17 WAR [path camera0] runOnInit command exited'\n"
        f"cat {chatter} >&2\n"
        "printf 'frame=    1 fps=0.0 q=0.0 size=0kB\\rframe=    2 fps=0.0 q=0.0 size=0kB\\r' >&2\n"
        "echo '[rtsp @ 0x55] [error] Could not write header' >&2\n"
        "exit 1\n"
    )
    binary.chmod(0o755)
    conf = tmp_path / "mediamtx.yml"
    conf.write_text("{}\n")
    proc = MediamtxProcess(str(binary), str(conf), "http://127.0.0.1:9", start_timeout=8)
    with caplog.at_level(DEBUG, logger="camsvc.mediamtx.server"), trio.fail_after(8):
        with pytest.raises(MediamtxExited) as info:
            await proc.run()
    relayed = [(r.levelno, r.getMessage()) for r in caplog.records if getattr(r, "source", "") != ""]
    assert (INFO, "MediaMTX v1.20.1") in relayed
    assert (WARNING, "[path camera0] runOnInit command exited") in relayed
    assert (ERROR, "[rtsp @ 0x55] [error] Could not write header") in relayed
    warnings = {m for lvl, m in relayed if lvl >= WARNING}  # (stdout and stderr interleave freely)
    assert warnings == {"[path camera0] runOnInit command exited", "[rtsp @ 0x55] [error] Could not write header"}
    debug = [m for lvl, m in relayed if lvl == DEBUG]
    assert len(debug) == len(FFMPEG_CHATTER.splitlines()) + 2  # + the two CR-terminated progress lines
    # the exit message quotes what mattered, not ffmpeg's progress
    assert "Could not write header" in str(info.value) and "frame=" not in str(info.value)
