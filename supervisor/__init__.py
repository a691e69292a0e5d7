"""Generic trio supervision, after Erlang/OTP: child specs, restart policies,
backoff, restart intensity, dynamic children and immutable state snapshots.

No knowledge of cameras or of the service lives here.
"""

from .spec import Backoff, ChildRun, ChildSpec, Restart, TaskStatus, supervisor_child
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
    "Supervisor",
    "SupervisorEvent",
    "SupervisorGaveUp",
    "SupervisorSnapshot",
    "TaskStatus",
    "describe_error",
    "supervisor_child",
]
