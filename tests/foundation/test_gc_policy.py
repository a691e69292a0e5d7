"""The garbage-collector policy of ``camsvc run``: settle freezes survivors, never garbage; a thaw reclaims late cycles."""

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


async def test_settles_at_scheduler_passes_when_due_and_thaws_on_schedule(autojump_clock: trio.abc.Clock) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(gc_policy.GcPolicy(settle_every=1.0, thaw_every=10.0).run)
        assert gc.get_threshold()[1:] == (gc_policy.NEVER, gc_policy.NEVER)  # the collector's own: youngest only
        young = Node()
        await trio.sleep(1.5)
        assert not any(o is young for o in gc.get_objects())  # settled
        node, gone = cycle()
        del node
        await trio.sleep(1.0)
        assert gone() is None  # a cycle that is garbage before a settle is collected by it
        node, gone = cycle()
        await trio.sleep(1.0)  # settled: frozen
        del node
        await trio.sleep(5.0)
        assert gone() is not None  # only a thaw finds it
        await trio.sleep(5.0)
        assert gone() is None  # the thaw, 10 s after start
        nursery.cancel_scope.cancel()
