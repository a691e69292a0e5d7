"""Generic trio supervision, after Erlang/OTP: child specs, restart policies and
strategies (one_for_one, rest_for_one), backoff, restart intensity, dynamic
children and immutable state snapshots. Semantics: :mod:`supervisor.supervisor`.

No knowledge of cameras or of the service lives here.
"""

from .spec import Backoff, ChildRun, ChildSpec, Restart, Strategy, TaskStatus, supervisor_child
from .state import (
    ChildSnapshot,
    ChildState,
    EventKind,
    RestartRecord,
    SupervisorEvent,
    SupervisorSnapshot,
)
from .supervisor import StartError, Supervisor, SupervisorGaveUp, describe_error

__all__ = [
    "Backoff",
    "ChildRun",
    "ChildSnapshot",
    "ChildSpec",
    "ChildState",
    "EventKind",
    "Restart",
    "RestartRecord",
    "StartError",
    "Strategy",
    "Supervisor",
    "SupervisorEvent",
    "SupervisorGaveUp",
    "SupervisorSnapshot",
    "TaskStatus",
    "describe_error",
    "supervisor_child",
]
