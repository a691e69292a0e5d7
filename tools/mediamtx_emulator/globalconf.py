"""Global configuration (GlobalConf): field table with the stock ``mediamtx.yml`` values, ``api`` enabled."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from tools.mediamtx_emulator.gotypes import MILLISECOND, SECOND
from tools.mediamtx_emulator.pathconf import BOOL, DUR, INT, REDACTED, SIZE, STR, UINT
from tools.mediamtx_emulator.strictjson import DecodeError, EnumKind, Kind, ListKind, ObjectKind, type_error


class IpNetworkKind(Kind):
    """``conf.IPNetwork``: an address or a CIDR block, always output as CIDR (``127.0.0.1/32``)."""

    go_type = "conf.IPNetwork"

    def decode(self, value: Any, where: str) -> Any:
        if not isinstance(value, str):
            raise type_error(value, "string")
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise DecodeError(f"unable to parse IP/CIDR '{value}'") from None
        return value

    def encode(self, value: Any) -> Any:
        return str(ipaddress.ip_network(value, strict=False))


_ACTIONS = ("publish", "read", "playback", "api", "metrics", "pprof")
PERMISSION = ObjectKind(
    "conf.AuthInternalUserPermission",
    {"action": (EnumKind(_ACTIONS, lambda v: f"invalid auth action: '{v}'"), ""), "path": (STR, "")},
)
INTERNAL_USER = ObjectKind(
    "conf.AuthInternalUser",
    {
        "user": (STR, ""),
        "pass": (STR, ""),
        "ips": (ListKind(IpNetworkKind()), []),
        "permissions": (ListKind(PERMISSION), []),
    },
)
ICE_SERVER = ObjectKind(
    "conf.WebRTCICEServer",
    {"url": (STR, ""), "username": (STR, ""), "password": (STR, ""), "clientOnly": (BOOL, False)},
)
STRINGS = ListKind(STR)
LOG_LEVEL = EnumKind(("error", "warn", "info", "debug"), lambda v: f"invalid log level: '{v}'")
LOG_DESTS = ListKind(EnumKind(("stdout", "file", "syslog"), lambda v: f"invalid log destination: '{v}'"))
AUTH_METHOD = EnumKind(("internal", "http", "jwt"), lambda v: f"invalid authMethod: '{v}'")
ENCRYPTION = EnumKind(("no", "optional", "strict"), lambda v: f"invalid encryption value: '{v}'")
HLS_VARIANT = EnumKind(("mpegts", "fmp4", "lowLatency"), lambda v: f"invalid HLS variant: '{v}'")
RTSP_TRANSPORTS = ListKind(EnumKind(("udp", "multicast", "tcp"), lambda v: f"invalid transport '{v}'"))
RTSP_AUTH_METHODS = ListKind(EnumKind(("basic", "digest"), lambda v: f"invalid authentication method: '{v}'"))


def _stock_users() -> list[dict[str, Any]]:
    return [
        {
            "user": "any",
            "pass": "",
            "ips": [],
            "permissions": [
                {"action": "publish", "path": ""},
                {"action": "read", "path": ""},
                {"action": "playback", "path": ""},
            ],
        },
        {
            "user": "any",
            "pass": "",
            "ips": ["127.0.0.1", "::1"],
            "permissions": [
                {"action": "api", "path": ""},
                {"action": "metrics", "path": ""},
                {"action": "pprof", "path": ""},
            ],
        },
    ]


GLOBAL_FIELDS: tuple[tuple[str, Kind, Any], ...] = (
    ("logLevel", LOG_LEVEL, "info"),
    ("logDestinations", LOG_DESTS, ["stdout"]),
    ("logStructured", BOOL, False),
    ("logFile", STR, "mediamtx.log"),
    ("sysLogPrefix", STR, "mediamtx"),
    ("readTimeout", DUR, 10 * SECOND),
    ("writeTimeout", DUR, 10 * SECOND),
    ("writeQueueSize", INT, 512),
    ("udpMaxPayloadSize", INT, 1452),
    ("udpReadBufferSize", UINT, 0),
    ("runOnConnect", STR, ""),
    ("runOnConnectRestart", BOOL, False),
    ("runOnDisconnect", STR, ""),
    ("authMethod", AUTH_METHOD, "internal"),
    ("authInternalUsers", ListKind(INTERNAL_USER), None),  # filled per instance
    ("authHTTPAddress", STR, ""),
    ("authHTTPFingerprint", STR, ""),
    ("authHTTPExclude", ListKind(PERMISSION), []),
    ("authJWTJWKS", STR, ""),
    ("authJWTJWKSFingerprint", STR, ""),
    ("authJWTClaimKey", STR, "mediamtx_permissions"),
    ("authJWTExclude", ListKind(PERMISSION), []),
    ("authJWTIssuer", STR, ""),
    ("authJWTAudience", STR, ""),
    ("api", BOOL, True),
    ("apiAddress", STR, ":9997"),
    ("apiEncryption", BOOL, False),
    ("apiServerKey", STR, "server.key"),
    ("apiServerCert", STR, "server.crt"),
    ("apiAllowOrigins", STRINGS, ["*"]),
    ("apiTrustedProxies", STRINGS, []),
    ("metrics", BOOL, False),
    ("metricsAddress", STR, ":9998"),
    ("metricsEncryption", BOOL, False),
    ("metricsServerKey", STR, "server.key"),
    ("metricsServerCert", STR, "server.crt"),
    ("metricsAllowOrigins", STRINGS, ["*"]),
    ("metricsTrustedProxies", STRINGS, []),
    ("pprof", BOOL, False),
    ("pprofAddress", STR, ":9999"),
    ("pprofEncryption", BOOL, False),
    ("pprofServerKey", STR, "server.key"),
    ("pprofServerCert", STR, "server.crt"),
    ("pprofAllowOrigins", STRINGS, ["*"]),
    ("pprofTrustedProxies", STRINGS, []),
    ("playback", BOOL, False),
    ("playbackAddress", STR, ":9996"),
    ("playbackEncryption", BOOL, False),
    ("playbackServerKey", STR, "server.key"),
    ("playbackServerCert", STR, "server.crt"),
    ("playbackAllowOrigins", STRINGS, ["*"]),
    ("playbackTrustedProxies", STRINGS, []),
    ("rtsp", BOOL, True),
    ("rtspTransports", RTSP_TRANSPORTS, ["multicast", "tcp", "udp"]),
    ("rtspEncryption", ENCRYPTION, "no"),
    ("rtspAddress", STR, ":8554"),
    ("rtspsAddress", STR, ":8322"),
    ("rtpAddress", STR, ":8000"),
    ("rtcpAddress", STR, ":8001"),
    ("multicastIPRange", STR, "224.1.0.0/16"),
    ("multicastRTPPort", INT, 8002),
    ("multicastRTCPPort", INT, 8003),
    ("srtpAddress", STR, ":8004"),
    ("srtcpAddress", STR, ":8005"),
    ("multicastSRTPPort", INT, 8006),
    ("multicastSRTCPPort", INT, 8007),
    ("rtspServerKey", STR, "server.key"),
    ("rtspServerCert", STR, "server.crt"),
    ("rtspAuthMethods", RTSP_AUTH_METHODS, ["basic"]),
    ("rtspTrustedProxies", STRINGS, []),
    ("rtmp", BOOL, True),
    ("rtmpEncryption", ENCRYPTION, "no"),
    ("rtmpAddress", STR, ":1935"),
    ("rtmpsAddress", STR, ":1936"),
    ("rtmpServerKey", STR, "server.key"),
    ("rtmpServerCert", STR, "server.crt"),
    ("rtmpTrustedProxies", STRINGS, []),
    ("hls", BOOL, True),
    ("hlsAddress", STR, ":8888"),
    ("hlsEncryption", BOOL, False),
    ("hlsServerKey", STR, "server.key"),
    ("hlsServerCert", STR, "server.crt"),
    ("hlsAllowOrigins", STRINGS, ["*"]),
    ("hlsTrustedProxies", STRINGS, []),
    ("hlsAlwaysRemux", BOOL, False),
    ("hlsVariant", HLS_VARIANT, "lowLatency"),
    ("hlsSegmentCount", INT, 7),
    ("hlsSegmentDuration", DUR, 1 * SECOND),
    ("hlsPartDuration", DUR, 200 * MILLISECOND),
    ("hlsSegmentMaxSize", SIZE, 50 * 1024 * 1024),
    ("hlsDirectory", STR, ""),
    ("hlsMuxerCloseAfter", DUR, 60 * SECOND),
    ("hlsCDNSecret", STR, ""),
    ("webrtc", BOOL, True),
    ("webrtcAddress", STR, ":8889"),
    ("webrtcEncryption", BOOL, False),
    ("webrtcServerKey", STR, "server.key"),
    ("webrtcServerCert", STR, "server.crt"),
    ("webrtcAllowOrigins", STRINGS, ["*"]),
    ("webrtcTrustedProxies", STRINGS, []),
    ("webrtcLocalUDPAddress", STR, ":8189"),
    ("webrtcLocalTCPAddress", STR, ""),
    ("webrtcIPsFromInterfaces", BOOL, True),
    ("webrtcIPsFromInterfacesList", STRINGS, []),
    ("webrtcAdditionalHosts", STRINGS, []),
    ("webrtcICEServers2", ListKind(ICE_SERVER), []),
    ("webrtcSTUNGatherTimeout", DUR, 5 * SECOND),
    ("webrtcHandshakeTimeout", DUR, 10 * SECOND),
    ("webrtcTrackGatherTimeout", DUR, 2 * SECOND),
    ("srt", BOOL, True),
    ("srtAddress", STR, ":8890"),
    ("moq", BOOL, True),
    ("moqQUICAddress", STR, ":8893"),
    ("moqHTTP2Address", STR, ":8892"),
    ("moqHTTP3Address", STR, ":8892"),
    ("moqServerKey", STR, "auto.key"),
    ("moqServerCert", STR, "auto.crt"),
    ("moqAllowOrigins", STRINGS, ["*"]),
    ("moqTrustedProxies", STRINGS, []),
    ("dumpPackets", BOOL, False),
)

DEPRECATED_GLOBAL_FIELDS: dict[str, Kind] = {
    "apiAllowOrigin": STR,
    "metricsAllowOrigin": STR,
    "pprofAllowOrigin": STR,
    "playbackAllowOrigin": STR,
    "hlsAllowOrigin": STR,
    "webrtcAllowOrigin": STR,
    "authMethods": RTSP_AUTH_METHODS,
    "authJWTInHTTPQuery": BOOL,
    "encryption": ENCRYPTION,
    "externalAuthenticationURL": STR,
    "hlsDisable": BOOL,
    "rtmpDisable": BOOL,
    "rtspDisable": BOOL,
    "webrtcDisable": BOOL,
    "moqHTTPS2Address": STR,
    "moqHTTPS3Address": STR,
    "protocols": RTSP_TRANSPORTS,
    "readBufferCount": INT,
    "rtspUDPReadBufferSize": UINT,
    "webrtcICEHostNAT1To1IPs": STRINGS,
    "webrtcICEServers": STRINGS,
    "webrtcICETCPMuxAddress": STR,
    "webrtcICEUDPMuxAddress": STR,
    "record": BOOL,
    "recordPath": STR,
    "recordFormat": STR,
    "recordPartDuration": DUR,
    "recordSegmentDuration": DUR,
    "recordDeleteAfter": DUR,
}

GLOBAL_KINDS: dict[str, Kind] = {name: kind for name, kind, _ in GLOBAL_FIELDS} | DEPRECATED_GLOBAL_FIELDS


def stock_global_conf(api_address: str, rtsp_port: int, api_user: tuple[str, str] | None) -> dict[str, Any]:
    """The global settings of a stock instance with ``api: yes`` (stored form)."""
    conf = {name: default for name, _, default in GLOBAL_FIELDS}
    users = _stock_users()
    if api_user is not None:
        # The API then needs these credentials from every client, loopback included.
        users[1] = {
            "user": api_user[0],
            "pass": api_user[1],
            "ips": [],
            "permissions": [
                {"action": "api", "path": ""},
                {"action": "metrics", "path": ""},
                {"action": "pprof", "path": ""},
            ],
        }
    conf["authInternalUsers"] = users
    conf["apiAddress"] = api_address
    conf["rtspAddress"] = f":{rtsp_port}"
    return conf


def encode_global_conf(conf: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, kind, _ in GLOBAL_FIELDS:
        out[name] = kind.encode(conf[name])
    for user in out["authInternalUsers"]:
        if user.get("pass"):
            user["pass"] = REDACTED
    for name, kind in DEPRECATED_GLOBAL_FIELDS.items():
        if conf.get(name) is not None:
            out[name] = kind.encode(conf[name])
    return out
