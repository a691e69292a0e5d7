"""The garbage-collector policy of ``camsvc run``: settles promote, age passes collect or freeze, a thaw follows a freeze."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
import trio

from camsvc import gc_policy


class Node:
    me: object = None


def cycle() -> tuple[Node, weakref.ref[Node]]:
    node = Node()
    node.me = node  # a reference cycle: only the collector frees it
    return node, weakref.ref(node)


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    """The policy freezes the whole test process's heap and sets thresholds: undo both afterwards."""
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def test_settle_collects_garbage_first_and_freezes_the_survivors() -> None:
    garbage, gone = cycle()
    del garbage
    alive = Node()
    gc_policy.settle()
    assert gone() is None  # collected, never frozen
    assert gc.get_freeze_count() > 1000  # every module and object built so far
    assert not any(o is alive for o in gc.get_objects())  # frozen: out of every later pass


def test_a_frozen_object_freed_by_reference_counting_goes_at_once() -> None:
    node = Node()
    gone = weakref.ref(node)
    gc_policy.settle()
    del node
    assert gone() is None


def test_a_cycle_that_became_garbage_after_its_freeze_waits_for_the_thaw() -> None:
    node, gone = cycle()
    gc_policy.settle()
    del node
    gc.collect()
    assert gone() is not None  # frozen: the collector does not see it
    assert gc_policy.thaw() >= 1
    assert gone() is None
    assert gc.get_freeze_count() > 1000  # and the rest frozen again


def in_gen2(obj: object) -> bool:
    return any(o is obj for o in gc.get_objects(2))


async def test_settles_promote_and_age_passes_collect_cycles_that_died_since(autojump_clock: trio.abc.Clock) -> None:
    policy = gc_policy.GcPolicy(settle_every=1.0, age_every=10.0, thaw_every=100.0, age_budget=1.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(policy.run)
        assert gc.get_threshold()[1:] == (gc_policy.NEVER, gc_policy.NEVER)  # the collector's own: youngest only
        young = Node()
        await trio.sleep(1.5)
        assert in_gen2(young)  # settled: promoted, not frozen
        node, gone = cycle()
        del node
        await trio.sleep(1.0)
        assert gone() is None  # a cycle that is garbage before a settle is collected by it
        node, gone = cycle()
        await trio.sleep(1.0)  # lived through a settle
        del node
        await trio.sleep(2.0)
        assert gone() is not None  # settles walk the young generations only
        await trio.sleep(7.0)
        assert gone() is None  # the age pass at 10 s
        for _ in range(30):  # the policy acts at scheduler passes: one per wake-up here
            await trio.sleep(10.0)
        assert (policy.froze, policy.thawed) == (0, 0)  # within budget: nothing frozen, so no thaw either
        assert policy.collected >= 30
        nursery.cancel_scope.cancel()


async def test_a_busy_heap_that_did_not_grow_is_still_collected(autojump_clock: trio.abc.Clock) -> None:
    # settles that walked a lot (short-lived objects, since gone) put the bound over budget; the heap did not grow
    policy = gc_policy.GcPolicy(settle_every=1.0, age_every=10.0, thaw_every=100.0, age_budget=0.0, growth_limit=2**40)
    async with trio.open_nursery() as nursery:
        await nursery.start(policy.run)
        node, gone = cycle()
        await trio.sleep(1.5)  # lived through a settle
        del node
        await trio.sleep(9.0)
        assert gone() is None and (policy.collected, policy.froze) == (1, 0)
        nursery.cancel_scope.cancel()


async def test_an_age_pass_over_budget_freezes_and_a_thaw_follows(autojump_clock: trio.abc.Clock) -> None:
    # nothing fits a budget of 0, and any growth counts as a burst
    policy = gc_policy.GcPolicy(settle_every=1.0, age_every=10.0, thaw_every=100.0, age_budget=0.0, growth_limit=-(2**40))
    async with trio.open_nursery() as nursery:
        await nursery.start(policy.run)
        node, gone = cycle()
        await trio.sleep(10.5)  # the age pass: predicted over budget
        assert policy.froze == 1 and not in_gen2(node)  # frozen
        del node
        await trio.sleep(50.0)
        assert gone() is not None and policy.thawed == 0  # no pass sees it
        await trio.sleep(50.0)
        assert gone() is None and policy.thawed == 1  # the thaw, 100 s after that first freeze
        nursery.cancel_scope.cancel()


async def test_a_long_settle_brings_the_next_one_forward(autojump_clock: trio.abc.Clock) -> None:
    policy = gc_policy.GcPolicy(settle_every=1.0, age_every=1000.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(policy.run)
        await trio.sleep(0.99)  # just before the first settle
        burst = [[Node() for _ in range(20)] for _ in range(10_000)]  # 200,000 objects: far over 2 ms to walk
        settled = policy.settled
        for _ in range(90):  # a scheduler pass every 10 ms for 0.9 s
            await trio.sleep(0.01)
        assert policy.settled - settled >= 2  # the long one, then another well before its usual second
        del burst
        nursery.cancel_scope.cancel()
