"""A circuit breaker for calls to MediaMTX: closed → open (after a failure) → half-open (retry due).

While *open*, callers fail at once instead of waiting for a timeout; when the backoff
delay has passed the circuit reads *half-open* and the next attempt decides: success
closes it, failure opens it again with a longer delay (exponential, capped). A failure
may bring its own backoff: a server that refuses connections is down or restarting and is
probed on a short one, while one that answers wrongly or not at all gets the long one.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import trio

from supervisor import Backoff

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class Circuit:
    def __init__(
        self,
        backoff: Backoff,
        *,
        clock: Callable[[], float] = trio.current_time,
        rng: random.Random | None = None,
    ) -> None:
        self.backoff = backoff
        self._clock = clock
        self._rng = rng or random.Random()
        self._open = False
        self.failures = 0
        self.retry_at: float | None = None
        self.last_error: str | None = None

    @property
    def state(self) -> str:
        if not self._open:
            return CLOSED
        if self.retry_at is not None and self._clock() >= self.retry_at:
            return HALF_OPEN
        return OPEN

    def allows(self) -> bool:
        """Whether a call may be attempted now (closed or half-open)."""
        return self.state != OPEN

    def retry_in(self) -> float:
        """Seconds until a half-open attempt is due (0 when not open)."""
        if not self._open or self.retry_at is None:
            return 0.0
        return max(0.0, self.retry_at - self._clock())

    def success(self) -> bool:
        """Record a success; returns True when this closed an open circuit."""
        was_open = self._open
        self._open = False
        self.failures = 0
        self.retry_at = None
        return was_open

    def failure(self, error: str, *, backoff: Backoff | None = None) -> float:
        """Record a failure: open (or re-open) with the next backoff delay, which is returned.

        ``backoff`` replaces the circuit's own for this delay. A failure while already
        open and not yet due (a concurrent caller) does not push the retry further out.
        """
        self.last_error = error
        if self._open and self.state == OPEN:
            return self.retry_in()
        delay = (backoff or self.backoff).delay(self.failures, self._rng)
        self.failures += 1
        self._open = True
        self.retry_at = self._clock() + delay
        return delay
