"""Supervisor semantics, driven by trio's MockClock (autojump) rather than real time."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing

from supervisor import (
    Backoff,
    ChildSpec,
    ChildState,
    EventKind,
    Restart,
    StartError,
    Supervisor,
    SupervisorEvent,
    SupervisorGaveUp,
    supervisor_child,
)

NO_JITTER = Backoff(initial=1.0, factor=2.0, max=8.0, jitter=0.0)


class Flaky:
    """A child that becomes ready, then fails ``fail_times`` times before staying up."""

    def __init__(self, fail_times: int, *, returns: bool = False) -> None:
        self.fail_times = fail_times
        self.returns = returns
        self.runs = 0
        self.started_at: list[float] = []

    async def __call__(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.runs += 1
        self.started_at.append(trio.current_time())
        task_status.started()
        await trio.sleep(0.5)
        if self.runs <= self.fail_times:
            if self.returns:
                return
            raise RuntimeError(f"boom {self.runs}")
        await trio.sleep_forever()


async def forever(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    task_status.started()
    await trio.sleep_forever()


async def wait_for(predicate, deadline: float = 100.0) -> None:
    """Poll a snapshot predicate with a deadline (MockClock time: free)."""
    with trio.fail_after(deadline):
        while not predicate():  # noqa: ASYNC110 - polling a snapshot is what is under test
            await trio.sleep(0.01)


async def test_failing_child_restarts_with_backoff_and_reports_state(autojump_clock: trio.testing.MockClock) -> None:
    flaky = Flaky(fail_times=3)
    events: list[SupervisorEvent] = []
    sup = Supervisor("root", [ChildSpec("flaky", flaky, backoff=NO_JITTER)], max_restarts=10, period=60,
                     listeners=[events.append])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await wait_for(lambda: flaky.runs == 4 and sup.snapshot().child("flaky").state is ChildState.RUNNING)
        snap = sup.snapshot().child("flaky")
        assert snap is not None
        assert snap.restarts == 3
        assert snap.last_error == "RuntimeError: boom 3"
        assert [r.reason for r in snap.history] == ["RuntimeError: boom 1", "RuntimeError: boom 2", "RuntimeError: boom 3"]
        # Gaps between starts: 0.5 s of running plus backoff 1, 2, 4 seconds.
        gaps = [b - a for a, b in zip(flaky.started_at, flaky.started_at[1:], strict=False)]
        assert gaps == pytest.approx([1.5, 2.5, 4.5])
        nursery.cancel_scope.cancel()
    kinds = [e.kind for e in events]
    assert kinds.count(EventKind.RESTARTING) == 3
    assert kinds.count(EventKind.FAILED) == 3


async def test_backoff_state_visible_while_waiting(autojump_clock: trio.testing.MockClock) -> None:
    flaky = Flaky(fail_times=1)
    sup = Supervisor("root", [ChildSpec("flaky", flaky, backoff=Backoff(initial=10, jitter=0))])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await wait_for(lambda: sup.snapshot().child("flaky").state is ChildState.BACKOFF)
        snap = sup.snapshot().child("flaky")
        assert snap.backoff_until is not None and snap.backoff_until > snap.since
        await wait_for(lambda: sup.snapshot().child("flaky").state is ChildState.RUNNING)
        assert sup.snapshot().child("flaky").backoff_until is None
        nursery.cancel_scope.cancel()


async def test_intensity_exceeded_fails_upward_and_cancels_siblings(autojump_clock: trio.testing.MockClock) -> None:
    sibling_cancelled = trio.Event()

    async def sibling(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            sibling_cancelled.set()

    flaky = Flaky(fail_times=100)
    sup = Supervisor(
        "root",
        [ChildSpec("sibling", sibling), ChildSpec("flaky", flaky, backoff=Backoff(initial=0.1, jitter=0))],
        max_restarts=3,
        period=60,
    )
    with pytest.raises(SupervisorGaveUp) as info:
        await sup.run()
    assert info.value.child == "flaky"
    assert "boom 4" in info.value.reason
    assert flaky.runs == 4  # three restarts allowed, the fourth failure is one too many
    assert sibling_cancelled.is_set()
    assert sup.snapshot().state == "failed"


async def test_restarts_spread_over_more_than_period_are_tolerated(autojump_clock: trio.testing.MockClock) -> None:
    # Fails every ~20 s; 2 restarts allowed per 30 s window → never gives up.
    flaky = Flaky(fail_times=6)

    async def slow_flaky(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep(20)
        flaky.runs += 1
        if flaky.runs <= flaky.fail_times:
            raise RuntimeError("slow boom")
        await trio.sleep_forever()

    sup = Supervisor("root", [ChildSpec("slow", slow_flaky, backoff=Backoff(initial=0.1, jitter=0))],
                     max_restarts=2, period=30)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await wait_for(lambda: flaky.runs == 7, deadline=1000)
        assert sup.snapshot().child("slow").restarts == 6
        assert sup.snapshot().state == "running"
        nursery.cancel_scope.cancel()


async def test_transient_child_returning_normally_is_not_restarted(autojump_clock: trio.testing.MockClock) -> None:
    done = Flaky(fail_times=1, returns=True)
    sup = Supervisor("root", [ChildSpec("job", done, restart=Restart.TRANSIENT)])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await wait_for(lambda: sup.snapshot().child("job").state is ChildState.STOPPED)
        await trio.sleep(100)
        assert done.runs == 1
        assert sup.snapshot().child("job").restarts == 0
        nursery.cancel_scope.cancel()


async def test_transient_child_that_raises_is_restarted(autojump_clock: trio.testing.MockClock) -> None:
    flaky = Flaky(fail_times=1)
    sup = Supervisor("root", [ChildSpec("job", flaky, restart=Restart.TRANSIENT, backoff=NO_JITTER)])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await wait_for(lambda: flaky.runs == 2)
        assert sup.snapshot().child("job").restarts == 1
        nursery.cancel_scope.cancel()


async def test_temporary_child_is_never_restarted_and_forgotten_when_it_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    flaky = Flaky(fail_times=5)
    events: list[SupervisorEvent] = []
    sup = Supervisor("root", [ChildSpec("once", flaky, restart=Restart.TEMPORARY)], listeners=[events.append])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await wait_for(lambda: not sup.has_child("once"))
        await trio.sleep(100)
        assert flaky.runs == 1
        assert sup.snapshot().child("once") is None
        # the error is not lost with the child: the failed event carries it
        assert [(e.kind, e.error) for e in events if e.kind is not EventKind.STARTED] == [
            (EventKind.FAILED, "RuntimeError: boom 1"),
            (EventKind.STOPPED, None),
        ]
        nursery.cancel_scope.cancel()


async def test_permanent_child_that_returns_is_restarted(autojump_clock: trio.testing.MockClock) -> None:
    flaky = Flaky(fail_times=2, returns=True)
    sup = Supervisor("root", [ChildSpec("svc", flaky, backoff=NO_JITTER)])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await wait_for(lambda: flaky.runs == 3)
        snap = sup.snapshot().child("svc")
        assert snap.restarts == 2
        assert snap.last_error is None
        assert [r.reason for r in snap.history] == ["exited", "exited"]
        nursery.cancel_scope.cancel()


async def test_dynamic_children_start_and_stop(autojump_clock: trio.testing.MockClock) -> None:
    cleaned_up = trio.Event()

    async def worker(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await trio.sleep(1)  # readiness takes time; start_child must wait for it
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            cleaned_up.set()

    sup = Supervisor("cams")
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        before = trio.current_time()
        await sup.start_child(ChildSpec("cam0", worker))
        assert trio.current_time() - before == pytest.approx(1.0)
        assert sup.snapshot().child("cam0").state is ChildState.RUNNING
        with pytest.raises(ValueError):
            await sup.start_child(ChildSpec("cam0", worker))
        await sup.stop_child("cam0")
        assert cleaned_up.is_set()
        assert sup.snapshot().child("cam0") is None
        with pytest.raises(LookupError):
            await sup.stop_child("cam0")
        nursery.cancel_scope.cancel()


async def test_stop_child_interrupts_backoff(autojump_clock: trio.testing.MockClock) -> None:
    flaky = Flaky(fail_times=100)
    sup = Supervisor("root", max_restarts=100)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.start_child(ChildSpec("f", flaky, backoff=Backoff(initial=1000, jitter=0)))
        await wait_for(lambda: sup.snapshot().child("f").state is ChildState.BACKOFF)
        before = trio.current_time()
        await sup.stop_child("f")
        assert trio.current_time() - before < 1
        assert not sup.has_child("f")
        nursery.cancel_scope.cancel()


async def test_first_start_failure_raises_start_error_without_restart() -> None:
    attempts = 0

    async def bad(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal attempts
        attempts += 1
        raise OSError(98, "Address already in use")

    sup = Supervisor("root", [ChildSpec("http", bad)])
    with pytest.raises(StartError) as info:
        await sup.run()
    assert info.value.child == "http"
    assert "Address already in use" in info.value.reason
    assert attempts == 1


async def test_start_timeout(autojump_clock: trio.testing.MockClock) -> None:
    async def never_ready(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await trio.sleep_forever()

    sup = Supervisor("root")
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        with pytest.raises(StartError, match="not ready within 3s"):
            await sup.start_child(ChildSpec("slow", never_ready, start_timeout=3))
        assert not sup.has_child("slow")
        nursery.cancel_scope.cancel()


async def test_cancellation_is_not_swallowed(autojump_clock: trio.testing.MockClock) -> None:
    # A child that is cancelled by its supervisor's parent is not "failed" and not restarted.
    flaky = Flaky(fail_times=0)
    sup = Supervisor("root", [ChildSpec("c", flaky)])
    with trio.move_on_after(5):
        await sup.run()
    assert flaky.runs == 1
    snap = sup.snapshot()
    assert snap.state == "stopped"
    assert snap.child("c") is None or snap.child("c").restarts == 0


async def test_nested_supervisor_restarts_and_shows_in_snapshot(autojump_clock: trio.testing.MockClock) -> None:
    inner_flaky = Flaky(fail_times=100)
    inner = Supervisor("cameras", [ChildSpec("discovery", inner_flaky, backoff=Backoff(initial=0.1, jitter=0))],
                       max_restarts=1, period=60)
    outer = Supervisor("root", [supervisor_child(inner, backoff=Backoff(initial=1, jitter=0)),
                                ChildSpec("steady", forever)], max_restarts=10)
    async with trio.open_nursery() as nursery:
        await nursery.start(outer.run)
        await wait_for(lambda: outer.snapshot().child("cameras").restarts >= 2)
        snap = outer.snapshot()
        cams = snap.child("cameras")
        assert "gave up" in (cams.last_error or "")
        assert cams.supervisor is not None and cams.supervisor.name == "cameras"
        assert snap.child("steady").state is ChildState.RUNNING
        assert snap.child("steady").restarts == 0
        paths = [p for p, _ in snap.walk()]
        assert "cameras/discovery" in paths
        nursery.cancel_scope.cancel()


def test_backoff_delay_growth_and_jitter() -> None:
    b = Backoff(initial=0.1, factor=2, max=30, jitter=0.1)
    rng = random.Random(1)
    for attempt, base in [(0, 0.1), (1, 0.2), (5, 3.2), (20, 30.0)]:
        d = b.delay(attempt, rng)
        assert base * 0.9 <= d <= base * 1.1
    with pytest.raises(ValueError):
        Backoff(jitter=2)


def test_duplicate_static_names_rejected() -> None:
    with pytest.raises(ValueError):
        Supervisor("x", [ChildSpec("a", forever), ChildSpec("a", forever)])
