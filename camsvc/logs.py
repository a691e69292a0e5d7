"""Logging set-up: one JSON object per line by default, a readable console format for people.

Structured fields travel in ``extra={...}``; the JSON formatter emits every such
field next to the standard ones, so call sites never format values into messages.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import sys
from typing import Any, TextIO

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in _extras(record).items():
            out[key] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
        if record.exc_info and record.exc_info[1] is not None:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = dt.datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{ts} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line += f"  [{extras}]"
        if record.exc_info and record.exc_info[1] is not None and record.levelno >= logging.ERROR:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(
    *,
    level: str = "INFO",
    fmt: str = "json",
    file: str | None = None,
    max_bytes: int = 500 * 1024 * 1024,
    backup_count: int = 5,
    stream: TextIO | None = None,
) -> None:
    """Install our handlers on the root logger (replacing earlier ones)."""
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else ConsoleFormatter()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler(stream or sys.stderr)
    console.setFormatter(formatter)
    root.addHandler(console)
    if file:
        rotating = logging.handlers.RotatingFileHandler(file, maxBytes=max_bytes, backupCount=backup_count)
        rotating.setFormatter(JsonFormatter())
        root.addHandler(rotating)
    root.setLevel(level)
    # Libraries' per-request chatter is not operator information.
    for noisy in ("hypercorn.access", "httpx", "httpcore", "trio-websocket", "quart.serving"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
