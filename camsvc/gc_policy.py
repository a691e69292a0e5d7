"""What the cyclic garbage collector walks: the young often, what lived since the last age pass sometimes.

CPython's collector holds the event loop for each pass, and a pass walks every object of the
generations it collects. With 10,000 connections held (~30 tracked objects each, ~300,000 in
all) a full pass took 25 ms of CPU on a quiet box and 115-285 ms on a loaded one; even the
~70,000 objects of the imports alone take 10-35 ms. So the policy, run by ``camsvc run``
(cli.py) and nowhere else, keeps every pass short:

- **Start-up is frozen** (:func:`gc.freeze`): imports and the built service, collected once
  before the loop starts, are left out of every later pass.
- **Settle** (at most every :data:`SETTLE` seconds): the two young generations are collected;
  their survivors move to the oldest one. The collector's own passes are held to the youngest
  generation (thresholds), so nothing else ever walks the old objects. While a burst makes
  objects faster than a settle walks them in :data:`SETTLE_HOLD` (10,000 connections opened:
  a settle walked 8-19 ms of them), settles come sooner, so each walks less.
- **Age** (every :data:`AGE` seconds): the oldest generation holds what lived through a settle
  since the last age pass that froze: a full pass over it (frozen objects are never walked)
  reclaims the cycles among them that have died since: an HTTP keep-alive connection, a request
  that waited on MediaMTX, a finished snapshot. It must not be long, and counting the objects
  first would cost as much as walking them (47 ms for 310,000 after a burst of 10,000
  connections), so its cost is bounded from what is known for free: the last age pass's own
  length plus the settles' since (they walked everything promoted since, once). Within
  :data:`AGE_BUDGET` the pass runs. Beyond it, the settles may just have walked short-lived
  objects that are gone again (a busy service), so the allocator's block count decides: grown
  by more than :data:`GROWTH_LIMIT` blocks since the last age pass (a burst of new connections,
  say), or a last pass already over budget, and the oldest generation is frozen instead, out of
  every pass from then on.
- **Thaw**: what an age pass froze may end in a cycle later, which no pass sees; :data:`THAW`
  seconds after the first such freeze a thaw puts every object back in view for one full pass
  (logged with what it found). It is the one long pass, and it happens only after a freeze:
  a service that never needed one (the idle box, the 200-client soak) never thaws.

Settles and age passes run at the start of a scheduler pass (a trio instrument, like the
loop-lag monitor's, which so counts them in the pass), never on a wake-up of their own: on
this box a trio wake-up costs ~0.3 ms of CPU, and two a second were 0.1 % of a core for an
idle service that has nothing to collect.

Before, every settle froze its survivors: whatever lived 0.5 s and later died in a cycle (each
hypercorn connection does) waited for an hourly thaw, part of the 30-minute soak's RSS climb. Freed by reference counting, a frozen object still goes the moment its last reference
does: that is how a closed WebSocket connection goes (tests/rpc/test_connection_memory.py).
"""

from __future__ import annotations

import gc
import logging
import sys
import time

import trio

from .instruments import keep_installed

log = logging.getLogger("camsvc.gc_policy")

#: seconds between settle passes: a pass walks what was allocated in that time and still lives
SETTLE = 0.5
#: seconds a settle should hold the loop at most: when objects come faster than that walks them in a
#: settle period, settles come sooner (down to a tenth of the period)
SETTLE_HOLD = 0.002
#: seconds between age passes: a pass walks what lived through a settle since the last freeze
AGE = 30.0
#: seconds an age pass may hold the loop
AGE_BUDGET = 0.005
#: pymalloc blocks (sys.getallocatedblocks) the heap may grow by between age passes and still be walked
#: when the bound is over budget: ~10,000 objects, under 5 ms even at ~500 ns each (a loaded 2-core box)
GROWTH_LIMIT = 20_000
#: seconds from the first freeze after a thaw to the next thaw (the one full pass over every object)
THAW = 3600.0
#: a threshold the collector's counters never reach
NEVER = 2**30


def settle(generation: int = 1) -> int:
    """Collect up to ``generation``, then freeze what survived, so no garbage is frozen; the unreachable found."""
    found = gc.collect(generation)
    gc.freeze()
    return found


def thaw() -> int:
    """A full collection over every object, frozen ones included, then all frozen again."""
    gc.unfreeze()
    return settle(2)


class GcPolicy(trio.abc.Instrument):
    """Settles, ages (and thaws) at the start of scheduler passes, when one is due."""

    def __init__(
        self,
        settle_every: float = SETTLE,
        age_every: float = AGE,
        thaw_every: float = THAW,
        age_budget: float = AGE_BUDGET,
        growth_limit: int = GROWTH_LIMIT,
    ) -> None:
        self.settle_every = settle_every
        self.age_every = age_every
        self.thaw_every = thaw_every
        self.age_budget = age_budget
        self.growth_limit = growth_limit
        #: what the policy did, for tests and leak hunts: settles; age passes that collected, froze; thaws
        self.settled = self.collected = self.froze = self.thawed = 0
        self._next_settle = self._next_age = self._last_settle = 0.0
        #: seconds the last age pass took (0 after a freeze: nothing left to walk); the settles' since
        self._last_age = self._young = 0.0
        #: the allocator's block count after the last age pass
        self._blocks = 0
        #: set by a freeze after the last thaw: a thaw is due then
        self._next_thaw: float | None = None

    def after_io_wait(self, timeout: float) -> None:
        now = trio.current_time()
        if now < self._next_settle:
            return
        if self._next_thaw is not None and now >= self._next_thaw:
            self._thaw()
        elif now >= self._next_age:
            self._next_age = now + self.age_every
            self._age(now)
        else:
            self._settle(now)
            return
        self._next_settle = now + self.settle_every

    def _settle(self, now: float) -> None:
        began = time.perf_counter()
        gc.collect(1)
        took = time.perf_counter() - began
        self._young += took
        self.settled += 1
        # Objects made faster than a settle walks them in SETTLE_HOLD (a burst of new connections): the
        # next settle comes sooner, so each walks less; the pace follows the rate of the last one.
        per_second = took / max(now - self._last_settle, 1e-3)
        self._last_settle = now
        interval = SETTLE_HOLD / per_second if per_second > 0 else self.settle_every
        self._next_settle = now + min(self.settle_every, max(interval, self.settle_every / 10))

    def _age(self, now: float) -> None:
        self._settle(now)
        bound = self._last_age + self._young
        grown = sys.getallocatedblocks() - self._blocks
        if self._last_age > self.age_budget or (bound > self.age_budget and grown > self.growth_limit):
            gc.freeze()
            self._last_age = 0.0
            self.froze += 1
            if self._next_thaw is None:
                self._next_thaw = now + self.thaw_every
            log.info(
                "garbage collector froze what lived since its last pass: walking it would hold the loop",
                extra={"bound_ms": round(bound * 1000, 1), "blocks_grown": grown},
            )
        else:
            began = time.perf_counter()
            gc.collect(2)
            self._last_age = time.perf_counter() - began
            self.collected += 1
        self._young = 0.0
        self._blocks = sys.getallocatedblocks()

    def _thaw(self) -> None:
        self._next_thaw = None
        self.thawed += 1
        found = thaw()
        self._last_age = self._young = 0.0  # all frozen again
        self._blocks = sys.getallocatedblocks()
        if found:
            log.info("garbage collector thaw found unreachable objects", extra={"unreachable": found})

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Apply the policy while this task runs; start it once start-up is complete (it freezes it first).

        ``camsvc run`` settles once before the loop starts, so this first full pass walks only what the
        loop's own start-up made: the imports' ~70,000 objects were a 20-45 ms hold here."""
        gc.set_threshold(gc.get_threshold()[0], NEVER, NEVER)  # automatic passes: the youngest generation only
        settle(2)
        self._blocks = sys.getallocatedblocks()
        now = trio.current_time()
        self._next_settle, self._next_age, self._last_settle = now + self.settle_every, now + self.age_every, now
        await keep_installed(self, task_status=task_status)
