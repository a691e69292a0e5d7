"""The camera directory (``services.cameras``): camera actors by id, start/stop of actors, external streams.

Every camera actor is started and stopped here, as a dynamic child ``cameras/<id>`` of the cameras
supervisor; the discovery actor and the ``add/remove_external_stream`` methods both come through this one
door, under one lock, so an id can never be given twice.

Id rules (docs/cameras.md):

- ``/dev/videoN`` is always ``cameraN``; ``/dev/videoN`` is accepted wherever an id is (``registry.resolve``).
- Synthetic and network cameras (config, ``add_external_stream``) have ids ``[a-z0-9_]{1,32}``. A
  ``camera<N>`` id is allowed (``--demo`` makes a synthetic ``camera0``): whoever holds an id keeps it.
  A configured or stored camera holding ``cameraN`` wins over ``/dev/videoN``: the device is not
  registered and is reported as a *conflict* (log warning, ``/health/cameras`` details) until the holder
  goes away, when the device is registered after all.
- ``discovery`` is reserved (it is the discovery actor's name in the supervision tree).

Removal: every ``on_removed(callback)`` runs with the camera's last value while its actor still runs (so
media can end a recording with FAILED/camera_disconnected), then the actor is stopped and the camera leaves
the registry (its last ``camera_status_update`` says DISCONNECTED).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable

import attrs
import trio

from supervisor import Backoff, ChildSpec, Restart, Supervisor, describe_error

from ..config import CamerasConfig, NetworkCamera
from ..errors import InvalidParams, InvalidState, NotFound
from .actor import CameraActor, ReadersFn
from .external import ExternalScanner, ExternalStream, ExternalStreamStore, valid_url
from .model import USB_ID, Camera, SourceKind
from .registry import CameraRegistry
from .sources import network_camera

log = logging.getLogger("camsvc.cameras.directory")

RemovedCallback = Callable[[Camera], Awaitable[None]]

#: ids that would clash with static children of the cameras supervisor
RESERVED_IDS = frozenset({"discovery"})

#: seconds one on_removed callback may take before the removal goes on without it
REMOVAL_CALLBACK_TIMEOUT = 10.0

#: restarts of one camera actor: quick first retry, then slower so a broken device does not spin
ACTOR_BACKOFF = Backoff(initial=0.2, factor=2.0, max=30.0)


class IdInUse(Exception):
    def __init__(self, camera_id: str, holder: Camera | None) -> None:
        kind = holder.source.kind.value if holder is not None else "reserved"
        super().__init__(f"camera id {camera_id!r} is already used ({kind})")
        self.camera_id = camera_id
        self.holder = holder


def sort_key(camera_id: str) -> tuple[int, int, str]:
    """camera0, camera1, camera2, camera10 first (numerically), then other ids alphabetically."""
    m = USB_ID.fullmatch(camera_id)
    return (0, int(m.group(1)), "") if m else (1, 0, camera_id)


@attrs.define(eq=False)
class CameraDirectory:
    registry: CameraRegistry
    config: CamerasConfig
    streams: ExternalStreamStore | None = None
    #: reader counts for stream-lease idle close (MediaMTX); None: leases never idle out
    readers: ReadersFn | None = None
    #: the cameras sub-supervisor; set by the builder (it is created after the directory)
    supervisor: Supervisor | None = None
    #: discover_external_streams / set_discovery_interval
    scanner: ExternalScanner | None = None
    _actors: dict[str, CameraActor] = attrs.field(factory=dict, init=False)
    _callbacks: list[RemovedCallback] = attrs.field(factory=list, init=False)
    _lock: trio.Lock = attrs.field(factory=trio.Lock, init=False)
    _external: dict[str, ExternalStream] = attrs.field(factory=dict, init=False)
    _on_released: list[Callable[[str], None]] = attrs.field(factory=list, init=False)

    # --------------------------------------------------------------------------------------------- lookup

    def actor(self, camera_id_or_alias: str) -> CameraActor:
        """The actor of a camera by id or ``/dev/videoN`` alias; ``NotFound("camera", id)`` otherwise."""
        camera_id = self.registry.resolve(camera_id_or_alias)
        actor = self._actors.get(camera_id)
        if actor is None:
            raise NotFound("camera", camera_id_or_alias)
        return actor

    def has(self, camera_id: str) -> bool:
        return camera_id in self._actors

    def get(self, camera_id_or_alias: str) -> Camera:
        camera = self.registry.get(camera_id_or_alias)
        if camera is None:
            raise NotFound("camera", camera_id_or_alias)
        return camera

    def ids(self) -> list[str]:
        return sorted(self._actors, key=sort_key)

    def cameras(self) -> list[Camera]:
        """Published cameras in display order (camera0, camera1, …, then named ones)."""
        snapshot = self.registry.snapshot()
        return [snapshot[i] for i in sorted(snapshot, key=sort_key)]

    def on_removed(self, callback: RemovedCallback) -> None:
        """Call ``await callback(camera)`` before any camera is removed (its actor still runs).

        Callbacks run one after another under the directory's lock, each bounded by
        ``REMOVAL_CALLBACK_TIMEOUT`` seconds; they must not start or stop cameras themselves."""
        self._callbacks.append(callback)

    def on_id_released(self, callback: Callable[[str], None]) -> None:
        """``callback(camera_id)`` after a camera is removed (discovery retries conflicting devices)."""
        self._on_released.append(callback)

    # ------------------------------------------------------------------------------------- actor lifecycle

    def _holder(self, camera_id: str) -> Camera | None:
        return self.registry.get(camera_id)

    def _check_free(self, camera_id: str) -> None:
        if camera_id in RESERVED_IDS:
            raise IdInUse(camera_id, None)
        if camera_id in self._actors:
            raise IdInUse(camera_id, self._holder(camera_id))

    async def start_camera(self, camera: Camera) -> CameraActor:
        """Publish ``camera`` and start its actor; :class:`IdInUse` when the id is taken."""
        async with self._lock:
            return await self._start_locked(camera)

    async def _start_locked(self, camera: Camera) -> CameraActor:
        self._check_free(camera.id)
        sup = self._require_supervisor()
        actor = CameraActor(
            camera=camera,
            registry=self.registry,
            readers=self.readers,
            idle_close=self.config.stream_idle_close,
        )
        # A stale value (from a previous run of the cameras supervisor) must not leak desired state in.
        stale = self.registry.get(camera.id)
        if stale is not None and stale.source != camera.source:
            self.registry.remove(camera.id)
        self._actors[camera.id] = actor
        try:
            await sup.start_child(
                ChildSpec(
                    camera.id,
                    actor.run,
                    restart=Restart.PERMANENT,
                    backoff=ACTOR_BACKOFF,
                    shutdown_timeout=5.0,
                )
            )
        except Exception:
            self._actors.pop(camera.id, None)
            self.registry.remove(camera.id)
            raise
        log.info(
            "camera started",
            extra={"camera": camera.id, "kind": camera.source.kind.value, "status": camera.status.value},
        )
        return actor

    async def stop_camera(self, camera_id: str) -> Camera | None:
        """Run the removal callbacks, stop the actor, remove the camera; None when it was not there."""
        async with self._lock:
            camera = await self._stop_locked(camera_id)
        if camera is not None:
            for released in list(self._on_released):
                released(camera_id)
        return camera

    async def _stop_locked(self, camera_id: str) -> Camera | None:
        actor = self._actors.get(camera_id)
        camera = self.registry.get(camera_id)
        if actor is None and camera is None:
            return None
        if camera is not None:
            for callback in list(self._callbacks):
                # Bounded: a stuck cleanup must not hold every other camera's start/stop (one lock).
                with trio.move_on_after(REMOVAL_CALLBACK_TIMEOUT) as bound:
                    try:
                        await callback(camera)
                    except Exception as exc:  # one room's cleanup failing must not keep a dead camera around
                        log.error(
                            "camera removal callback failed",
                            extra={"camera": camera_id, "error": describe_error(exc)},
                        )
                if bound.cancelled_caught:
                    log.error(
                        "camera removal callback timed out",
                        extra={"camera": camera_id, "timeout": REMOVAL_CALLBACK_TIMEOUT},
                    )
            camera = self.registry.get(camera_id) or camera  # callbacks may have published (recording ended)
        sup = self.supervisor
        if actor is not None and sup is not None and sup.has_child(camera_id):
            await sup.stop_child(camera_id)
        self._actors.pop(camera_id, None)
        self.registry.remove(camera_id)
        log.info("camera removed", extra={"camera": camera_id})
        return camera

    def forget_actors(self) -> None:
        """Drop actors whose supervisor run ended (the cameras supervisor restarted); discovery rebuilds."""
        sup = self.supervisor
        for camera_id in list(self._actors):
            if sup is None or not sup.has_child(camera_id):
                del self._actors[camera_id]

    def _require_supervisor(self) -> Supervisor:
        if self.supervisor is None:
            raise RuntimeError("camera directory has no supervisor (build_cameras wires one)")
        return self.supervisor

    # ------------------------------------------------------------------------------------ external streams

    def external_streams(self) -> list[ExternalStream]:
        return sorted(self._external.values(), key=lambda s: sort_key(s.name))

    def external_stream(self, *, name: str | None = None, url: str | None = None) -> ExternalStream | None:
        if name is not None:
            stream = self._external.get(name)
            return stream if stream is not None and (url is None or stream.url == url) else None
        return next((s for s in self._external.values() if s.url == url), None)

    async def load_external(self) -> list[ExternalStream]:
        """Config streams, then stored ones (a stored name that the config now uses is skipped, logged)."""
        now = time.time()
        streams = {s.id: ExternalStream(s.id, s.url, "generic", "config", now) for s in self.config.external}
        stored = await self.streams.load() if self.streams is not None else []
        for stream in stored:
            if stream.name in streams:
                log.warning(
                    "stored external stream shadowed by the config file", extra={"camera": stream.name}
                )
                continue
            streams[stream.name] = stream
        self._external = streams
        return list(streams.values())

    def _network_spec(self, stream: ExternalStream) -> NetworkCamera:
        configured = next((c for c in self.config.external if c.id == stream.name), None)
        return NetworkCamera(
            id=stream.name, url=stream.url, name=configured.name if configured else stream.name
        )

    async def start_external(self, stream: ExternalStream) -> CameraActor:
        return await self.start_camera(network_camera(self._network_spec(stream)))

    async def add_external_stream(self, name: str, url: str, stream_type: str) -> ExternalStream:
        """Persist a new network camera and start it. Bad or taken names and bad URLs are InvalidParams."""
        if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
            raise InvalidParams("stream_name", "invalid_format", "stream_name must match [a-z0-9_]{1,32}")
        if not valid_url(url):
            raise InvalidParams(
                "stream_url",
                "invalid_url",
                "stream_url must be an rtsp/rtsps/rtmp/http/https/srt URL with a host",
            )
        stream = ExternalStream(name, url, stream_type, "api", time.time())
        async with self._lock:
            if name in RESERVED_IDS or name in self._actors or name in self._external:
                raise InvalidParams("stream_name", "name_in_use", f"camera id {name!r} is already in use")
            if self.streams is not None and not await self.streams.insert(stream):
                raise InvalidParams("stream_name", "name_in_use", f"camera id {name!r} is already in use")
            try:
                await self._start_locked(network_camera(self._network_spec(stream)))
            except Exception:
                if self.streams is not None:
                    await self.streams.delete(name)
                raise
            self._external[name] = stream
        log.info("external stream added", extra={"camera": name})
        return stream

    async def remove_external_stream(
        self, *, name: str | None = None, url: str | None = None
    ) -> ExternalStream:
        """Stop and forget an API-added stream; config streams cannot be removed at run time."""
        if name is None and url is None:
            raise InvalidParams("stream_name", "missing", "give stream_name or stream_url")
        async with self._lock:
            stream = self.external_stream(name=name, url=url)
            if stream is None:
                raise NotFound("stream", name or url or "")
            if stream.origin == "config":
                raise InvalidState(
                    "stream_configured",
                    f"stream {stream.name!r} is defined in the config file; remove it there",
                )
            await self._stop_locked(stream.name)
            if self.streams is not None:
                await self.streams.delete(stream.name)
            self._external.pop(stream.name, None)
        for released in list(self._on_released):
            released(stream.name)
        log.info("external stream removed", extra={"camera": stream.name})
        return stream

    # --------------------------------------------------------------------------------------------- summary

    def counts(self) -> dict[str, int]:
        """Cameras by status (CONNECTED/DISCONNECTED/ERROR) and by kind."""
        out = {"total": 0, "CONNECTED": 0, "DISCONNECTED": 0, "ERROR": 0}
        for kind in SourceKind:
            out[kind.value] = 0
        for camera in self.registry.snapshot().values():
            out["total"] += 1
            out[camera.status.value] += 1
            out[camera.source.kind.value] += 1
        return out
