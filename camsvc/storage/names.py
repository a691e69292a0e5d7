"""Media file names: what a valid bare name is, what it says (camera, time), and where it may live.

Every file name that reaches us from a client (RPC params, download URLs) goes
through :func:`validate_name` and then :func:`resolve_inside`, so nothing outside
the media directories is ever read or deleted: bare names only (no ``/``, ``\\``,
``..``, NUL or leading ``.``), a conservative character set, no symlinks, and
the resolved real path must lie directly inside the directory.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import time
from pathlib import Path

from ..errors import InvalidParams, NotFound

#: what a client-chosen snapshot name may look like (spec §4)
CUSTOM_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")
#: any name we accept as a parameter: the custom set, a little longer for generated names
_BARE_NAME = re.compile(r"[A-Za-z0-9._-]{1,255}")

#: a segment MediaMTX wrote from recordPath ``<dir>/%path_%Y-%m-%d_%H-%M-%S-%f``
SEGMENT_NAME = re.compile(
    r"(?P<device>[A-Za-z0-9_]{1,64})_(?P<stamp>\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})-(?P<micro>\d{6})\.(?P<ext>mp4|ts)"
)
#: a snapshot we named: ``<camera>_<YYYY-mm-dd_HH-MM-SS>[_N].<ext>``
SNAPSHOT_NAME = re.compile(
    r"(?P<device>[A-Za-z0-9_]{1,64})_(?P<stamp>\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})(?:_\d+)?\.(?P<ext>jpe?g|png)",
    re.IGNORECASE,
)
STAMP_FORMAT = "%Y-%m-%d_%H-%M-%S"

RECORDING_EXTENSIONS = (".mp4", ".ts")
SNAPSHOT_EXTENSIONS = (".jpg", ".jpeg", ".png")

CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".ts": "video/mp2t",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
}


class BadName(ValueError):
    """A file name that is not a bare, safe name; ``reason`` is the stable token."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def check_name(name: object) -> str:
    """Return ``name`` if it is a safe bare file name, else raise :class:`BadName` saying why."""
    if not isinstance(name, str):
        raise BadName("invalid_filename", "filename must be a string")
    if name == "":
        raise BadName("invalid_filename", "filename must not be empty")
    if "\x00" in name:
        raise BadName("invalid_filename", "filename must not contain NUL")
    if "/" in name or "\\" in name:
        raise BadName("invalid_filename", "filename must be a bare name without path separators")
    if ".." in name:
        raise BadName("invalid_filename", "filename must not contain '..'")
    if name.startswith("."):
        raise BadName("invalid_filename", "filename must not start with '.'")
    if not _BARE_NAME.fullmatch(name):
        raise BadName(
            "invalid_filename", "filename may contain only letters, digits, '.', '_' and '-' (at most 255)"
        )
    return name


def validate_name(name: object, param: str = "filename") -> str:
    """:func:`check_name` for RPC params: a bad name is ``InvalidParams(param)`` (-32602)."""
    try:
        return check_name(name)
    except BadName as exc:
        raise InvalidParams(param, exc.reason, str(exc)) from None


def resolve_inside(directory: str | os.PathLike[str], name: str) -> Path:
    """The path of an existing regular file ``name`` directly inside ``directory``.

    ``name`` must already be validated. Symlinks are refused (even ones pointing inside), and the
    real path must be inside the real directory; anything else is reported as not found, so a
    probe cannot tell "outside" from "absent".
    """
    base = os.path.realpath(directory)
    path = os.path.join(base, name)
    try:
        st = os.lstat(path)
    except OSError:
        raise NotFound("file", name) from None
    if not stat.S_ISREG(st.st_mode):
        raise NotFound("file", name)
    real = os.path.realpath(path)
    if os.path.dirname(real) != base:
        raise NotFound("file", name)
    return Path(real)


def _stamp_time(match: re.Match[str]) -> float | None:
    """Local-time epoch seconds of a ``YYYY-mm-dd_HH-MM-SS`` stamp (time.mktime: no strptime on hot paths)."""
    stamp_text = match.group("stamp")
    try:
        year, month, day = int(stamp_text[0:4]), int(stamp_text[5:7]), int(stamp_text[8:10])
        hour, minute, second = int(stamp_text[11:13]), int(stamp_text[14:16]), int(stamp_text[17:19])
    except ValueError:
        return None
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        return None
    try:
        return time.mktime((year, month, day, hour, minute, second, 0, 0, -1))
    except (OverflowError, ValueError):
        return None


def parse_name(name: str) -> tuple[str | None, float | None]:
    """(camera, time) a generated name encodes; (None, None) for names we did not make.

    Segments carry their start to the microsecond (MediaMTX's local time), snapshots to the second.
    """
    match = SEGMENT_NAME.fullmatch(name)
    if match:
        base = _stamp_time(match)
        return match.group("device"), (base + int(match.group("micro")) / 1e6 if base is not None else None)
    match = SNAPSHOT_NAME.fullmatch(name)
    if match:
        return match.group("device"), _stamp_time(match)
    return None, None


def device_of(name: str) -> str | None:
    """The camera a generated name belongs to (its prefix), or None for names we did not make."""
    return parse_name(name)[0]


def segment_start(name: str) -> float | None:
    """Wall-clock start (epoch seconds) encoded in a segment name; MediaMTX writes local time."""
    return parse_name(name)[1] if SEGMENT_NAME.fullmatch(name) else None


def name_time(name: str) -> float | None:
    """The time a generated name encodes (segments to the microsecond, snapshots to the second)."""
    return parse_name(name)[1]


def stamp(ts: float) -> str:
    """Local-time ``YYYY-mm-dd_HH-MM-SS`` as used in generated names (the same clock MediaMTX uses)."""
    return dt.datetime.fromtimestamp(ts).strftime(STAMP_FORMAT)


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(os.path.splitext(name)[1].lower(), "application/octet-stream")


def format_of(name: str) -> str:
    """The ``format`` field of a file object: the extension without the dot (mp4, ts, jpg, png)."""
    return os.path.splitext(name)[1].lower().lstrip(".")
