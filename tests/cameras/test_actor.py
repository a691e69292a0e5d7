"""The camera actor on its own: serialised ops, errors to callers, cancellation, published state, leases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from camsvc.cameras.actor import CameraActor
from camsvc.cameras.model import Camera, CameraStatus, RecordingState, Source, SourceKind
from camsvc.cameras.registry import CameraRegistry
from camsvc.errors import InvalidState
from supervisor import describe_error

CAMERA = Camera(id="camera0", name="cam", source=Source(kind=SourceKind.SYNTHETIC, ffmpeg_input=("-i", "x")))


@attrs.define
class Running:
    actor: CameraActor
    registry: CameraRegistry
    scope: trio.CancelScope


async def start(nursery: trio.Nursery, actor: CameraActor) -> None:
    await nursery.start(actor.run)


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    registry = CameraRegistry()
    actor = CameraActor(camera=CAMERA, registry=registry)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        yield Running(actor, registry, nursery.cancel_scope)
        nursery.cancel_scope.cancel()


async def test_start_publishes_the_camera(running: Running) -> None:
    camera = running.registry.get("camera0")
    assert camera is not None and camera.status is CameraStatus.CONNECTED and camera.since > 0
    assert running.actor.running and running.actor.starts == 1


async def test_exclusive_ops_never_overlap_and_run_in_order(running: Running) -> None:
    active, peak, order = 0, 0, []

    async def op(n: int) -> int:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await trio.sleep(0.01)
        order.append(n)
        active -= 1
        return n

    results: list[int] = []

    async def caller(n: int) -> None:
        results.append(await running.actor.call(lambda camera: op(n)))

    async with trio.open_nursery() as nursery:
        for n in range(5):
            nursery.start_soon(caller, n)
            await trio.testing.wait_all_tasks_blocked()  # queue them in a known order
    assert peak == 1
    assert order == [0, 1, 2, 3, 4]
    assert sorted(results) == [0, 1, 2, 3, 4]


async def test_non_exclusive_ops_run_alongside(running: Running) -> None:
    both_in = trio.Event()
    inside = 0

    async def op(camera: Camera) -> str:
        nonlocal inside
        inside += 1
        if inside == 2:
            both_in.set()
        await both_in.wait()
        return camera.id

    async with trio.open_nursery() as nursery:
        nursery.start_soon(running.actor.call, op)  # exclusive, holds the device lock
        await trio.testing.wait_all_tasks_blocked()
        with trio.fail_after(5):
            assert await running.actor.call(op, exclusive=False) == "camera0"


async def test_op_errors_go_to_the_caller_not_the_actor(running: Running) -> None:
    async def op(camera: Camera) -> None:
        raise ValueError("ffmpeg said no")

    with pytest.raises(ValueError, match="ffmpeg said no"):
        await running.actor.call(op)
    assert running.actor.running and running.actor.starts == 1

    async def ok(camera: Camera) -> Camera:
        return camera

    assert (await running.actor.call(ok)).id == "camera0"


async def test_a_caller_that_gives_up_cancels_its_op(running: Running) -> None:
    cancelled = trio.Event()

    async def op(camera: Camera) -> None:
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()

    with trio.move_on_after(0.05):
        await running.actor.call(op)
    with trio.fail_after(5):
        await cancelled.wait()

    async def ok(camera: Camera) -> str:
        return "free"

    assert await running.actor.call(ok) == "free"  # the device lock was released


async def test_stopping_the_actor_answers_pending_calls_with_camera_disconnected() -> None:
    registry = CameraRegistry()
    actor = CameraActor(camera=CAMERA, registry=registry)
    outcome: list[BaseException] = []

    async def op(camera: Camera) -> None:
        await trio.sleep_forever()

    async def caller() -> None:
        try:
            await actor.call(op)
        except InvalidState as exc:
            outcome.append(exc)

    async with trio.open_nursery() as outer:
        with trio.CancelScope() as actor_scope:
            async with trio.open_nursery() as inner:
                await inner.start(actor.run)
                outer.start_soon(caller)
                outer.start_soon(caller)
                await trio.testing.wait_all_tasks_blocked()
                actor_scope.cancel()
    assert [e.reason for e in outcome] == ["camera_disconnected", "camera_disconnected"]  # type: ignore[attr-defined]
    with pytest.raises(InvalidState):
        await actor.call(op)


async def test_calls_are_refused_unless_connected(running: Running) -> None:
    async def op(camera: Camera) -> None:
        raise AssertionError("must not run")

    running.registry.put(attrs.evolve(CAMERA, status=CameraStatus.ERROR))
    with pytest.raises(InvalidState) as info:
        await running.actor.call(op)
    assert info.value.reason == "camera_disconnected"
    running.registry.remove("camera0")
    with pytest.raises(InvalidState):
        await running.actor.call(op)


async def test_set_recording_and_keep_streaming_publish(running: Running) -> None:
    state = RecordingState("s1", "camera0_x", 1.0, "fmp4", duration=60)
    version = running.registry.version
    running.actor.set_recording(state)
    running.actor.set_keep_streaming(True)
    camera = running.registry.get("camera0")
    assert camera is not None and camera.recording == state and camera.keep_streaming
    assert running.registry.version == version + 2
    running.registry.remove("camera0")
    running.actor.set_recording(None)  # clearing a removed camera is fine (media cleanup)
    with pytest.raises(InvalidState):
        running.actor.set_recording(state)


async def test_lease_keeps_streaming_until_closed(running: Running) -> None:
    lease = running.actor.open_lease()
    assert running.actor.open_lease() is lease  # idempotent: the real start time is kept
    camera = running.registry.get("camera0")
    assert camera is not None and camera.keep_streaming
    closed = running.actor.close_lease()
    assert closed is not None and closed.start_time == lease.start_time
    assert closed.end_time is not None and closed.end_time >= closed.start_time and closed.ended_by == "stop"
    camera = running.registry.get("camera0")
    assert camera is not None and not camera.keep_streaming
    assert running.actor.close_lease() is None


async def test_lease_closes_after_idling_without_readers(autojump_clock: Any) -> None:
    registry = CameraRegistry()
    readers = {"n": 1}

    async def count(camera_id: str) -> int | None:
        return readers["n"]

    actor = CameraActor(camera=CAMERA, registry=registry, readers=count, idle_close=30.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        assert actor.idle_close_after() == 30
        actor.open_lease()
        await trio.sleep(120)
        assert actor.lease is not None  # somebody watches: it stays
        readers["n"] = 0
        dropped = trio.current_time()
        while actor.lease is not None:
            await registry.wait_changed(registry.version)
        # never before 30 s without readers; at most one check interval (7.5 s) plus one check later
        assert 30 <= trio.current_time() - dropped <= 30 + 2 * 7.5
        camera = registry.get("camera0")
        assert camera is not None and not camera.keep_streaming
        closed = actor.close_lease()  # stop_streaming after the idle close still gets the real times
        assert closed is not None and closed.ended_by == "idle"
        assert actor.close_lease() is None
        nursery.cancel_scope.cancel()


async def test_lease_never_idles_out_when_readers_are_unknown(autojump_clock: Any) -> None:
    registry = CameraRegistry()

    async def unknown(camera_id: str) -> int | None:
        raise RuntimeError("mediamtx down")

    actor = CameraActor(camera=CAMERA, registry=registry, readers=unknown, idle_close=10.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        actor.open_lease()
        await trio.sleep(600)
        assert actor.lease is not None
        nursery.cancel_scope.cancel()


async def test_a_crash_publishes_error_and_a_restart_keeps_desired_state() -> None:
    registry = CameraRegistry()
    actor = CameraActor(camera=CAMERA, registry=registry)
    state = RecordingState("s1", "f", 1.0, "fmp4")
    with pytest.raises(Exception) as crash:  # noqa: B017 - the actor's nursery wraps it in a group
        async with trio.open_nursery() as nursery:
            await nursery.start(actor.run)
            actor.set_recording(state)
            actor.set_keep_streaming(True)
            await actor._post("not a message")
    assert "TypeError: camera actor 'camera0' got an unknown message" in describe_error(crash.value)
    camera = registry.get("camera0")
    assert (
        camera is not None
        and camera.status is CameraStatus.ERROR
        and "unknown message" in (camera.error or "")
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        camera = registry.get("camera0")
        assert camera is not None and camera.status is CameraStatus.CONNECTED and camera.error is None
        assert camera.recording == state and camera.keep_streaming
        assert actor.starts == 2
        nursery.cancel_scope.cancel()
