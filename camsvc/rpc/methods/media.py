"""Media methods (spec §4): snapshots, recordings, files, downloads, storage, retention.

Handlers only translate params into ``services.media`` calls and results into
the contract's shapes; the work lives in :mod:`camsvc.media` and :mod:`camsvc.storage`.
"""

from __future__ import annotations

from typing import Any

from ...errors import InvalidParams
from ...media.recordings import start_result, stop_result
from ...media.snapshots import snapshot_result
from ...security.roles import Role
from ...services import MediaApi
from ...storage.files import FileKind
from ..table import DEVICE, CallContext, Method, Param

GROUP = "media"
MAX_TOKEN_TTL = 86400

FILENAME = Param("filename", "string", required=True, description="Bare file name", max_length=255)
LIMIT = Param("limit", "integer", default=50, minimum=1, maximum=1000, description="Page size")
OFFSET = Param("offset", "integer", default=0, minimum=0, description="Files to skip")
LIST_DEVICE = Param("device", "string", description="Only this camera's files", max_length=64)


def _media(ctx: CallContext) -> MediaApi:
    return ctx.services.media


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {k: {"type": v} for k, v in props.items()}}


FILE_OBJECT = _obj(
    filename="string",
    file_size="integer",
    created_time="string",
    modified_time="string",
    download_url="string",
    device=["string", "null"],
    format="string",
    duration=["number", "null"],
)
FILE_LIST = {
    "type": "object",
    "properties": {
        "files": {"type": "array", "items": FILE_OBJECT},
        "total": {"type": "integer"},
        "limit": {"type": "integer"},
        "offset": {"type": "integer"},
    },
}

# ------------------------------------------------------------------ snapshots


async def take_snapshot(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    media = _media(ctx)
    snap = await media.snapshots.take(
        params["device"],
        filename=params.get("filename"),
        format=params.get("format"),
        quality=params.get("quality"),
    )
    return snapshot_result(snap, media.download_url(FileKind.SNAPSHOT, snap.filename, ctx.host))


# ------------------------------------------------------------------ recordings

_DURATION_UNITS = {"duration": 1, "duration_seconds": 1, "duration_minutes": 60, "duration_hours": 3600}


def requested_duration(params: dict[str, Any]) -> int | None:
    """``duration`` in seconds from whichever one of the four duration params was given."""
    given = [(name, params[name]) for name in _DURATION_UNITS if params.get(name) is not None]
    if len(given) > 1:
        raise InvalidParams(
            given[1][0],
            "conflicting_params",
            "give only one of duration, duration_seconds, duration_minutes, duration_hours",
        )
    if not given:
        return None
    name, value = given[0]
    return int(value) * _DURATION_UNITS[name]


async def start_recording(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    result = await _media(ctx).recordings.start(
        params["device"], duration=requested_duration(params), format=params.get("format")
    )
    return start_result(result)


async def stop_recording(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    return stop_result(await _media(ctx).recordings.stop(params["device"]))


async def get_recording_status(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    return _media(ctx).recordings.status(params["device"])


# ------------------------------------------------------------------ files


def _lister(kind: FileKind) -> Any:
    async def handler(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        return await _media(ctx).list_files(
            kind, limit=params["limit"], offset=params["offset"], device=params.get("device"), host=ctx.host
        )

    return handler


def _info(kind: FileKind) -> Any:
    async def handler(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        return await _media(ctx).file_info(kind, params["filename"], ctx.host)

    return handler


def _deleter(kind: FileKind) -> Any:
    async def handler(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        return await _media(ctx).delete_file(kind, params["filename"])

    return handler


async def get_download_url(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    media = _media(ctx)
    expires_in = params["expires_in"]
    ceiling = min(MAX_TOKEN_TTL, ctx.services.config.security.download_token_max_ttl)
    if expires_in > ceiling:
        raise InvalidParams("expires_in", "out_of_range", f"expires_in must be <= {ceiling}")
    kind = FileKind(params["file_type"])
    return await media.download_link(kind, params["filename"], expires_in, ctx.host)


# ------------------------------------------------------------------ storage and retention


async def get_storage_info(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    return await _media(ctx).storage_info()


async def get_retention_policy(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    return _media(ctx).retention.policy.to_api()


async def set_retention_policy(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    return await _media(ctx).set_retention(
        params["policy_type"], params["enabled"], params.get("max_age_days"), params.get("max_size_gb")
    )


async def cleanup_old_files(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    result = await _media(ctx).retention.cleanup()
    return result.to_api()


def _duration_param(name: str, unit: str) -> Param:
    return Param(
        name, "integer", exclusive_minimum=0, description=f"Stop automatically after this many {unit}"
    )


METHODS: list[Method] = [
    Method(
        "take_snapshot",
        take_snapshot,
        Role.OPERATOR,
        "Capture one frame of a camera as JPEG or PNG.",
        (
            DEVICE,
            Param(
                "filename",
                "string",
                description="File name ([A-Za-z0-9._-]{1,128}); extension added if missing",
                max_length=128,
            ),
            Param("format", "string", enum=("jpg", "png"), description="Image format (default from config)"),
            Param("quality", "integer", minimum=1, maximum=100, description="JPEG quality 1-100"),
        ),
        _obj(
            device="string",
            filename="string",
            status="string",
            timestamp="string",
            file_size="integer",
            file_path="string",
            download_url="string",
        ),
        GROUP,
    ),
    Method(
        "start_recording",
        start_recording,
        Role.OPERATOR,
        "Start recording a camera through MediaMTX (optionally for a fixed duration).",
        (
            DEVICE,
            _duration_param("duration", "seconds"),
            _duration_param("duration_seconds", "seconds"),
            _duration_param("duration_minutes", "minutes"),
            _duration_param("duration_hours", "hours"),
            Param("format", "string", enum=("fmp4", "mp4", "mpegts"), description="Container (default fmp4)"),
        ),
        _obj(
            device="string",
            session_id="string",
            filename=["string", "null"],
            status="string",
            start_time="string",
            duration=["integer", "null"],
            format="string",
        ),
        GROUP,
    ),
    Method(
        "stop_recording",
        stop_recording,
        Role.OPERATOR,
        "Stop a camera's recording; returns the session and its files.",
        (DEVICE,),
        _obj(
            device="string",
            session_id="string",
            filename=["string", "null"],
            status="string",
            start_time="string",
            end_time="string",
            duration="number",
            file_size="integer",
            format="string",
            files="array",
            gaps="array",
        ),
        GROUP,
    ),
    Method(
        "get_recording_status",
        get_recording_status,
        Role.VIEWER,
        "Whether a camera is recording, and its session.",
        (DEVICE,),
        _obj(
            device="string",
            recording="boolean",
            session_id=["string", "null"],
            filename=["string", "null"],
            start_time=["string", "null"],
            elapsed=["number", "null"],
            duration=["integer", "null"],
            interrupted="boolean",
            gaps="array",
        ),
        GROUP,
    ),
    Method(
        "list_recordings",
        _lister(FileKind.RECORDING),
        Role.VIEWER,
        "Recording files, newest first.",
        (LIMIT, OFFSET, LIST_DEVICE),
        FILE_LIST,
        GROUP,
    ),
    Method(
        "list_snapshots",
        _lister(FileKind.SNAPSHOT),
        Role.VIEWER,
        "Snapshot files, newest first.",
        (LIMIT, OFFSET, LIST_DEVICE),
        FILE_LIST,
        GROUP,
    ),
    Method(
        "get_recording_info",
        _info(FileKind.RECORDING),
        Role.VIEWER,
        "One recording file, with its duration.",
        (FILENAME,),
        FILE_OBJECT,
        GROUP,
    ),
    Method(
        "get_snapshot_info",
        _info(FileKind.SNAPSHOT),
        Role.VIEWER,
        "One snapshot file, with its resolution.",
        (FILENAME,),
        FILE_OBJECT,
        GROUP,
    ),
    Method(
        "delete_recording",
        _deleter(FileKind.RECORDING),
        Role.ADMIN,
        "Delete one recording file (not the segment being written).",
        (FILENAME,),
        _obj(filename="string", deleted="boolean", message="string"),
        GROUP,
    ),
    Method(
        "delete_snapshot",
        _deleter(FileKind.SNAPSHOT),
        Role.ADMIN,
        "Delete one snapshot file.",
        (FILENAME,),
        _obj(filename="string", deleted="boolean", message="string"),
        GROUP,
    ),
    Method(
        "get_download_url",
        get_download_url,
        Role.VIEWER,
        "A URL for one file with a signed, expiring token (usable without headers).",
        (
            Param("file_type", "string", required=True, enum=("recording", "snapshot")),
            FILENAME,
            Param(
                "expires_in", "integer", default=300, minimum=1, maximum=MAX_TOKEN_TTL, description="Seconds"
            ),
        ),
        _obj(url="string", expires_at="string"),
        GROUP,
    ),
    Method(
        "get_storage_info",
        get_storage_info,
        Role.ADMIN,
        "Disk space of the media directories and the warn/block thresholds.",
        (),
        _obj(
            total_space="integer",
            used_space="integer",
            available_space="integer",
            usage_percentage="number",
            recordings_size="integer",
            snapshots_size="integer",
            warn_percent="number",
            block_percent="number",
            low_space_warning="boolean",
            critical_space_warning="boolean",
        ),
        GROUP,
    ),
    Method(
        "get_retention_policy",
        get_retention_policy,
        Role.ADMIN,
        "The retention policy.",
        (),
        _obj(
            policy_type="string",
            enabled="boolean",
            max_age_days=["number", "null"],
            max_size_gb=["number", "null"],
        ),
        GROUP,
    ),
    Method(
        "set_retention_policy",
        set_retention_policy,
        Role.ADMIN,
        "Set (and persist) the retention policy.",
        (
            Param("policy_type", "string", required=True, enum=("age", "size", "manual")),
            Param("enabled", "boolean", required=True),
            Param("max_age_days", "number", exclusive_minimum=0, description="Required for age"),
            Param("max_size_gb", "number", exclusive_minimum=0, description="GiB; required for size"),
        ),
        _obj(
            policy_type="string",
            enabled="boolean",
            max_age_days=["number", "null"],
            max_size_gb=["number", "null"],
            message="string",
        ),
        GROUP,
    ),
    Method(
        "cleanup_old_files",
        cleanup_old_files,
        Role.ADMIN,
        "Apply the retention policy now.",
        (),
        _obj(cleanup_executed="boolean", files_deleted="integer", space_freed="integer", message="string"),
        GROUP,
    ),
]
