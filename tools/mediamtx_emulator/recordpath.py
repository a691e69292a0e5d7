"""recordPath templates: naming segments, finding them on disk, deleting them (notes §10).

Variables: ``%path`` (slashes become directories), ``%Y %m %d %H %M %S`` (local time), ``%f``
(microseconds, 6 digits), ``%z`` (``Z`` or ``+hhmm``) and ``%s`` (unix seconds). The extension comes
from recordFormat (``.mp4`` for fmp4, ``.ts`` for mpegts).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import attrs

from tools.mediamtx_emulator.gotypes import format_go_datetime

_VAR = re.compile(r"%(path|[YmdHMSfzs])")


def extension_for(record_format: str) -> str:
    return ".ts" if record_format == "mpegts" else ".mp4"


def _zone_text(when: dt.datetime) -> str:
    offset = when.utcoffset() or dt.timedelta(0)
    if offset == dt.timedelta(0):
        return "Z"
    total = int(offset.total_seconds())
    sign = "+" if total > 0 else "-"
    total = abs(total)
    return f"{sign}{total // 3600:02d}{(total % 3600) // 60:02d}"


def encode_segment_path(record_path: str, record_format: str, path_name: str, start: dt.datetime) -> str:
    """The file name (as MediaMTX writes it, relative paths kept relative) of a segment starting at ``start``.

    ``start`` must be timezone-aware; its own zone is used, as MediaMTX does when rebuilding a name.
    """
    values = {
        "path": path_name,
        "Y": f"{start.year:04d}",
        "m": f"{start.month:02d}",
        "d": f"{start.day:02d}",
        "H": f"{start.hour:02d}",
        "M": f"{start.minute:02d}",
        "S": f"{start.second:02d}",
        "f": f"{start.microsecond:06d}",
        "z": _zone_text(start),
        "s": str(int(start.timestamp())),
    }
    return _VAR.sub(lambda m: values[m.group(1)], record_path) + extension_for(record_format)


def resolve(base_dir: Path, relative_or_absolute: str) -> Path:
    """Where a recordPath-derived name lives: relative names are relative to the server's working dir."""
    p = Path(relative_or_absolute)
    return p if p.is_absolute() else base_dir / p


@attrs.frozen
class Segment:
    start: dt.datetime  # aware
    start_text: str  # as the API prints it
    file: Path


def _pattern_regex(record_path: str, record_format: str, path_name: str | None) -> re.Pattern[str]:
    parts: list[str] = []
    pos = 0
    seen_path = False
    for m in _VAR.finditer(record_path):
        parts.append(re.escape(record_path[pos : m.start()]))
        var = m.group(1)
        if var == "path":
            if path_name is not None:
                parts.append(re.escape(path_name))
            elif seen_path:
                parts.append("(?P=path)")
            else:
                parts.append("(?P<path>.+?)")
            seen_path = True
        elif var == "Y":
            parts.append(r"(?P<Y>\d{4})")
        elif var in "mdHMS":
            parts.append(rf"(?P<{var}>\d{{2}})")
        elif var == "f":
            parts.append(r"(?P<f>\d{6})")
        elif var == "z":
            parts.append(r"(?P<z>Z|[+-]\d{4})")
        else:
            parts.append(r"(?P<s>\d+)")
        pos = m.end()
    parts.append(re.escape(record_path[pos:]))
    parts.append(re.escape(extension_for(record_format)))
    return re.compile("".join(parts))


def _start_from_match(m: re.Match[str]) -> dt.datetime:
    g = m.groupdict()
    micro = int(g["f"]) if g.get("f") else 0
    if g.get("s"):
        return dt.datetime.fromtimestamp(int(g["s"])).astimezone().replace(microsecond=micro)
    naive = dt.datetime(int(g["Y"]), int(g["m"]), int(g["d"]), int(g["H"]), int(g["M"]), int(g["S"]), micro)
    zone = g.get("z")
    if zone:
        if zone == "Z":
            return naive.replace(tzinfo=dt.UTC)
        sign = 1 if zone[0] == "+" else -1
        delta = dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
        return naive.replace(tzinfo=dt.timezone(sign * delta))
    return naive.astimezone()  # a naive time read back in the server's local zone


def _walk_root(base_dir: Path, template: str) -> tuple[Path, str]:
    """The fixed directory before the first variable, and the template made absolute."""
    absolute = str(resolve(base_dir, template))
    first_var = absolute.find("%")
    prefix = absolute if first_var == -1 else absolute[:first_var]
    root = Path(prefix if prefix.endswith(os.sep) else os.path.dirname(prefix))
    return root, absolute


def _normalise(template: str) -> str:
    # "./recordings/x" and "recordings/x" name the same files.
    while template.startswith("./"):
        template = template[2:]
    return template


def list_segments(base_dir: Path, record_path: str, record_format: str, path_name: str) -> list[Segment]:
    """Segments of one path, oldest first."""
    template = _normalise(record_path).replace("%path", path_name)
    root, absolute = _walk_root(base_dir, template)
    regex = _pattern_regex(absolute, record_format, path_name)
    found: list[Segment] = []
    for file in _walk(root):
        m = regex.fullmatch(str(file))
        if m:
            start = _start_from_match(m)
            found.append(Segment(start, format_go_datetime(start), file))
    found.sort(key=lambda s: s.start)
    return found


def find_recorded_names(base_dir: Path, record_path: str, record_format: str) -> set[str]:
    """Path names that have at least one segment under a template."""
    root, absolute = _walk_root(base_dir, _normalise(record_path))
    regex = _pattern_regex(absolute, record_format, None)
    names: set[str] = set()
    for file in _walk(root):
        m = regex.fullmatch(str(file))
        if m and "path" in m.groupdict():
            names.add(m.group("path"))
    return names


def _walk(root: Path) -> list[Path]:
    out: list[Path] = []
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        out.extend(Path(dirpath) / f for f in filenames if not f.startswith("."))
    return out
