"""Small stand-ins for the rooms media talks to (cameras, MediaMTX, auth), with the interfaces' shapes.

``FakeMediamtx`` also plays MediaMTX's recorder: on ``sync()`` it writes a real (tiny) segment for
every camera whose desired state says recording, named as MediaMTX names them.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import trio

from camsvc.cameras.model import Camera, CameraStatus, RecordingState, Resolution, Source, SourceKind
from camsvc.cameras.registry import CameraRegistry
from camsvc.config import Config, HttpConfig, RecordingConfig, SnapshotsConfig, StorageConfig
from camsvc.errors import AuthFailed, DependencyFailed, InvalidState, NotFound
from camsvc.events import Event, EventBus
from camsvc.health import Health
from camsvc.media.ffmpeg import FfmpegRunner
from camsvc.media.service import MediaService
from camsvc.media.wiring import build_media
from camsvc.rpc.stats import RpcStats
from camsvc.security.identity import Identity
from camsvc.security.roles import Role
from camsvc.services import Services
from camsvc.storage.disk import DiskUsage, disk_usage
from camsvc.storage.state import StateStore

HAVE_FFMPEG = shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def synthetic_camera(
    camera_id: str = "camera0", width: int = 320, height: int = 240, fps: int = 10
) -> Camera:
    return Camera(
        id=camera_id,
        name="test pattern",
        source=Source(
            SourceKind.SYNTHETIC,
            ffmpeg_input=("-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}"),
        ),
        resolution=Resolution(width, height),
        fps=fps,
    )


def network_camera(camera_id: str = "net0") -> Camera:
    return Camera(
        id=camera_id, name="network", source=Source(SourceKind.NETWORK, url="rtsp://192.0.2.1/stream")
    )


def make_sample(path: Path, seconds: float = 1.0, fmt: str = "mp4") -> Path:
    """A real little video file (fragmented MP4 like MediaMTX's, or MPEG-TS)."""
    args = [
        "ffmpeg",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=10",
    ]
    args += ["-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "10"]
    if fmt == "mp4":
        args += ["-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4"]
    else:
        args += ["-f", "mpegts"]
    subprocess.run([*args, str(path)], check=True, timeout=30)
    return path


def segment_name(camera_id: str, when: float, ext: str = "mp4") -> str:
    local = dt.datetime.fromtimestamp(when)
    return f"{camera_id}_{local:%Y-%m-%d_%H-%M-%S}-{local.microsecond:06d}.{ext}"


@attrs.define(eq=False)
class FakeActor:
    camera_id: str
    registry: CameraRegistry
    calls: int = 0
    busy: trio.Lock = attrs.Factory(trio.Lock)

    async def call(self, op: Callable[[Camera], Awaitable[Any]], *, exclusive: bool = True) -> Any:
        camera = self.registry.get(self.camera_id)
        if camera is None or camera.status is not CameraStatus.CONNECTED:
            raise InvalidState("camera_disconnected")
        self.calls += 1
        async with self.busy:
            return await op(camera)

    def set_recording(self, state: RecordingState | None) -> None:
        camera = self.registry.get(self.camera_id)
        if camera is None:
            if state is not None:
                raise InvalidState("camera_disconnected")
            return
        self.registry.put(attrs.evolve(camera, recording=state))

    def set_keep_streaming(self, keep: bool) -> None:
        camera = self.registry.get(self.camera_id)
        if camera is not None:
            self.registry.put(attrs.evolve(camera, keep_streaming=keep))


@attrs.define(eq=False)
class FakeDirectory:
    registry: CameraRegistry
    actors: dict[str, FakeActor] = attrs.Factory(dict)
    callbacks: list[Callable[[Camera], Awaitable[None]]] = attrs.Factory(list)
    released: list[Callable[[str], None]] = attrs.Factory(list)

    def add(self, camera: Camera) -> FakeActor:
        self.registry.put(camera)
        actor = self.actors[camera.id] = FakeActor(camera.id, self.registry)
        return actor

    def actor(self, camera_id_or_alias: str) -> FakeActor:
        camera_id = self.registry.resolve(camera_id_or_alias)
        if camera_id not in self.actors:
            raise NotFound("camera", camera_id_or_alias)
        return self.actors[camera_id]

    def on_removed(self, callback: Callable[[Camera], Awaitable[None]]) -> None:
        self.callbacks.append(callback)

    def on_id_released(self, callback: Callable[[str], None]) -> None:
        self.released.append(callback)

    async def remove(self, camera_id: str) -> None:
        camera = self.registry.get(camera_id)
        if camera is not None:
            for cb in list(self.callbacks):
                await cb(camera)
        self.actors.pop(camera_id, None)
        self.registry.remove(camera_id)
        for released in list(self.released):
            released(camera_id)


@attrs.frozen
class FakeRuntime:
    name: str
    ready: bool
    readers: int = 0
    ready_time: str | None = None


@attrs.define(eq=False)
class FakeMediamtx:
    """MediaMTX as media sees it; ``recordings_dir`` set → it 'records' on sync like the real recorder."""

    registry: CameraRegistry
    recordings_dir: Path | None = None
    sample: Path | None = None
    ready: dict[str, bool] = attrs.Factory(dict)
    #: what status() reports: reachable, and /v3/info ``started`` (a change means it restarted)
    reachable: bool = True
    server_started: str | None = "2026-01-01T00:00:00Z"
    #: RFC 3339 readyTime per path (as MediaMTX reports it)
    ready_times: dict[str, str] = attrs.Factory(dict)
    circuit_open: bool = False
    fail_sync: str | None = None
    syncs: int = 0
    #: camera id → file being "written" now
    writing: dict[str, Path] = attrs.Factory(dict)
    #: seconds between record:true and the first frame (the stream coming up)
    lag: float = 0.0
    #: when set, sync() waits for it (and sets ``entered`` first): a slow MediaMTX
    gate: trio.Event | None = None
    entered: trio.Event = attrs.Factory(trio.Event)
    #: called once after the next sync that answers (e.g. MediaMTX killed right after it answered)
    after_sync: Callable[[], None] | None = None

    def status(self) -> FakeMediamtx:
        return self  # has the two fields media reads: reachable, server_started

    def ensure_available(self) -> None:
        if self.circuit_open:
            raise DependencyFailed("mediamtx", "circuit open", reason="mediamtx_unavailable")

    async def runtime(self, name: str) -> FakeRuntime | None:
        self.ensure_available()
        await trio.lowlevel.checkpoint()
        return FakeRuntime(name, self.ready.get(name, False), ready_time=self.ready_times.get(name))

    async def sync(self, timeout: float, *, name: str | None = None) -> None:  # noqa: ASYNC109
        await trio.lowlevel.checkpoint()
        if self.gate is not None:
            self.entered.set()
            await self.gate.wait()
        self.syncs += 1
        if self.fail_sync:
            raise DependencyFailed("mediamtx", self.fail_sync)
        self.ensure_available()
        after, self.after_sync = self.after_sync, None
        if after is not None:
            after()
        if self.recordings_dir is None:
            return
        for camera in self.registry.snapshot().values():
            if camera.recording is not None and camera.id not in self.writing:
                self.start_segment(camera.id, camera.recording.format, when=time.time() + self.lag)
            elif camera.recording is None:
                self.writing.pop(camera.id, None)

    def start_segment(self, camera_id: str, record_format: str = "fmp4", when: float | None = None) -> Path:
        """Begin a new segment file (MediaMTX rotating, or starting to record)."""
        assert self.recordings_dir is not None
        ext = "ts" if record_format == "mpegts" else "mp4"
        path = self.recordings_dir / segment_name(camera_id, when if when is not None else time.time(), ext)
        if self.sample is not None:
            shutil.copyfile(self.sample, path)
        else:
            path.write_bytes(b"\x00" * 1024)
        self.writing[camera_id] = path
        return path


@attrs.define(eq=False)
class FakeAuth:
    """Bearer credentials → roles, and download tokens bound to one file."""

    credentials: dict[str, Role] = attrs.Factory(
        lambda: {"viewer-token": Role.VIEWER, "admin-key": Role.ADMIN}
    )
    tokens: dict[str, tuple[str, str, float]] = attrs.Factory(dict)

    def sign_download(self, file_type: str, filename: str, expires_in: float) -> tuple[str, float]:
        token = f"dl{len(self.tokens)}x{os.urandom(4).hex()}"
        expires = time.time() + expires_in
        self.tokens[token] = (file_type, filename, expires)
        return token, expires

    def verify_download(self, token: str, file_type: str, filename: str) -> bool:
        entry = self.tokens.get(token)
        return entry is not None and entry[0] == file_type and entry[1] == filename and entry[2] > time.time()

    async def authenticate_credential(self, token_or_key: str, address: str | None = None) -> Identity:
        await trio.lowlevel.checkpoint()
        role = self.credentials.get(token_or_key)
        if role is None:
            raise AuthFailed("invalid_token")
        return Identity(user_id="u", role=role, method="jwt", session_id="s")


def media_config(tmp_path: Path, **storage: Any) -> Config:
    return Config(
        http=HttpConfig(host="127.0.0.1", port=0),
        recording=RecordingConfig(dir=str(tmp_path / "recordings"), first_segment_wait=1.0, resume_grace=2.0),
        snapshots=SnapshotsConfig(dir=str(tmp_path / "snapshots")),
        storage=StorageConfig(state_dir=str(tmp_path / "state"), **storage),
    )


@attrs.define(eq=False)
class Rig:
    """The media room's neighbours as fakes, plus a log of published events; :meth:`build_media` wires it."""

    config: Config
    registry: CameraRegistry
    bus: EventBus
    store: StateStore
    health: Health
    directory: FakeDirectory
    mediamtx: FakeMediamtx
    auth: FakeAuth
    events: list[Event]
    media: MediaService | None = None

    def build_media(
        self,
        *,
        http_port: Callable[[], int | None],
        runner: FfmpegRunner | None = None,
        disk_usage: Callable[[str], DiskUsage] = disk_usage,
    ) -> MediaService:
        self.media = build_media(
            self.config,
            registry=self.registry,
            store=self.store,
            bus=self.bus,
            health=self.health,
            cameras=self.directory,
            mediamtx=self.mediamtx,
            auth=self.auth,
            http_port=http_port,
            runner=runner,
            disk_usage=disk_usage,
        )
        return self.media

    @property
    def services(self) -> Services:
        """What handlers and routes see (after :meth:`build_media`)."""
        assert self.media is not None, "call rig.build_media first"
        return Services(
            config=self.config,
            bus=self.bus,
            registry=self.registry,
            health=self.health,
            store=self.store,
            cameras=self.directory,  # type: ignore[arg-type]
            mediamtx=self.mediamtx,  # type: ignore[arg-type]
            media=self.media,
            auth=self.auth,  # type: ignore[arg-type]
            rpc_stats=RpcStats(),
        )

    def topics(self, topic: str) -> list[dict[str, Any]]:
        return [e.params for e in self.events if e.topic == topic]


def make_rig(tmp_path: Path, *, config: Config | None = None, sample: Path | None = None) -> Rig:
    config = config or media_config(tmp_path)
    store = StateStore(Path(config.storage.state_dir) / "camsvc.db")
    store.open()
    registry = CameraRegistry()
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    health = Health(lambda: None, version="test")  # type: ignore[arg-type,return-value]
    directory = FakeDirectory(registry)
    Path(config.recording.dir).mkdir(parents=True, exist_ok=True)
    mediamtx = FakeMediamtx(registry, Path(config.recording.dir), sample)
    return Rig(config, registry, bus, store, health, directory, mediamtx, FakeAuth(), events)
