"""Path configuration (PathConf): field table, defaults, effective-config merge and validation (notes §5, §8).

Stored values are decoded forms (durations in nanoseconds, sizes in bytes); ``encode_path_conf`` prints
them the way MediaMTX does. Defaults are those of the stock ``mediamtx.yml`` shipped with v1.20.1.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from tools.mediamtx_emulator.gotypes import DAY, HOUR, SECOND
from tools.mediamtx_emulator.strictjson import (
    BoolKind,
    DurationKind,
    EnumKind,
    FloatKind,
    IntKind,
    Kind,
    ListKind,
    ObjectKind,
    SizeKind,
    StringKind,
)

BOOL, STR, DUR, SIZE, FLOAT = BoolKind(), StringKind(), DurationKind(), SizeKind(), FloatKind()
INT, UINT = IntKind("int"), IntKind("uint", unsigned=True)

RECORD_FORMAT = EnumKind(("fmp4", "mpegts"), lambda v: f"invalid record format '{v}'")
RTSP_TRANSPORT = EnumKind(("automatic", "udp", "multicast", "tcp"), lambda v: f"invalid protocol '{v}'")
RTSP_RANGE_TYPE = EnumKind(("", "clock", "npt", "smpte"), lambda v: f"invalid rtsp range type '{v}'")
_AA_CODECS = ("AV1", "VP9", "H265", "H264", "Opus", "MPEG4Audio", "G711", "LPCM")
ALWAYS_AVAILABLE_TRACK = ObjectKind(
    "conf.AlwaysAvailableTrack",
    {
        "codec": (EnumKind(_AA_CODECS, lambda v: f"invalid codec '{v}'"), ""),
        "sampleRate": (INT, 0),
        "channelCount": (INT, 0),
        "muLaw": (BOOL, False),
    },
)
FORWARD_DEST = ObjectKind(
    "conf.PathForwardDest",
    {"dest": (STR, ""), "destFingerprint": (STR, ""), "whipBearerToken": (STR, "")},
)

# (field, kind, stock default). Order follows the Go struct, which is the order GET prints.
PATH_FIELDS: tuple[tuple[str, Kind, Any], ...] = (
    ("source", STR, "publisher"),
    ("sourceFingerprint", STR, ""),
    ("sourceOnDemand", BOOL, False),
    ("sourceOnDemandStartTimeout", DUR, 10 * SECOND),
    ("sourceOnDemandCloseAfter", DUR, 10 * SECOND),
    ("maxReaders", INT, 0),
    ("srtReadPassphrase", STR, ""),
    ("useAbsoluteTimestamp", BOOL, False),
    ("alwaysAvailable", BOOL, False),
    ("alwaysAvailableFile", STR, ""),
    ("alwaysAvailableTracks", ListKind(ALWAYS_AVAILABLE_TRACK), []),
    ("record", BOOL, False),
    ("recordPath", STR, "./recordings/%path/%Y-%m-%d_%H-%M-%S-%f"),
    ("recordFormat", RECORD_FORMAT, "fmp4"),
    ("recordPartDuration", DUR, 1 * SECOND),
    ("recordMaxPartSize", SIZE, 50 * 1024 * 1024),
    ("recordSegmentDuration", DUR, 1 * HOUR),
    ("recordDeleteAfter", DUR, 1 * DAY),
    ("forward", ListKind(FORWARD_DEST), []),
    ("overridePublisher", BOOL, True),
    ("srtPublishPassphrase", STR, ""),
    ("rtspDemuxMpegts", BOOL, False),
    ("rtspTransport", RTSP_TRANSPORT, "automatic"),
    ("rtspAnyPort", BOOL, False),
    ("rtspRangeType", RTSP_RANGE_TYPE, ""),
    ("rtspRangeStart", STR, ""),
    ("rtspScale", STR, ""),
    ("rtspUDPSourcePortRange", ListKind(UINT), [32768, 60999]),
    ("rtpSDP", STR, ""),
    ("moqTransport", STR, "quic"),
    ("whepBearerToken", STR, ""),
    ("whepSTUNGatherTimeout", DUR, 5 * SECOND),
    ("whepHandshakeTimeout", DUR, 10 * SECOND),
    ("whepTrackGatherTimeout", DUR, 2 * SECOND),
    ("sourceRedirect", STR, ""),
    ("rpiCameraCamID", UINT, 0),
    ("rpiCameraSecondary", BOOL, False),
    ("rpiCameraWidth", UINT, 1920),
    ("rpiCameraHeight", UINT, 1080),
    ("rpiCameraHFlip", BOOL, False),
    ("rpiCameraVFlip", BOOL, False),
    ("rpiCameraBrightness", FLOAT, 0.0),
    ("rpiCameraContrast", FLOAT, 1.0),
    ("rpiCameraSaturation", FLOAT, 1.0),
    ("rpiCameraSharpness", FLOAT, 1.0),
    ("rpiCameraExposure", STR, "normal"),
    ("rpiCameraAWB", STR, "auto"),
    ("rpiCameraAWBGains", ListKind(FLOAT), [0.0, 0.0]),
    ("rpiCameraDenoise", STR, "off"),
    ("rpiCameraShutter", UINT, 0),
    ("rpiCameraMetering", STR, "centre"),
    ("rpiCameraGain", FLOAT, 0.0),
    ("rpiCameraEV", FLOAT, 0.0),
    ("rpiCameraROI", STR, ""),
    ("rpiCameraHDR", BOOL, False),
    ("rpiCameraTuningFile", STR, ""),
    ("rpiCameraMode", STR, ""),
    ("rpiCameraFPS", FLOAT, 30.0),
    ("rpiCameraAfMode", STR, "continuous"),
    ("rpiCameraAfRange", STR, "normal"),
    ("rpiCameraAfSpeed", STR, "normal"),
    ("rpiCameraLensPosition", FLOAT, 0.0),
    ("rpiCameraAfWindow", STR, ""),
    ("rpiCameraFlickerPeriod", UINT, 0),
    ("rpiCameraTextOverlayEnable", BOOL, False),
    ("rpiCameraTextOverlay", STR, "%Y-%m-%d %H:%M:%S - MediaMTX"),
    ("rpiCameraCodec", STR, "auto"),
    ("rpiCameraIDRPeriod", UINT, 60),
    ("rpiCameraBitrate", UINT, 5000000),
    ("rpiCameraH264Profile", STR, "auto"),
    ("rpiCameraH264Level", STR, "4.1"),
    ("rpiCameraMJPEGQuality", UINT, 60),
    ("runOnInit", STR, ""),
    ("runOnInitRestart", BOOL, False),
    ("runOnDemand", STR, ""),
    ("runOnDemandRestart", BOOL, False),
    ("runOnDemandStartTimeout", DUR, 10 * SECOND),
    ("runOnDemandCloseAfter", DUR, 10 * SECOND),
    ("runOnUnDemand", STR, ""),
    ("runOnAvailable", STR, ""),
    ("runOnAvailableRestart", BOOL, False),
    ("runOnUnavailable", STR, ""),
    ("runOnOnline", STR, ""),
    ("runOnOnlineRestart", BOOL, False),
    ("runOnOffline", STR, ""),
    ("runOnRead", STR, ""),
    ("runOnReadRestart", BOOL, False),
    ("runOnUnread", STR, ""),
    ("runOnRecordSegmentCreate", STR, ""),
    ("runOnRecordSegmentComplete", STR, ""),
)

# Deprecated pointer fields: accepted, echoed back only once set, never part of the defaults.
DEPRECATED_PATH_FIELDS: dict[str, Kind] = {
    "fallback": STR,
    "playback": BOOL,
    "publishUser": STR,
    "publishPass": STR,
    "publishIPs": ListKind(STR),
    "readUser": STR,
    "readPass": STR,
    "readIPs": ListKind(STR),
    "disablePublisherOverride": BOOL,
    "sourceProtocol": RTSP_TRANSPORT,
    "sourceAnyPortEnable": BOOL,
    "rtspUDPReadBufferSize": UINT,
    "mpegtsUDPReadBufferSize": UINT,
    "rtpUDPReadBufferSize": UINT,
    "rpiCameraProfile": STR,
    "rpiCameraLevel": STR,
    "rpiCameraHardwareH264Profile": STR,
    "rpiCameraHardwareH264Level": STR,
    "rpiCameraSoftwareH264Profile": STR,
    "rpiCameraSoftwareH264Level": STR,
    "rpiCameraJPEGQuality": UINT,
    "runOnReady": STR,
    "runOnReadyRestart": BOOL,
    "runOnNotReady": STR,
}
REDACTED_FIELDS = ("publishPass", "readPass")
REDACTED = "<redacted>"

PATH_KINDS: dict[str, Kind] = {name: kind for name, kind, _ in PATH_FIELDS} | DEPRECATED_PATH_FIELDS
# The Go struct also carries "name" (filled by validation); sending it is accepted and ignored.
PATH_INPUT_KINDS: dict[str, Kind] = PATH_KINDS | {"name": STR}
STOCK_PATH_DEFAULTS: dict[str, Any] = {name: default for name, _, default in PATH_FIELDS}

# Changing only these keeps the runtime path alive (MediaMTX hot-reloads them).
HOT_RELOAD_FIELDS = frozenset(
    {
        "record", "recordPath", "recordFormat", "recordPartDuration", "recordMaxPartSize",
        "recordSegmentDuration", "recordDeleteAfter", "forward",
        "rpiCameraBrightness", "rpiCameraContrast", "rpiCameraSaturation", "rpiCameraSharpness",
        "rpiCameraExposure", "rpiCameraAWB", "rpiCameraAWBGains", "rpiCameraDenoise", "rpiCameraShutter",
        "rpiCameraMetering", "rpiCameraGain", "rpiCameraEV", "rpiCameraFPS",
    }
)  # fmt: skip

CATCH_ALL_NAMES = ("all", "all_others")
STATIC_SOURCE_PREFIXES = (
    "rtsp://", "rtsps://", "rtsp+http://", "rtsps+http://", "rtsp+ws://", "rtsps+ws://",
    "rtmp://", "rtmps://", "http://", "https://", "udp://", "udp+mpegts://", "unix+mpegts://",
    "udp+rtp://", "unix+rtp://", "srt://", "whep://", "wheps://", "moqt://",
)  # fmt: skip

_PATH_NAME_CHARS = re.compile(r"^[0-9a-zA-Z_\-/.]+$")


class ValidationError(Exception):
    """A configuration MediaMTX refuses; the message is MediaMTX's."""


def check_path_name(name: str) -> None:
    """``conf.IsValidPathName`` (v1.20.1): raises ValidationError with the reason only."""
    if name == "":
        raise ValidationError("cannot be empty")
    if name[0] == "/":
        raise ValidationError("can't begin with a slash")
    if name[-1] == "/":
        raise ValidationError("can't end with a slash")
    if not _PATH_NAME_CHARS.match(name):
        raise ValidationError("can contain only alphanumeric characters, underscore, dot, minus, slash")
    if any(seg in (".", "..") for seg in name.split("/")):
        raise ValidationError("can't contain dot path segments")


def compile_go_regexp(expr: str) -> re.Pattern[str]:
    """Compile a Go (RE2) regexp with Python's engine; the common syntax is shared."""
    try:
        return re.compile(expr)
    except re.error:
        raise ValidationError(f"invalid regular expression: {expr}") from None


def path_regexp(name: str) -> re.Pattern[str] | None:
    """The regexp of a catch-all or ``~`` entry, None for a plain name."""
    if name in CATCH_ALL_NAMES:
        return re.compile("^.*$")
    if name.startswith("~"):
        return compile_go_regexp(name[1:])
    return None


def effective_path_conf(
    defaults: Mapping[str, Any], overrides: Mapping[str, Any], name: str
) -> dict[str, Any]:
    """Defaults merged with an entry's overrides, with deprecated aliases applied (stored form)."""
    conf = dict(defaults)
    conf.update(overrides)
    if conf.get("disablePublisherOverride") is not None:
        conf["overridePublisher"] = not conf["disablePublisherOverride"]
    if conf.get("sourceProtocol") is not None:
        conf["rtspTransport"] = conf["sourceProtocol"]
    if conf.get("sourceAnyPortEnable") is not None:
        conf["rtspAnyPort"] = conf["sourceAnyPortEnable"]
    if conf.get("runOnReady"):
        conf["runOnAvailable"] = conf["runOnReady"]
    if conf.get("runOnReadyRestart") is not None:
        conf["runOnAvailableRestart"] = conf["runOnReadyRestart"]
    if conf.get("runOnNotReady"):
        conf["runOnUnavailable"] = conf["runOnNotReady"]
    conf["name"] = name
    return conf


def encode_path_conf(conf: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON a GET returns: every non-deprecated field, deprecated ones only when set, secrets redacted."""
    out: dict[str, Any] = {"name": conf.get("name", "")}
    for field, kind, _ in PATH_FIELDS:
        out[field] = kind.encode(conf[field])
    for field, kind in DEPRECATED_PATH_FIELDS.items():
        if conf.get(field) is not None:
            value = kind.encode(conf[field])
            if field in REDACTED_FIELDS and value != "":
                value = REDACTED
            out[field] = value
    return out


def is_static_source(source: str) -> bool:
    return source not in ("publisher", "redirect")


def _check_url(url: str) -> urllib.parse.SplitResult:
    # Go's url.Parse refuses control characters, spaces in the host and non-numeric ports.
    if any(ord(c) < 0x20 or c == "\x7f" for c in url):
        raise ValidationError(f"'{url}' is not a valid URL")
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port
    except ValueError:
        # Python also refuses ports above 65535; Go's url.Parse only wants digits
        if not _digits_port(url):
            raise ValidationError(f"'{url}' is not a valid URL") from None
        parts = urllib.parse.urlsplit(url)
    if " " in parts.netloc:
        raise ValidationError(f"'{url}' is not a valid URL")
    return parts


def _digits_port(url: str) -> bool:
    try:
        netloc = urllib.parse.urlsplit(url).netloc
    except ValueError:
        return False
    host_port = netloc.rpartition("@")[2]
    port = host_port.rpartition("]")[2] if host_port.startswith("[") else host_port
    return port.rpartition(":")[2].isdigit()


def _check_user_pass(parts: urllib.parse.SplitResult) -> None:
    user, password = parts.username, parts.password
    if "@" in parts.netloc and (bool(user) != bool(password)):
        raise ValidationError("username and password must be both provided")


def _check_host_port(url: str, prefix: str, what: str) -> None:
    rest = url[len(prefix) :]
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or "/" in port:
        raise ValidationError(f"'{url}' is not a valid {what} URL")


def _check_redirect(value: str) -> None:
    if value.startswith("/"):
        try:
            check_path_name(value[1:])
        except ValidationError as exc:
            raise ValidationError(f"'{value}': {exc}") from None
    else:
        _check_rtsp_url(value)


def _check_rtsp_url(value: str) -> None:
    if not value.startswith(("rtsp://", "rtsps://")):
        raise ValidationError(f"'{value}' is not a valid RTSP URL")
    try:
        _check_url(value)
    except ValidationError:
        raise ValidationError(f"'{value}' is not a valid RTSP URL") from None


def _check_srt_passphrase(value: str, field: str) -> None:
    if not 10 <= len(value) <= 79:
        raise ValidationError(f"invalid '{field}': must be between 10 and 79 characters")


def validate_path_conf(conf: Mapping[str, Any], name: str, playback_enabled: bool) -> None:
    """``conf.Path.validate``: the checks and messages of notes §8, in the order the Go code runs them."""
    if name in CATCH_ALL_NAMES:
        regexp: re.Pattern[str] | None = re.compile("^.*$")
    elif name == "" or name[0] != "~":
        try:
            check_path_name(name)
        except ValidationError as exc:
            raise ValidationError(f"invalid path name '{name}': {exc}") from None
        regexp = None
    else:
        regexp = compile_go_regexp(name[1:])

    source: str = conf["source"]
    if conf["srtPublishPassphrase"] and source != "publisher":
        raise ValidationError("'srtPublishPassphase' can only be used when source is 'publisher'")
    if source != "redirect" and conf["sourceRedirect"]:
        raise ValidationError("'sourceRedirect' is useless when source is not 'redirect'")

    if source == "publisher":
        if conf["srtPublishPassphrase"]:
            _check_srt_passphrase(conf["srtPublishPassphrase"], "srtPublishPassphrase")
    elif source.startswith(
        ("rtsp://", "rtsps://", "rtsp+http://", "rtsps+http://", "rtsp+ws://", "rtsps+ws://")
    ):
        _check_url(source)
    elif source.startswith(("rtmp://", "rtmps://", "http://", "https://")):
        _check_user_pass(_check_url(source))
    elif source.startswith("udp://"):
        _check_host_port(source, "udp://", "UDP+MPEGTS")
    elif source.startswith("udp+mpegts://"):
        _check_host_port(source, "udp+mpegts://", "UDP+MPEGTS")
    elif source.startswith("unix+mpegts://"):
        pass
    elif source.startswith("udp+rtp://"):
        _check_host_port(source, "udp+rtp://", "UDP+RTP")
        if not conf["rtpSDP"]:
            raise ValidationError("`rtpSDP` was not provided")
    elif source.startswith("unix+rtp://"):
        if not conf["rtpSDP"]:
            raise ValidationError("`rtpSDP` was not provided")
    elif source.startswith(("srt://", "whep://", "wheps://", "moqt://")):
        _check_url(source)
    elif source == "redirect":
        if not conf["sourceRedirect"]:
            raise ValidationError("source redirect must be filled")
        _check_redirect(conf["sourceRedirect"])
    elif source == "rpiCamera":
        if conf["rpiCameraWidth"] == 0:
            raise ValidationError("invalid 'rpiCameraWidth' value")
        if conf["rpiCameraHeight"] == 0:
            raise ValidationError("invalid 'rpiCameraHeight' value")
    else:
        raise ValidationError(f"invalid source: '{source}'")

    if conf["sourceOnDemand"]:
        if source == "publisher":
            raise ValidationError("'sourceOnDemand' is useless when source is 'publisher'")
    elif is_static_source(source) and regexp is not None:
        raise ValidationError(
            "a path with a regular expression (or path 'all_others') and a static source"
            " must have 'sourceOnDemand' set to true"
        )

    if conf["srtReadPassphrase"]:
        _check_srt_passphrase(conf["srtReadPassphrase"], "srtReadPassphrase")
    if conf.get("fallback") is not None:
        _check_redirect(conf["fallback"])

    if conf["alwaysAvailable"]:
        if regexp is not None:
            raise ValidationError(
                "'alwaysAvailable' cannot be used in a path with a regular expression (or path 'all_others')"
            )
        if conf["sourceOnDemand"]:
            raise ValidationError("'sourceOnDemand' is not compatible with 'alwaysAvailable'")
        if conf["runOnDemand"] or conf["runOnUnDemand"]:
            raise ValidationError("'runOnDemand' and 'runOnUnDemand' cannot be used with 'alwaysAvailable'")
        if conf["alwaysAvailableFile"]:
            if conf["alwaysAvailableTracks"]:
                raise ValidationError(
                    "'alwaysAvailableFile' and 'alwaysAvailableTracks' cannot be used together"
                )
        elif not conf["alwaysAvailableTracks"]:
            raise ValidationError("'alwaysAvailableTracks' must contain at least one track")
        if conf["useAbsoluteTimestamp"]:
            raise ValidationError("'useAbsoluteTimestamp' cannot be used with 'alwaysAvailable'")

    record_path: str = conf["recordPath"]
    if "%path" not in record_path:
        raise ValidationError("'recordPath' must contain %path")
    if "%s" not in record_path and not all(v in record_path for v in ("%Y", "%m", "%d", "%H", "%M", "%S")):
        raise ValidationError("'recordPath' must contain either %s or %Y %m %d %H %M %S")
    if playback_enabled and "%f" not in record_path:
        raise ValidationError("'recordPath' must contain %f")
    if conf["recordSegmentDuration"] > DAY:
        raise ValidationError("maximum segment duration is 1 day")
    if conf["recordDeleteAfter"] != 0 and conf["recordDeleteAfter"] < conf["recordSegmentDuration"]:
        raise ValidationError("'recordDeleteAfter' cannot be lower than 'recordSegmentDuration'")

    if conf["runOnInit"] and regexp is not None:
        raise ValidationError(
            "a path with a regular expression (or path 'all_others') does not support option 'runOnInit';"
            " use another path"
        )
    if (conf["runOnDemand"] or conf["runOnUnDemand"]) and source != "publisher":
        raise ValidationError("'runOnDemand' and 'runOnUnDemand' can be used only when source is 'publisher'")


def validate_path_set(names: list[str]) -> None:
    """Checks across entries: only one of the catch-all aliases may exist."""
    aliases = [n for n in names if n in ("all", "all_others", "~^.*$")]
    if len(aliases) > 1:
        raise ValidationError("all_others, all and '~^.*$' are aliases")
