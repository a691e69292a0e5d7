"""What one output line of a supervised mediamtx (or of a hook it runs) means for our log.

A supervised mediamtx writes its own lines to stdout, ``2026/01/14 16:33:17 INF [RTSP] listener
opened``: the level tag (``DEB``/``INF``/``WAR``/``ERR``) is kept and the date, time and tag are
dropped from the message (our log stamps its own). Its hooks — the ffmpeg publishers of local
cameras — inherit its stderr. The publisher command asks ffmpeg for ``-loglevel level+warning``, so
what it prints is tagged ``[warning]``/``[error]`` and is logged at that level; ffmpeg's banner and
progress lines (an older or hand-written hook command) are debug, not warnings, and its untagged
``[libx264 @ 0x...] ...`` lines info (ffmpeg's default level; they may be errors, so they stay
visible). Any other line keeps the stream's default (info for stdout, warning for stderr).
"""

from __future__ import annotations

import logging
import re

import attrs

_MEDIAMTX_LEVELS = {"DEB": logging.DEBUG, "INF": logging.INFO, "WAR": logging.WARNING, "ERR": logging.ERROR}
_MEDIAMTX_LINE = re.compile(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (DEB|INF|WAR|ERR) (.*)")

_FFMPEG_LEVELS = {
    "panic": logging.CRITICAL,
    "fatal": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "verbose": logging.DEBUG,
    "debug": logging.DEBUG,
    "trace": logging.DEBUG,
}
#: ``[warning] text`` or ``[h264 @ 0x55d5c] [warning] text`` (ffmpeg's ``-loglevel level+...``)
_FFMPEG_TAGGED = re.compile(r"(?:\[[^\]]* @ 0x[0-9a-f]+\] )?\[(" + "|".join(_FFMPEG_LEVELS) + r")\] ")
#: the banner, stream listing and progress ffmpeg prints at info level when not told otherwise (its
#: listing is indented with spaces; a Go panic's stack, which must stay visible, with tabs)
_FFMPEG_CHATTER = re.compile(
    r"(ffmpeg version |(Input|Output) #\d|Stream mapping:|Press \[q\]| {2,}\S"
    r"|frame=\s*\d|size=\s*\S+ time=|video:\d+kB audio:)"
)
_FFMPEG_CONTEXT = re.compile(r"\[[^\]]* @ 0x[0-9a-f]+\] ")


@attrs.frozen
class LogLine:
    level: int
    message: str
    #: "mediamtx", "ffmpeg" (recognised as ffmpeg's) or "mediamtx-output" (anything else)
    source: str


def classify(line: str, default: int) -> LogLine:
    """The level, message and source of one output line; ``default`` is the stream's level."""
    if match := _MEDIAMTX_LINE.match(line):
        return LogLine(_MEDIAMTX_LEVELS[match[1]], match[2], "mediamtx")
    if match := _FFMPEG_TAGGED.match(line):
        return LogLine(_FFMPEG_LEVELS[match[1]], line, "ffmpeg")
    if _FFMPEG_CHATTER.match(line):
        return LogLine(logging.DEBUG, line, "ffmpeg")
    if _FFMPEG_CONTEXT.match(line):
        return LogLine(logging.INFO, line, "ffmpeg")
    return LogLine(default, line, "mediamtx-output")
