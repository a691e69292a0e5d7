"""Health, computed only from immutable snapshots.

The supervision tree gives each child's state; rooms that know more (the
MediaMTX reconciler, storage, cameras) register a *check*: a cheap synchronous
function returning a :class:`ComponentHealth` built from their own published
snapshot. ``/health/*``, ``get_status`` and ``system_health_update`` all read
from here, so they can never disagree.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import attrs

from supervisor import ChildSnapshot, ChildState, SupervisorSnapshot

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
_RANK = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}

#: root children whose failure makes the whole service unhealthy (clients cannot reach us)
ESSENTIAL = ("rpc", "http")

#: get_status component names (spec §4) → supervision tree paths
STATUS_COMPONENTS = {"websocket_server": "rpc", "camera_monitor": "cameras/discovery", "mediamtx": "mediamtx"}


def iso(ts: float | None) -> str | None:
    """Wall-clock seconds → ISO 8601 UTC with Z, as the API writes times."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(time.time()) or ""


@attrs.frozen
class ComponentHealth:
    status: str
    details: dict[str, Any] = attrs.field(factory=dict)


Check = Callable[[], ComponentHealth]


def _child_health(path: str, child: ChildSnapshot) -> ComponentHealth:
    if child.state is ChildState.RUNNING:
        status = HEALTHY
    elif child.state is ChildState.STOPPED and child.restart != "permanent":
        status = HEALTHY  # a transient/temporary child that finished is fine
    elif child.state in (ChildState.STARTING, ChildState.BACKOFF):
        status = DEGRADED
    else:
        status = UNHEALTHY
    if path in ESSENTIAL and status is not HEALTHY:
        status = UNHEALTHY
    return ComponentHealth(status, {"state": child.state.value})


def child_component(path: str, child: ChildSnapshot) -> dict[str, Any]:
    """One component object of /health/system for a supervised child."""
    health = _child_health(path, child)
    return {
        "status": health.status,
        "details": {"path": path, "restart": child.restart, **({"backoff_until": iso(child.backoff_until)} if child.backoff_until else {})},
        "state": child.state.value,
        "restarts": child.restarts,
        "last_error": child.last_error,
        "since": iso(child.since),
    }


def worst(statuses: list[str]) -> str:
    return max(statuses, key=_RANK.__getitem__, default=HEALTHY)


class Health:
    """The service's health model: the root supervisor's snapshot plus registered checks."""

    def __init__(
        self, tree: Callable[[], SupervisorSnapshot], *, version: str, started_at: float | None = None
    ) -> None:
        self._tree = tree
        self.version = version
        self.started_at = started_at if started_at is not None else time.time()
        self._checks: dict[str, Check] = {}

    def add_check(self, name: str, check: Check) -> None:
        """Register a component check (``mediamtx``, ``storage``, ``cameras``...)."""
        self._checks[name] = check

    def check(self, name: str) -> ComponentHealth | None:
        fn = self._checks.get(name)
        return fn() if fn is not None else None

    def uptime(self) -> float:
        return round(time.time() - self.started_at, 3)

    def snapshot(self) -> SupervisorSnapshot:
        return self._tree()

    def system(self) -> dict[str, Any]:
        """The /health/system document."""
        tree = self._tree()
        components: dict[str, dict[str, Any]] = {}
        for path, child in tree.walk():
            components[path] = child_component(path, child)
        for name, fn in self._checks.items():
            result = fn()
            entry = components.setdefault(name, {"state": None, "restarts": 0, "last_error": None, "since": None})
            # A check refines a child of the same name (e.g. the reconciler knows reachability).
            entry["status"] = worst([entry.get("status", HEALTHY), result.status])
            entry["details"] = {**entry.get("details", {}), **result.details}
        statuses = [c["status"] for c in components.values()]
        overall = worst(statuses)
        if tree.state != "running":
            overall = UNHEALTHY
        elif overall == UNHEALTHY and not any(
            components.get(p, {}).get("status") == UNHEALTHY for p in ESSENTIAL
        ):
            overall = DEGRADED  # a broken camera or MediaMTX degrades us; clients can still connect
        return {
            "status": overall,
            "timestamp": now_iso(),
            "version": self.version,
            "uptime": self.uptime(),
            "components": components,
        }

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """Ready when the RPC server is serving and MediaMTX is reachable."""
        tree = self._tree()
        details: dict[str, Any] = {}
        rpc = tree.child("rpc")
        if rpc is None or rpc.state is not ChildState.RUNNING:
            details["rpc"] = rpc.state.value if rpc else "absent"
        mediamtx = self.check("mediamtx")
        if mediamtx is None:
            details["mediamtx"] = "no reconciler"
        elif mediamtx.status != HEALTHY:
            details["mediamtx"] = mediamtx.details or mediamtx.status
        if tree.state != "running":
            details["supervisor"] = tree.state
        return (not details, details)

    def status_components(self) -> dict[str, str]:
        """get_status components: RUNNING | STOPPED | ERROR per supervised child, plus the contract's names."""
        tree = self._tree()
        by_path = dict(tree.walk())
        out: dict[str, str] = {}

        def word(child: ChildSnapshot | None) -> str:
            if child is None or child.state is ChildState.STOPPED:
                return "STOPPED"
            if child.state in (ChildState.RUNNING, ChildState.STARTING):
                return "RUNNING"
            return "ERROR"

        for name, path in STATUS_COMPONENTS.items():
            out[name] = word(by_path.get(path))
        mediamtx = self.check("mediamtx")
        if mediamtx is not None and mediamtx.status != HEALTHY and out["mediamtx"] == "RUNNING":
            out["mediamtx"] = "ERROR"
        for path, child in by_path.items():
            out.setdefault(path, word(child))
        return out


def supervisor_document(tree: SupervisorSnapshot) -> dict[str, Any]:
    """The /supervisor document: every supervisor and child, recursively."""

    def child_doc(child: ChildSnapshot) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": child.name,
            "state": child.state.value,
            "restart": child.restart,
            "restarts": child.restarts,
            "last_error": child.last_error,
            "since": iso(child.since),
            "backoff_until": iso(child.backoff_until),
            "history": [{"at": iso(r.at), "reason": r.reason} for r in child.history],
        }
        if child.supervisor is not None:
            doc["supervisor"] = sup_doc(child.supervisor)
        return doc

    def sup_doc(sup: SupervisorSnapshot) -> dict[str, Any]:
        return {
            "name": sup.name,
            "state": sup.state,
            "max_restarts": sup.max_restarts,
            "period": sup.period,
            "recent_restarts": sup.recent_restarts,
            "children": [child_doc(c) for c in sup.children],
        }

    return sup_doc(tree)
