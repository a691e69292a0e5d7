"""Device sources: polling over tmp files, udev with fake and real netlink monitors, hybrid, debouncer, fake.

Time-dependent behaviour runs on pytest-trio's ``autojump_clock`` (virtual time), so nothing sleeps for real.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from camsvc.cameras.device_source import (
    Debouncer,
    DeviceEvent,
    DeviceSource,
    FakeSource,
    HybridSource,
    PollSource,
    UdevError,
    UdevSource,
    UdevUnavailable,
    is_char_device,
)


def add(path: str) -> DeviceEvent:
    return DeviceEvent("add", path)


def remove(path: str) -> DeviceEvent:
    return DeviceEvent("remove", path)


async def take(receive: trio.MemoryReceiveChannel[DeviceEvent], count: int) -> list[DeviceEvent]:
    with trio.fail_after(30):  # a safety bound only; under autojump it is virtual time
        return [await receive.receive() for _ in range(count)]


async def take_timed(
    receive: trio.MemoryReceiveChannel[DeviceEvent], count: int
) -> list[tuple[float, DeviceEvent]]:
    out = []
    with trio.fail_after(30):
        for _ in range(count):
            event = await receive.receive()
            out.append((trio.current_time(), event))
    return out


async def assert_quiet(receive: trio.MemoryReceiveChannel[DeviceEvent]) -> None:
    await trio.testing.wait_all_tasks_blocked()
    with pytest.raises(trio.WouldBlock):
        receive.receive_nowait()


def test_device_event_rejects_unknown_actions() -> None:
    with pytest.raises(ValueError, match="action"):
        DeviceEvent("change", "/dev/video0")  # type: ignore[arg-type]


# ---- PollSource -----------------------------------------------------------------------------------------


def touch(directory: Path, *names: str) -> None:
    for name in names:
        (directory / name).write_bytes(b"")


def poll_source(tmp_path: Path, **kwargs: Any) -> PollSource:
    return PollSource(device_dir=tmp_path, exists=Path.exists, **kwargs)


async def test_poll_reports_initial_devices_in_node_order(tmp_path: Path, autojump_clock: Any) -> None:
    touch(tmp_path, "video10", "video2", "video0", "video11", "v4l-subdev0", "video")
    source = poll_source(tmp_path, device_range=(0, 10), interval=1.0)
    send, receive = trio.open_memory_channel[DeviceEvent](16)
    async with trio.open_nursery() as nursery:
        initial = await nursery.start(source.run, send)
        expected = [str(tmp_path / n) for n in ("video0", "video2", "video10")]
        assert initial == frozenset(expected)
        assert await take(receive, 3) == [add(p) for p in expected]
        await assert_quiet(receive)
        nursery.cancel_scope.cancel()


async def test_poll_reports_differences_each_interval(tmp_path: Path, autojump_clock: Any) -> None:
    touch(tmp_path, "video0", "video1")
    source = poll_source(tmp_path, device_range=(0, 9), interval=2.0)
    send, receive = trio.open_memory_channel[DeviceEvent](16)
    async with trio.open_nursery() as nursery:
        await nursery.start(source.run, send)
        await take(receive, 2)
        start = trio.current_time()
        (tmp_path / "video1").unlink()
        touch(tmp_path, "video3", "video2")
        timed = await take_timed(receive, 3)
        assert [e for _t, e in timed] == [
            remove(str(tmp_path / "video1")),
            add(str(tmp_path / "video2")),
            add(str(tmp_path / "video3")),
        ]
        assert timed[0][0] - start == pytest.approx(2.0)  # found by the next scan, not before
        await assert_quiet(receive)
        nursery.cancel_scope.cancel()
    # The source owns its send channel and closes it on exit.
    with pytest.raises(trio.EndOfChannel):
        await receive.receive()


def test_default_existence_check_wants_a_character_device(tmp_path: Path) -> None:
    touch(tmp_path, "video0")
    assert is_char_device(Path("/dev/null")) is True
    assert is_char_device(tmp_path / "video0") is False
    assert is_char_device(tmp_path / "missing") is False
    assert PollSource(device_dir=tmp_path).scan() == frozenset()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"interval": 0}, "interval"), ({"device_range": (5, 2)}, "device_range"), ({"device_range": (-1, 2)}, "device_range")],
)  # fmt: skip
def test_poll_rejects_bad_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PollSource(**kwargs)


# ---- FakeSource -----------------------------------------------------------------------------------------


async def test_fake_source_delivers_what_it_is_told() -> None:
    fake = FakeSource(initial=("/dev/video1", "/dev/video0"))
    with pytest.raises(RuntimeError, match="not running"):
        await fake.add("/dev/video3")
    send, receive = trio.open_memory_channel[DeviceEvent](16)
    async with trio.open_nursery() as nursery:
        assert await nursery.start(fake.run, send) == {"/dev/video0", "/dev/video1"}
        await fake.add("/dev/video3")
        await fake.add("/dev/video3")  # not de-duplicated, on purpose
        await fake.remove("/dev/video0")
        assert await take(receive, 5) == [
            add("/dev/video0"), add("/dev/video1"), add("/dev/video3"), add("/dev/video3"), remove("/dev/video0"),
        ]  # fmt: skip
        with pytest.raises(RuntimeError, match="already running"):
            await fake.run(trio.open_memory_channel[DeviceEvent](1)[0])
        fake.stop()
    with pytest.raises(trio.EndOfChannel):
        await receive.receive()
    with pytest.raises(RuntimeError, match="not running"):
        await fake.remove("/dev/video3")


async def test_fake_source_start_error_and_failure() -> None:
    send, _receive = trio.open_memory_channel[DeviceEvent](16)
    async with trio.open_nursery() as nursery:
        with pytest.raises(UdevUnavailable, match="nope"):
            await nursery.start(FakeSource(start_error=UdevUnavailable("nope")).run, send)
    fake = FakeSource()
    send2, _receive2 = trio.open_memory_channel[DeviceEvent](16)
    with pytest.RaisesGroup(pytest.RaisesExc(UdevError, match="boom")):
        async with trio.open_nursery() as nursery:
            await nursery.start(fake.run, send2)
            fake.fail(UdevError("boom"))


# ---- Debouncer ------------------------------------------------------------------------------------------


async def start_debounced(
    nursery: trio.Nursery, inner: DeviceSource, **kwargs: Any
) -> tuple[trio.MemoryReceiveChannel[DeviceEvent], frozenset[str]]:
    send, receive = trio.open_memory_channel[DeviceEvent](16)
    initial = await nursery.start(Debouncer(inner, **kwargs).run, send)
    return receive, initial


async def test_debouncer_delays_a_lone_event_by_the_window(autojump_clock: Any) -> None:
    fake = FakeSource()
    async with trio.open_nursery() as nursery:
        receive, _ = await start_debounced(nursery, fake, window=0.2)
        start = trio.current_time()
        await fake.add("/dev/video0")
        [(at, event)] = await take_timed(receive, 1)
        assert event == add("/dev/video0")
        assert at - start == pytest.approx(0.2)
        nursery.cancel_scope.cancel()


async def test_added_and_removed_inside_the_window_reports_nothing(autojump_clock: Any) -> None:
    fake = FakeSource()
    async with trio.open_nursery() as nursery:
        receive, _ = await start_debounced(nursery, fake, window=0.2)
        await fake.add("/dev/video0")
        await trio.sleep(0.1)
        await fake.remove("/dev/video0")
        await trio.sleep(1.0)  # virtual: well past the window
        await assert_quiet(receive)
        await fake.add("/dev/video1")  # later events still flow
        assert await take(receive, 1) == [add("/dev/video1")]
        nursery.cancel_scope.cancel()


async def test_a_storm_collapses_to_its_last_state(autojump_clock: Any) -> None:
    fake = FakeSource()
    async with trio.open_nursery() as nursery:
        receive, _ = await start_debounced(nursery, fake, window=0.2)
        for action in (fake.add, fake.remove, fake.add, fake.remove, fake.add):
            await action("/dev/video0")
            await trio.sleep(0.05)
        last = trio.current_time() - 0.05
        [(at, event)] = await take_timed(receive, 1)
        assert event == add("/dev/video0")
        assert at - last == pytest.approx(0.2)  # the window restarts with every event
        await assert_quiet(receive)
        nursery.cancel_scope.cancel()


async def test_quick_replug_of_a_present_device_reports_nothing(autojump_clock: Any) -> None:
    fake = FakeSource(initial=("/dev/video0",))
    async with trio.open_nursery() as nursery:
        receive, initial = await start_debounced(nursery, fake, window=0.2)
        assert initial == {"/dev/video0"}
        assert await take(receive, 1) == [add("/dev/video0")]
        await fake.remove("/dev/video0")
        await fake.add("/dev/video0")
        await trio.sleep(1.0)
        await assert_quiet(receive)
        await fake.remove("/dev/video0")
        assert await take(receive, 1) == [remove("/dev/video0")]
        nursery.cancel_scope.cancel()


async def test_a_device_that_never_settles_is_reported_by_max_delay(autojump_clock: Any) -> None:
    fake = FakeSource()
    async with trio.open_nursery() as nursery:
        receive, _ = await start_debounced(nursery, fake, window=0.2, max_delay=1.0)
        start = trio.current_time()

        async def flap() -> None:
            while True:
                await fake.add("/dev/video0")
                await trio.sleep(0.1)
                await fake.remove("/dev/video0")
                await trio.sleep(0.1)

        nursery.start_soon(flap)
        [(at, event)] = await take_timed(receive, 1)
        assert at - start == pytest.approx(1.0)
        assert event.path == "/dev/video0"
        nursery.cancel_scope.cancel()


async def test_paths_are_debounced_independently(autojump_clock: Any) -> None:
    fake = FakeSource()
    async with trio.open_nursery() as nursery:
        receive, _ = await start_debounced(nursery, fake, window=0.2)
        start = trio.current_time()
        await fake.add("/dev/video0")
        await trio.sleep(0.1)
        await fake.add("/dev/video1")
        timed = await take_timed(receive, 2)
        assert [(round(t - start, 6), e) for t, e in timed] == [
            (0.2, add("/dev/video0")),
            (0.3, add("/dev/video1")),
        ]
        nursery.cancel_scope.cancel()


async def test_debouncer_flushes_and_closes_when_the_inner_source_ends(autojump_clock: Any) -> None:
    fake = FakeSource()
    async with trio.open_nursery() as nursery:
        receive, _ = await start_debounced(nursery, fake, window=5.0)
        await fake.add("/dev/video4")
        fake.stop()
        assert await take(receive, 1) == [add("/dev/video4")]
        with pytest.raises(trio.EndOfChannel):
            await receive.receive()


async def test_debouncer_start_error_is_raised_unwrapped() -> None:
    send, receive = trio.open_memory_channel[DeviceEvent](4)
    async with trio.open_nursery() as nursery:
        with pytest.raises(UdevUnavailable, match="no udev"):
            await nursery.start(Debouncer(FakeSource(start_error=UdevUnavailable("no udev"))).run, send)
    with pytest.raises(trio.EndOfChannel):
        await receive.receive()


@pytest.mark.parametrize("kwargs", [{"window": -1}, {"max_delay": 0}])
def test_debouncer_rejects_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="window|max_delay"):
        Debouncer(FakeSource(), **kwargs)


# ---- HybridSource ---------------------------------------------------------------------------------------


async def start_hybrid(
    nursery: trio.Nursery, hybrid: HybridSource
) -> tuple[trio.MemoryReceiveChannel[DeviceEvent], frozenset[str]]:
    send, receive = trio.open_memory_channel[DeviceEvent](16)
    initial = await nursery.start(hybrid.run, send)
    return receive, initial


async def test_hybrid_merges_and_deduplicates() -> None:
    udev = FakeSource(initial=("/dev/video0",))
    poll = FakeSource(initial=("/dev/video0", "/dev/video1"))
    hybrid = HybridSource(udev, poll)
    async with trio.open_nursery() as nursery:
        receive, initial = await start_hybrid(nursery, hybrid)
        assert initial == {"/dev/video0", "/dev/video1"}
        assert hybrid.udev_active is True
        assert await take(receive, 2) == [add("/dev/video0"), add("/dev/video1")]
        await udev.add("/dev/video2")  # udev first ...
        await poll.add("/dev/video2")  # ... the poll safety net agrees later: not repeated
        await udev.remove("/dev/video0")
        await poll.remove("/dev/video0")
        await poll.add("/dev/video0")  # back again, seen by polling only
        await udev.add("/dev/video5")  # a marker: nothing else may come before it
        assert await take(receive, 4) == [
            add("/dev/video2"), remove("/dev/video0"), add("/dev/video0"), add("/dev/video5"),
        ]  # fmt: skip
        await assert_quiet(receive)
        nursery.cancel_scope.cancel()


async def test_hybrid_falls_back_to_polling_when_udev_is_unavailable(
    tmp_path: Path, autojump_clock: Any
) -> None:
    touch(tmp_path, "video0")
    hybrid = HybridSource(
        FakeSource(start_error=UdevUnavailable("udev daemon is not running")),
        poll_source(tmp_path, interval=1.0),
    )
    async with trio.open_nursery() as nursery:
        receive, initial = await start_hybrid(nursery, hybrid)
        assert initial == {str(tmp_path / "video0")}
        assert hybrid.udev_active is False
        touch(tmp_path, "video1")
        assert await take(receive, 2) == [add(str(tmp_path / "video0")), add(str(tmp_path / "video1"))]
        nursery.cancel_scope.cancel()


async def test_hybrid_keeps_polling_after_udev_fails_at_run_time() -> None:
    udev, poll = FakeSource(), FakeSource()
    hybrid = HybridSource(udev, poll)
    async with trio.open_nursery() as nursery:
        receive, _ = await start_hybrid(nursery, hybrid)
        assert hybrid.udev_active is True
        udev.fail(UdevError("udev monitor failed: EIO"))
        await trio.testing.wait_all_tasks_blocked()
        assert hybrid.udev_active is False
        await poll.add("/dev/video3")
        assert await take(receive, 1) == [add("/dev/video3")]
        nursery.cancel_scope.cancel()


async def test_hybrid_poll_start_failure_is_raised_unwrapped() -> None:
    hybrid = HybridSource(FakeSource(), FakeSource(start_error=PermissionError("/dev unreadable")))
    send, _receive = trio.open_memory_channel[DeviceEvent](4)
    async with trio.open_nursery() as nursery:
        with pytest.raises(PermissionError, match="unreadable"):
            await nursery.start(hybrid.run, send)


async def test_debounced_hybrid_composes() -> None:
    udev, poll = FakeSource(initial=("/dev/video0",)), FakeSource()
    send, receive = trio.open_memory_channel[DeviceEvent](16)
    async with trio.open_nursery() as nursery:
        initial = await nursery.start(Debouncer(HybridSource(udev, poll), window=0).run, send)
        assert initial == {"/dev/video0"}
        await udev.add("/dev/video1")
        await poll.add("/dev/video1")
        assert await take(receive, 2) == [add("/dev/video0"), add("/dev/video1")]
        await assert_quiet(receive)
        nursery.cancel_scope.cancel()


# ---- UdevSource with a fake pyudev ----------------------------------------------------------------------


@attrs.define
class FakeDevice:
    device_node: str | None
    action: str | None = None


@attrs.define
class FakeUdev:
    """Duck-types the bits of pyudev.Context and pyudev.Monitor that UdevSource uses.

    A socketpair gives the monitor a real fd: one byte written per queued event makes it readable, exactly as
    a netlink datagram would, so the trio fd integration is exercised for real.
    """

    devices: list[FakeDevice]
    queue: list[FakeDevice | OSError] = attrs.field(factory=list)
    list_error: OSError | None = None
    list_error_from_call: int | None = None  # 1-based call number from which list_devices fails with EIO
    calls: list[str] = attrs.field(factory=list)
    polls: int = 0
    reader: socket.socket = attrs.field(init=False)
    writer: socket.socket = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.reader, self.writer = socket.socketpair()
        self.reader.setblocking(False)

    def close(self) -> None:
        self.reader.close()
        self.writer.close()

    # pyudev.Context
    def list_devices(self, subsystem: str) -> list[FakeDevice]:
        self.calls.append(f"list:{subsystem}")
        if self.list_error is not None:
            raise self.list_error
        if self.list_error_from_call is not None and len(self.calls_to("list")) >= self.list_error_from_call:
            raise OSError(errno.EIO, "sysfs read failed")
        return list(self.devices)

    def calls_to(self, prefix: str) -> list[str]:
        return [c for c in self.calls if c.startswith(prefix)]

    # pyudev.Monitor
    def filter_by(self, subsystem: str) -> None:
        self.calls.append(f"filter:{subsystem}")

    def start(self) -> None:
        self.calls.append("start")

    def fileno(self) -> int:
        return self.reader.fileno()

    def poll(self, timeout: float | None = None) -> FakeDevice | None:
        assert timeout == 0
        self.polls += 1
        try:
            self.reader.recv(1)
        except BlockingIOError:
            return None
        item = self.queue.pop(0)
        if isinstance(item, OSError):
            raise item
        return item

    def emit(self, *items: FakeDevice | OSError) -> None:
        self.queue.extend(items)
        self.writer.send(b"x" * len(items))


@pytest.fixture
def fake_udev() -> Iterable[FakeUdev]:
    fake = FakeUdev(devices=[FakeDevice("/dev/video1"), FakeDevice("/dev/video0"), FakeDevice("/dev/v4l-subdev0"),
                             FakeDevice("/dev/video20"), FakeDevice(None)])  # fmt: skip
    yield fake
    fake.close()


def udev_source(fake: FakeUdev, **kwargs: Any) -> UdevSource:
    return UdevSource(
        device_range=(0, 9),
        udevd_marker=None,
        context_factory=lambda: fake,
        monitor_factory=lambda context, source: fake,
        **kwargs,
    )


async def test_udev_initial_enumeration_after_the_monitor_starts(fake_udev: FakeUdev) -> None:
    send, receive = trio.open_memory_channel[DeviceEvent](16)
    async with trio.open_nursery() as nursery:
        initial = await nursery.start(udev_source(fake_udev).run, send)
        assert initial == {"/dev/video0", "/dev/video1"}
        assert await take(receive, 2) == [add("/dev/video0"), add("/dev/video1")]
        # Subscribed before listing, so a device appearing in between cannot be missed.
        assert fake_udev.calls == ["filter:video4linux", "start", "list:video4linux"]
        nursery.cancel_scope.cancel()


async def test_udev_wakes_on_the_fd_and_drains_without_busy_polling(fake_udev: FakeUdev) -> None:
    send, receive = trio.open_memory_channel[DeviceEvent](16)
    async with trio.open_nursery() as nursery:
        await nursery.start(udev_source(fake_udev).run, send)
        await take(receive, 2)
        await trio.testing.wait_all_tasks_blocked()
        assert fake_udev.polls == 0  # nothing to read: parked in wait_readable, not polling
        fake_udev.emit(
            FakeDevice("/dev/video2", "add"),
            FakeDevice("/dev/video2", "change"),
            FakeDevice("/dev/video1", "add"),  # already known
            FakeDevice("/dev/video0", "remove"),
            FakeDevice("/dev/video30", "add"),  # outside device_range
            FakeDevice("/dev/v4l-subdev1", "add"),
        )
        assert await take(receive, 2) == [add("/dev/video2"), remove("/dev/video0")]
        await trio.testing.wait_all_tasks_blocked()
        polls_after_burst = fake_udev.polls
        assert polls_after_burst <= 6 + 2  # one per event plus the empty poll(s) that end a drain
        await trio.testing.wait_all_tasks_blocked()
        assert fake_udev.polls == polls_after_burst
        await assert_quiet(receive)
        nursery.cancel_scope.cancel()


async def test_udev_resyncs_after_dropped_events(fake_udev: FakeUdev) -> None:
    send, receive = trio.open_memory_channel[DeviceEvent](16)
    async with trio.open_nursery() as nursery:
        await nursery.start(udev_source(fake_udev).run, send)
        await take(receive, 2)
        fake_udev.devices = [FakeDevice("/dev/video1"), FakeDevice("/dev/video3")]
        fake_udev.emit(OSError(errno.ENOBUFS, "No buffer space available"))
        assert await take(receive, 2) == [remove("/dev/video0"), add("/dev/video3")]
        nursery.cancel_scope.cancel()


async def test_udev_monitor_failure_at_run_time_is_a_udev_error(fake_udev: FakeUdev) -> None:
    send, _receive = trio.open_memory_channel[DeviceEvent](16)
    fake_udev.emit(OSError(errno.EIO, "Input/output error"))
    with pytest.raises(UdevError, match="udev monitor failed") as info:
        await udev_source(fake_udev).run(send)
    assert not isinstance(info.value, UdevUnavailable)


async def test_udev_resync_failure_is_a_udev_error(fake_udev: FakeUdev) -> None:
    send, _receive = trio.open_memory_channel[DeviceEvent](16)
    fake_udev.list_error_from_call = 2  # the initial enumeration works, the resync does not
    fake_udev.emit(OSError(errno.ENOBUFS, "No buffer space available"))
    with pytest.raises(UdevError, match="cannot re-enumerate"):
        await udev_source(fake_udev).run(send)


def _raise(exc: BaseException) -> Any:
    raise exc


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"udevd_marker": Path("/nonexistent/udev/control")}, "udev daemon is not running"),
        ({"context_factory": lambda: _raise(ImportError("No library named udev"))}, "libudev is not usable"),
        ({"monitor_factory": lambda c, s: _raise(PermissionError(errno.EPERM, "no"))}, "netlink"),
    ],
)
async def test_udev_unavailable_is_specific_and_closes_the_channel(
    fake_udev: FakeUdev, kwargs: dict[str, Any], message: str
) -> None:
    source = attrs.evolve(udev_source(fake_udev), **kwargs)
    send, receive = trio.open_memory_channel[DeviceEvent](4)
    async with trio.open_nursery() as nursery:
        with pytest.raises(UdevUnavailable, match=message):
            await nursery.start(source.run, send)
    with pytest.raises(trio.EndOfChannel):
        await receive.receive()


async def test_udev_enumeration_failure_is_unavailable(fake_udev: FakeUdev) -> None:
    fake_udev.list_error = FileNotFoundError(errno.ENOENT, "/sys not mounted")
    send, _receive = trio.open_memory_channel[DeviceEvent](4)
    async with trio.open_nursery() as nursery:
        with pytest.raises(UdevUnavailable, match="cannot enumerate"):
            await nursery.start(udev_source(fake_udev).run, send)


# ---- UdevSource against the real libudev / netlink ------------------------------------------------------


def _netlink_problem() -> str | None:
    try:
        import pyudev  # type: ignore[import-untyped]

        pyudev.Monitor.from_netlink(pyudev.Context(), source="kernel").start()
    except Exception as exc:  # any failure means: cannot test against real netlink here
        return f"netlink uevent monitor not available here: {exc!r}"
    return None


UDEVD_MARKER = Path("/run/udev/control")
UDEVD_RUNS = UDEVD_MARKER.exists()
NULL_UEVENT = Path("/sys/class/mem/null/uevent")


async def test_real_udev_without_a_daemon_is_unavailable() -> None:
    if UDEVD_RUNS:
        pytest.skip("a udev daemon runs here; the no-daemon fallback cannot be observed")
    send, _receive = trio.open_memory_channel[DeviceEvent](4)
    async with trio.open_nursery() as nursery:
        with pytest.raises(UdevUnavailable, match="udev daemon is not running"):
            await nursery.start(UdevSource().run, send)


async def test_real_netlink_monitor_integrates_with_trio() -> None:
    """A real pyudev kernel-uevent monitor: started, enumerated, parked on its fd, woken by a real uevent.

    The uevent is a synthetic ``change`` on /dev/null's sysfs node (harmless: it changes nothing), written only
    as root and only when no udev daemon runs that could react to it.
    """
    problem = _netlink_problem()
    if problem:
        pytest.skip(problem)
    if os.geteuid() != 0 or not os.access(NULL_UEVENT, os.W_OK) or UDEVD_RUNS:
        pytest.skip("needs root, a writable /sys/class/mem/null/uevent and no running udev daemon")

    seen: list[tuple[str, str]] = []
    woke = trio.Event()

    def recording_monitor(context: Any, source: str) -> Any:
        import pyudev

        real = pyudev.Monitor.from_netlink(context, source=source)

        class Recording:
            def filter_by(self, subsystem: str) -> None:
                real.filter_by(subsystem)

            def start(self) -> None:
                real.start()

            def fileno(self) -> int:
                return int(real.fileno())

            def poll(self, timeout: float | None = None) -> Any:
                device = real.poll(timeout=timeout)
                if device is not None:
                    seen.append((device.action, device.device_node))
                    woke.set()
                return device

        return Recording()

    source = UdevSource(
        device_range=None, subsystem="mem", netlink_source="kernel", udevd_marker=None,
        monitor_factory=recording_monitor,
    )  # fmt: skip
    send, receive = trio.open_memory_channel[DeviceEvent](64)
    async with trio.open_nursery() as nursery:
        initial = await nursery.start(source.run, send)
        assert "/dev/null" in initial and "/dev/zero" in initial
        await trio.testing.wait_all_tasks_blocked()
        assert seen == []
        await trio.Path(NULL_UEVENT).write_text("change")
        with trio.fail_after(5):
            await woke.wait()
        assert ("change", "/dev/null") in seen
        # "change" is not an add/remove: only the initial adds were reported.
        events = [receive.receive_nowait() for _ in range(len(initial))]
        assert {e.path for e in events} == initial and {e.action for e in events} == {"add"}
        await assert_quiet(receive)
        nursery.cancel_scope.cancel()
