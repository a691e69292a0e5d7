"""Runtime state of a MediaMTX path (``/v3/paths/*``) as an immutable value.

Both field generations are read: ``available``/``availableTime``/``inboundBytes``/
``outboundBytes``/``tracks2`` (v1.16+/v1.17+) and their older aliases ``ready``/
``readyTime``/``bytesReceived``/``bytesSent``/``tracks``.
"""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class PathRuntime:
    name: str
    #: the stream is up (readers get media); the only reliable "is it streaming" signal
    ready: bool
    #: when it became ready (MediaMTX's RFC 3339 text), None while not ready
    ready_time: str | None
    readers: int
    bytes_received: int
    bytes_sent: int
    #: rtspSession (a runOn* ffmpeg publisher), rtspSource (a pulled URL), ...; None without a source
    source_type: str | None
    #: codec names, e.g. ("H264",)
    tracks: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> PathRuntime:
        def first(*keys: str, default: Any = None) -> Any:
            for key in keys:
                if key in item and item[key] is not None:
                    return item[key]
            return default

        source = item.get("source")
        tracks2 = item.get("tracks2")
        if isinstance(tracks2, list):
            tracks = tuple(str(t.get("codec")) for t in tracks2 if isinstance(t, dict) and t.get("codec"))
        else:
            tracks = tuple(str(t) for t in item.get("tracks") or [] if isinstance(t, str))
        readers = item.get("readers")
        return cls(
            name=str(item.get("name", "")),
            ready=bool(first("available", "ready", default=False)),
            ready_time=first("availableTime", "readyTime"),
            readers=len(readers) if isinstance(readers, list) else 0,
            bytes_received=int(first("inboundBytes", "bytesReceived", default=0)),
            bytes_sent=int(first("outboundBytes", "bytesSent", default=0)),
            source_type=source.get("type") if isinstance(source, dict) else None,
            tracks=tracks,
        )
