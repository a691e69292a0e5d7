"""Where ``/dev/videoN`` add/remove events come from: udev, polling, both, a test fake, and a debouncer.

Every source has one shape, :class:`DeviceSource`::

    async def run(self, send, *, task_status=trio.TASK_STATUS_IGNORED) -> None

and keeps this contract:

1. Set up, or raise a specific error *before* ``task_status.started`` (e.g. :class:`UdevUnavailable`), so the
   caller's ``await nursery.start(source.run, send)`` fails at once and unwrapped, and it can fall back.
2. ``task_status.started(initial)`` with the ``frozenset`` of device paths present now.
3. Send an ``add`` :class:`DeviceEvent` for each initial path (``/dev/video0`` before ``/dev/video10``), then
   events as devices come and go, until cancelled.
4. ``send`` is owned by the source and closed when ``run`` returns, so the reader sees end of stream.

Typical wiring (the discovery actor owns the receive side)::

    source = Debouncer(HybridSource(UdevSource(device_range=(0, 9)), PollSource(device_range=(0, 9))))
    send, receive = trio.open_memory_channel[DeviceEvent](64)
    initial = await nursery.start(source.run, send)
    async for event in receive: ...

Only ``/dev/videoN`` nodes with N inside ``device_range`` are reported (not ``v4l-subdev``/``vbi``/``radio``);
whether a node is a camera (the UVC metadata node is not) is for the V4L2 probe to say.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import re
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal, Protocol

import attrs
import trio

log = logging.getLogger("camsvc.cameras.device_source")

Action = Literal["add", "remove"]
_VIDEO_NODE = re.compile(r"video(\d+)")


@attrs.frozen
class DeviceEvent:
    action: Action = attrs.field(validator=attrs.validators.in_(("add", "remove")))
    path: str


class DeviceSource(Protocol):
    async def run(
        self,
        send: trio.MemorySendChannel[DeviceEvent],
        *,
        task_status: trio.TaskStatus[frozenset[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None: ...


class UdevError(Exception):
    """The udev monitor failed while running (the hybrid source carries on with polling)."""


class UdevUnavailable(UdevError):
    """udev cannot be used here (no libudev, no netlink permission, no udev daemon): fall back to polling."""


def _node_index(path: str) -> int:
    match = _VIDEO_NODE.fullmatch(os.path.basename(path))
    return int(match.group(1)) if match else -1


def _in_range(path: str, device_range: tuple[int, int]) -> bool:
    return device_range[0] <= _node_index(path) <= device_range[1]


def _by_node_number(paths: Iterable[str]) -> list[str]:
    return sorted(paths, key=lambda p: (_node_index(p), p))


def _check_range(device_range: tuple[int, int]) -> None:
    low, high = device_range
    if not 0 <= low <= high:
        raise ValueError(f"device_range must be (low, high) with 0 <= low <= high, got {device_range!r}")


async def _announce(send: trio.MemorySendChannel[DeviceEvent], paths: Iterable[str]) -> None:
    for path in _by_node_number(paths):
        await send.send(DeviceEvent("add", path))


# --------------------------------------------------------------------------------------------------------------
# polling


def is_char_device(path: Path) -> bool:
    """The default existence check: a character device node (a stale regular file is not a camera)."""
    try:
        return stat.S_ISCHR(path.stat().st_mode)
    except OSError:
        return False


@attrs.define
class PollSource:
    """Checks ``device_dir/videoN`` for N in ``device_range`` (inclusive) every ``interval`` seconds.

    A scan is at most a few dozen ``stat`` calls on devtmpfs, cheap enough to run on the event loop.
    """

    device_range: tuple[int, int] = attrs.field(default=(0, 9))
    interval: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))
    device_dir: Path = Path("/dev")
    exists: Callable[[Path], bool] = is_char_device

    @device_range.validator
    def _valid_range(self, _attribute: Any, value: tuple[int, int]) -> None:
        _check_range(value)

    def scan(self) -> frozenset[str]:
        low, high = self.device_range
        candidates = (self.device_dir / f"video{n}" for n in range(low, high + 1))
        return frozenset(str(p) for p in candidates if self.exists(p))

    async def run(
        self,
        send: trio.MemorySendChannel[DeviceEvent],
        *,
        task_status: trio.TaskStatus[frozenset[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with send:
            present = self.scan()
            task_status.started(present)
            await _announce(send, present)
            while True:
                await trio.sleep(self.interval)
                now = self.scan()
                for path in _by_node_number(present - now):
                    await send.send(DeviceEvent("remove", path))
                await _announce(send, now - present)
                present = now


# --------------------------------------------------------------------------------------------------------------
# udev


def _pyudev_context() -> Any:
    # Imported here: a missing libudev must become UdevUnavailable, not an import-time crash.
    import pyudev  # type: ignore[import-untyped]

    return pyudev.Context()


def _pyudev_monitor(context: Any, source: str) -> Any:
    import pyudev

    return pyudev.Monitor.from_netlink(context, source=source)


@attrs.define
class UdevSource:
    """udev ``video4linux`` events through pyudev's netlink monitor, woken by trio on the monitor's fd.

    No thread and no busy loop: ``trio.lowlevel.wait_readable(monitor.fileno())``, then ``monitor.poll(0)``
    until it returns nothing. The monitor is started *before* the initial enumeration so no device can slip
    between the two; duplicates are filtered against the known set. If the kernel drops events (``ENOBUFS``
    on a flooded socket) the source re-enumerates and reports the difference.

    ``device_range``: only ``/dev/videoN`` with N inside (inclusive); ``None`` takes every device node of the
    subsystem. ``udevd_marker``: without a running udev daemon the ``udev`` netlink group stays silent forever, so its
    absence (``/run/udev/control``) is :class:`UdevUnavailable`; ``None`` skips the check. The factories are
    seams for tests (``context_factory() -> pyudev.Context``, ``monitor_factory(context, source) -> Monitor``).
    """

    device_range: tuple[int, int] | None = attrs.field(default=(0, 9))
    subsystem: str = "video4linux"
    netlink_source: Literal["udev", "kernel"] = "udev"
    udevd_marker: Path | None = Path("/run/udev/control")
    context_factory: Callable[[], Any] = _pyudev_context
    monitor_factory: Callable[[Any, str], Any] = _pyudev_monitor
    max_drain: int = 256
    _present: set[str] = attrs.field(factory=set, init=False)

    @device_range.validator
    def _valid_range(self, _attribute: Any, value: tuple[int, int] | None) -> None:
        if value is not None:
            _check_range(value)

    def _open(self) -> tuple[Any, Any]:
        if self.udevd_marker is not None and not self.udevd_marker.exists():
            raise UdevUnavailable(f"udev daemon is not running ({self.udevd_marker} missing)")
        try:
            context = self.context_factory()
        except (ImportError, OSError) as exc:
            raise UdevUnavailable(f"libudev is not usable: {exc}") from exc
        try:
            monitor = self.monitor_factory(context, self.netlink_source)
            monitor.filter_by(self.subsystem)
            monitor.start()
        except OSError as exc:
            raise UdevUnavailable(f"cannot open the netlink uevent socket: {exc}") from exc
        return context, monitor

    def _list(self, context: Any) -> set[str]:
        found: set[str] = set()
        for device in context.list_devices(subsystem=self.subsystem):
            node = device.device_node
            if node is not None and self._wanted(node):
                found.add(node)
        return found

    def _wanted(self, node: str) -> bool:
        # device_range=None takes every node of the subsystem (other subsystems, tests).
        return self.device_range is None or _in_range(node, self.device_range)

    def _translate(self, device: Any) -> DeviceEvent | None:
        node = device.device_node
        if node is None or not self._wanted(node):
            return None
        action = device.action
        if action == "add" and node not in self._present:
            self._present.add(node)
            return DeviceEvent("add", node)
        if action == "remove" and node in self._present:
            self._present.discard(node)
            return DeviceEvent("remove", node)
        return None  # change/bind/unbind, or a duplicate

    def _resync(self, context: Any) -> list[DeviceEvent]:
        try:
            now = self._list(context)
        except OSError as exc:
            raise UdevError(f"cannot re-enumerate {self.subsystem} devices: {exc}") from exc
        events = [DeviceEvent("remove", p) for p in _by_node_number(self._present - now)]
        events += [DeviceEvent("add", p) for p in _by_node_number(now - self._present)]
        self._present = now
        return events

    def _drain(self, context: Any, monitor: Any) -> list[DeviceEvent]:
        events: list[DeviceEvent] = []
        # Bounded so a uevent flood still lets the loop (and our reader) run; the fd stays readable.
        for _ in range(self.max_drain):
            try:
                device = monitor.poll(timeout=0)
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    log.warning("udev events were dropped; re-enumerating devices")
                    events += self._resync(context)
                    continue
                raise UdevError(f"udev monitor failed: {exc}") from exc
            if device is None:
                break
            event = self._translate(device)
            if event is not None:
                events.append(event)
        return events

    async def run(
        self,
        send: trio.MemorySendChannel[DeviceEvent],
        *,
        task_status: trio.TaskStatus[frozenset[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with send:
            context, monitor = self._open()
            try:
                self._present = self._list(context)
            except OSError as exc:
                raise UdevUnavailable(f"cannot enumerate {self.subsystem} devices: {exc}") from exc
            initial = frozenset(self._present)
            task_status.started(initial)
            await _announce(send, initial)
            fd = monitor.fileno()
            while True:
                await trio.lowlevel.wait_readable(fd)
                for event in self._drain(context, monitor):
                    await send.send(event)


# --------------------------------------------------------------------------------------------------------------
# combinations


@attrs.define
class HybridSource:
    """udev for speed, polling as a safety net; each path is reported once per real change.

    If udev is unavailable at start, or fails later, this carries on with polling only (``udev_active``
    turns false) instead of failing: discovery must keep working in containers and minimal images.
    """

    udev: DeviceSource
    poll: DeviceSource
    udev_active: bool = attrs.field(default=False, init=False)

    async def _run_udev(
        self,
        send: trio.MemorySendChannel[DeviceEvent],
        *,
        task_status: trio.TaskStatus[frozenset[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        # Set here rather than after start() returns: the task may fail before the parent resumes.
        self.udev_active = True
        try:
            await self.udev.run(send, task_status=task_status)
        except UdevUnavailable:
            raise  # before started: the caller below falls back
        except UdevError as exc:
            log.warning("udev monitor failed; continuing with polling only", extra={"error": str(exc)})
        finally:
            self.udev_active = False

    async def run(
        self,
        send: trio.MemorySendChannel[DeviceEvent],
        *,
        task_status: trio.TaskStatus[frozenset[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with send:
            merged_send, merged_receive = trio.open_memory_channel[DeviceEvent](64)
            failure: BaseException | None = None
            async with trio.open_nursery() as nursery, merged_receive:
                present: set[str] = set()
                try:
                    present |= await nursery.start(self._run_udev, merged_send.clone())
                except UdevUnavailable as exc:
                    log.warning("udev unavailable; discovering devices by polling", extra={"error": str(exc)})
                try:
                    present |= await nursery.start(self.poll.run, merged_send.clone())
                except Exception as exc:
                    # Re-raised unwrapped after the nursery closes, honouring the start contract.
                    failure = exc
                    nursery.cancel_scope.cancel()
                else:
                    merged_send.close()
                    task_status.started(frozenset(present))
                    await _announce(send, present)
                    async for event in merged_receive:
                        if (event.action == "add") != (event.path in present):
                            present.symmetric_difference_update({event.path})
                            await send.send(event)
            if failure is not None:
                raise failure


@attrs.define
class Debouncer:
    """Collapses add/remove storms of one path: the state at the end of a quiet ``window`` wins.

    Each path's events are held until no new event for it arrived for ``window`` seconds (or ``max_delay``
    seconds passed since the first one, so a device that never stops flapping still settles). Then the
    last state is compared with the last one reported: added-then-removed inside the window reports nothing,
    and so does a quick remove-and-re-add of a present device (the consumer's open handles will fail and be
    retried by their own owners). Uses trio's clock, so tests run on ``MockClock``.
    """

    inner: DeviceSource
    window: float = attrs.field(default=0.2, validator=attrs.validators.ge(0))
    max_delay: float = attrs.field(default=2.0, validator=attrs.validators.gt(0))

    async def run(
        self,
        send: trio.MemorySendChannel[DeviceEvent],
        *,
        task_status: trio.TaskStatus[frozenset[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with send:
            inner_send, inner_receive = trio.open_memory_channel[DeviceEvent](64)
            failure: BaseException | None = None
            async with trio.open_nursery() as nursery, inner_receive:
                try:
                    initial = await nursery.start(self.inner.run, inner_send)
                except Exception as exc:
                    failure = exc  # re-raised unwrapped below (start contract)
                else:
                    task_status.started(initial)
                    await self._debounce(inner_receive, send)
                    nursery.cancel_scope.cancel()
            if failure is not None:
                raise failure

    async def _debounce(
        self, receive: trio.MemoryReceiveChannel[DeviceEvent], send: trio.MemorySendChannel[DeviceEvent]
    ) -> None:
        reported: set[str] = set()  # paths whose last reported action was "add"
        pending: dict[str, tuple[bool, float, float]] = {}  # path -> (present, first event, last event)

        def due_at(entry: tuple[bool, float, float]) -> float:
            _present, first, last = entry
            return min(last + self.window, first + self.max_delay)

        async def flush(everything: bool) -> None:
            now = trio.current_time()
            for path in _by_node_number(pending):
                if everything or due_at(pending[path]) <= now:
                    present, _first, _last = pending.pop(path)
                    if present != (path in reported):
                        reported.symmetric_difference_update({path})
                        await send.send(DeviceEvent("add" if present else "remove", path))

        while True:
            deadline = min((due_at(e) for e in pending.values()), default=math.inf)
            with trio.move_on_at(deadline):
                try:
                    event = await receive.receive()
                except trio.EndOfChannel:
                    await flush(everything=True)
                    return
                now = trio.current_time()
                first = pending[event.path][1] if event.path in pending else now
                pending[event.path] = (event.action == "add", first, now)
                continue
            await flush(everything=False)


# --------------------------------------------------------------------------------------------------------------
# fake


@attrs.define
class FakeSource:
    """A source driven by hand, for tests and benchmarks: ``await fake.add(path)`` / ``await fake.remove(path)``.

    ``add``/``remove`` return once the event is in the consumer's channel; they raise ``RuntimeError`` while
    ``run`` is not running. ``start_error`` makes ``run`` fail before started (e.g. ``UdevUnavailable``);
    ``fake.fail(exc)`` makes a running source fail; ``fake.stop()`` ends it (closing the channel). One run only.
    Events are sent as asked, without de-duplication, so consumers can be tested against repeats.
    """

    initial: tuple[str, ...] = ()
    start_error: Exception | None = None
    _send: trio.MemorySendChannel[DeviceEvent] | None = attrs.field(default=None, init=False)
    _stopped: trio.Event = attrs.field(factory=trio.Event, init=False)
    _failure: Exception | None = attrs.field(default=None, init=False)
    running: trio.Event = attrs.field(factory=trio.Event, init=False)  # set once the initial adds are sent

    async def run(
        self,
        send: trio.MemorySendChannel[DeviceEvent],
        *,
        task_status: trio.TaskStatus[frozenset[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with send:
            if self.start_error is not None:
                raise self.start_error
            if self._send is not None:
                raise RuntimeError("FakeSource is already running")
            self._send = send
            try:
                task_status.started(frozenset(self.initial))
                await _announce(send, self.initial)
                self.running.set()
                await self._stopped.wait()
                if self._failure is not None:
                    raise self._failure
            finally:
                self._send = None

    async def _emit(self, action: Action, path: str) -> None:
        if self._send is None:
            raise RuntimeError("FakeSource is not running; start fake.run first")
        await self.running.wait()  # initial adds go first, like every real source
        await self._send.send(DeviceEvent(action, path))

    async def add(self, path: str) -> None:
        await self._emit("add", path)

    async def remove(self, path: str) -> None:
        await self._emit("remove", path)

    def fail(self, exc: Exception) -> None:
        self._failure = exc
        self._stopped.set()

    def stop(self) -> None:
        self._stopped.set()
