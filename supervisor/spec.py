"""What a supervisor needs to know about a child: how to run it and when to restart it."""

from __future__ import annotations

import enum
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import attrs

if TYPE_CHECKING:
    from .supervisor import Supervisor


class TaskStatus(Protocol):
    """The part of trio's task_status a child uses: report readiness once."""

    def started(self, value: Any = None) -> None: ...


#: A child's body. It is called as ``await run(task_status=status)`` and calls
#: ``status.started()`` once it is ready to serve.
ChildRun = Callable[..., Awaitable[object]]


class Strategy(enum.Enum):
    """OTP restart strategies: which children restart when one of them fails."""

    #: only the failed child restarts
    ONE_FOR_ONE = "one_for_one"
    #: the failed child and every child started after it: later children depend on earlier ones
    REST_FOR_ONE = "rest_for_one"


class Restart(enum.Enum):
    """OTP restart types."""

    #: always restarted, whether it returned or raised
    PERMANENT = "permanent"
    #: restarted only when it raised; a normal return is a clean stop
    TRANSIENT = "transient"
    #: never restarted, and forgotten by its supervisor as soon as it ends
    TEMPORARY = "temporary"


@attrs.frozen
class Backoff:
    """Exponential backoff between restarts of one child.

    The n-th consecutive restart waits ``min(max, initial * factor**n)`` seconds,
    spread by +/- ``jitter`` (a fraction) so that children failing together do
    not restart in lock step. A child that ran for ``reset_after`` seconds
    before failing starts again from ``initial``.

    Backoff spaces restarts out in wall-clock time; it does not hide a crash
    loop from restart intensity, which also counts failures against the
    child's own run time (see :mod:`supervisor.supervisor`).
    """

    initial: float = attrs.field(default=0.1, validator=attrs.validators.ge(0))
    factor: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    max: float = attrs.field(default=30.0, validator=attrs.validators.ge(0))
    jitter: float = attrs.field(default=0.1, validator=[attrs.validators.ge(0), attrs.validators.le(1)])
    reset_after: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before restart number ``attempt`` (0-based)."""
        base = min(self.max, self.initial * self.factor**attempt)
        if self.jitter and base:
            spread = (rng or random).uniform(-self.jitter, self.jitter)
            base *= 1 + spread
        return max(0.0, base)


@attrs.frozen
class ChildSpec:
    """How to run one child.

    ``supervisor`` is set (by :func:`supervisor_child`) when the child is itself
    a supervisor, so that snapshots can show the whole tree.
    """

    name: str
    run: ChildRun
    restart: Restart = Restart.PERMANENT
    backoff: Backoff = Backoff()
    #: how long the supervisor waits for the child's own cleanup after cancelling it
    shutdown_timeout: float = 5.0
    #: how long start_child waits for ``task_status.started()``
    start_timeout: float = 30.0
    supervisor: Supervisor | None = attrs.field(default=None, eq=False, repr=False)


def supervisor_child(
    sup: Supervisor,
    *,
    restart: Restart = Restart.PERMANENT,
    backoff: Backoff = Backoff(),
    shutdown_timeout: float = 10.0,
    start_timeout: float = 60.0,
) -> ChildSpec:
    """A ChildSpec that runs a nested supervisor under its own name."""
    return ChildSpec(
        name=sup.name,
        run=sup.run,
        restart=restart,
        backoff=backoff,
        shutdown_timeout=shutdown_timeout,
        start_timeout=start_timeout,
        supervisor=sup,
    )
