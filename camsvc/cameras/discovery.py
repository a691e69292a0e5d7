"""The discovery actor (``cameras/discovery``): turns device events into camera actors.

At start it (re)starts the configured cameras (``cameras.synthetic``, ``cameras.external`` and the external
streams stored by ``add_external_stream``), then consumes a :class:`DeviceSource` chosen by
``cameras.discovery`` (udev | poll | hybrid | disabled), debounced by ``cameras.debounce``:

- ``add /dev/videoN``: probe the node off the event loop (``cameras.probe_timeout``); nodes that are not
  video *capture* nodes (the UVC metadata node) are ignored; a capture node becomes camera ``cameraN``
  (CONNECTED, or ERROR when none of its formats is usable) with its own actor, unless a configured camera
  holds that id: then it is reported as a conflict (see :mod:`camsvc.cameras.directory`).
- ``remove``: the directory runs the on_removed callbacks, stops the actor and removes the camera.

Each path has a small worker that drives it toward the last event's state, so an add and a remove of one
node never interleave (a remove cancels a probe in progress) while different nodes are probed in parallel.

Restarts are level-triggered: after a crash the actor compares what the source reports present with the
actors that still run and stops those whose device vanished meanwhile.

The source and the prober are constructor arguments so tests drive discovery with a ``FakeSource`` and a
fake prober.
"""

from __future__ import annotations

import errno
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import attrs
import trio

from supervisor import describe_error

from ..config import CamerasConfig
from ..health import DEGRADED, HEALTHY, UNHEALTHY, ComponentHealth
from . import v4l2
from .device_source import (
    Debouncer,
    DeviceEvent,
    DeviceSource,
    HybridSource,
    PollSource,
    UdevSource,
)
from .directory import CameraDirectory, IdInUse
from .external import SCAN_INTERVAL_KEY, ExternalScanner
from .model import CameraStatus, SourceKind, usb_id
from .sources import synthetic_camera, v4l2_camera

log = logging.getLogger("camsvc.cameras.discovery")

#: ``prober(path, timeout) -> v4l2.Capabilities``; raises v4l2.ProbeError
Prober = Callable[[str, float], Awaitable[v4l2.Capabilities]]

#: waits before the 2nd and 3rd probe of a node that failed for a reason that may pass (busy, I/O error)
PROBE_RETRY_DELAYS = (0.25, 0.5)
_PERMANENT_PROBE_ERRORS = {
    errno.EACCES,
    errno.EPERM,
    errno.ENOTTY,
    errno.EINVAL,
    errno.ENOENT,
    errno.ENODEV,
    errno.ENXIO,
}


async def probe_v4l2(path: str, timeout: float) -> v4l2.Capabilities:  # noqa: ASYNC109
    return await v4l2.probe(path, timeout=timeout)


def source_for(cfg: CamerasConfig) -> DeviceSource | None:
    """The device source ``cameras.discovery`` asks for (None when disabled), debounced."""
    if cfg.discovery == "disabled":
        return None
    device_range = (cfg.device_range[0], cfg.device_range[1])
    poll = PollSource(device_range=device_range, interval=cfg.poll_interval)
    udev = UdevSource(device_range=device_range)
    inner: DeviceSource
    if cfg.discovery == "udev":
        inner = udev
    elif cfg.discovery == "poll":
        inner = poll
    else:
        inner = HybridSource(udev, poll)
    return Debouncer(inner, window=cfg.debounce) if cfg.debounce > 0 else inner


def _udev_active(source: Any) -> bool | None:
    """Whether udev feeds ``source`` (through Debouncer/Hybrid wrappers); None when it has no udev part."""
    while source is not None:
        if isinstance(source, UdevSource):
            return True
        if isinstance(source, HybridSource):
            return source.udev_active
        source = getattr(source, "inner", None)
    return None


class DeviceSourceEnded(Exception):
    """The device source stopped sending events; discovery fails so that the supervisor restarts it."""


@attrs.define(eq=False)
class _PathWork:
    want: bool = False
    busy: bool = False
    attach_scope: trio.CancelScope | None = None
    idle: trio.Event = attrs.Factory(trio.Event)


@attrs.define(eq=False)
class DiscoveryActor:
    config: CamerasConfig
    directory: CameraDirectory
    #: injected source (tests, benchmarks); None: built from ``config.discovery`` on every run
    source: DeviceSource | None = None
    prober: Prober = probe_v4l2
    scanner: ExternalScanner | None = None
    #: True while a device source is being consumed
    active: bool = attrs.field(default=False, init=False)
    running: bool = attrs.field(default=False, init=False)
    #: /dev/videoN → camera id, for registered devices
    devices: dict[str, str] = attrs.field(factory=dict, init=False)
    #: /dev/videoN → the id another (configured) camera holds
    conflicts: dict[str, str] = attrs.field(factory=dict, init=False)
    #: /dev/videoN → why it could not be probed
    probe_failures: dict[str, str] = attrs.field(factory=dict, init=False)
    #: nodes that are not video capture nodes (metadata nodes)
    ignored: set[str] = attrs.field(factory=set, init=False)
    _current_source: DeviceSource | None = attrs.field(default=None, init=False)
    _attached: set[str] = attrs.field(factory=set, init=False)
    _work: dict[str, _PathWork] = attrs.field(factory=dict, init=False)
    _nursery: trio.Nursery | None = attrs.field(default=None, init=False)

    @property
    def mode(self) -> str:
        return "injected" if self.source is not None else self.config.discovery

    # ------------------------------------------------------------------------------------------ lifecycle

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._reset()
        self.directory.forget_actors()
        source = self.source if self.source is not None else source_for(self.config)
        self._current_source = source
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self.running = True
                await self._start_configured()
                if self.scanner is not None:
                    nursery.start_soon(self.scanner.run_periodic)
                if source is None:
                    await self._remove_unaccounted(present=())
                    log.info("device discovery disabled")
                    task_status.started()
                    await trio.sleep_forever()
                send, receive = trio.open_memory_channel[DeviceEvent](64)
                initial: frozenset[str] = await nursery.start(source.run, send)
                await self.settle(initial)
                await self._remove_unaccounted(present=initial)
                self.active = True
                log.info("device discovery running", extra={"mode": self.mode, "devices": sorted(initial)})
                task_status.started()
                async with receive:
                    async for event in receive:
                        self._want(event.path, event.action == "add")
                raise DeviceSourceEnded("the device source stopped sending events")
        finally:
            self._nursery = None
            self.active = False
            self.running = False

    def _reset(self) -> None:
        self.devices.clear()
        self.conflicts.clear()
        self.probe_failures.clear()
        self.ignored.clear()
        self._attached.clear()
        self._work.clear()

    async def _start_configured(self) -> None:
        await self._restore_scan_interval()
        for spec in self.config.synthetic:
            if not self.directory.has(spec.id):
                camera = synthetic_camera(spec, self.config)
                await self._start_quietly(spec.id, functools.partial(self.directory.start_camera, camera))
        for stream in await self.directory.load_external():
            if not self.directory.has(stream.name):
                await self._start_quietly(
                    stream.name, functools.partial(self.directory.start_external, stream)
                )

    async def _restore_scan_interval(self) -> None:
        streams = self.directory.streams
        if self.scanner is None or streams is None:
            return
        saved = await streams.get_setting(SCAN_INTERVAL_KEY)
        if saved is not None:
            try:
                self.scanner.set_interval(float(saved))
            except ValueError:
                log.warning("ignoring a stored scan interval that is not a number", extra={"value": saved})

    async def _start_quietly(self, camera_id: str, start: Callable[[], Awaitable[object]]) -> None:
        # One bad configured camera must not keep discovery (and every other camera) down.
        try:
            await start()
        except Exception as exc:
            log.error(
                "cannot start configured camera", extra={"camera": camera_id, "error": describe_error(exc)}
            )

    async def _remove_unaccounted(self, present: Iterable[str]) -> None:
        """After a restart: stop device cameras whose node is gone, and drop registry values nobody owns."""
        present = set(present)
        for camera in list(self.directory.registry.snapshot().values()):
            is_gone_device = (
                camera.source.kind is SourceKind.V4L2 and camera.source.device_path not in present
            )
            if is_gone_device or not self.directory.has(camera.id):
                await self.directory.stop_camera(camera.id)

    async def settle(self, paths: Iterable[str] = ()) -> None:
        """Ask for ``paths`` to be attached and wait until every path worker is idle."""
        for path in paths:
            self._want(path, True)
        while busy := [w for w in self._work.values() if w.busy]:
            await busy[0].idle.wait()

    # --------------------------------------------------------------------------------------- path workers

    def _want(self, path: str, present: bool) -> None:
        work = self._work.setdefault(path, _PathWork())
        work.want = present
        if not present and work.attach_scope is not None:
            work.attach_scope.cancel()  # the node went away while we were probing it
        if not work.busy and self._nursery is not None:
            work.busy = True
            work.idle = trio.Event()
            self._nursery.start_soon(self._path_worker, path, work)

    async def _path_worker(self, path: str, work: _PathWork) -> None:
        try:
            while work.want != (path in self._attached):
                if work.want:
                    with trio.CancelScope() as scope:
                        work.attach_scope = scope
                        await self._attach(path)
                    work.attach_scope = None
                else:
                    await self._detach(path)
        finally:
            work.busy = False
            work.idle.set()

    def id_released(self, camera_id: str) -> None:
        """A camera left the directory: devices that conflicted with its id get another chance."""
        for path, holder in list(self.conflicts.items()):
            if holder == camera_id:
                del self.conflicts[path]
                self._attached.discard(path)
                work = self._work.get(path)
                if work is not None and work.want:
                    self._want(path, True)

    async def _probe(self, path: str) -> v4l2.Capabilities:
        for delay in (*PROBE_RETRY_DELAYS, None):
            try:
                return await self.prober(path, self.config.probe_timeout)
            except v4l2.ProbeTimeout:
                raise
            except v4l2.ProbeError as exc:
                if delay is None or exc.errno in _PERMANENT_PROBE_ERRORS:
                    raise
                log.debug("probe failed; retrying", extra={"device": path, "error": exc.reason})
                await trio.sleep(delay)
        raise AssertionError("unreachable")

    async def _attach(self, path: str) -> None:
        camera_id = usb_id(path)
        if camera_id is None:
            log.warning("ignoring a device that is not /dev/videoN", extra={"device": path})
            self._attached.add(path)
            return
        holder = self.directory.registry.get(camera_id)
        if self.directory.has(camera_id) and holder is not None and holder.source.device_path == path:
            self.devices[path] = camera_id  # still running from before a discovery restart
            self._attached.add(path)
            return
        try:
            probed = await self._probe(path)
        except v4l2.ProbeError as exc:
            log.warning("cannot probe video device", extra={"device": path, "error": exc.reason})
            self.probe_failures[path] = exc.reason
            self._attached.add(path)
            return
        self.probe_failures.pop(path, None)
        if not probed.is_capture:
            log.debug(
                "ignoring a node that is not a video capture node",
                extra={"device": path, "card": probed.caps.card},
            )
            self.ignored.add(path)
            self._attached.add(path)
            return
        camera = v4l2_camera(path, probed, self.config)
        # Once probed, starting the actor runs to the end; a remove that arrives meanwhile is handled next.
        with trio.CancelScope(shield=True):
            try:
                await self.directory.start_camera(camera)
            except IdInUse as exc:
                self._report_conflict(path, camera_id, exc)
            except Exception as exc:
                log.error("cannot start camera actor", extra={"device": path, "error": describe_error(exc)})
                self.probe_failures[path] = f"camera actor failed to start: {describe_error(exc)}"
            else:
                self.devices[path] = camera_id
            self._attached.add(path)

    def _report_conflict(self, path: str, camera_id: str, exc: IdInUse) -> None:
        self.conflicts[path] = camera_id
        holder = exc.holder.source.kind.value if exc.holder is not None else "reserved"
        log.warning(
            "video device not registered: its camera id is held by a configured camera",
            extra={"device": path, "camera": camera_id, "held_by": holder},
        )

    async def _detach(self, path: str) -> None:
        self.ignored.discard(path)
        self.probe_failures.pop(path, None)
        self.conflicts.pop(path, None)
        camera_id = self.devices.pop(path, None)
        if camera_id is not None:
            await self.directory.stop_camera(camera_id)
        self._attached.discard(path)

    # -------------------------------------------------------------------------------------------- health

    def health(self) -> ComponentHealth:
        """``cameras`` health: healthy while discovery runs; details count cameras by status."""
        counts = self.directory.counts()
        details: dict[str, Any] = {
            "discovery": self.mode,
            "discovery_active": self.active,
            "cameras": counts,
        }
        udev = _udev_active(self._current_source)
        if udev is not None:
            details["udev_active"] = udev
        if self.conflicts:
            details["conflicts"] = [
                {"device": path, "camera": camera_id} for path, camera_id in sorted(self.conflicts.items())
            ]
        if self.probe_failures:
            details["probe_failures"] = dict(sorted(self.probe_failures.items()))
        if self.ignored:
            details["ignored_nodes"] = sorted(self.ignored)
        errors = {
            c.id: c.error
            for c in self.directory.registry.snapshot().values()
            if c.status is CameraStatus.ERROR and c.error
        }
        if errors:
            details["errors"] = dict(sorted(errors.items()))
        if not self.running:
            status = UNHEALTHY
        elif self.source is None and self.config.discovery != "disabled" and not self.active:
            status = DEGRADED
        else:
            status = HEALTHY
        return ComponentHealth(status, details)
