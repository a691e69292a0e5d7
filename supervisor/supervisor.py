"""A one_for_one supervisor for trio tasks, after Erlang/OTP.

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
- Each child runs in the supervisor's nursery inside its own cancel scope. A child
  that fails (raises an ``Exception``) or returns is restarted according to its
  :class:`Restart` type after its :class:`Backoff` delay; only that child restarts.
- More than ``max_restarts`` restarts within ``period`` seconds: the supervisor
  cancels all its children and raises :class:`SupervisorGaveUp`, so that its own
  parent restarts it (or, at the root, the process exits and systemd restarts it).
- A child whose *first* attempt fails before it reports readiness is not restarted:
  ``start_child`` raises :class:`StartError` instead (OTP's failed ``init``). This
  turns "port already in use" into one clear error rather than a restart loop.
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

from .spec import ChildSpec, Restart
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
    state: ChildState = ChildState.STARTING
    restarts: int = 0
    last_error: str | None = None
    backoff_until: float | None = None
    ever_started: bool = False
    first_error: str | None = None
    remove_when_done: bool = False
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
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
    """Runs children, restarts them by policy, and reports their state."""

    def __init__(
        self,
        name: str,
        children: Iterable[ChildSpec] = (),
        *,
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
        self._children: dict[str, _Child] = {}
        self._restart_times: collections.deque[float] = collections.deque()
        self._nursery: trio.Nursery | None = None
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
                for spec in self._static:
                    try:
                        await self.start_child(spec)
                    except StartError as exc:
                        start_failure = exc
                        nursery.cancel_scope.cancel()
                        break
                else:
                    task_status.started()
                    await trio.sleep_forever()
        finally:
            self._nursery = None
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
        nursery = self._nursery
        if nursery is None:
            raise RuntimeError(f"supervisor {self.name!r} is not running")
        if spec.name in self._children:
            raise ValueError(f"supervisor {self.name!r} already has a child named {spec.name!r}")
        child = _Child(
            spec=spec,
            since=self._wall(),
            history=collections.deque(maxlen=self._history_size),
        )
        self._children[spec.name] = child
        nursery.start_soon(self._supervise, child, name=f"{self.name}/{spec.name}")
        with trio.move_on_after(spec.start_timeout):
            await child.first_attempt.wait()
        if not child.first_attempt.is_set():
            child.remove_when_done = True
            child.scope.cancel()
            await child.done.wait()
            raise StartError(spec.name, f"not ready within {spec.start_timeout:g}s")
        if child.first_error is not None:
            raise StartError(spec.name, child.first_error)

    async def stop_child(self, name: str) -> None:
        """Cancel a child (no restart), wait up to its shutdown_timeout, and forget it."""
        child = self._children.get(name)
        if child is None:
            raise LookupError(f"supervisor {self.name!r} has no child named {name!r}")
        child.remove_when_done = True
        child.scope.cancel()
        with trio.move_on_after(child.spec.shutdown_timeout):
            await child.done.wait()
        if not child.done.is_set():
            log.warning(
                "child did not stop within its shutdown timeout",
                extra={"supervisor": self.name, "child": name, "timeout": child.spec.shutdown_timeout},
            )

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

    def _intensity_allows_restart(self) -> bool:
        now = trio.current_time()
        self._restart_times.append(now)
        while self._restart_times and self._restart_times[0] < now - self.period:
            self._restart_times.popleft()
        return len(self._restart_times) <= self.max_restarts

    async def _supervise(self, child: _Child) -> None:
        try:
            with child.scope:
                await self._restart_loop(child)
        finally:
            if child.state is not ChildState.FAILED:
                self._set_state(child, ChildState.STOPPED)
            child.first_attempt.set()
            child.done.set()
            if child.remove_when_done and self._children.get(child.spec.name) is child:
                del self._children[child.spec.name]
                self._emit(child, EventKind.STOPPED)

    async def _restart_loop(self, child: _Child) -> None:
        spec = child.spec
        consecutive = 0
        while True:
            self._set_state(child, ChildState.STARTING)
            status = _ChildStatus(lambda: self._on_started(child))
            began = trio.current_time()
            error: str | None = None
            try:
                await spec.run(task_status=status)
            except Exception as exc:
                error = describe_error(exc)
                child.last_error = error
                failed_exc: Exception | None = exc
            else:
                failed_exc = None

            if not child.ever_started:
                # Failed (or gave up) before becoming ready: start_child reports it.
                child.first_error = error or "exited before reporting ready"
                child.remove_when_done = True
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
            if not self._intensity_allows_restart():
                self._set_state(child, ChildState.FAILED)
                self._gave_up = SupervisorGaveUp(self.name, spec.name, reason)
                log.error(
                    "restart intensity exceeded; supervisor gives up",
                    extra={
                        "supervisor": self.name,
                        "child": spec.name,
                        "error": reason,
                        "max_restarts": self.max_restarts,
                        "period": self.period,
                    },
                    exc_info=failed_exc,
                )
                self._emit(child, EventKind.GAVE_UP, reason)
                assert self._nursery is not None
                self._nursery.cancel_scope.cancel()
                return

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

    def _on_started(self, child: _Child) -> None:
        child.ever_started = True
        self._set_state(child, ChildState.RUNNING)
        child.first_attempt.set()
        self._emit(child, EventKind.STARTED)
