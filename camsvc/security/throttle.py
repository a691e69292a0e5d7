"""Failed-authentication throttle per client address (spec §2: -32040).

Once an address has ``limit`` failures inside the sliding ``window``, further failures
from it are answered -32040 instead of -32001 until the oldest failure ages out, and
they are still counted, so a client that keeps guessing stays throttled.

A valid credential is accepted even while its address is throttled (see
``Authenticator.identify_throttled``). The trade-off, chosen for clients behind one
NAT or proxy that share an address: one noisy client (a script with a stale key
retrying in a loop) must not lock everyone else out, and it cannot when only
failures are refused. What is given up is the throttle as a brake on guessing: a
throttled address still has every credential it sends checked. That brake is not
what protects camsvc's credentials, which cannot be guessed (API keys are 256
random bits; JWTs carry an HMAC-SHA256 under a secret of at least 256 bits); the
throttle limits the work and the log noise of failures and tells a broken client
to back off. A success does not clear an address's failures either, so one client
behind the NAT logging in does not hand the noisy one a fresh allowance.

Addresses are forgotten once their failures age out; the table is swept whenever
it has doubled in size, so addresses that never come back cannot make it grow
without bound.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

#: the table is swept of aged-out addresses no sooner than at this size
SWEEP_MIN = 1024


class AuthThrottle:
    def __init__(self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, collections.deque[float]] = {}
        self._sweep_at = SWEEP_MIN

    def _recent(self, address: str) -> collections.deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        cutoff = self._clock() - self.window
        while failures and failures[0] <= cutoff:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures

    def retry_after(self, address: str) -> float:
        """Seconds until a failure from ``address`` is answered -32001 again; 0 when it is now."""
        failures = self._recent(address)
        if failures is None or len(failures) < self.limit:
            return 0.0
        return max(0.001, failures[-self.limit] + self.window - self._clock())

    def failed(self, address: str) -> None:
        failures = self._failures.setdefault(address, collections.deque())
        failures.append(self._clock())
        # Only the newest `limit` matter; older ones are bounded away so memory stays small.
        while len(failures) > self.limit:
            failures.popleft()
        if len(self._failures) >= self._sweep_at:
            for other in list(self._failures):
                self._recent(other)
            self._sweep_at = max(SWEEP_MIN, 2 * len(self._failures))

    def tracked(self) -> int:
        """Addresses with failures on record (for tests and metrics)."""
        return len(self._failures)
