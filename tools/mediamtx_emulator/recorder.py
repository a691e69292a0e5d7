"""Recording a ready path to segment files with ffmpeg (``record: true``).

MediaMTX muxes segments itself; the emulator reads the path from its own RTSP server (as a hidden
reader, like MediaMTX's internal recorder) and lets ffmpeg's segment muxer cut at keyframes after
``recordSegmentDuration``. fmp4 segments are fragmented MP4 (fragments at keyframes and at least every
``recordPartDuration``), so a segment on disk is always playable, even while being written; mpegts
segments are MPEG-TS. ffmpeg does not probe its input (the SDP describes it), so like MediaMTX the
first segment is opened as soon as recording starts on a ready path. ffmpeg writes each segment under
a hidden staging name; the moment it opens one, the emulator renames it to the recordPath name built
from the current local time (``%f`` included), which is what MediaMTX names a segment after.
Stopping sends SIGINT, so ffmpeg finishes the file.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import trio

from tools.mediamtx_emulator.commands import _stop_group
from tools.mediamtx_emulator.gotypes import SECOND
from tools.mediamtx_emulator.recordpath import encode_segment_path, extension_for, resolve

log = logging.getLogger(__name__)

RECORD_FIELDS = (
    "record", "recordPath", "recordFormat", "recordPartDuration", "recordMaxPartSize",
    "recordSegmentDuration", "recordDeleteAfter",
)  # fmt: skip
_OPENING = re.compile(r"Opening '(.+)' for writing")
STAGE_WAIT = 2.0  # ffmpeg logs "Opening" just before it creates the file


def ffmpeg_record_args(ffmpeg: str, input_url: str, conf: Mapping[str, Any], stage_pattern: str) -> list[str]:
    segment_seconds = max(conf["recordSegmentDuration"] / SECOND, 0.001)
    # No input probing: the codec parameters come with the SDP, and probing the live stream held the
    # first segment back ~2.3 s where the real server opens it at once (0.3 s measured without it).
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
            "-rtsp_transport", "tcp", "-analyzeduration", "0", "-probesize", "32",
            "-i", input_url, "-map", "0", "-c", "copy",
            "-f", "segment", "-segment_time", f"{segment_seconds:g}", "-reset_timestamps", "1"]  # fmt: skip
    if conf["recordFormat"] == "mpegts":
        argv += ["-segment_format", "mpegts"]
    else:
        part_us = max(int(conf["recordPartDuration"] / 1000), 1000)
        argv += ["-segment_format", "mp4", "-segment_format_options",
                 f"movflags=+frag_keyframe+empty_moov+default_base_moof:frag_duration={part_us}"]  # fmt: skip
    return [*argv, stage_pattern]


def _local_now() -> dt.datetime:
    return dt.datetime.now().astimezone()


async def run_recorder(
    *,
    ffmpeg: str,
    input_url: str,
    conf: Mapping[str, Any],
    path_name: str,
    base_dir: Path,
    in_progress: set[Path],
    on_segment: Callable[[str, Path, float | None], None],
    label: str,
) -> None:
    """Record until cancelled (then stop ffmpeg with SIGINT so the last segment is complete)."""
    first = resolve(
        base_dir, encode_segment_path(conf["recordPath"], conf["recordFormat"], path_name, _local_now())
    )
    stage_dir = first.parent
    await trio.to_thread.run_sync(lambda: stage_dir.mkdir(parents=True, exist_ok=True))
    token = os.urandom(4).hex()
    stage_pattern = str(stage_dir / f".mtxemu-{token}-%06d{extension_for(conf['recordFormat'])}")
    argv = ffmpeg_record_args(ffmpeg, input_url, conf, stage_pattern)
    tail: deque[str] = deque(maxlen=20)
    current: list[tuple[Path, float]] = []  # the segment being written and its start (monotonic)

    def finish_current() -> None:
        if current:
            file, started = current.pop()
            in_progress.discard(file)
            on_segment("complete", file, time.monotonic() - started)

    async def adopt(staged: str) -> None:
        final = resolve(
            base_dir, encode_segment_path(conf["recordPath"], conf["recordFormat"], path_name, _local_now())
        )
        finish_current()
        staged_path = Path(staged) if os.path.isabs(staged) else base_dir / staged
        with trio.move_on_after(STAGE_WAIT):
            # ffmpeg is another process: there is no event to wait on, only the file appearing.
            while not await trio.to_thread.run_sync(staged_path.exists):  # noqa: ASYNC110
                await trio.sleep(0.01)

        def move() -> None:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staged_path, final)  # ffmpeg keeps writing through its open descriptor

        try:
            await trio.to_thread.run_sync(move)
        except OSError as exc:
            log.error("%s: cannot name segment %s: %s", label, final, exc)
            return
        in_progress.add(final)
        current.append((final, time.monotonic()))
        on_segment("create", final, None)

    log.info("%s: recording to %s", label, first.parent)
    try:
        proc = await trio.lowlevel.open_process(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True, cwd=str(base_dir),
        )  # fmt: skip
    except OSError as exc:
        log.error("%s: cannot start ffmpeg: %s", label, exc)
        return
    try:
        assert proc.stderr is not None
        pending = b""
        while True:
            data = await proc.stderr.receive_some(4096)
            if not data:
                break
            pending += data
            *lines, pending = re.split(rb"[\r\n]", pending)
            for raw in lines:
                line = raw.decode(errors="replace")
                if line.strip():
                    tail.append(line)
                m = _OPENING.search(line)
                if m:
                    await adopt(m.group(1))
        code = await proc.wait()
        if code != 0:
            log.warning("%s: ffmpeg exited with code %d: %s", label, code, " | ".join(tail))
    finally:
        with trio.CancelScope(shield=True):
            await _stop_group(proc, 5.0)
            finish_current()
