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
  generation (thresholds), so nothing else ever walks the old objects.
- **Age** (every :data:`AGE` seconds): the oldest generation holds what lived through a settle
  since the last age pass that froze: a full pass over it (frozen objects are never walked)
  reclaims the cycles among them that have died since: an HTTP keep-alive connection, a request
  that waited on MediaMTX, a finished snapshot. Its cost is predicted first (its objects are
  counted, a third of what walking them costs, times the per-object cost the last pass
  measured); a pass predicted longer than :data:`AGE_BUDGET` freezes them instead: after a
  burst of new connections, say, which then stay out of every pass.
- **Thaw**: what an age pass froze may end in a cycle later, which no pass sees; :data:`THAW`
  seconds after the first such freeze a thaw puts every object back in view for one full pass
  (logged with what it found). It is the one long pass, and it happens only after a freeze:
  a service that never needed one (the idle box, the 200-client soak) never thaws.

Settles and age passes run at the start of a scheduler pass (a trio instrument, like the
loop-lag monitor's, which so counts them in the pass), never on a wake-up of their own: on
this box a trio wake-up costs ~0.3 ms of CPU, and two a second were 0.1 % of a core for an
idle service that has nothing to collect.

Before, every settle froze its survivors: whatever lived 0.5 s and later died in a cycle (each
hypercorn connection does) waited for an hourly thaw, and the 30-minute soak's RSS rose with
it. Freed by reference counting, a frozen object still goes the moment its last reference
does: that is how a closed WebSocket connection goes (tests/rpc/test_connection_memory.py).
"""

from __future__ import annotations

import gc
import logging
import time

import trio

from .instruments import keep_installed

log = logging.getLogger("camsvc.gc_policy")

#: seconds between settle passes: a pass walks what was allocated in that time and still lives
SETTLE = 0.5
#: seconds between age passes: a pass walks what lived through a settle since the last freeze
AGE = 30.0
#: seconds an age pass may hold the loop; one predicted longer freezes instead
AGE_BUDGET = 0.005
#: seconds per object walked, until an age pass has measured it (a loaded 2-core box: ~550 ns)
PER_OBJECT = 200e-9
#: an age pass over fewer objects is mostly fixed cost: it does not update the per-object figure
MEASURE_FROM = 5000
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
    ) -> None:
        self.settle_every = settle_every
        self.age_every = age_every
        self.thaw_every = thaw_every
        self.age_budget = age_budget
        self.per_object = PER_OBJECT
        #: what the policy did, for tests and leak hunts: age passes that collected, froze; thaws
        self.collected = self.froze = self.thawed = 0
        self._next_settle = self._next_age = 0.0
        #: set by a freeze after the last thaw: a thaw is due then
        self._next_thaw: float | None = None

    def after_io_wait(self, timeout: float) -> None:
        now = trio.current_time()
        if now < self._next_settle:
            return
        self._next_settle = now + self.settle_every
        if self._next_thaw is not None and now >= self._next_thaw:
            self._thaw()
        elif now >= self._next_age:
            self._next_age = now + self.age_every
            self._age(now)
        else:
            gc.collect(1)

    def _age(self, now: float) -> None:
        gc.collect(1)
        old = len(gc.get_objects(2))
        if old * self.per_object > self.age_budget:
            gc.freeze()
            self.froze += 1
            if self._next_thaw is None:
                self._next_thaw = now + self.thaw_every
            log.info(
                "garbage collector froze what lived since its last pass: walking it would hold the loop",
                extra={"objects": old, "predicted_ms": round(old * self.per_object * 1000, 1)},
            )
            return
        began = time.perf_counter()
        gc.collect(2)
        if old >= MEASURE_FROM:
            self.per_object = (time.perf_counter() - began) / old
        self.collected += 1

    def _thaw(self) -> None:
        self._next_thaw = None
        self.thawed += 1
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
        self._next_settle, self._next_age = now + self.settle_every, now + self.age_every
        await keep_installed(self, task_status=task_status)
