"""Immutable views of a supervision tree, and the events it emits.

Readers (health endpoints, metrics, RPC status) only ever see these values;
they never touch a supervisor's live bookkeeping.
"""

from __future__ import annotations

import enum

import attrs


class ChildState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPED = "stopped"
    FAILED = "failed"


@attrs.frozen
class RestartRecord:
    """One restart: when (wall clock, seconds since the epoch) and why."""

    at: float
    reason: str


@attrs.frozen
class ChildSnapshot:
    name: str
    state: ChildState
    restart: str
    restarts: int
    #: "ExcType: message" of the last failure, or None
    last_error: str | None
    #: wall-clock time the child entered its current state
    since: float
    #: wall-clock time a backing-off child will be restarted
    backoff_until: float | None
    history: tuple[RestartRecord, ...]
    #: set when the child is itself a supervisor
    supervisor: SupervisorSnapshot | None = None

    def walk(self, prefix: str = "") -> list[tuple[str, ChildSnapshot]]:
        """(path, child) for this child and every descendant, depth first."""
        path = f"{prefix}{self.name}"
        out = [(path, self)]
        if self.supervisor is not None:
            for child in self.supervisor.children:
                out.extend(child.walk(path + "/"))
        return out


@attrs.frozen
class SupervisorSnapshot:
    name: str
    #: "running", "stopped" or "failed" (gave up)
    state: str
    max_restarts: int
    period: float
    #: restarts counted in the current intensity window
    recent_restarts: int
    children: tuple[ChildSnapshot, ...]

    def child(self, name: str) -> ChildSnapshot | None:
        for c in self.children:
            if c.name == name:
                return c
        return None

    def walk(self) -> list[tuple[str, ChildSnapshot]]:
        """(path, child) for every child in the tree, paths like ``cameras/camera0``."""
        out: list[tuple[str, ChildSnapshot]] = []
        for c in self.children:
            out.extend(c.walk())
        return out


class EventKind(enum.Enum):
    STARTED = "started"
    FAILED = "failed"
    EXITED = "exited"
    RESTARTING = "restarting"
    STOPPED = "stopped"
    GAVE_UP = "gave_up"


@attrs.frozen
class SupervisorEvent:
    """Something happened to a child of the supervisor named ``supervisor``."""

    supervisor: str
    child: str
    kind: EventKind
    error: str | None = None
    delay: float | None = None
