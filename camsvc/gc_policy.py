"""What the cyclic garbage collector walks: what is younger than a settle period, and once an hour all.

CPython's collector holds the event loop for each pass, and a pass walks every object of
the generations it collects. With 10,000 connections held (~40 tracked objects each,
~400,000 in all) that made the loop's longest holds:

- a full pass walks them all (115-285 ms of CPU on the shared benchmark box while the
  connections were being opened; ~25 ms on a quiet one);
- an idle connection re-creates its wait-for-readability objects (coroutines, a closure,
  trio's wait record) each time it wakes, so a keepalive pass over every connection makes
  ~130,000 old objects young again while allocations minus frees, the collector's trigger,
  barely moves: the next young pass walked them all (32-108 ms of CPU, every keepalive).

The policy, run by ``camsvc run`` (cli.py) and nowhere else, freezes (:func:`gc.freeze`) what
has settled: a frozen object is left out of every later pass. The collector's own passes are
held to the youngest generation (thresholds), so what is not frozen is in the two young ones:
at most every :data:`SETTLE` seconds :func:`settle` collects those (what was allocated since the
last settle and still lives: short whatever the number of connections) and freezes the survivors.
It runs at the start of a scheduler pass (a trio instrument, like the loop-lag monitor's, which
so counts it in the pass), never on a wake-up of its own: on this box a trio wake-up costs
~0.3 ms of CPU, and two a second were 0.1 % of a core for an idle service that has nothing to
settle. No full collection runs between: besides walking everything, a full one empties
CPython's free lists (about 2 ms to refill after busy moments), so it is kept for start-up and
for the thaw: every :data:`THAW` seconds :func:`thaw` puts every object back in view for one
full pass.

The trade-off: a frozen object is never examined by the collector again. Freed by reference
counting, it still goes the moment its last reference does: that is how a closed connection
goes (it holds no reference cycle; tests/rpc/test_connection_memory.py closes connections
with the collector off and finds every object freed). What stays is an object that became
part of an unreachable cycle after it was frozen (say, the upgrade's wsproto objects of a
connection a settle caught mid-handshake): the thaw reclaims those and logs how many it
found. The thaw is the one pass whose length grows with the heap, as every full pass did
before, but once an hour instead of every few seconds.
"""

from __future__ import annotations

import gc
import logging

import trio

from .instruments import keep_installed

log = logging.getLogger("camsvc.gc_policy")

#: seconds between settle passes: a pass walks what was allocated in that time and still lives
#: (at 10,000 connections a keepalive pass re-creates ~8,000 objects a second)
SETTLE = 0.5
#: seconds between thaws (the one full pass over every object)
THAW = 3600.0
#: a threshold the collector's counters never reach
NEVER = 2**30


def settle(generation: int = 1) -> int:
    """Collect up to ``generation`` (the young ones hold all that is not frozen while :func:`run`
    runs), then freeze what survived, so no garbage is frozen; the unreachable objects found."""
    found = gc.collect(generation)
    gc.freeze()
    return found


def thaw() -> int:
    """A full collection over every object, frozen ones included, then all frozen again."""
    gc.unfreeze()
    return settle(2)


class GcPolicy(trio.abc.Instrument):
    """Settles (and thaws) at the start of scheduler passes, when one is due."""

    def __init__(self, settle_every: float = SETTLE, thaw_every: float = THAW) -> None:
        self.settle_every = settle_every
        self.thaw_every = thaw_every
        self._next_settle = self._next_thaw = 0.0

    def after_io_wait(self, timeout: float) -> None:
        now = trio.current_time()
        if now < self._next_settle:
            return
        self._next_settle = now + self.settle_every
        if now < self._next_thaw:
            settle()
            return
        self._next_thaw = now + self.thaw_every
        found = thaw()
        if found:
            log.info("garbage collector thaw found unreachable objects", extra={"unreachable": found})

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Apply the policy while this task runs; start it once start-up is complete (it freezes it first).

        ``camsvc run`` settles once before the loop starts, so this first full pass walks only what the
        loop's own start-up made: the imports' ~70,000 objects were a 20-45 ms hold here."""
        gc.set_threshold(gc.get_threshold()[0], NEVER, NEVER)  # automatic passes: the youngest generation only
        settle(2)
        now = trio.current_time()
        self._next_settle, self._next_thaw = now + self.settle_every, now + self.thaw_every
        await keep_installed(self, task_status=task_status)
