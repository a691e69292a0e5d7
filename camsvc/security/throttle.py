"""Failed-authentication throttle per client address (spec §2: -32040).

Once an address has ``limit`` failures inside the sliding ``window``, its further
attempts are refused without being checked until the oldest failure ages out.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable


class AuthThrottle:
    def __init__(self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, collections.deque[float]] = {}

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
        """Seconds until ``address`` may try again; 0 when it may now."""
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

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
