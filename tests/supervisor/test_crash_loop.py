"""Restart intensity stays reachable when backoff spaces restarts out (issue 13, item 3)."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing

from supervisor import Backoff, ChildSpec, Supervisor, SupervisorGaveUp

#: the root's policy and the backoff most camsvc children use
ROOT_MAX_RESTARTS = 10
ROOT_PERIOD = 60.0
BRISK = Backoff(initial=0.5, max=10.0)


class Crasher:
    """Ready at once, then fails after ``runs_for`` seconds, every time."""

    def __init__(self, runs_for: float = 0.0) -> None:
        self.runs_for = runs_for
        self.runs = 0

    async def __call__(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.runs += 1
        task_status.started()
        await trio.sleep(self.runs_for)
        raise RuntimeError("crash")


async def test_crash_loop_under_backoff_gives_up_within_minutes(autojump_clock: trio.testing.MockClock) -> None:
    # Before: 6 restarts a minute never exceed 10 in 60 s, so this looped 364 times in an hour.
    crasher = Crasher()
    sup = Supervisor(
        "root",
        [ChildSpec("loop", crasher, backoff=BRISK)],
        max_restarts=ROOT_MAX_RESTARTS,
        period=ROOT_PERIOD,
        rng=random.Random(13),
    )
    with trio.move_on_after(3600) as hour, pytest.raises(SupervisorGaveUp) as info:
        await sup.run()
    assert not hour.cancelled_caught, f"still restarting after a virtual hour ({crasher.runs} runs)"
    assert info.value.child == "loop"
    assert crasher.runs == ROOT_MAX_RESTARTS + 1
    # ~0.5+1+2+4+8+5*10 s of backoff: escalates in about a minute, so systemd sees it
    assert trio.current_time() < 120
    assert sup.snapshot().state == "failed"


async def test_child_that_serves_between_failures_is_not_a_crash_loop(autojump_clock: trio.testing.MockClock) -> None:
    # MediaMTX killed once a minute for an hour: each run serves ~60 s, so neither window fills.
    crasher = Crasher(runs_for=59.0)
    sup = Supervisor("root", [ChildSpec("server", crasher, backoff=BRISK)], max_restarts=ROOT_MAX_RESTARTS,
                     period=ROOT_PERIOD)
    with trio.move_on_after(3600) as hour:
        await sup.run()
    assert hour.cancelled_caught
    assert crasher.runs > 50
    assert sup.snapshot().state == "stopped"


async def test_short_runs_add_up_in_the_run_time_window(autojump_clock: trio.testing.MockClock) -> None:
    # Each attempt serves 5 s then fails; backoff reaches 10 s, so wall-clock restarts stay at ~4 a minute,
    # but eleven failures fall within 60 s of the child's own run time.
    crasher = Crasher(runs_for=5.0)
    sup = Supervisor("root", [ChildSpec("flaky", crasher, backoff=BRISK)], max_restarts=ROOT_MAX_RESTARTS,
                     period=ROOT_PERIOD)
    with trio.move_on_after(3600) as hour, pytest.raises(SupervisorGaveUp):
        await sup.run()
    assert not hour.cancelled_caught
    assert crasher.runs == ROOT_MAX_RESTARTS + 1
