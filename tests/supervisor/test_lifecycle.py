"""OTP lifecycle: terminate/restart/delete, stops that are not failures, bounded waits,
ordered shutdown and rest_for_one (issue 13, item 3). Time is trio's MockClock."""

from __future__ import annotations

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
    Strategy,
    Supervisor,
    SupervisorEvent,
    SupervisorGaveUp,
)

NO_JITTER = Backoff(initial=1.0, factor=2.0, max=8.0, jitter=0.0)


async def wait_for(predicate, deadline: float = 100.0) -> None:
    with trio.fail_after(deadline):
        while not predicate():  # noqa: ASYNC110 - polling a snapshot is what is under test
            await trio.sleep(0.01)


class Recorder:
    """Children that log their starts and stops (with the clock) into one shared list."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, float]] = []
        self.runs: dict[str, int] = {}

    def child(self, name: str, *, cleanup: float = 0.0, fail_first: int = 0) -> ChildSpec:
        async def run(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            self.runs[name] = self.runs.get(name, 0) + 1
            self.log.append(("start", name, trio.current_time()))
            task_status.started()
            try:
                if self.runs[name] <= fail_first:
                    await trio.sleep(0.5)
                    raise RuntimeError(f"{name} broke")
                await trio.sleep_forever()
            finally:
                self.log.append(("stop", name, trio.current_time()))
                if cleanup:
                    with trio.CancelScope(shield=True):
                        await trio.sleep(cleanup)

        return ChildSpec(name, run, backoff=NO_JITTER, shutdown_timeout=2.0)

    def order(self, kind: str) -> list[str]:
        return [name for k, name, _ in self.log if k == kind]


async def test_terminate_restart_and_delete_child(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    sup = Supervisor("root", [rec.child("a")])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        with pytest.raises(ValueError, match="running"):
            await sup.restart_child("a")
        with pytest.raises(ValueError, match="running"):
            sup.delete_child("a")
        await sup.terminate_child("a")
        snap = sup.snapshot().child("a")
        assert snap is not None and snap.state is ChildState.STOPPED and snap.restarts == 0
        await trio.sleep(100)
        assert rec.runs["a"] == 1  # terminated, not restarted
        await sup.restart_child("a")
        assert sup.snapshot().child("a").state is ChildState.RUNNING
        assert rec.runs["a"] == 2
        await sup.terminate_child("a")
        sup.delete_child("a")
        assert not sup.has_child("a")
        with pytest.raises(LookupError):
            await sup.restart_child("a")
        with pytest.raises(LookupError):
            sup.delete_child("a")
        nursery.cancel_scope.cancel()


async def test_restart_child_that_fails_to_start_stays_stopped(autojump_clock: trio.testing.MockClock) -> None:
    attempts = 0

    async def breaks_on_second_start(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal attempts
        attempts += 1
        if attempts > 1:
            raise OSError("device gone")
        task_status.started()
        await trio.sleep_forever()

    sup = Supervisor("root", [ChildSpec("dev", breaks_on_second_start)])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.terminate_child("dev")
        with pytest.raises(StartError, match="device gone"):
            await sup.restart_child("dev")
        snap = sup.snapshot().child("dev")
        assert snap is not None and snap.state is ChildState.FAILED and snap.last_error == "OSError: device gone"
        nursery.cancel_scope.cancel()


async def test_child_that_returns_when_stopped_is_not_a_restart(autojump_clock: trio.testing.MockClock) -> None:
    async def returns_on_cancel(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            return  # deliberately swallowed: the supervisor must still not see an "exit"

    events: list[SupervisorEvent] = []
    sup = Supervisor("root", max_restarts=0, listeners=[events.append])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.start_child(ChildSpec("c", returns_on_cancel))
        await sup.stop_child("c")
        assert not sup.has_child("c")
        assert [e.kind for e in events] == [EventKind.STARTED, EventKind.STOPPED]
        assert sup.snapshot().state == "running" and sup.snapshot().recent_restarts == 0
        nursery.cancel_scope.cancel()


async def test_start_timeout_wait_is_bounded_by_shutdown_timeout(autojump_clock: trio.testing.MockClock) -> None:
    async def stuck(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope(shield=True):  # ignores cancellation for a long time
            await trio.sleep(1000)

    sup = Supervisor("root")
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        before = trio.current_time()
        with pytest.raises(StartError, match="not ready within 3s"):
            await sup.start_child(ChildSpec("slow", stuck, start_timeout=3, shutdown_timeout=2))
        assert trio.current_time() - before == pytest.approx(5.0)
        assert not sup.has_child("slow")  # forgotten: the name can be used again
        nursery.cancel_scope.cancel()


async def test_shutdown_in_reverse_start_order_each_within_its_timeout(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    sup = Supervisor("root", [rec.child("first"), rec.child("second", cleanup=1000), rec.child("third")])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.start_child(rec.child("dynamic"))
        began = trio.current_time()
        nursery.cancel_scope.cancel()
    stops = [(name, at - began) for kind, name, at in rec.log if kind == "stop"]
    assert [n for n, _ in stops] == ["dynamic", "third", "second", "first"]
    # "second" overran its cleanup: the supervisor waited its shutdown_timeout (2 s), then went on
    assert stops[3][1] == pytest.approx(2.0)


async def test_giving_up_stops_children_in_reverse_order(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    sup = Supervisor("root", [rec.child("a"), rec.child("b"), rec.child("flaky", fail_first=100), rec.child("z")],
                     max_restarts=1)
    with pytest.raises(SupervisorGaveUp):
        await sup.run()
    assert rec.order("stop")[-3:] == ["z", "b", "a"]


async def test_rest_for_one_restarts_later_siblings_after_the_failed_child(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rec = Recorder()
    sup = Supervisor(
        "mediamtx",
        [rec.child("before"), rec.child("server", fail_first=1), rec.child("reconciler"), rec.child("last")],
        strategy=Strategy.REST_FOR_ONE,
        max_restarts=1,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await wait_for(lambda: rec.runs.get("last") == 2 and sup.snapshot().child("last").state is ChildState.RUNNING)
        seq = [(k, n) for k, n, _ in rec.log if n != "before"]
        assert seq[:3] == [("start", "server"), ("start", "reconciler"), ("start", "last")]
        # server fails → dependents stop, last first → server back → dependents again, in order
        assert seq[3:] == [
            ("stop", "server"),
            ("stop", "last"),
            ("stop", "reconciler"),
            ("start", "server"),
            ("start", "reconciler"),
            ("start", "last"),
        ]
        snap = sup.snapshot()
        assert rec.runs["before"] == 1 and snap.child("before").restarts == 0
        assert snap.child("server").restarts == 1
        assert snap.child("reconciler").restarts == 1
        assert [r.reason for r in snap.child("reconciler").history] == ["restarted with server (rest_for_one)"]
        # counted once: max_restarts=1 would have given up on a second count
        assert snap.state == "running" and snap.recent_restarts == 1
        nursery.cancel_scope.cancel()


async def test_one_for_one_leaves_siblings_alone(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    sup = Supervisor("root", [rec.child("server", fail_first=1), rec.child("reconciler")])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await wait_for(lambda: rec.runs.get("server") == 2)
        assert rec.runs["reconciler"] == 1
        nursery.cancel_scope.cancel()


async def test_temporary_dependent_is_not_restarted_by_rest_for_one(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    once = rec.child("once")
    sup = Supervisor("s", [rec.child("server", fail_first=1)], strategy=Strategy.REST_FOR_ONE)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.start_child(ChildSpec("once", once.run, restart=Restart.TEMPORARY))
        await wait_for(lambda: rec.runs.get("server") == 2)
        await trio.sleep(10)
        assert rec.runs["once"] == 1 and not sup.has_child("once")
        nursery.cancel_scope.cancel()
