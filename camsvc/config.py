"""Configuration: YAML file + ``CAMSVC_<SECTION>__<KEY>`` environment overrides → frozen attrs classes.

Each field carries its documentation in ``metadata["doc"]``; ``conf/camsvc.yaml`` and
``docs/configuration.md`` are generated from these classes (``camsvc config-template``),
so the code is the single source of truth for keys and defaults.

Every mistake in a file (unknown key, wrong type, value out of range) is reported at
once with its key path; see :class:`ConfigError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import attrs
import cattrs
import yaml
from cattrs.gen import make_dict_structure_fn

ENV_PREFIX = "CAMSVC_"


class ConfigError(Exception):
    """The configuration could not be loaded; ``problems`` lists every mistake found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


# ------------------------------------------------------------ constraints


@attrs.frozen
class Range:
    lo: float | None = None
    hi: float | None = None

    def check(self, value: float) -> None:
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            if self.hi is None:
                raise ValueError(f"must be >= {self.lo:g}, got {value!r}")
            if self.lo is None:
                raise ValueError(f"must be <= {self.hi:g}, got {value!r}")
            raise ValueError(f"must be between {self.lo:g} and {self.hi:g}, got {value!r}")


@attrs.frozen
class OneOf:
    choices: tuple[str, ...]

    def check(self, value: str) -> None:
        if value not in self.choices:
            raise ValueError(f"must be one of {', '.join(self.choices)}; got {value!r}")


@attrs.frozen
class Pattern:
    regex: str

    def check(self, value: str) -> None:
        if not re.fullmatch(self.regex, value):
            raise ValueError(f"must match {self.regex}; got {value!r}")


Port = Annotated[int, Range(0, 65535)]
Seconds = Annotated[float, Range(0, None)]
Positive = Annotated[float, Range(0.001, None)]
Percent = Annotated[float, Range(0, 100)]
CameraId = Annotated[str, Pattern(r"[a-z0-9_]{1,32}")]


def doc(default: Any, text: str, **kw: Any) -> Any:
    """An attrs field with a default and its documentation."""
    if isinstance(default, list | dict):
        value = default
        return attrs.field(factory=lambda: type(value)(value), metadata={"doc": text}, **kw)
    return attrs.field(default=default, metadata={"doc": text}, **kw)


# ---------------------------------------------------------------- sections


@attrs.frozen
class ServerConfig:
    host: str = doc("0.0.0.0", "Address the JSON-RPC WebSocket server binds.")
    port: Port = doc(8002, "WebSocket port.")
    ws_path: str = doc("/ws", "WebSocket path.")
    max_connections: Annotated[int, Range(1, None)] = doc(
        10000, "Connections beyond this are closed with code 1013 (try again later)."
    )
    max_message_bytes: Annotated[int, Range(1024, None)] = doc(1048576, "Largest accepted frame/message.")
    max_concurrent_requests: Annotated[int, Range(1, None)] = doc(
        16, "Requests one connection may have in flight at once; more wait their turn."
    )
    outbound_queue: Annotated[int, Range(1, None)] = doc(
        1024, "Frames (answers, notifications, pongs) queued to one client; a client whose queue is full is closed with 1008."
    )
    outbound_queue_bytes: Annotated[int, Range(65536, None)] = doc(
        8388608, "Bytes queued to one client; a client whose queue holds more is closed with 1008."
    )
    ping_interval: Positive = doc(30.0, "Seconds between keepalive pings.")
    missed_pongs: Annotated[int, Range(1, None)] = doc(2, "Peers missing this many pongs are dropped.")
    rate_limit_per_second: Positive = doc(200.0, "Token-bucket refill rate of requests per connection.")
    rate_limit_burst: Annotated[int, Range(1, None)] = doc(400, "Token-bucket size per connection.")
    tls_cert: str | None = doc(None, "PEM certificate file; with tls_key enables wss://.")
    tls_key: str | None = doc(None, "PEM private key file.")


@attrs.frozen
class HttpConfig:
    host: str = doc("0.0.0.0", "Address the HTTP server (health, files, metrics) binds.")
    port: Port = doc(8003, "HTTP port.")
    public_url: str | None = doc(
        None, "Base URL used in download URLs (e.g. https://cam.example:8003); default: the host the client used."
    )


@attrs.frozen
class MediamtxConfig:
    api_url: str = doc("http://127.0.0.1:9997", "MediaMTX control API base URL.")
    username: str | None = doc(None, "Basic-auth user for the control API, if MediaMTX requires one.")
    password: str | None = doc(None, "Basic-auth password for the control API.")
    public_host: str | None = doc(
        None, "Host name put in stream URLs; default: the host the client connected to."
    )
    rtsp_port: Port = doc(8554, "MediaMTX RTSP port (for stream URLs and ffmpeg).")
    hls_port: Port = doc(8888, "MediaMTX HLS port (for stream URLs).")
    webrtc_port: Port = doc(8889, "MediaMTX WebRTC port (for stream URLs).")
    request_timeout: Positive = doc(
        6.0, "Seconds per control-API request; above 4 s because MediaMTX delays bad-credential answers up to 4 s."
    )
    reconcile_interval: Positive = doc(5.0, "Seconds between periodic reconciliations (MediaMTX forgets API paths on restart).")
    backoff_max: Positive = doc(
        30.0, "Longest wait between retries while MediaMTX answers wrongly or not in time (errors, timeouts)."
    )
    probe_interval: Positive = doc(
        0.5,
        "Longest wait between GET /v3/info probes while MediaMTX refuses connections (from 0.1 s, doubling);"
        " its first answer re-applies every path. While it is up, probes every this many seconds only when its"
        " death cannot be watched through an idle API connection (https api_url).",
    )
    on_demand_start_timeout: Positive = doc(10.0, "runOnDemandStartTimeout / sourceOnDemandStartTimeout in seconds.")
    on_demand_close_after: Positive = doc(10.0, "runOnDemandCloseAfter / sourceOnDemandCloseAfter in seconds.")
    binary: str | None = doc(None, "Path of a mediamtx binary to run as a supervised child.")
    manage: bool = doc(False, "Run `mediamtx` from PATH as a supervised child when binary is unset.")
    config_file: str = doc("/etc/camera-service/mediamtx.yml", "Config file passed to a supervised mediamtx.")
    ffmpeg_path: str = doc("ffmpeg", "ffmpeg executable MediaMTX runs (runOnDemand/runOnInit) to publish local cameras.")
    server_start_timeout: Positive = doc(
        10.0, "Seconds a supervised mediamtx gets to answer its API before it is reported started anyway."
    )
    server_stop_timeout: Positive = doc(5.0, "Seconds a supervised mediamtx gets after SIGINT before SIGKILL.")


@attrs.frozen
class SyntheticCamera:
    id: CameraId = doc("camera0", "Camera id (clients often expect camera<N>).")
    name: str = doc("Synthetic test pattern", "Display name.")
    width: Annotated[int, Range(16, 7680)] = doc(640, "Frame width.")
    height: Annotated[int, Range(16, 4320)] = doc(480, "Frame height.")
    fps: Annotated[int, Range(1, 120)] = doc(15, "Frames per second.")


@attrs.frozen
class NetworkCamera:
    id: CameraId = doc("stream0", "Camera id.")
    url: Annotated[str, Pattern(r"(rtsps?|rtmps?|https?|srt)://.+")] = doc("rtsp://example.invalid/stream", "Source URL MediaMTX pulls on demand.")
    name: str = doc("Network camera", "Display name.")


@attrs.frozen
class CamerasConfig:
    discovery: Annotated[str, OneOf(("udev", "poll", "hybrid", "disabled"))] = doc(
        "hybrid", "udev events, polling of /dev/video*, both (udev with polling as a safety net), or disabled."
    )
    device_range: tuple[int, int] = doc((0, 9), "Lowest and highest N of /dev/videoN considered.")
    poll_interval: Positive = doc(5.0, "Seconds between /dev/video* scans.")
    debounce: Seconds = doc(
        0.05,
        "Add/remove events for one device within this window collapse to the last (it adds to hot-plug latency).",
    )
    probe_timeout: Positive = doc(3.0, "Seconds allowed for V4L2 capability probing of one device.")
    preferred_width: Annotated[int, Range(16, 7680)] = doc(1280, "Largest width chosen by default.")
    preferred_height: Annotated[int, Range(16, 4320)] = doc(720, "Largest height chosen by default.")
    preferred_fps: Annotated[int, Range(1, 240)] = doc(30, "Highest frame rate chosen by default.")
    encoder: str = doc("libx264", "ffmpeg video encoder for local cameras (H.264 by default).")
    encoder_preset: str = doc("ultrafast", "Encoder preset (low CPU for edge boxes).")
    encoder_extra_args: list[str] = doc(
        [], "Extra ffmpeg output arguments after the encoder's (e.g. [-b:v, 2M]); not used for pass-through."
    )
    keyframe_interval: Positive = doc(1.0, "Seconds between keyframes of encoded streams (how fast a viewer can join).")
    allow_mjpeg_passthrough: bool = doc(False, "Publish a camera's MJPEG without re-encoding when it offers it.")
    stream_idle_close: Seconds = doc(
        300.0, "A start_streaming lease ends after this many seconds without readers; 0 = only stop_streaming ends it."
    )
    synthetic: list[SyntheticCamera] = doc([], "Synthetic (ffmpeg lavfi test pattern) cameras.")
    external: list[NetworkCamera] = doc([], "Network cameras pulled by MediaMTX.")
    discovery_candidates: list[str] = doc(
        [], "URLs probed by discover_external_streams (never a network scan)."
    )
    external_scan_interval: Seconds = doc(0.0, "Seconds between candidate probes; 0 = on demand only.")
    candidate_probe_timeout: Positive = doc(5.0, "Seconds ffprobe may spend on one discovery candidate URL.")


@attrs.frozen
class RecordingConfig:
    dir: str = doc("/var/recordings", "Where MediaMTX writes recording segments.")
    format: Annotated[str, OneOf(("fmp4", "mpegts"))] = doc("fmp4", "Default recording container.")
    segment_duration: Annotated[float, Range(1, 86400)] = doc(1800.0, "Seconds per segment (MediaMTX recordSegmentDuration).")
    sync_timeout: Positive = doc(
        10.0, "Seconds start/stop_recording wait for MediaMTX to apply the change (start fails with -32050 after)."
    )
    first_segment_wait: Seconds = doc(
        3.0,
        "Seconds start_recording waits for MediaMTX's first segment to learn its real file name "
        "(after that its filename is null and a later recording_status_update names it).",
    )
    resume_grace: Seconds = doc(
        15.0, "After a restart, seconds a session left RECORDING waits for its camera before it is closed."
    )


@attrs.frozen
class SnapshotsConfig:
    dir: str = doc("/var/snapshots", "Where snapshots are written.")
    format: Annotated[str, OneOf(("jpg", "png"))] = doc("jpg", "Default snapshot format.")
    quality: Annotated[int, Range(1, 100)] = doc(90, "Default JPEG quality (1-100).")
    timeout: Positive = doc(15.0, "Upper bound in seconds for one take_snapshot across all tiers.")
    rtsp_timeout: Positive = doc(5.0, "Seconds to grab a frame from a stream already up in MediaMTX.")
    direct_timeout: Positive = doc(8.0, "Seconds to grab a frame straight from an idle local camera.")
    on_demand_timeout: Positive = doc(12.0, "Seconds to grab a frame while MediaMTX starts an on-demand stream.")


@attrs.frozen
class StorageConfig:
    state_dir: str = doc("/var/lib/camera-service", "SQLite state, generated secrets.")
    warn_percent: Percent = doc(80.0, "Disk usage that raises low_space_warning.")
    block_percent: Percent = doc(95.0, "Disk usage at which new recordings/snapshots are refused (-32007).")
    housekeeping_interval: Positive = doc(3600.0, "Seconds between retention runs (only with an admin-enabled policy).")
    disk_check_interval: Positive = doc(
        5.0, "Seconds between disk-usage samples (a recording is stopped once usage reaches block_percent)."
    )
    disk_check_timeout: Positive = doc(
        5.0, "Seconds one disk-usage sample (statvfs) may take before the disk counts as not answering."
    )
    probe_budget: Seconds = doc(
        1.0, "Seconds a listing may spend reading durations (ffprobe) of its page's uncached files."
    )
    probe_timeout: Positive = doc(10.0, "Seconds allowed for reading one file's media facts (ffprobe).")


@attrs.frozen
class SecurityConfig:
    jwt_secret: str | None = doc(None, "HS256 secret; unset: read jwt_secret_file, else generated into state_dir.")
    jwt_secret_file: str | None = doc(None, "File holding the JWT secret.")
    jwt_expiry: Positive = doc(86400.0, "Lifetime in seconds of tokens from refresh_token / `camsvc token create`.")
    auth_failure_limit: Annotated[int, Range(1, None)] = doc(30, "Failed authenticate calls per client address ...")
    auth_failure_window: Positive = doc(60.0, "... within this many seconds before -32040.")
    allowed_origins: list[str] = doc([], "WebSocket Origin allow-list; empty allows any origin.")
    permissions: dict[str, Annotated[str, OneOf(("viewer", "operator", "admin"))]] = doc(
        {}, "Per-method minimum role overrides, e.g. {take_snapshot: viewer}."
    )
    download_token_max_ttl: Annotated[int, Range(1, 86400)] = doc(86400, "Longest expires_in accepted by get_download_url.")


@attrs.frozen
class LoggingConfig:
    level: Annotated[str, OneOf(("DEBUG", "INFO", "WARNING", "ERROR"))] = doc("INFO", "Log level.")
    format: Annotated[str, OneOf(("json", "console"))] = doc("json", "One JSON object per line, or console for people.")
    file: str | None = doc(None, "Also write to this file, rotated (max_bytes × backup_count).")
    max_bytes: Annotated[int, Range(1024, None)] = doc(500 * 1024 * 1024, "Rotate the log file at this size.")
    backup_count: Annotated[int, Range(0, 100)] = doc(5, "Rotated files kept.")


@attrs.frozen
class Config:
    server: ServerConfig = attrs.field(factory=ServerConfig, metadata={"doc": "JSON-RPC WebSocket server."})
    http: HttpConfig = attrs.field(factory=HttpConfig, metadata={"doc": "HTTP: health, files, metrics."})
    mediamtx: MediamtxConfig = attrs.field(factory=MediamtxConfig, metadata={"doc": "MediaMTX control and stream URLs."})
    cameras: CamerasConfig = attrs.field(factory=CamerasConfig, metadata={"doc": "Discovery and camera sources."})
    recording: RecordingConfig = attrs.field(factory=RecordingConfig, metadata={"doc": "Recordings."})
    snapshots: SnapshotsConfig = attrs.field(factory=SnapshotsConfig, metadata={"doc": "Snapshots."})
    storage: StorageConfig = attrs.field(factory=StorageConfig, metadata={"doc": "State and disk thresholds."})
    security: SecurityConfig = attrs.field(factory=SecurityConfig, metadata={"doc": "Authentication and limits."})
    logging: LoggingConfig = attrs.field(factory=LoggingConfig, metadata={"doc": "Logging."})


# -------------------------------------------------------------- structuring


def _strict(kind: type, accept: tuple[type, ...]) -> Any:
    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {kind.__name__}, got a boolean")
        if not isinstance(value, accept):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        return kind(value)

    return hook


def _has_origin(t: Any, origin: object) -> bool:
    """Whether a type expression is ``origin[...]`` (typing's special forms compare by identity)."""
    return get_origin(t) is origin


def _make_converter() -> cattrs.Converter:
    c = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    c.register_structure_hook(str, _strict(str, (str,)))
    c.register_structure_hook(int, _strict(int, (int,)))
    c.register_structure_hook(float, _strict(float, (int, float)))
    c.register_structure_hook(bool, _strict(bool, (bool,)))

    def annotated(t: Any) -> Any:
        base, *checks = get_args(t)
        inner: Any = c.get_structure_hook(base)

        def hook(value: Any, _: Any) -> Any:
            out = inner(value, base)
            for check in checks:
                check.check(out)
            return out

        return hook

    c.register_structure_hook_factory(lambda t: _has_origin(t, Annotated), annotated)

    def section(cls: type) -> Any:
        inner: Any = make_dict_structure_fn(
            cls, c, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True
        )

        def hook(value: Any, _: Any) -> Any:
            if not isinstance(value, Mapping):
                raise TypeError(f"expected a mapping of keys, got {type(value).__name__} {value!r}")
            return inner(value, cls)

        return hook

    c.register_structure_hook_factory(attrs.has, section)

    def sequence(t: Any) -> Any:
        (item,) = get_args(t)
        inner: Any = c.get_structure_hook(item)

        def hook(value: Any, _: Any) -> Any:
            if not isinstance(value, list | tuple):
                raise TypeError(f"expected a list, got {type(value).__name__} {value!r}")
            out: list[Any] = []
            errors: list[Exception] = []
            for index, element in enumerate(value):
                try:
                    out.append(inner(element, item))
                except Exception as exc:
                    exc.__notes__ = [*getattr(exc, "__notes__", []), cattrs.IterableValidationNote(f"item {index}", index, item)]
                    errors.append(exc)
            if errors:
                raise cattrs.IterableValidationError("invalid list items", errors, t)
            return out

        return hook

    c.register_structure_hook_factory(lambda t: _has_origin(t, list), sequence)
    return c


_converter = _make_converter()


def _messages(exc: BaseException, path: str) -> list[str]:
    """Flatten cattrs' exception tree into "key.path: what is wrong" lines."""
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        where = f"{path}." if path else ""
        return [f"{where}{key}: unknown key" for key in sorted(exc.extra_fields)]
    if isinstance(exc, BaseExceptionGroup):
        out: list[str] = []
        for sub in exc.exceptions:
            note = next(
                (n for n in getattr(sub, "__notes__", []) if isinstance(n, cattrs.AttributeValidationNote | cattrs.IterableValidationNote)),
                None,
            )
            if isinstance(note, cattrs.AttributeValidationNote):
                sub_path = f"{path}.{note.name}" if path else note.name
            elif isinstance(note, cattrs.IterableValidationNote):
                sub_path = f"{path}[{note.index!r}]"
            else:
                sub_path = path
            out.extend(_messages(sub, sub_path))
        return out
    text = str(exc)
    if isinstance(exc, KeyError):
        text = "missing"
    return [f"{path or '(top level)'}: {text}"]


def _merge_env(raw: dict[str, Any], environ: Mapping[str, str], problems: list[str]) -> None:
    """Apply CAMSVC_<SECTION>__<KEY>=value overrides; values are parsed as YAML scalars."""
    for name, text in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX):].split("__")]
        try:
            value = yaml.safe_load(text) if text != "" else ""
        except yaml.YAMLError:
            value = text
        if isinstance(value, bool) and text.lower() not in ("true", "false"):
            value = text  # YAML 1.1 reads on/off/yes/no as booleans; in env vars they are words
        node = raw
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                problems.append(f"{'.'.join(keys)}: environment override {name} goes through a non-section")
                break
            node = child
        else:
            node[keys[-1]] = value


def parse(raw: Any, *, environ: Mapping[str, str] | None = None, source: str = "config") -> Config:
    """Turn a decoded YAML document (plus env overrides) into a Config, or raise ConfigError."""
    problems: list[str] = []
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(source, [f"(top level): expected a mapping of sections, got {type(raw).__name__}"])
    raw = dict(raw)
    _merge_env(raw, os.environ if environ is None else environ, problems)
    try:
        config = _converter.structure(raw, Config)
    except Exception as exc:  # cattrs raises ClassValidationError (an ExceptionGroup) or single errors
        problems.extend(_messages(exc, ""))
        raise ConfigError(source, problems) from None
    problems.extend(_cross_checks(config))
    if problems:
        raise ConfigError(source, problems)
    return config


def _cross_checks(config: Config) -> list[str]:
    problems = []
    lo, hi = config.cameras.device_range
    if not 0 <= lo <= hi <= 255:
        problems.append(f"cameras.device_range: must be [low, high] with 0 <= low <= high <= 255, got [{lo}, {hi}]")
    if config.storage.warn_percent > config.storage.block_percent:
        problems.append("storage.warn_percent: must not exceed storage.block_percent")
    if bool(config.server.tls_cert) != bool(config.server.tls_key):
        problems.append("server.tls_cert: tls_cert and tls_key must be set together")
    ids = [c.id for c in config.cameras.synthetic] + [c.id for c in config.cameras.external]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"cameras: camera id {dup!r} is configured more than once")
    return problems


#: the installed service's config file (tools/install.sh puts it there)
SYSTEM_CONFIG = "/etc/camera-service/camsvc.yaml"


def checkout_config() -> Path | None:
    """``conf/demo.yaml`` of the source checkout this package runs from (editable install), else None."""
    root = Path(__file__).resolve().parents[1]
    demo = root / "conf" / "demo.yaml"
    return demo if (root / "pyproject.toml").is_file() and demo.is_file() else None


def locate(arg: str | None = None, *, environ: Mapping[str, str] | None = None) -> str | None:
    """Which config file every command reads (and so which state dir and JWT secret it uses).

    ``--config``, else ``$CAMSVC_CONFIG``, else — running from a source checkout — the checkout's
    ``conf/demo.yaml`` (what ``tools/setup.sh run`` serves), else the system file when it
    exists, else None (defaults only). The one place this is decided, so ``camsvc run``,
    ``token``, ``keys``, ``doctor`` and ``ctl`` always agree.
    """
    env = os.environ if environ is None else environ
    if arg:
        return arg
    if env.get("CAMSVC_CONFIG"):
        return env["CAMSVC_CONFIG"]
    demo = checkout_config()
    if demo is not None:
        return str(demo)
    return SYSTEM_CONFIG if Path(SYSTEM_CONFIG).exists() else None


def with_absolute_paths(config: Config, base: Path | None = None) -> Config:
    """Data paths made absolute: relative ones are taken from ``base`` (default: the working directory)."""

    def absolute(p: str) -> str:
        path = Path(p).expanduser()
        return str(((base or Path.cwd()) / path).resolve())

    secret_file = config.security.jwt_secret_file
    return attrs.evolve(
        config,
        recording=attrs.evolve(config.recording, dir=absolute(config.recording.dir)),
        snapshots=attrs.evolve(config.snapshots, dir=absolute(config.snapshots.dir)),
        storage=attrs.evolve(config.storage, state_dir=absolute(config.storage.state_dir)),
        security=attrs.evolve(config.security, jwt_secret_file=absolute(secret_file) if secret_file else None),
    )


def load(path: str | os.PathLike[str] | None, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read a YAML config file (None: defaults only) and apply environment overrides.

    Relative data paths in a file (recording.dir, snapshots.dir, storage.state_dir,
    security.jwt_secret_file) are relative to the file's directory, so a config means the
    same directories whatever directory a command runs in.
    """
    if path is None:
        return parse({}, environ=environ, source="defaults")
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, ["file not found"]) from None
    except PermissionError:
        raise ConfigError(source, ["permission denied reading the file"]) from None
    except IsADirectoryError:
        raise ConfigError(source, ["is a directory, not a file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [f"cannot read: {exc}"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [f"YAML syntax error at {where}{problem}"]) from None
    return with_absolute_paths(parse(raw, environ=environ, source=source), Path(path).resolve().parent)


def unstructure(config: Config) -> dict[str, Any]:
    """The config as plain data (for /supervisor-style dumps and templates)."""
    data: dict[str, Any] = _converter.unstructure(config)
    return data


# ---------------------------------------------------------- documentation


def _doc_rows(cls: type, prefix: str = "") -> Iterable[tuple[str, Any, str]]:
    attrs.resolve_types(cls, globals())
    for field in attrs.fields(cls):
        key = f"{prefix}{field.name}"
        text = field.metadata.get("doc", "")
        ftype = field.type
        if isinstance(ftype, type) and attrs.has(ftype):
            yield key, None, text
            yield from _doc_rows(ftype, key + ".")
            continue
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        yield key, _converter.unstructure(default), text


def _yaml_scalar(value: Any) -> str:
    dumped = str(yaml.safe_dump(value, default_flow_style=True, sort_keys=False)).strip()
    return dumped.removesuffix("\n...").removesuffix("...").strip()


def render_template() -> str:
    """The documented default config file (conf/camsvc.yaml is this, committed)."""
    lines = [
        "# camsvc configuration. Every key is shown with its default; delete what you do not change.",
        "# Environment overrides: CAMSVC_<SECTION>__<KEY>=value (e.g. CAMSVC_SERVER__PORT=9002).",
        "# Generated by `camsvc config-template` from camsvc/config.py; edit that, not this file.",
        "",
    ]
    for key, default, text in _doc_rows(Config):
        depth = key.count(".")
        indent = "  " * depth
        name = key.rsplit(".", 1)[-1]
        lines.append(f"{indent}# {text}")
        if default is None and "." not in key:
            lines.append(f"{indent}{name}:")
        else:
            lines.append(f"{indent}{name}: {_yaml_scalar(default)}")
    return "\n".join(lines) + "\n"


def render_markdown() -> str:
    """docs/configuration.md's key table."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for key, default, text in _doc_rows(Config):
        if "." not in key:
            rows.append(f"| **{key}** | | {text} |")
        else:
            rows.append(f"| `{key}` | `{_yaml_scalar(default)}` | {text} |")
    return "\n".join(rows) + "\n"
