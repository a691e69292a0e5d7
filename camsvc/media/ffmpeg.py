"""The one way this service runs ffmpeg and ffprobe.

Every call is an argument list (never a shell), bounded by a timeout, with stderr
captured (only its last few KiB, so a chatty ffmpeg cannot eat memory) and the
child killed when the caller is cancelled. Failures raise
``DependencyFailed("ffmpeg", detail)`` whose ``detail`` is the useful tail of
stderr, so an RPC client sees *why* a capture failed, never a traceback.

    runner = FfmpegRunner()
    result = await runner.ffmpeg(["-f", "lavfi", "-i", "testsrc", "-frames:v", "1", out], timeout=5)
    info = await runner.probe("/var/recordings/camera0_....mp4", timeout=5)
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
from collections.abc import Sequence
from typing import Any

import attrs
import trio

from ..errors import DependencyFailed
from ..storage.media_info import MediaInfo

log = logging.getLogger("camsvc.media.ffmpeg")

#: how much of stderr (the tail) is kept for error details
STDERR_LIMIT = 8 * 1024
#: how much stdout is kept (ffprobe JSON); more than this is a bug, not media
STDOUT_LIMIT = 1024 * 1024
#: how long a process gets after SIGTERM before SIGKILL when we stop it
KILL_GRACE = 1.0


@attrs.frozen
class ProcessResult:
    """What a finished ffmpeg/ffprobe run produced."""

    args: tuple[str, ...]
    returncode: int
    stdout: bytes
    #: the last STDERR_LIMIT bytes, decoded leniently
    stderr: str
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class _TailBuffer:
    """Keeps the last ``limit`` bytes written to it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._data = bytearray()
        self.truncated = False

    def feed(self, chunk: bytes | bytearray) -> None:
        self._data += chunk
        if len(self._data) > self.limit:
            del self._data[: len(self._data) - self.limit]
            self.truncated = True

    def bytes(self) -> bytes:
        return bytes(self._data)


def _summarise(stderr: str, limit: int = 600) -> str:
    """The informative end of ffmpeg's stderr: the last non-empty lines, at most ``limit`` chars."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    text = " | ".join(lines[-4:])
    return text[-limit:] if len(text) > limit else text


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


@attrs.define
class FfmpegRunner:
    """Runs ffmpeg/ffprobe; ``max_concurrent`` bounds how many run at once (edge boxes have 2 cores)."""

    ffmpeg_path: str = "ffmpeg"
    ffprobe_path: str = "ffprobe"
    max_concurrent: int = 4
    _limiter: trio.CapacityLimiter = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._limiter = trio.CapacityLimiter(self.max_concurrent)

    async def ffmpeg(self, args: Sequence[str], *, timeout: float, what: str = "ffmpeg") -> ProcessResult:  # noqa: ASYNC109
        """Run ``ffmpeg -nostdin -hide_banner -loglevel error <args>``; raise DependencyFailed unless it exits 0."""
        argv = [self.ffmpeg_path, "-nostdin", "-hide_banner", "-loglevel", "error", *args]
        result = await self.run(argv, timeout=timeout, what=what)
        if not result.ok:
            detail = _summarise(result.stderr) or "no diagnostic output"
            raise DependencyFailed("ffmpeg", f"{what} failed ({_exit_text(result.returncode)}): {detail}")
        return result

    async def probe(self, path: str | os.PathLike[str], *, timeout: float) -> MediaInfo:  # noqa: ASYNC109
        """Container duration and the first video stream's size of ``path`` (DependencyFailed if not media)."""
        argv = [
            self.ffprobe_path,
            "-hide_banner",
            "-loglevel",
            "error",
            "-print_format",
            "json",
            "-show_entries",
            "format=duration,format_name:stream=codec_type,width,height,duration",
            os.fspath(path),
        ]
        result = await self.run(argv, timeout=timeout, what="ffprobe")
        if not result.ok:
            detail = _summarise(result.stderr) or "no diagnostic output"
            raise DependencyFailed("ffmpeg", f"ffprobe failed ({_exit_text(result.returncode)}): {detail}")
        try:
            doc = json.loads(result.stdout or b"{}")
        except ValueError as exc:
            raise DependencyFailed("ffmpeg", f"ffprobe printed invalid JSON: {exc}") from None
        return parse_probe(doc)

    async def run(self, argv: Sequence[str], *, timeout: float, what: str) -> ProcessResult:  # noqa: ASYNC109
        # (the timeout bounds the child process itself: on expiry it is stopped and reaped, not just abandoned)
        """Run ``argv`` to completion or ``timeout``; the child never outlives this call.

        Only a missing binary or the timeout raise (DependencyFailed); a non-zero exit is returned
        for the caller to judge.
        """
        argv = [os.fspath(a) for a in argv]
        stdout = _TailBuffer(STDOUT_LIMIT)
        stderr = _TailBuffer(STDERR_LIMIT)
        async with self._limiter:
            start = trio.current_time()
            try:
                proc = await trio.lowlevel.open_process(
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                )
            except FileNotFoundError:
                raise DependencyFailed("ffmpeg", f"{argv[0]} is not installed (not found on PATH)") from None
            except PermissionError:
                raise DependencyFailed("ffmpeg", f"{argv[0]} is not executable") from None
            timed_out = False
            try:
                async with trio.open_nursery() as nursery:
                    assert proc.stdout is not None and proc.stderr is not None
                    nursery.start_soon(_drain, proc.stdout, stdout)
                    nursery.start_soon(_drain, proc.stderr, stderr)
                    with trio.move_on_after(timeout) as scope:
                        await proc.wait()
                    if scope.cancelled_caught:
                        timed_out = True
                        await _stop(proc)
            finally:
                # Cancelled from outside (or an error above): never leave the child running.
                if proc.returncode is None:
                    with trio.CancelScope(shield=True):
                        await _stop(proc)
            elapsed = trio.current_time() - start
        err_text = stderr.bytes().decode("utf-8", "replace")
        if timed_out:
            detail = _summarise(err_text)
            raise DependencyFailed(
                "ffmpeg", f"{what} timed out after {timeout:g}s" + (f": {detail}" if detail else "")
            )
        assert proc.returncode is not None
        return ProcessResult(tuple(argv), proc.returncode, stdout.bytes(), err_text, elapsed)


async def _drain(stream: trio.abc.ReceiveStream, into: _TailBuffer) -> None:
    try:
        async for chunk in stream:
            into.feed(chunk)
    except (trio.ClosedResourceError, trio.BrokenResourceError):
        pass
    finally:
        await stream.aclose()


async def _stop(proc: trio.Process) -> None:
    """SIGTERM, then SIGKILL after a short grace; always reaps the child."""
    if proc.returncode is not None:
        return
    try:
        proc.terminate()
    except ProcessLookupError:
        pass
    with trio.move_on_after(KILL_GRACE):
        await proc.wait()
        return
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    await proc.wait()


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) and out >= 0 else None


def parse_probe(doc: dict[str, Any]) -> MediaInfo:
    """MediaInfo from ffprobe's JSON (``-show_entries format=...:stream=...``)."""
    fmt = doc.get("format") or {}
    streams = doc.get("streams") or []
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    duration = _number(fmt.get("duration"))
    if duration is None and video is not None:
        duration = _number(video.get("duration"))
    width = video.get("width") if video else None
    height = video.get("height") if video else None
    return MediaInfo(
        format_name=fmt.get("format_name"),
        duration=duration,
        width=width if isinstance(width, int) and width > 0 else None,
        height=height if isinstance(height, int) and height > 0 else None,
    )


def jpeg_qscale(quality: int) -> int:
    """API quality 1 (worst) .. 100 (best) → ffmpeg ``-q:v`` 31 (worst) .. 2 (best)."""
    quality = min(100, max(1, int(quality)))
    return round(31 - (quality - 1) * 29 / 99)
