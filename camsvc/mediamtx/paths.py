"""Desired MediaMTX paths, and the plan that brings MediaMTX to them. Pure functions only.

Desired state (:func:`desired_paths`) is a function of the registry snapshot and the
configuration: one path per camera, named by the camera id. Every desired PathConf
sets the *same* managed keys (:data:`MANAGED_KEYS`), with explicit "off" values
(``record: false``, ``runOnInit: ""``), so that turning something off is a change
the planner sees, not a key that silently disappears.

Actual state is what ``GET /v3/config/paths/list`` returns: the *effective* config
(defaults merged with overrides, every field present, durations normalised:
``3600s`` comes back as ``"1h0m0s"``, zero as ``""``). :func:`conf_diff` therefore
compares only the keys we set, and durations by meaning.

:func:`plan` turns desired + actual + the names we own into add / patch / replace /
delete. Ownership: a desired name is always ours (the camera id space is ours; a
foreign entry of that name is *replaced*, a takeover); a name that is not desired is
deleted only when we own it (created it before); everything else, and every
catch-all or regexp entry, is never touched.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Iterable, Mapping, Set
from typing import Any

import attrs

from ..cameras.model import Camera, CameraStatus
from ..config import Config

#: a publisher's logging options: quiet unless something is wrong, and saying how wrong
PUBLISH_LOG_ARGS = ("-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+warning")
#: the publisher URL MediaMTX expands for its runOn* hooks
PUBLISH_URL = "rtsp://localhost:$RTSP_PORT/$MTX_PATH"
#: recordPath template under recording.dir (MediaMTX adds the extension)
RECORD_PATH_TEMPLATE = "%path_%Y-%m-%d_%H-%M-%S-%f"

#: entries we never create, modify or delete, whoever asks (catch-alls; ``~`` = regexp)
RESERVED_NAMES = frozenset({"all", "all_others"})
#: MediaMTX's path-name rule (no leading/trailing slash, no dot segments checked below)
_NAME_RE = re.compile(r"[0-9A-Za-z_\-/.]+")

DURATION_KEYS = frozenset(
    {
        "sourceOnDemandStartTimeout",
        "sourceOnDemandCloseAfter",
        "runOnDemandStartTimeout",
        "runOnDemandCloseAfter",
        "recordSegmentDuration",
        "recordDeleteAfter",
        "recordPartDuration",
    }
)

#: every key a desired PathConf sets (and so the only keys compared)
MANAGED_KEYS = (
    "source",
    "sourceOnDemand",
    "sourceOnDemandStartTimeout",
    "sourceOnDemandCloseAfter",
    "runOnInit",
    "runOnInitRestart",
    "runOnDemand",
    "runOnDemandRestart",
    "runOnDemandStartTimeout",
    "runOnDemandCloseAfter",
    "record",
    "recordPath",
    "recordFormat",
    "recordSegmentDuration",
    "recordDeleteAfter",
)

PathConf = dict[str, Any]


# ------------------------------------------------------------------ names


def is_reserved(name: str) -> bool:
    """Catch-all and regexp entries: never ours, never touched."""
    return name in RESERVED_NAMES or name.startswith("~")


def is_manageable_name(name: str) -> bool:
    """A plain MediaMTX path name that we may create (see the API notes §8)."""
    if is_reserved(name) or not _NAME_RE.fullmatch(name):
        return False
    if name.startswith("/") or name.endswith("/"):
        return False
    return all(seg not in (".", "..", "") for seg in name.split("/"))


# -------------------------------------------------------------- durations

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)")


def format_duration(seconds: float) -> str:
    """Seconds as a Go duration string MediaMTX accepts: ``"10s"``, ``"1500ms"``, ``"0s"``."""
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"duration must be a finite number >= 0, got {seconds!r}")
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    ms = seconds * 1000
    if abs(ms - round(ms)) < 1e-6:
        return f"{round(ms)}ms"
    return f"{round(seconds * 1e6)}us"


def parse_duration(value: Any) -> float:
    """A MediaMTX duration (Go string with optional days, or a number of seconds) → seconds.

    ``""`` is zero (MediaMTX writes zero that way). Raises ValueError otherwise.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r}")
    text = value.strip()
    if text in ("", "0"):
        return 0.0
    sign = 1.0
    if text[0] in "+-":
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if m is None:
            raise ValueError(f"not a duration: {value!r}")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos == 0:
        raise ValueError(f"not a duration: {value!r}")
    return sign * total


def same_value(key: str, desired: Any, actual: Any) -> bool:
    """Whether MediaMTX's ``actual`` value of ``key`` means what we asked for."""
    if key in DURATION_KEYS:
        try:
            return abs(parse_duration(desired) - parse_duration(actual)) < 1e-6
        except ValueError:
            return False
    if isinstance(desired, bool) or isinstance(actual, bool):
        return desired is actual
    return bool(desired == actual)


def conf_diff(desired: Mapping[str, Any], actual: Mapping[str, Any]) -> PathConf:
    """The keys of ``desired`` whose value ``actual`` does not match (absent keys differ)."""
    return {k: v for k, v in desired.items() if k not in actual or not same_value(k, v, actual[k])}


# ------------------------------------------------------------ desired paths


@attrs.frozen
class PathSettings:
    """The configuration a desired path depends on (a small, comparable slice of Config)."""

    ffmpeg_path: str = "ffmpeg"
    on_demand_start_timeout: float = 10.0
    on_demand_close_after: float = 10.0
    recordings_dir: str = "/var/recordings"
    record_format: str = "fmp4"
    segment_duration: float = 1800.0

    @classmethod
    def from_config(cls, config: Config) -> PathSettings:
        m = config.mediamtx
        return cls(
            ffmpeg_path=m.ffmpeg_path,
            on_demand_start_timeout=m.on_demand_start_timeout,
            on_demand_close_after=m.on_demand_close_after,
            recordings_dir=config.recording.dir,
            record_format=config.recording.format,
            segment_duration=config.recording.segment_duration,
        )


def publish_command(camera: Camera, settings: PathSettings) -> str:
    """The ffmpeg command MediaMTX runs to publish a local camera into its own path.

    MediaMTX splits it shell-style and runs it without a shell; each of our arguments
    is quoted, the publish URL is left bare so MediaMTX expands its variables. Its output
    reaches MediaMTX's stderr: only warnings and errors, tagged with their level (see
    :mod:`server_log`), no banner, no progress.
    """
    args = [
        settings.ffmpeg_path, *PUBLISH_LOG_ARGS, *camera.source.ffmpeg_input, *camera.source.ffmpeg_encode, "-f", "rtsp"
    ]  # fmt: skip
    return " ".join(shlex.quote(a) for a in args) + " " + PUBLISH_URL


def unbuildable_reason(camera: Camera) -> str | None:
    """Why ``camera`` gets no path (None: it gets one)."""
    if not is_manageable_name(camera.id):
        return f"camera id {camera.id!r} is not a usable MediaMTX path name"
    source = camera.source
    if source.is_local:
        if camera.status is CameraStatus.DISCONNECTED:
            return "local camera is disconnected"
        if not source.ffmpeg_input:
            return "local camera has no ffmpeg input arguments"
    elif not source.url:
        return "network camera has no source URL"
    return None


def camera_path(camera: Camera, settings: PathSettings) -> PathConf:
    """The PathConf of one camera (every key of MANAGED_KEYS, in that order)."""
    source = camera.source
    always_on = camera.keep_streaming or camera.recording is not None
    start_timeout = format_duration(settings.on_demand_start_timeout)
    close_after = format_duration(settings.on_demand_close_after)
    conf: PathConf = {}
    if source.is_local:
        command = publish_command(camera, settings)
        conf["source"] = "publisher"
        conf["sourceOnDemand"] = False
        conf["sourceOnDemandStartTimeout"] = start_timeout
        conf["sourceOnDemandCloseAfter"] = close_after
        conf["runOnInit"] = command if always_on else ""
        conf["runOnInitRestart"] = always_on
        conf["runOnDemand"] = "" if always_on else command
        conf["runOnDemandRestart"] = not always_on
    else:
        conf["source"] = source.url
        conf["sourceOnDemand"] = not always_on
        conf["sourceOnDemandStartTimeout"] = start_timeout
        conf["sourceOnDemandCloseAfter"] = close_after
        conf["runOnInit"] = ""
        conf["runOnInitRestart"] = False
        conf["runOnDemand"] = ""
        conf["runOnDemandRestart"] = False
    conf["runOnDemandStartTimeout"] = start_timeout
    conf["runOnDemandCloseAfter"] = close_after
    recording = camera.recording
    conf["record"] = recording is not None
    conf["recordPath"] = f"{settings.recordings_dir.rstrip('/')}/{RECORD_PATH_TEMPLATE}"
    conf["recordFormat"] = recording.format if recording is not None and recording.format else settings.record_format
    conf["recordSegmentDuration"] = format_duration(settings.segment_duration)
    # We never let MediaMTX delete recordings: retention is ours (and admin-enabled only).
    conf["recordDeleteAfter"] = "0s"
    return conf


def desired_paths(cameras: Mapping[str, Camera] | Iterable[Camera], settings: PathSettings) -> dict[str, PathConf]:
    """``{camera id: PathConf}`` for every camera that can have a path (see unbuildable_reason)."""
    values = cameras.values() if isinstance(cameras, Mapping) else cameras
    return {cam.id: camera_path(cam, settings) for cam in values if unbuildable_reason(cam) is None}


class DesiredPaths:
    """:func:`desired_paths`, memoised per Camera value.

    The registry swaps whole snapshots but keeps the same Camera object for every camera that did
    not change, so a pass rebuilds (and quotes the ffmpeg command of) only the cameras that changed;
    the PathConf objects of the others are the very objects returned last time, which lets the
    incremental planner skip them by identity.
    """

    def __init__(self, settings: PathSettings) -> None:
        self.settings = settings
        self._memo: dict[str, tuple[Camera, PathConf | None]] = {}

    def __call__(self, cameras: Mapping[str, Camera]) -> dict[str, PathConf]:
        memo: dict[str, tuple[Camera, PathConf | None]] = {}
        out: dict[str, PathConf] = {}
        for cam_id, cam in cameras.items():
            hit = self._memo.get(cam_id)
            if hit is not None and (hit[0] is cam or hit[0] == cam):
                conf = hit[1]
            else:
                conf = camera_path(cam, self.settings) if unbuildable_reason(cam) is None else None
            memo[cam_id] = (cam, conf)
            if conf is not None:
                out[cam.id] = conf
        self._memo = memo
        return out


# -------------------------------------------------------------------- plan


@attrs.frozen
class Plan:
    """What to do to MediaMTX; empty when it already matches."""

    #: missing entries to create, with their whole desired conf
    add: Mapping[str, PathConf] = attrs.field(factory=dict)
    #: our entries whose managed keys differ: only the differing keys
    patch: Mapping[str, PathConf] = attrs.field(factory=dict)
    #: desired names held by an entry we do not own: our whole conf replaces it (takeover)
    replace: Mapping[str, PathConf] = attrs.field(factory=dict)
    #: entries we own that are no longer desired
    delete: tuple[str, ...] = ()
    #: desired names whose existing foreign entry already matches: adopted without a write
    adopt: tuple[str, ...] = ()
    #: owned names that are neither desired nor present any more: just forget them
    forget: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.add or self.patch or self.replace or self.delete)

    def changed_names(self) -> set[str]:
        return {*self.add, *self.patch, *self.replace, *self.delete}


def plan(
    desired: Mapping[str, PathConf], actual: Mapping[str, Mapping[str, Any]], owned: Set[str]
) -> Plan:
    """Compare desired with actual (effective confs by name) given the names we own."""
    add: dict[str, PathConf] = {}
    patch: dict[str, PathConf] = {}
    replace: dict[str, PathConf] = {}
    adopt: list[str] = []
    for name in sorted(desired):
        if is_reserved(name):
            continue  # desired_paths never yields these; belt and braces
        want = desired[name]
        have = actual.get(name)
        if have is None:
            add[name] = dict(want)
            continue
        diff = conf_diff(want, have)
        if name in owned:
            if diff:
                patch[name] = diff
        elif diff:
            replace[name] = dict(want)
        else:
            adopt.append(name)
    delete = tuple(sorted(n for n in owned if n not in desired and n in actual and not is_reserved(n)))
    forget = tuple(sorted(n for n in owned if n not in desired and n not in actual))
    return Plan(add=add, patch=patch, replace=replace, delete=delete, adopt=tuple(adopt), forget=forget)


def incremental_plan(
    desired: Mapping[str, PathConf], applied: Mapping[str, PathConf], present: Set[str], owned: Set[str]
) -> Plan:
    """A plan from what we last applied, without reading MediaMTX (the fast path).

    ``applied`` holds the confs MediaMTX accepted from us (exactly as we sent them,
    so plain equality compares them); ``present`` the names known to exist there.
    The periodic full reconcile (:func:`plan`) corrects anything this assumes wrongly.
    """
    add: dict[str, PathConf] = {}
    patch: dict[str, PathConf] = {}
    replace: dict[str, PathConf] = {}
    for name, want in desired.items():
        if is_reserved(name):
            continue
        have = applied.get(name)
        if have is want:
            continue  # the very conf we applied (DesiredPaths reuses unchanged ones)
        if have is not None:
            diff = {k: v for k, v in want.items() if have.get(k, _MISSING) != v}
            if diff:
                patch[name] = diff
        elif name in present:
            replace[name] = dict(want)
        else:
            add[name] = dict(want)
    delete = tuple(sorted(n for n in owned if n not in desired and n in present and not is_reserved(n)))
    forget = tuple(sorted(n for n in owned if n not in desired and n not in present))
    return Plan(add=add, patch=patch, replace=replace, delete=delete, forget=forget)


_MISSING = object()
