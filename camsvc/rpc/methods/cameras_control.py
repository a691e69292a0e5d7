"""Camera control methods (spec §4 "Streaming and external sources"): stream leases, external streams,
external stream discovery.

Handlers translate params into ``services.cameras`` (:class:`~camsvc.services.CamerasApi`) / camera actor calls and
results into the contract's shapes; the behaviour lives in :mod:`camsvc.cameras`.
"""

from __future__ import annotations

import time
from typing import Any

from ...cameras.external import NAME_PATTERN, SCAN_INTERVAL_KEY, ExternalScanner, ExternalStream, ProbeResult
from ...cameras.streaming import open_stream
from ...cameras.views import StreamUrls
from ...errors import Unsupported
from ...health import iso, now_iso
from ...security.roles import Role
from ...services import CamerasApi
from ..table import DEVICE, CallContext, Method, Param

GROUP = "cameras"

STREAM_NAME_PATTERN = NAME_PATTERN.pattern


def _cameras(ctx: CallContext) -> CamerasApi:
    return ctx.services.cameras


def _urls(ctx: CallContext) -> StreamUrls:
    return StreamUrls.from_config(ctx.services.config.mediamtx)


def _scanner(ctx: CallContext) -> ExternalScanner:
    scanner = _cameras(ctx).scanner
    if scanner is None or not scanner.enabled:
        raise Unsupported(
            "external_discovery",
            message="external stream discovery is disabled (no cameras.discovery_candidates)",
        )
    return scanner


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {k: {"type": v} for k, v in props.items()}}


# ------------------------------------------------------------------------------------------ stream leases


async def start_streaming(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    actor = _cameras(ctx).actor(params["device"])
    mtx = ctx.services.config.mediamtx
    lease = await open_stream(
        actor, ctx.services.mediamtx, sync_timeout=mtx.request_timeout, ready_timeout=mtx.on_demand_start_timeout
    )
    return {
        "device": actor.id,
        "stream_name": actor.id,
        "stream_url": _urls(ctx).rtsp(actor.id, ctx.host),
        "status": "STARTED",
        "start_time": iso(lease.start_time),
        "auto_close_after": actor.idle_close_after(),
    }


async def stop_streaming(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    actor = _cameras(ctx).actor(params["device"])
    lease = actor.close_lease()
    camera = actor.current()
    readers = await actor.reader_count()
    end_time = lease.end_time if lease is not None and lease.end_time is not None else time.time()
    return {
        "device": actor.id,
        "stream_name": actor.id,
        "status": "STOPPED",
        "start_time": iso(lease.start_time) if lease is not None else None,
        "end_time": iso(end_time),
        "duration": round(lease.duration, 3) if lease is not None else 0,
        # The stream stays up after the lease while it records or someone still watches it.
        "stream_continues": bool(camera is not None and camera.recording is not None) or bool(readers),
    }


# ---------------------------------------------------------------------------------------- external streams


def _stream_object(ctx: CallContext, stream: ExternalStream) -> dict[str, Any]:
    camera = ctx.services.registry.get(stream.name)
    return {
        "stream_name": stream.name,
        "stream_url": stream.url,
        "stream_type": stream.stream_type,
        "device": stream.name,
        "status": camera.status.value if camera is not None else "DISCONNECTED",
        "source": stream.origin,
        "added_at": iso(stream.added_at),
    }


async def add_external_stream(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    stream = await _cameras(ctx).add_external_stream(
        params["stream_name"], params["stream_url"], params.get("stream_type") or "generic"
    )
    return {
        "stream_url": stream.url,
        "stream_name": stream.name,
        "stream_type": stream.stream_type,
        "status": "ADDED",
        "timestamp": iso(stream.added_at),
    }


async def remove_external_stream(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    stream = await _cameras(ctx).remove_external_stream(
        name=params.get("stream_name"), url=params.get("stream_url")
    )
    return {"stream_url": stream.url, "stream_name": stream.name, "status": "REMOVED", "timestamp": now_iso()}


async def get_external_streams(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    streams = [_stream_object(ctx, s) for s in _cameras(ctx).external_streams()]
    return {"external_streams": streams, "total_count": len(streams), "timestamp": now_iso()}


def _found_object(directory: CamerasApi, result: ProbeResult) -> dict[str, Any]:
    added = directory.external_stream(url=result.url)
    return {
        "stream_url": result.url,
        "codec": result.info.get("codec"),
        "resolution": result.info.get("resolution"),
        "fps": result.info.get("fps"),
        "already_added": added is not None,
        "stream_name": added.name if added is not None else None,
    }


async def discover_external_streams(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    scanner = _scanner(ctx)
    report = await scanner.scan(force=bool(params.get("force_rescan")))
    directory = _cameras(ctx)
    found = [_found_object(directory, r) for r in report.discovered]
    return {
        "discovered_streams": found,
        "total_found": len(found),
        "scan_timestamp": iso(report.started_at),
        "scan_duration": round(report.duration, 3),
        "errors": [{"stream_url": r.url, "error": r.error} for r in report.errors],
    }


async def set_discovery_interval(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    directory = _cameras(ctx)
    interval = float(params["scan_interval"])
    scanner = directory.scanner
    if scanner is not None:
        scanner.set_interval(interval)
    if directory.streams is not None:
        await directory.streams.set_setting(SCAN_INTERVAL_KEY, repr(interval))
    message = (
        f"external stream discovery every {interval:g} s"
        if interval > 0
        else "external stream discovery on demand only"
    )
    if scanner is None or not scanner.enabled:
        message += " (no cameras.discovery_candidates are configured, so nothing is probed)"
    return {
        "scan_interval": int(interval) if interval.is_integer() else interval,
        "status": "UPDATED",
        "message": message,
        "timestamp": now_iso(),
    }


# ----------------------------------------------------------------------------------------------- the table

METHODS: list[Method] = [
    Method(
        "start_streaming",
        start_streaming,
        Role.OPERATOR,
        "Keep a camera's stream up (regardless of readers) until stop_streaming or auto_close_after seconds "
        "without readers; answers once MediaMTX reports the stream ready (-32050 stream_not_ready otherwise).",
        (DEVICE,),
        _obj(
            device="string",
            stream_name="string",
            stream_url="string",
            status="string",
            start_time="string",
            auto_close_after=["integer", "null"],
        ),
        GROUP,
    ),
    Method(
        "stop_streaming",
        stop_streaming,
        Role.OPERATOR,
        "End the stream lease; the stream continues on demand while it has readers or records.",
        (DEVICE,),
        _obj(
            device="string",
            stream_name="string",
            status="string",
            start_time=["string", "null"],
            end_time="string",
            duration="number",
            stream_continues="boolean",
        ),
        GROUP,
    ),
    Method(
        "add_external_stream",
        add_external_stream,
        Role.OPERATOR,
        "Add a network camera (MediaMTX pulls the URL on demand); its id is stream_name. Persisted.",
        (
            Param(
                "stream_url",
                "string",
                required=True,
                description="rtsp/rtsps/rtmp/http/https/srt URL",
                max_length=2048,
            ),
            Param(
                "stream_name",
                "string",
                required=True,
                description="Camera id to use",
                pattern=STREAM_NAME_PATTERN,
            ),
            Param(
                "stream_type",
                "string",
                description="Free-form kind of stream (default generic)",
                max_length=64,
            ),
        ),
        _obj(
            stream_url="string",
            stream_name="string",
            stream_type="string",
            status="string",
            timestamp="string",
        ),
        GROUP,
    ),
    Method(
        "remove_external_stream",
        remove_external_stream,
        Role.OPERATOR,
        "Remove a network camera added with add_external_stream (config-file streams stay).",
        (
            Param("stream_url", "string", description="URL of the stream to remove", max_length=2048),
            Param("stream_name", "string", description="Name of the stream to remove", max_length=64),
        ),
        _obj(stream_url="string", stream_name="string", status="string", timestamp="string"),
        GROUP,
    ),
    Method(
        "get_external_streams",
        get_external_streams,
        Role.VIEWER,
        "Network cameras from the config file and from add_external_stream.",
        (),
        {
            "type": "object",
            "properties": {
                "external_streams": {
                    "type": "array",
                    "items": _obj(
                        stream_name="string",
                        stream_url="string",
                        stream_type="string",
                        device="string",
                        status="string",
                        source="string",
                        added_at="string",
                    ),
                },
                "total_count": {"type": "integer"},
                "timestamp": {"type": "string"},
            },
        },
        GROUP,
    ),
    Method(
        "discover_external_streams",
        discover_external_streams,
        Role.OPERATOR,
        "Probe the configured candidate URLs (cameras.discovery_candidates) with ffprobe; never scans networks.",
        (
            Param(
                "force_rescan",
                "boolean",
                default=False,
                description="Probe now even if a periodic result exists",
            ),
        ),
        {
            "type": "object",
            "properties": {
                "discovered_streams": {
                    "type": "array",
                    "items": _obj(
                        stream_url="string",
                        codec=["string", "null"],
                        resolution=["string", "null"],
                        fps=["number", "null"],
                        already_added="boolean",
                        stream_name=["string", "null"],
                    ),
                },
                "total_found": {"type": "integer"},
                "scan_timestamp": {"type": "string"},
                "scan_duration": {"type": "number"},
                "errors": {"type": "array", "items": _obj(stream_url="string", error="string")},
            },
        },
        GROUP,
    ),
    Method(
        "set_discovery_interval",
        set_discovery_interval,
        Role.ADMIN,
        "Seconds between automatic probes of the discovery candidates (0 = on demand only); kept across restarts.",
        (
            Param(
                "scan_interval", "number", required=True, minimum=0, maximum=86400 * 7, description="Seconds"
            ),
        ),
        _obj(scan_interval="number", status="string", message="string", timestamp="string"),
        GROUP,
    ),
]
