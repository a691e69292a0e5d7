"""System, authentication, camera-read, stream-read and subscription methods (rpc room).

Everything here reads published state — registry snapshots, the health model,
the MediaMTX gateway, RPC counters, sampled system metrics — and never makes a
value up: what cannot be known right now is ``null`` or a -32050 error.
"""

from __future__ import annotations

import platform
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ... import __version__
from ...cameras.model import USB_ID, Camera, CameraStatus
from ...cameras.views import StreamUrls, camera_object, camera_status_object, capabilities_object
from ...errors import AuthFailed, DependencyFailed, InvalidParams, NotFound, Unsupported
from ...health import STATUS_COMPONENTS, iso, now_iso
from ...security.roles import Role
from ..protocol import Encoded
from ..table import DEVICE, CallContext, Method, Param

V, A = Role.VIEWER, Role.ADMIN


_CAMERA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "device": {"type": "string"},
        "status": {"type": "string", "enum": ["CONNECTED", "DISCONNECTED", "ERROR"]},
        "name": {"type": "string"},
        "resolution": {"type": "string"},
        "fps": {"type": "integer"},
        "streams": {"type": "object", "properties": {k: {"type": "string"} for k in ("rtsp", "hls", "webrtc")}},
        "recording": {"type": "boolean"},
    },
}


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


_S, _I, _N, _B = ({"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"})


def _camera(ctx: CallContext, device: str) -> Camera:
    camera = ctx.services.registry.get(device)
    if camera is None:
        raise NotFound("camera", device)
    return camera


def _urls(ctx: CallContext) -> StreamUrls:
    return StreamUrls.from_config(ctx.services.config.mediamtx)


def _order(camera: Camera) -> tuple[int, int, str]:
    m = USB_ID.fullmatch(camera.id)
    return (0, int(m.group(1)), "") if m else (1, 0, camera.id)


def _connection(ctx: CallContext) -> Any:
    if ctx.connection is None:
        raise Unsupported("subscriptions", reason="no_connection", message="only available on a WebSocket connection")
    return ctx.connection


# ----------------------------------------------------------------- basics


async def ping(ctx: CallContext, params: dict[str, Any]) -> str:
    return "pong"


def _session_result(ctx: CallContext, identity: Any) -> dict[str, Any]:
    return {
        "authenticated": True,
        "role": identity.role.label,
        "permissions": identity.role.permissions(),
        "expires_at": iso(identity.expires_at),
        "session_id": identity.session_id,
        "user_id": identity.user_id,
        "auth_method": identity.method,
    }


async def authenticate(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    conn = _connection(ctx)
    # A failure raises before anything changes: the existing session stays as it was.
    identity = ctx.services.auth.identify_throttled(params["auth_token"], conn.address)
    conn.authenticated(identity)
    return _session_result(ctx, identity)


async def refresh_token(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    identity = ctx.identity
    if identity is None:  # the dispatcher checks the role first; this only narrows the type
        raise AuthFailed("auth_required", "authentication required")
    if identity.method != "jwt":
        raise Unsupported("refresh_token", reason="not_a_jwt_session", message="refresh_token needs a JWT session")
    token, expires = ctx.services.auth.issue_token(identity.user_id, identity.role)
    if ctx.connection is not None and ctx.connection.identity is identity:
        # The session is as good as the new token: extend it rather than let it expire under the client.
        ctx.connection.identity = attrs.evolve(identity, expires_at=expires)
    return {"auth_token": token, "expires_at": iso(expires)}


#: the OpenRPC document per dispatched table (built once: it is large and never changes)
_discover_cache: weakref.WeakKeyDictionary[Any, tuple[int, dict[str, Any]]] = weakref.WeakKeyDictionary()


async def discover(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    from ..openrpc import openrpc_document

    conn = ctx.connection
    table = conn.server.table if conn is not None else None
    if table is None:
        from ..catalog import load_table

        table = load_table(ctx.services.config.security.permissions)
    cached = _discover_cache.get(table)
    if cached is None or cached[0] != len(table):
        cached = (len(table), openrpc_document(table))
        _discover_cache[table] = cached
    return cached[1]


# ------------------------------------------------------------------ system

_RECORDING_FORMATS = ("fmp4", "mp4", "mpegts")
_SNAPSHOT_FORMATS = ("jpg", "png")
_BUILD_DATE = iso(Path(__file__).resolve().parents[2].joinpath("__init__.py").stat().st_mtime)


async def get_server_info(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    cfg = ctx.services.config
    lo, hi = cfg.cameras.device_range
    return {
        "name": "camsvc",
        "version": __version__,
        "api_version": "1",
        "build_date": _BUILD_DATE,
        "architecture": platform.machine(),
        "python_version": platform.python_version(),
        "capabilities": ["snapshots", "recordings", "streaming", "external_streams", "events", "batch", "api_keys"],
        # An array of strings: existing clients map over it (spec §4); the split by kind is the extra key.
        "supported_formats": [*_RECORDING_FORMATS, *_SNAPSHOT_FORMATS],
        "formats_by_kind": {"recording": list(_RECORDING_FORMATS), "snapshot": list(_SNAPSHOT_FORMATS)},
        "max_cameras": (hi - lo + 1) + len(cfg.cameras.synthetic) + len(cfg.cameras.external),
    }


async def get_status(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    health = ctx.services.health
    return {
        "status": health.system()["status"].upper(),
        "uptime": health.uptime(),
        "version": health.version,
        "components": health.status_components(),
    }


async def get_system_status(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    services = ctx.services
    tree = dict(services.health.snapshot().walk())
    discovery = tree.get(STATUS_COMPONENTS["camera_monitor"])
    discovery_running = discovery is not None and discovery.state.value == "running"
    cameras = sorted(services.registry.snapshot().values(), key=_order)
    available = [c.id for c in cameras if c.status is CameraStatus.CONNECTED]
    ready, details = services.health.ready()
    if discovery is None or discovery.state.value == "starting":
        status, message = "starting", "camera discovery is starting"
    elif ready:
        status, message = "ready", "all components are running"
    else:
        status = "partial"
        message = "not ready: " + ", ".join(
            f"{k} {v.get('reason', 'not ready') if isinstance(v, dict) else v}" for k, v in sorted(details.items())
        )
    return {
        "status": status,
        "message": message,
        "available_cameras": available,
        "discovery_active": discovery_running and services.config.cameras.discovery != "disabled",
    }


async def get_metrics(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    services = ctx.services
    stats = services.rpc_stats
    server = _connection(ctx).server
    sample = server.monitors.sampler.latest
    cameras = services.registry.snapshot().values()
    return {
        "timestamp": now_iso(),
        "active_connections": stats.active_connections,
        "total_requests": stats.total_requests,
        "average_response_time": stats.average_response_time_ms,
        "error_rate": stats.error_rate,
        "memory_usage": sample.process_memory_percent,
        "cpu_usage": sample.process_cpu_percent,
        "disk_usage": sample.disk_percent,
        "system_metrics": {
            "cpu_usage": sample.cpu_percent,
            "memory_usage": sample.memory_percent,
            "disk_usage": sample.disk_percent,
            "event_loop_lag_ms": server.monitors.lag.recent_max_ms,
        },
        "camera_metrics": {"connected_cameras": sum(1 for c in cameras if c.status is CameraStatus.CONNECTED)},
        "recording_metrics": {"active_recordings": sum(1 for c in cameras if c.recording is not None)},
        "stream_metrics": {"active_streams": sample.active_streams, "total_readers": sample.total_readers},
        "sampled_at": iso(sample.taken_at) if sample.taken_at else None,
    }


# ----------------------------------------------------------------- cameras

#: rendered camera lists per registry, by (registry version, client host): the list is the hot read
_list_cache: weakref.WeakKeyDictionary[Any, tuple[int, dict[str | None, Encoded]]] = weakref.WeakKeyDictionary()


async def get_camera_list(ctx: CallContext, params: dict[str, Any]) -> Encoded:
    registry = ctx.services.registry
    version = registry.version
    cached = _list_cache.get(registry)
    if cached is None or cached[0] != version:
        cached = (version, {})
        _list_cache[registry] = cached
    by_host = cached[1]
    result = by_host.get(ctx.host)
    if result is None:
        snapshot: Mapping[str, Camera] = registry.snapshot()
        urls = _urls(ctx)
        cameras = [camera_object(c, host=ctx.host, urls=urls) for c in sorted(snapshot.values(), key=_order)]
        # Kept encoded: between registry changes every call answers the same text.
        result = Encoded({
            "cameras": cameras,
            "total": len(cameras),
            "connected": sum(1 for c in snapshot.values() if c.status is CameraStatus.CONNECTED),
        })
        if len(by_host) < 64:  # hosts come from clients: bound the cache
            by_host[ctx.host] = result
    return result


async def _runtime(ctx: CallContext, name: str) -> Any:
    """The MediaMTX runtime of a path; fails fast (-32050) while the gateway's circuit is open."""
    gateway = ctx.services.mediamtx
    gateway.ensure_available()
    return await gateway.runtime(name)


async def get_camera_status(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    camera = _camera(ctx, params["device"])
    now = time.time()
    metrics: dict[str, Any] = {
        "uptime": int(now - camera.since) if camera.status is CameraStatus.CONNECTED and camera.since else 0,
        "bytes_sent": None,
        "readers": None,
    }
    try:
        runtime = await _runtime(ctx, camera.id)
    except DependencyFailed:
        runtime = None  # MediaMTX down: the camera is still described, its stream counters are unknown (null)
    else:
        metrics["bytes_sent"] = runtime.bytes_sent if runtime is not None else 0
        metrics["readers"] = runtime.readers if runtime is not None else 0
    doc = camera_status_object(camera, host=ctx.host, urls=_urls(ctx), metrics=metrics, now=now)
    if ctx.identity is not None and ctx.identity.role >= Role.ADMIN and camera.device_path:
        doc["device_path"] = camera.device_path
    return doc


async def get_camera_capabilities(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    return capabilities_object(_camera(ctx, params["device"]))


# ----------------------------------------------------------------- streams


async def get_streams(ctx: CallContext, params: dict[str, Any]) -> list[dict[str, Any]]:
    gateway = ctx.services.mediamtx
    gateway.ensure_available()
    paths = await gateway.list_runtime()
    return [
        {"name": p.name, "source": p.source_type, "ready": p.ready, "readers": p.readers, "bytes_sent": p.bytes_sent}
        for p in sorted(paths, key=lambda p: p.name)
    ]


async def get_stream_url(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    camera = _camera(ctx, params["device"])
    runtime = await _runtime(ctx, camera.id)
    if camera.status is CameraStatus.ERROR:
        status = "ERROR"
    elif runtime is not None and runtime.ready:
        status = "READY"
    else:
        status = "NOT_READY"
    return {
        "device": camera.id,
        "stream_name": camera.id,
        "stream_url": _urls(ctx).rtsp(camera.id, ctx.host),
        # On-demand streams start when a reader connects: a connected camera is available.
        "available": camera.status is CameraStatus.CONNECTED,
        "active_consumers": runtime.readers if runtime is not None else 0,
        "stream_status": status,
    }


async def get_stream_status(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    camera = _camera(ctx, params["device"])
    runtime = await _runtime(ctx, camera.id)
    if camera.status is CameraStatus.ERROR:
        status = "ERROR"
    elif runtime is not None and runtime.ready:
        status = "ACTIVE"
    elif runtime is not None and (camera.keep_streaming or camera.recording is not None or runtime.readers):
        status = "STARTING"
    else:
        status = "INACTIVE"
    return {
        "device": camera.id,
        "stream_name": camera.id,
        "status": status,
        "ready": bool(runtime is not None and runtime.ready),
        "mediamtx_path": {
            "exists": runtime is not None,
            "ready": bool(runtime is not None and runtime.ready),
            "readers": runtime.readers if runtime is not None else 0,
        },
        "metrics": {
            "bytes_sent": runtime.bytes_sent if runtime is not None else 0,
            "bytes_received": runtime.bytes_received if runtime is not None else 0,
        },
        "start_time": runtime.ready_time if runtime is not None else None,
    }


# ----------------------------------------------------------- subscriptions


async def subscribe_events(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    conn = _connection(ctx)
    filters = params.get("filters") or {}
    device = filters.get("device")
    if device is not None and not isinstance(device, str):
        raise InvalidParams("filters", "wrong_type", "invalid parameter 'filters': device must be a string")
    if device is not None:
        device = ctx.services.registry.resolve(device)
    topics = conn.server.hub.subscribe(conn, params["topics"], device)
    return {"subscribed": True, "topics": topics, "filters": {"device": device} if device else {}}


async def unsubscribe_events(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    conn = _connection(ctx)
    removed = conn.server.hub.unsubscribe(conn, params.get("topics"))
    return {"unsubscribed": True, "topics": removed}


async def get_subscription_stats(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    conn = _connection(ctx)
    return {"global_stats": conn.server.hub.stats(), "client_topics": list(conn.topics), "client_id": conn.id}


# ------------------------------------------------------------------- table

_STREAM_URLS = {"type": "object", "properties": {"rtsp": _S, "hls": _S, "webrtc": _S}}

METHODS = [
    Method("ping", ping, None, "Liveness check; answers `\"pong\"`.", result={"type": "string", "const": "pong"}, group="system", inline=True),
    Method(
        "authenticate",
        authenticate,
        None,
        "Authenticate this connection with a JWT or an API key; a failure leaves an existing session untouched.",
        params=(Param("auth_token", "string", required=True, aliases=("token",), description="JWT (HS256) or API key (`csk_…`).", max_length=8192),),
        result=_obj(authenticated=_B, role=_S, permissions={"type": "array", "items": _S}, expires_at={"type": ["string", "null"]}, session_id=_S, user_id=_S),
        group="auth",
        inline=True,
    ),
    Method(
        "refresh_token",
        refresh_token,
        V,
        "A new JWT for the same user and role with a fresh expiry (JWT sessions only).",
        result=_obj(auth_token=_S, expires_at=_S),
        group="auth",
        inline=True,
    ),
    Method("rpc.discover", discover, None, "The OpenRPC 1.x document of this API, generated from the method table.", result={"type": "object"}, group="system", inline=True),
    Method(
        "get_server_info",
        get_server_info,
        V,
        "Server name, version, API version, build and platform facts; `capabilities` and `supported_formats` are "
        "arrays of strings, `formats_by_kind` splits the formats into `recording` and `snapshot`.",
        result=_obj(name=_S, version=_S, api_version=_S, build_date=_S, architecture=_S, python_version=_S, capabilities={"type": "array", "items": _S}, supported_formats={"type": "array", "items": _S}, formats_by_kind=_obj(recording={"type": "array", "items": _S}, snapshot={"type": "array", "items": _S}), max_cameras=_I),
        group="system",
        inline=True,
    ),
    Method(
        "get_status",
        get_status,
        A,
        "Overall health and the state of every supervised component (`RUNNING`/`STOPPED`/`ERROR`).",
        result=_obj(status={"type": "string", "enum": ["HEALTHY", "DEGRADED", "UNHEALTHY"]}, uptime=_N, version=_S, components={"type": "object"}),
        group="system",
        inline=True,
    ),
    Method(
        "get_system_status",
        get_system_status,
        V,
        "Readiness for clients: `starting`, `partial` or `ready`, with the connected cameras.",
        result=_obj(status={"type": "string", "enum": ["starting", "partial", "ready"]}, message=_S, available_cameras={"type": "array", "items": _S}, discovery_active=_B),
        group="system",
        inline=True,
    ),
    Method(
        "get_metrics",
        get_metrics,
        A,
        "Request counters, latency, system and per-room metrics (sampled in the background; never blocks).",
        result=_obj(timestamp=_S, active_connections=_I, total_requests=_I, average_response_time=_N, error_rate=_N, memory_usage=_N, cpu_usage=_N, disk_usage=_N, system_metrics={"type": "object"}, camera_metrics={"type": "object"}, recording_metrics={"type": "object"}, stream_metrics={"type": "object"}),
        group="system",
        inline=True,
    ),
    Method(
        "get_camera_list",
        get_camera_list,
        V,
        "Every known camera.",
        result=_obj(cameras={"type": "array", "items": _CAMERA}, total=_I, connected=_I),
        group="cameras",
        inline=True,
    ),
    Method(
        "get_camera_status",
        get_camera_status,
        V,
        "One camera with stream metrics (from MediaMTX; `null` while it is unreachable), capabilities and the recording session.",
        params=(DEVICE,),
        result={**_CAMERA, "properties": {**_CAMERA["properties"], "metrics": _obj(bytes_sent={"type": ["integer", "null"]}, readers={"type": ["integer", "null"]}, uptime=_I), "capabilities": {"type": "object"}, "recording_session": {"type": "object"}}},
        group="cameras",
    ),
    Method(
        "get_camera_capabilities",
        get_camera_capabilities,
        V,
        "Formats, resolutions and frame rates a camera offers, and how far they are confirmed.",
        params=(DEVICE,),
        result=_obj(device=_S, formats={"type": "array"}, resolutions={"type": "array"}, fps_options={"type": "array"}, validation_status={"type": "string", "enum": ["NONE", "DISCONNECTED", "CONFIRMED"]}),
        group="cameras",
        inline=True,
    ),
    Method(
        "get_streams",
        get_streams,
        V,
        "Every MediaMTX path with its readiness and counters (an array).",
        result={"type": "array", "items": _obj(name=_S, source={"type": ["string", "null"]}, ready=_B, readers=_I, bytes_sent=_I)},
        group="streams",
    ),
    Method(
        "get_stream_url",
        get_stream_url,
        V,
        "The RTSP URL of a camera's stream and whether it is ready.",
        params=(DEVICE,),
        result=_obj(device=_S, stream_name=_S, stream_url=_S, available=_B, active_consumers=_I, stream_status={"type": "string", "enum": ["READY", "NOT_READY", "ERROR"]}),
        group="streams",
    ),
    Method(
        "get_stream_status",
        get_stream_status,
        V,
        "A camera's stream as MediaMTX sees it.",
        params=(DEVICE,),
        result=_obj(device=_S, stream_name=_S, status={"type": "string", "enum": ["ACTIVE", "INACTIVE", "ERROR", "STARTING", "STOPPING"]}, ready=_B, mediamtx_path=_obj(exists=_B, ready=_B, readers=_I), metrics=_obj(bytes_sent=_I, bytes_received=_I), start_time={"type": ["string", "null"]}),
        group="streams",
    ),
    Method(
        "subscribe_events",
        subscribe_events,
        V,
        "Add event topics (dotted aliases accepted and kept as given), optionally for one device.",
        params=(
            Param("topics", "array", required=True, items="string", description="Topic names or aliases."),
            Param("filters", "object", description="`{device}`: only events of that camera."),
        ),
        result=_obj(subscribed=_B, topics={"type": "array", "items": _S}, filters={"type": "object"}),
        group="events",
        inline=True,
    ),
    Method(
        "unsubscribe_events",
        unsubscribe_events,
        V,
        "Remove the given topics, or all of them.",
        params=(Param("topics", "array", items="string", description="Topics to remove; omitted = all."),),
        result=_obj(unsubscribed=_B, topics={"type": "array", "items": _S}),
        group="events",
        inline=True,
    ),
    Method(
        "get_subscription_stats",
        get_subscription_stats,
        V,
        "Subscription counts across the server and this connection's topics as it named them.",
        result=_obj(global_stats=_obj(total_subscriptions=_I, active_clients=_I, topic_counts={"type": "object"}), client_topics={"type": "array", "items": _S}, client_id=_S),
        group="events",
        inline=True,
    ),
]
