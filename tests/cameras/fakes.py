"""Test doubles for the cameras room: probed capabilities, a scriptable prober, and a running room."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing

from camsvc.cameras import v4l2
from camsvc.cameras.device_source import DeviceSource, FakeSource
from camsvc.cameras.registry import CameraRegistry
from camsvc.cameras.wiring import CamerasRoom, build_cameras
from camsvc.config import Config, parse
from camsvc.events import Event, EventBus
from camsvc.health import Health
from camsvc.storage.state import StateStore

V4L2_CAP_VIDEO_CAPTURE = 0x1
V4L2_CAP_META_CAPTURE = 0x00800000

#: a typical USB webcam: MJPEG up to 1080p at 30, raw YUYV slow at large sizes
WEBCAM_FORMATS: Mapping[str, Mapping[tuple[int, int], tuple[float, ...]]] = {
    "MJPG": {(1920, 1080): (30.0, 15.0), (1280, 720): (30.0, 15.0), (640, 480): (30.0, 15.0)},
    "YUYV": {(1280, 720): (10.0, 5.0), (640, 480): (30.0, 15.0)},
}


def probed(
    formats: Mapping[str, Mapping[tuple[int, int], tuple[float, ...]]] = WEBCAM_FORMATS,
    *,
    card: str = "Fake Webcam",
    capture: bool = True,
) -> v4l2.Capabilities:
    """A probe result as v4l2.probe returns it."""
    caps = V4L2_CAP_VIDEO_CAPTURE if capture else V4L2_CAP_META_CAPTURE
    device = v4l2.DeviceCaps("uvcvideo", card, "usb-0000:00:14.0-1", 0x60100, caps, caps, capture)
    infos = tuple(
        v4l2.FormatInfo(
            fourcc,
            fourcc,
            fourcc in ("MJPG", "H264"),
            tuple(v4l2.FrameSize(w, h, rates) for (w, h), rates in sizes.items()),
        )
        for fourcc, sizes in (formats.items() if capture else ())
    )
    return v4l2.Capabilities(device, infos)


METADATA_NODE = probed(capture=False, card="Fake Webcam (metadata)")


@attrs.define
class FakeProber:
    """``prober(path, timeout)``: answers from ``results`` (Capabilities or an exception to raise).

    Unknown paths are capture nodes with the default webcam formats. ``gates[path]`` (a trio.Event) holds
    the probe of that path until set, so tests can remove a device mid-probe.
    """

    results: dict[str, v4l2.Capabilities | Exception] = attrs.Factory(dict)
    gates: dict[str, trio.Event] = attrs.Factory(dict)
    calls: list[str] = attrs.Factory(list)
    in_progress: set[str] = attrs.Factory(set)

    async def __call__(self, path: str, timeout: float) -> v4l2.Capabilities:  # noqa: ASYNC109
        self.calls.append(path)
        self.in_progress.add(path)
        try:
            gate = self.gates.get(path)
            if gate is not None:
                await gate.wait()
            await trio.lowlevel.checkpoint()
            result = self.results.get(path, probed())
            if isinstance(result, Exception):
                raise result
            return result
        finally:
            self.in_progress.discard(path)


def make_config(tmp_path: Path, **cameras: Any) -> Config:
    raw = {
        "storage": {"state_dir": str(tmp_path / "state")},
        "recording": {"dir": str(tmp_path / "recordings")},
        "snapshots": {"dir": str(tmp_path / "snapshots")},
        "cameras": {"debounce": 0, **cameras},
    }
    return parse(raw, environ={})


@attrs.frozen(eq=False)
class Shared:
    """What the room was built with (the parts of camsvc.services.Services it uses)."""

    config: Config
    registry: CameraRegistry
    bus: EventBus
    health: Health
    store: StateStore


@attrs.define(eq=False)
class Room:
    room: CamerasRoom
    services: Shared
    events: list[Event]
    source: DeviceSource | None
    nursery: trio.Nursery | None = None
    scope: trio.CancelScope | None = None
    stopped: trio.Event = attrs.Factory(trio.Event)

    async def _run_supervisor(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.stopped = trio.Event()
        try:
            with trio.CancelScope() as self.scope:
                await self.room.supervisor.run(task_status=task_status)
        finally:
            self.stopped.set()

    async def restart_supervisor(self) -> None:
        """What the root does when the cameras supervisor fails: stop it (all children) and run it again."""
        assert self.nursery is not None and self.scope is not None
        self.scope.cancel()
        await self.stopped.wait()
        await self.nursery.start(self._run_supervisor)

    @property
    def directory(self):  # type: ignore[no-untyped-def]
        return self.room.directory

    @property
    def registry(self) -> CameraRegistry:
        return self.services.registry

    def topics(self, topic: str = "camera_status_update") -> list[dict[str, Any]]:
        return [e.params for e in self.events if e.topic == topic]

    def child(self, name: str):  # type: ignore[no-untyped-def]
        return next((c for c in self.room.supervisor.snapshot().children if c.name == name), None)


async def settle() -> None:
    """Let every task run until all are blocked (no threads are involved with the fakes)."""
    await trio.testing.wait_all_tasks_blocked()


async def eventually(predicate: Callable[[], Any], *, within: float = 5.0, what: str = "condition") -> Any:
    """Poll ``predicate`` with a deadline (for conditions that involve worker threads or restarts).
    ``predicate`` may return an awaitable (a query to MediaMTX, say): its result is what counts."""
    with trio.move_on_after(within):
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            await trio.sleep(0.005)
    raise AssertionError(f"timed out after {within} s waiting for {what}")


@contextlib.asynccontextmanager
async def running_room(
    tmp_path: Path,
    *,
    config: Config | None = None,
    source: DeviceSource | None = None,
    use_config_source: bool = False,
    prober: Any = None,
    readers: Any = None,
    candidate_prober: Any = None,
    store_path: Path | None = None,
) -> AsyncIterator[Room]:
    """A cameras room (sub-supervisor, discovery, directory) running on its own, with an event log."""
    config = config or make_config(tmp_path)
    if source is None and not use_config_source:
        source = FakeSource()
    store = StateStore(store_path or tmp_path / "state" / "camsvc.db")
    store.open()
    holder: dict[str, CamerasRoom] = {}
    health = Health(lambda: holder["room"].supervisor.snapshot(), version="test")
    bus, registry = EventBus(), CameraRegistry()
    events: list[Event] = []
    bus.subscribe(events.append)
    room = build_cameras(
        config,
        registry=registry,
        store=store,
        bus=bus,
        health=health,
        mediamtx=None,
        source=source,
        prober=prober or FakeProber(),
        readers=readers,
        candidate_prober=candidate_prober,
    )
    holder["room"] = room
    try:
        async with trio.open_nursery() as nursery:
            handle = Room(room, Shared(config, registry, bus, health, store), events, source, nursery)
            await nursery.start(handle._run_supervisor)
            yield handle
            nursery.cancel_scope.cancel()
    finally:
        store.close()
