"""Go value formats MediaMTX exposes: durations, byte sizes, RFC 3339 times and JSON encoding.

MediaMTX is written in Go, so what a client sees on the wire is shaped by Go's standard library:
``time.Duration.String()`` (plus MediaMTX's ``Nd`` day prefix), ``bytefmt`` sizes, ``time.Time``
marshalled as RFC 3339 with trimmed nanoseconds, and ``encoding/json`` escaping of ``<``, ``>``, ``&``.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from typing import Any

NANOSECOND = 1
MICROSECOND = 1_000
MILLISECOND = 1_000_000
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

_UNITS: dict[str, int] = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "\u00b5s": MICROSECOND,  # micro sign
    "\u03bcs": MICROSECOND,  # Greek mu
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}
_DAYS = re.compile(r"^(-?[0-9]+)d")


class GoValueError(ValueError):
    """A value Go would refuse; ``str(err)`` is Go's own message."""


def _go_quote(s: str) -> str:
    # strconv.Quote is close enough to JSON string quoting for messages.
    return json.dumps(s, ensure_ascii=False)


def parse_go_duration(s: str) -> int:
    """``time.ParseDuration``: returns nanoseconds or raises GoValueError with Go's message."""
    orig = s
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if s == "":
        raise GoValueError(f"time: invalid duration {_go_quote(orig)}")
    total = 0
    while s:
        m = re.match(r"([0-9]*)(\.([0-9]*))?", s)
        assert m is not None
        int_part, frac_part = m.group(1), m.group(3)
        if int_part == "" and (frac_part is None or frac_part == ""):
            raise GoValueError(f"time: invalid duration {_go_quote(orig)}")
        s = s[m.end() :]
        um = re.match(r"[^0-9.]*", s)
        unit = um.group(0) if um else ""
        if unit == "":
            raise GoValueError(f"time: missing unit in duration {_go_quote(orig)}")
        if unit not in _UNITS:
            raise GoValueError(f"time: unknown unit {_go_quote(unit)} in duration {_go_quote(orig)}")
        s = s[len(unit) :]
        scale = _UNITS[unit]
        value = int(int_part or "0") * scale
        if frac_part:
            value += int(frac_part) * scale // (10 ** len(frac_part))
        total += value
        if total > (1 << 63) - 1:
            raise GoValueError(f"time: invalid duration {_go_quote(orig)}")
    return -total if neg else total


def parse_mtx_duration(s: str) -> int:
    """MediaMTX ``conf.Duration``: optional leading ``Nd`` then a Go duration; ``""`` is zero."""
    days = 0
    negative = False
    m = _DAYS.match(s)
    if m:
        days = int(m.group(1))
        if days < 0:
            negative, days = True, -days
        s = s[m.end() :]
    rest = parse_go_duration(s) if s else 0
    total = rest + days * DAY
    return -total if negative else total


def _fmt_frac(v: int, prec: int) -> tuple[str, int]:
    # Go's fmtFrac: print v/10**prec fraction, omitting trailing zeros.
    digits = ""
    printed = False
    for _ in range(prec):
        d = v % 10
        printed = printed or d != 0
        if printed:
            digits = str(d) + digits
        v //= 10
    return ("." + digits if printed else ""), v


def format_go_duration(ns: int) -> str:
    """``time.Duration.String()``."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < SECOND:
        if u < MICROSECOND:
            out = f"{u}ns"
        elif u < MILLISECOND:
            frac, whole = _fmt_frac(u, 3)
            out = f"{whole}{frac}\u00b5s"
        else:
            frac, whole = _fmt_frac(u, 6)
            out = f"{whole}{frac}ms"
    else:
        frac, secs = _fmt_frac(u, 9)
        out = f"{secs % 60}{frac}s"
        mins = secs // 60
        if mins > 0:
            out = f"{mins % 60}m" + out
            hours = mins // 60
            if hours > 0:
                out = f"{hours}h" + out
    return "-" + out if neg else out


def format_mtx_duration(ns: int) -> str:
    """MediaMTX ``conf.Duration`` JSON form: whole days as ``Nd``, the rest Go-style, zero as ``""``."""
    neg = ns < 0
    u = -ns if neg else ns
    days, rest = divmod(u, DAY)
    out = "-" if neg else ""
    if days > 0:
        out += f"{days}d"
    if rest != 0:
        out += format_go_duration(rest)
    return out


_SIZE_UNITS = {
    "E": 1 << 60, "EB": 1 << 60, "EIB": 1 << 60,
    "P": 1 << 50, "PB": 1 << 50, "PIB": 1 << 50,
    "T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40,
    "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30,
    "M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
    "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10,
    "B": 1,
}  # fmt: skip
_SIZE_ERROR = (
    "byte quantity must be a positive integer with a unit of measurement like M, MB, MiB, G, GiB, or GB"
)


def parse_byte_size(s: str) -> int:
    """``bytefmt.ToBytes`` as used by MediaMTX ``StringSize``."""
    s = s.strip().upper()
    i = next((k for k, c in enumerate(s) if c.isalpha()), -1)
    if i == -1:
        raise GoValueError(_SIZE_ERROR)
    num, unit = s[:i].strip(), s[i:]
    try:
        value = float(num)
    except ValueError:
        raise GoValueError(_SIZE_ERROR) from None
    if value < 0 or unit not in _SIZE_UNITS:
        raise GoValueError(_SIZE_ERROR)
    return int(value * _SIZE_UNITS[unit])


def format_byte_size(n: int) -> str:
    """``bytefmt.ByteSize``: one decimal at most, ``.0`` trimmed."""
    for unit, size in (
        ("E", 1 << 60),
        ("P", 1 << 50),
        ("T", 1 << 40),
        ("G", 1 << 30),
        ("M", 1 << 20),
        ("K", 1 << 10),
    ):
        if n >= size:
            text = f"{n / size:.1f}".removesuffix(".0")
            return text + unit
    return "0B" if n == 0 else f"{n}B"


def format_go_time(ns_since_epoch: int) -> str:
    """A ``time.Time`` as Go marshals it: RFC 3339, nanoseconds with trailing zeros cut, local zone."""
    secs, frac = divmod(ns_since_epoch, SECOND)
    local = _dt.datetime.fromtimestamp(secs).astimezone()
    return _format_with_zone(local, frac)


def format_go_datetime(value: _dt.datetime, nanos: int | None = None) -> str:
    """Format an aware datetime (in its own zone) the way Go's RFC3339Nano does."""
    frac = value.microsecond * 1000 if nanos is None else nanos
    return _format_with_zone(value.replace(microsecond=0), frac)


def _format_with_zone(value: _dt.datetime, frac_ns: int) -> str:
    out = value.strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{frac_ns:09d}".rstrip("0")
    if digits:
        out += "." + digits
    offset = value.utcoffset() or _dt.timedelta(0)
    if offset == _dt.timedelta(0):
        return out + "Z"
    total = int(offset.total_seconds())
    sign = "+" if total > 0 else "-"
    total = abs(total)
    return out + f"{sign}{total // 3600:02d}:{(total % 3600) // 60:02d}"


ZERO_TIME = "0001-01-01T00:00:00Z"


def parse_rfc3339(s: str) -> tuple[_dt.datetime, int]:
    """``time.Parse(time.RFC3339, s)``: returns the aware datetime (in the zone ``s`` carries) and nanoseconds."""
    m = re.fullmatch(
        r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})", s
    )
    if not m:
        raise GoValueError(
            f'parsing time {_go_quote(s)} as "2006-01-02T15:04:05Z07:00": cannot parse {_go_quote(s)} as "2006"'
        )
    year, month, day, hour, minute, sec = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7) or ""
    nanos = int(frac.ljust(9, "0")) if frac else 0
    zone = m.group(8)
    if zone in ("Z", "z"):
        tz = _dt.UTC
    else:
        sign = 1 if zone[0] == "+" else -1
        tz = _dt.timezone(sign * _dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        value = _dt.datetime(year, month, day, hour, minute, sec, nanos // 1000, tzinfo=tz)
    except ValueError as exc:
        raise GoValueError(f"parsing time {_go_quote(s)}: {exc}") from None
    return value, nanos


def go_json_dumps(value: Any) -> bytes:
    """Compact JSON with Go's HTML-safe escaping, as gin's ``ctx.JSON`` writes it."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_go_default)
    # These characters can only occur inside JSON strings, so replacing them is safe.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode()


def _go_default(value: Any) -> Any:
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def go_float(value: float) -> float | int:
    """Go prints integral float64 values without a decimal point."""
    if value == int(value) and abs(value) < 1e21:
        return int(value)
    return value
