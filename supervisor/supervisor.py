"""A trio supervisor after Erlang/OTP: one_for_one or rest_for_one.

Usage::

    async def worker(*, task_status=trio.TASK_STATUS_IGNORED):
        listener = await open_something()
        task_status.started()          # start_child returns once this is called
        await serve(listener)

    sup = Supervisor("root", [ChildSpec("worker", worker)], max_restarts=5, period=60)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)   # returns when every static child is ready
        await sup.start_child(ChildSpec("extra", worker, restart=Restart.TRANSIENT))
        print(sup.snapshot())

Semantics:
- Each child runs in the supervisor's nursery inside its own *shielded* cancel
  scope: only its supervisor stops it, so that stopping happens in order. A child
  that fails (raises an ``Exception``) or returns is restarted according to its
  :class:`Restart` type after its :class:`Backoff` delay.
- Strategy ``one_for_one``: only the failed child restarts. ``rest_for_one``: the
  children started after it are stopped first (in reverse order) and started
  again, in order, once it is ready again; each such restart is recorded in
  their history but counts once, for the failed child, towards intensity.
- **Restart intensity** has two windows; exceeding either gives up:
  * more than ``max_restarts`` restarts of any children within ``period``
    seconds of wall-clock time (OTP's rule, catches many children failing at once);
  * more than ``max_restarts`` failures of one child within ``period`` seconds of
    *that child's own run time* (the time its attempts ran, backoff waits
    excluded). Backoff stretches a crash loop out in wall-clock time until the
    first window can never see it (a child crashing at once with
    ``Backoff(0.5, max=10)`` restarts only 6 times a minute); the run-time
    window still sees eleven failures within a few seconds of running and gives
    up after ~65 s. A child that serves for minutes between failures is not a
    crash loop under either window.
  Giving up stops all children (reverse start order) and raises
  :class:`SupervisorGaveUp`, so that its own parent restarts it (or, at the
  root, the process exits non-zero and systemd restarts it).
- A child whose *first* attempt fails before it reports readiness is not restarted:
  ``start_child`` raises :class:`StartError` instead (OTP's failed ``init``). This
  turns "port already in use" into one clear error rather than a restart loop.
- ``stop_child`` = ``terminate_child`` then ``delete_child``. ``terminate_child``
  stops a child but keeps its spec (state ``stopped``); ``restart_child`` starts a
  stopped child again; ``delete_child`` forgets a stopped one. However a child
  ends after its supervisor stopped it (cancelled, returned or raised during
  cleanup), that is not a failure and not a restart.
- Temporary children are forgotten as soon as they end (OTP); the ``failed``
  event and the log keep their error.
- Every wait is bounded: readiness by ``start_timeout``; a child's cleanup after
  cancellation by its ``shutdown_timeout``. A child still running after that is
  forgotten (its name is free again) and logged; trio cannot kill a task, so the
  nursery still waits for it when the supervisor itself exits.
- When the supervisor stops (cancelled, gave up, or a static child failed to
  start) it stops its children in reverse start order, each within its
  ``shutdown_timeout``.
- Cancellation is never swallowed: only ``Exception`` counts as failure.
"""

from __future__ import annotations

import collections
import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import trio

from .spec import ChildSpec, Restart, Strategy
from .state import (
    ChildSnapshot,
    ChildState,
    EventKind,
    RestartRecord,
    SupervisorEvent,
    SupervisorSnapshot,
)

log = logging.getLogger("supervisor")

Listener = Callable[[SupervisorEvent], None]


class StartError(Exception):
    """A child failed, or did not become ready in time, on its first start."""

    def __init__(self, child: str, reason: str) -> None:
        super().__init__(f"{child}: {reason}")
        self.child = child
        self.reason = reason


class SupervisorGaveUp(Exception):
    """Restart intensity exceeded: the supervisor stopped all of its children."""

    def __init__(self, supervisor: str, child: str, reason: str) -> None:
        super().__init__(f"supervisor {supervisor!r} gave up: child {child!r} kept failing: {reason}")
        self.supervisor = supervisor
        self.child = child
        self.reason = reason


def describe_error(exc: BaseException) -> str:
    """One line naming the error; exception groups are flattened to their leaves."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe_error(e) for e in exc.exceptions)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@attrs.define(eq=False)
class _Child:
    """A supervisor's live bookkeeping for one child; never handed out."""

    spec: ChildSpec
    since: float
    history: collections.deque[RestartRecord]
    #: this child's run time at each of its recent failures (the run-time intensity window)
    failures: collections.deque[float] = attrs.Factory(collections.deque)
    #: total seconds its attempts have run
    run_time: float = 0.0
    state: ChildState = ChildState.STARTING
    restarts: int = 0
    last_error: str | None = None
    backoff_until: float | None = None
    ever_started: bool = False
    first_error: str | None = None
    #: set when the supervisor stops it: however it then ends is not a failure
    stopping: bool = False
    remove_when_done: bool = False
    #: rest_for_one: later siblings this child's failure stopped, started again once it is ready
    dependents: list[_Child] = attrs.Factory(list)
    scope: trio.CancelScope = attrs.Factory(lambda: trio.CancelScope(shield=True))
    first_attempt: trio.Event = attrs.Factory(trio.Event)
    done: trio.Event = attrs.Factory(trio.Event)


class _ChildStatus:
    """The ``task_status`` handed to a child: flips it to RUNNING once."""

    def __init__(self, on_started: Callable[[], None]) -> None:
        self._on_started = on_started
        self.called = False

    def started(self, value: Any = None) -> None:
        if self.called:
            raise RuntimeError("task_status.started() called twice")
        self.called = True
        self._on_started()


class Supervisor:
    """Runs children, restarts them by policy and strategy, and reports their state."""

    def __init__(
        self,
        name: str,
        children: Iterable[ChildSpec] = (),
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        max_restarts: int = 5,
        period: float = 60.0,
        history_size: int = 10,
        listeners: Iterable[Listener] = (),
        rng: random.Random | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if max_restarts < 0 or period <= 0:
            raise ValueError("max_restarts must be >= 0 and period > 0")
        self.name = name
        self.strategy = strategy
        self.max_restarts = max_restarts
        self.period = period
        self._static = list(children)
        names = [s.name for s in self._static]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate child names in supervisor {name!r}: {names}")
        self._history_size = history_size
        self._listeners = list(listeners)
        self._rng = rng or random.Random()
        self._wall = wall_clock
        #: in start order (dicts keep insertion order): shutdown and rest_for_one rely on it
        self._children: dict[str, _Child] = {}
        self._restart_times: collections.deque[float] = collections.deque()
        self._nursery: trio.Nursery | None = None
        #: cancelled to give up: wakes run() to stop everything in order
        self._main: trio.CancelScope | None = None
        self._closing = False
        self._state = "stopped"
        self._gave_up: SupervisorGaveUp | None = None

    # ----------------------------------------------------------------- public

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` (synchronously) for every event of this supervisor."""
        self._listeners.append(listener)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start the static children in order, report ready, then supervise until cancelled."""
        if self._nursery is not None:
            raise RuntimeError(f"supervisor {self.name!r} is already running")
        self._children = {}
        self._restart_times.clear()
        self._gave_up = None
        start_failure: StartError | None = None
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._state = "running"
                try:
                    with trio.CancelScope() as self._main:
                        for spec in self._static:
                            await self.start_child(spec)
                        task_status.started()
                        await trio.sleep_forever()
                except StartError as exc:
                    start_failure = exc
                finally:
                    self._closing = True
                    with trio.CancelScope(shield=True):
                        await self._stop_all()
                    nursery.cancel_scope.cancel()  # rest_for_one relaunches still in flight
        finally:
            self._nursery = None
            self._main = None
            self._closing = False
            self._state = "failed" if (self._gave_up or start_failure) else "stopped"
        if start_failure is not None:
            raise start_failure
        if self._gave_up is not None:
            raise self._gave_up

    async def start_child(self, spec: ChildSpec) -> None:
        """Add a child and wait until it is ready (``task_status.started()``).

        Raises :class:`StartError` when the first attempt fails or is not ready
        within ``spec.start_timeout``; the child is then not kept.
        """
        self._require_running()
        if spec.name in self._children:
            raise ValueError(f"supervisor {self.name!r} already has a child named {spec.name!r}")
        child = _Child(spec=spec, since=self._wall(), history=collections.deque(maxlen=self._history_size))
        self._children[spec.name] = child
        try:
            await self._start(child)
        except StartError:
            self._forget(child)
            raise

    async def terminate_child(self, name: str) -> None:
        """Stop a child (no restart) within its shutdown_timeout; keep its spec for ``restart_child``."""
        await self._terminate(self._get(name))

    async def restart_child(self, name: str) -> None:
        """Start a terminated (or ended) child again and wait until it is ready.

        Raises ``ValueError`` when it is running and :class:`StartError` when it
        does not become ready; it then stays stopped.
        """
        self._require_running()
        child = self._get(name)
        if not child.done.is_set():
            raise ValueError(f"child {name!r} of supervisor {self.name!r} is running")
        child.ever_started = False
        child.first_error = None
        child.last_error = None
        await self._start(child)

    def delete_child(self, name: str) -> None:
        """Forget a stopped child; ``ValueError`` when it is running."""
        child = self._get(name)
        if not child.done.is_set():
            raise ValueError(f"child {name!r} of supervisor {self.name!r} is running")
        self._forget(child)

    async def stop_child(self, name: str) -> None:
        """Stop a child (no restart) within its shutdown_timeout and forget it."""
        child = self._get(name)
        child.remove_when_done = True
        await self._terminate(child)
        self._forget(child)

    def has_child(self, name: str) -> bool:
        return name in self._children

    def snapshot(self) -> SupervisorSnapshot:
        """An immutable picture of this supervisor and, recursively, its children."""
        now = trio.current_time() if self._nursery is not None else None
        recent = (
            sum(1 for t in self._restart_times if t >= now - self.period) if now is not None else 0
        )
        return SupervisorSnapshot(
            name=self.name,
            state=self._state,
            max_restarts=self.max_restarts,
            period=self.period,
            recent_restarts=recent,
            children=tuple(self._child_snapshot(c) for c in self._children.values()),
        )

    # --------------------------------------------------------------- internal

    def _require_running(self) -> trio.Nursery:
        if self._nursery is None or self._closing:
            raise RuntimeError(f"supervisor {self.name!r} is not running")
        return self._nursery

    def _get(self, name: str) -> _Child:
        child = self._children.get(name)
        if child is None:
            raise LookupError(f"supervisor {self.name!r} has no child named {name!r}")
        return child

    def _launch(self, child: _Child) -> None:
        """Run ``child`` (again) in a fresh shielded scope."""
        nursery = self._require_running()
        child.scope = trio.CancelScope(shield=True)
        child.first_attempt = trio.Event()
        child.done = trio.Event()
        child.stopping = False
        nursery.start_soon(self._supervise, child, name=f"{self.name}/{child.spec.name}")

    async def _start(self, child: _Child) -> None:
        spec = child.spec
        self._launch(child)
        with trio.move_on_after(spec.start_timeout):
            await child.first_attempt.wait()
        if not child.first_attempt.is_set():
            await self._terminate(child)
            raise StartError(spec.name, f"not ready within {spec.start_timeout:g}s")
        if child.first_error is not None:
            raise StartError(spec.name, child.first_error)

    async def _terminate(self, child: _Child) -> None:
        """Cancel a child and wait for its cleanup, at most its shutdown_timeout."""
        child.stopping = True
        child.scope.cancel()
        with trio.move_on_after(child.spec.shutdown_timeout):
            await child.done.wait()
        if not child.done.is_set():
            log.warning(
                "child did not stop within its shutdown timeout; forgotten",
                extra={"supervisor": self.name, "child": child.spec.name, "timeout": child.spec.shutdown_timeout},
            )
            self._forget(child)

    async def _stop_all(self) -> None:
        for child in reversed(list(self._children.values())):
            await self._terminate(child)

    def _forget(self, child: _Child) -> None:
        if self._children.get(child.spec.name) is child:
            del self._children[child.spec.name]
            self._emit(child, EventKind.STOPPED)

    def _child_snapshot(self, child: _Child) -> ChildSnapshot:
        nested = child.spec.supervisor
        return ChildSnapshot(
            name=child.spec.name,
            state=child.state,
            restart=child.spec.restart.value,
            restarts=child.restarts,
            last_error=child.last_error,
            since=child.since,
            backoff_until=child.backoff_until,
            history=tuple(child.history),
            supervisor=nested.snapshot() if nested is not None else None,
        )

    def _emit(self, child: _Child, kind: EventKind, error: str | None = None, delay: float | None = None) -> None:
        event = SupervisorEvent(self.name, child.spec.name, kind, error, delay)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a broken observer must not break supervision
                log.exception("supervisor listener failed", extra={"supervisor": self.name})

    def _set_state(self, child: _Child, state: ChildState) -> None:
        if child.state is not state:
            child.state = state
            child.since = self._wall()
        if state is not ChildState.BACKOFF:
            child.backoff_until = None

    def _intensity_allows_restart(self, child: _Child) -> bool:
        """Count one failure of ``child`` in both windows (see the module docstring)."""
        now = trio.current_time()
        self._restart_times.append(now)
        while self._restart_times and self._restart_times[0] < now - self.period:
            self._restart_times.popleft()
        child.failures.append(child.run_time)
        while child.failures and child.failures[0] < child.run_time - self.period:
            child.failures.popleft()
        return len(self._restart_times) <= self.max_restarts and len(child.failures) <= self.max_restarts

    def _give_up(self, child: _Child, reason: str, exc: Exception | None) -> None:
        self._set_state(child, ChildState.FAILED)
        self._gave_up = SupervisorGaveUp(self.name, child.spec.name, reason)
        log.error(
            "restart intensity exceeded; supervisor gives up",
            extra={
                "supervisor": self.name,
                "child": child.spec.name,
                "error": reason,
                "max_restarts": self.max_restarts,
                "period": self.period,
            },
            exc_info=exc,
        )
        self._emit(child, EventKind.GAVE_UP, reason)
        assert self._main is not None
        self._main.cancel()  # run() stops every child in reverse order and raises

    async def _supervise(self, child: _Child) -> None:
        try:
            with child.scope:
                await self._restart_loop(child)
        finally:
            if child.state is not ChildState.FAILED:
                self._set_state(child, ChildState.STOPPED)
            child.first_attempt.set()
            child.done.set()
            if child.remove_when_done or child.spec.restart is Restart.TEMPORARY:
                self._forget(child)

    async def _restart_loop(self, child: _Child) -> None:
        spec = child.spec
        consecutive = 0
        while True:
            self._set_state(child, ChildState.STARTING)
            status = _ChildStatus(lambda: self._on_started(child))
            began = trio.current_time()
            error: str | None = None
            failed_exc: Exception | None = None
            try:
                await spec.run(task_status=status)
            except Exception as exc:
                error = describe_error(exc)
                failed_exc = exc
            child.run_time += trio.current_time() - began

            if child.stopping:
                # Stopped by its supervisor: returning (or failing in cleanup) is no restart.
                if error is not None:
                    log.warning(
                        "child failed while stopping",
                        extra={"supervisor": self.name, "child": spec.name, "error": error},
                    )
                return
            if error is not None:
                child.last_error = error

            if not child.ever_started:
                # Failed (or gave up) before becoming ready: start_child reports it.
                child.first_error = error or "exited before reporting ready"
                self._set_state(child, ChildState.FAILED)
                # No traceback: start failures are operator errors (port in use, bad
                # path) that the message names; StartError carries it upward.
                log.error(
                    "child failed to start",
                    extra={"supervisor": self.name, "child": spec.name, "error": child.first_error},
                )
                self._emit(child, EventKind.FAILED, child.first_error)
                return

            if error is None:
                self._emit(child, EventKind.EXITED)
                if spec.restart is not Restart.PERMANENT:
                    return
            else:
                self._emit(child, EventKind.FAILED, error)
                if spec.restart is Restart.TEMPORARY:
                    self._set_state(child, ChildState.FAILED)
                    log.error(
                        "temporary child failed; not restarted",
                        extra={"supervisor": self.name, "child": spec.name, "error": error},
                        exc_info=failed_exc,
                    )
                    return

            reason = error or "exited"
            if not self._intensity_allows_restart(child):
                self._give_up(child, reason, failed_exc)
                return
            if self.strategy is Strategy.REST_FOR_ONE:
                await self._stop_dependents(child)

            if trio.current_time() - began >= spec.backoff.reset_after:
                consecutive = 0
            delay = spec.backoff.delay(consecutive, self._rng)
            consecutive += 1
            child.restarts += 1
            child.history.append(RestartRecord(at=self._wall(), reason=reason))
            self._set_state(child, ChildState.BACKOFF)
            child.backoff_until = self._wall() + delay
            # One log line per failure, saying what happens next.
            log.log(
                logging.ERROR if error else logging.WARNING,
                "child failed; restarting" if error else "child exited; restarting",
                extra={"supervisor": self.name, "child": spec.name, "error": reason, "delay": round(delay, 3)},
                exc_info=failed_exc,
            )
            self._emit(child, EventKind.RESTARTING, reason, delay)
            await trio.sleep(delay)

    async def _stop_dependents(self, child: _Child) -> None:
        """rest_for_one: stop the children started after ``child``, last first."""
        order = list(self._children.values())
        later = order[order.index(child) + 1 :] if child in order else []
        for dependent in reversed(later):
            if not dependent.done.is_set():
                await self._terminate(dependent)
                if dependent.spec.restart is not Restart.TEMPORARY and dependent not in child.dependents:
                    child.dependents.append(dependent)
        child.dependents.sort(key=lambda c: order.index(c) if c in order else len(order))

    async def _start_dependents(self, child: _Child, dependents: list[_Child]) -> None:
        """rest_for_one: start the stopped dependents again, in order, each once the previous is ready."""
        for dependent in dependents:
            if self._closing or self._children.get(dependent.spec.name) is not dependent:
                continue
            if not dependent.done.is_set():
                continue  # restarted by hand meanwhile
            dependent.restarts += 1
            reason = f"restarted with {child.spec.name} (rest_for_one)"
            dependent.history.append(RestartRecord(at=self._wall(), reason=reason))
            self._emit(dependent, EventKind.RESTARTING, reason, 0.0)
            self._launch(dependent)
            with trio.move_on_after(dependent.spec.start_timeout):
                await dependent.first_attempt.wait()

    def _on_started(self, child: _Child) -> None:
        child.ever_started = True
        self._set_state(child, ChildState.RUNNING)
        child.first_attempt.set()
        self._emit(child, EventKind.STARTED)
        if child.dependents and not self._closing:
            dependents, child.dependents = child.dependents, []
            assert self._nursery is not None
            self._nursery.start_soon(self._start_dependents, child, dependents)
