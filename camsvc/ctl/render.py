"""Human output of ``camsvc ctl``: aligned tables and ``key: value`` lists (``--json`` bypasses all of it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value) or "-"
    return str(value)


def size(n: Any) -> str:
    if not isinstance(n, int | float):
        return cell(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    text_rows = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in text_rows)]) for i, h in enumerate(headers)]
    lines = []
    for row in [list(headers), *text_rows]:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row[:-1], widths[:-1], strict=True)) + "  " + row[-1])
    return "\n".join(line.rstrip() for line in lines)


def fields(obj: Mapping[str, Any], prefix: str = "") -> str:
    """``key: value`` lines; nested objects as dotted keys."""
    lines = []
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            lines.append(fields(value, name + "."))
        else:
            lines.append(f"{name}: {cell(value)}")
    return "\n".join(lines)
