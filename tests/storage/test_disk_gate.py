"""The storage gate: thresholds, and disk usage read on a worker thread so a hung mount never
freezes the event loop (the fake ``usage`` function is the statvfs seam)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import trio
import trio.testing

from camsvc.errors import DependencyFailed, InsufficientStorage
from camsvc.health import DEGRADED, HEALTHY, UNHEALTHY
from camsvc.storage.disk import DiskUsage, StorageGate
from camsvc.storage.housekeeping import Housekeeping
from camsvc.storage.retention import Retention
from camsvc.storage.state import StateStore


def _usage(pct: float) -> DiskUsage:
    return DiskUsage("/", 1000, int(pct * 10), 1000 - int(pct * 10))


async def test_gate_blocks_at_block_percent_and_flags_at_warn(tmp_path: Path) -> None:
    level = {"pct": 50.0}
    gate = StorageGate(
        [str(tmp_path)], warn_percent=80, block_percent=95, usage=lambda _d: _usage(level["pct"]), interval=0
    )
    assert gate.health().status == DEGRADED  # nothing sampled yet: not claimed healthy
    assert (await gate.check()).warning is False and gate.health().status == HEALTHY
    level["pct"] = 85
    assert (await gate.check()).warning is True and gate.health().status == DEGRADED
    level["pct"] = 95
    with pytest.raises(InsufficientStorage) as err:
        await gate.check()
    assert err.value.data == {"usage_percentage": 95.0, "block_percent": 95}
    assert gate.health().status == UNHEALTHY


async def test_checks_read_the_latest_sample_until_it_is_older_than_the_interval(tmp_path: Path) -> None:
    calls: list[str] = []

    def usage(d: str) -> DiskUsage:
        calls.append(d)
        return _usage(10)

    gate = StorageGate([str(tmp_path)], warn_percent=80, block_percent=95, usage=usage, interval=3600)
    await gate.check()
    await gate.check(str(tmp_path))
    assert gate.health().status == HEALTHY
    assert calls == [str(tmp_path)]  # one statvfs served all three readers


async def test_a_hung_statvfs_never_freezes_the_loop_and_is_reported(tmp_path: Path) -> None:
    release, entered = threading.Event(), threading.Event()
    calls = 0

    def hung_statvfs(_d: str) -> DiskUsage:
        nonlocal calls
        calls += 1
        entered.set()
        release.wait(30)  # a dead NFS server: the thread sits in the kernel
        return _usage(10)

    gate = StorageGate(
        [str(tmp_path)], warn_percent=80, block_percent=95, usage=hung_statvfs, interval=0, timeout=0.3
    )
    ticks = 0
    async with trio.open_nursery() as nursery:

        async def other_work() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await trio.sleep(0.01)

        nursery.start_soon(other_work)
        sample = await gate.sample()
        assert entered.is_set() and sample.usages == {} and "not answering" in (sample.error or "")
        assert ticks > 1  # the loop kept running other tasks while statvfs hung
        health = gate.health()
        assert health.status == UNHEALTHY and "not answering" in health.details["error"]
        with pytest.raises(DependencyFailed) as err:
            await gate.check()
        assert err.value.reason == "storage_unavailable" and err.value.data["dependency"] == "storage"
        assert calls == 1  # no second thread piled up on the dead mount
        release.set()
        with trio.fail_after(5):
            # the stuck thread returns in its own time; nothing in trio can signal that
            while (await gate.sample()).error is not None:  # noqa: ASYNC110
                await trio.sleep(0.01)
        assert gate.health().status == HEALTHY and calls == 2
        nursery.cancel_scope.cancel()


async def test_a_failing_statvfs_is_reported_not_raised(tmp_path: Path) -> None:
    def broken(_d: str) -> DiskUsage:
        raise OSError(5, "Input/output error")

    gate = StorageGate([str(tmp_path)], warn_percent=80, block_percent=95, usage=broken, interval=0)
    sample = await gate.sample()
    assert sample.error == "cannot read disk usage: Input/output error"
    assert gate.health().status == UNHEALTHY


async def test_concurrent_readers_share_one_reading(tmp_path: Path) -> None:
    release = threading.Event()
    calls = 0

    def slow(_d: str) -> DiskUsage:
        nonlocal calls
        calls += 1
        release.wait(10)
        return _usage(20)

    gate = StorageGate([str(tmp_path)], warn_percent=80, block_percent=95, usage=slow, interval=0)
    results: list[float] = []

    async def read() -> None:
        results.append((await gate.sample()).fullest().usage_percentage)  # type: ignore[union-attr]

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        release.set()
    assert results == [20.0, 20.0] and calls == 1


async def test_the_housekeeping_child_is_started_with_a_sample_and_keeps_sampling(tmp_path: Path) -> None:
    calls = 0

    def usage(_d: str) -> DiskUsage:
        nonlocal calls
        calls += 1
        return _usage(10)

    gate = StorageGate([str(tmp_path)], warn_percent=80, block_percent=95, usage=usage, interval=0.01)
    keeper = Housekeeping(Retention(StateStore(tmp_path / "state.db"), []), gate, 3600)
    async with trio.open_nursery() as nursery:
        await nursery.start(keeper.run)
        assert gate.health().status == HEALTHY and calls == 1
        with trio.fail_after(5):
            while calls < 3:
                await gate.wait_sample()
        nursery.cancel_scope.cancel()
