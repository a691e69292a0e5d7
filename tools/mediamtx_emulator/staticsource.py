"""Pulled sources (``source: rtsp://…`` and friends), emulated with an ffmpeg relay.

MediaMTX pulls the URL itself. The emulator runs ``ffmpeg -i <url> -c copy -f rtsp`` into a private
mount of its own RTSP server, so the path gets the real stream and reports the source as MediaMTX
would (``rtspSource``, ``rtmpSource``, ``hlsSource``, …). A failed pull is retried every few seconds.
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections import deque
from collections.abc import Mapping
from typing import Any

import trio

from tools.mediamtx_emulator.commands import _stop_group

log = logging.getLogger(__name__)

_SOURCE_TYPES = (
    (("rtsp://", "rtsp+http://", "rtsp+ws://"), "rtspSource"),
    (("rtsps://", "rtsps+http://", "rtsps+ws://"), "rtspSource"),
    (("rtmp://", "rtmps://"), "rtmpSource"),
    (("http://", "https://"), "hlsSource"),
    (("udp://", "udp+mpegts://", "unix+mpegts://"), "mpegtsSource"),
    (("udp+rtp://", "unix+rtp://"), "rtpSource"),
    (("srt://",), "srtSource"),
    (("whep://", "wheps://"), "webRTCSource"),
    (("moqt://",), "moqSource"),
)


def source_type_for(source: str) -> str:
    if source == "rpiCamera":
        return "rpiCameraSource"
    for prefixes, kind in _SOURCE_TYPES:
        if source.startswith(prefixes):
            return kind
    return "rtspSource"


def expand_source(source: str, env: Mapping[str, str]) -> str:
    """``$G1``… and ``$MTX_QUERY`` in a source URL."""
    return re.sub(r"\$(G\d+|MTX_QUERY)", lambda m: env.get(m.group(1), ""), source)


def ffmpeg_input_args(source: str, conf: Mapping[str, Any]) -> list[str] | None:
    """ffmpeg input options for a source URL, or None when ffmpeg cannot pull that kind of source."""
    if source.startswith(("rtsp://", "rtsps://")):
        transport = conf.get("rtspTransport", "automatic")
        args = ["-rtsp_transport", transport] if transport in ("tcp", "udp") else []
        return [*args, "-i", source]
    if source.startswith("udp+mpegts://"):
        return ["-i", "udp://" + source[len("udp+mpegts://") :]]
    if source.startswith("unix+mpegts://"):
        return ["-i", "unix://" + source[len("unix+mpegts://") :]]
    if source.startswith(("rtmp://", "rtmps://", "http://", "https://", "srt://", "udp://")):
        return ["-i", source]
    return None


async def run_static_source(
    *,
    ffmpeg: str,
    source: str,
    conf: Mapping[str, Any],
    env: Mapping[str, str],
    publish_url: str,
    retry_pause: float,
    label: str,
) -> None:
    """Relay ``source`` into ``publish_url`` until cancelled, retrying after failures."""
    url = expand_source(source, env)
    input_args = ffmpeg_input_args(url, conf)
    if input_args is None:
        log.warning("%s: the emulator cannot pull %r; the path will never be ready", label, url)
        await trio.sleep_forever()
        return
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning", *input_args,
            "-map", "0", "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", publish_url]  # fmt: skip
    while True:
        tail: deque[str] = deque(maxlen=20)
        try:
            proc = await trio.lowlevel.open_process(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            log.error("%s: cannot start ffmpeg: %s", label, exc)
        else:
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_collect, proc, tail)
                    code = await proc.wait()
                log.info("%s: relay exited with code %d: %s", label, code, " | ".join(tail))
            finally:
                with trio.CancelScope(shield=True):
                    await _stop_group(proc, 5.0)
        await trio.sleep(retry_pause)


async def _collect(proc: trio.Process, tail: deque[str]) -> None:
    assert proc.stderr is not None
    pending = b""
    while True:
        data = await proc.stderr.receive_some(4096)
        if not data:
            return
        pending += data
        *lines, pending = re.split(rb"[\r\n]", pending)
        tail.extend(line.decode(errors="replace") for line in lines if line.strip())
