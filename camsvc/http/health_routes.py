"""/health/* and /supervisor: answers computed from the supervisor snapshot and checks."""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from ..health import HEALTHY, UNHEALTHY, Health, now_iso, supervisor_document


def health_blueprint(health: Health) -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.get("/health/live")
    async def live() -> tuple[dict[str, Any], int]:
        # Answering at all proves the event loop runs.
        return {"status": "alive", "timestamp": now_iso(), "uptime": health.uptime()}, 200

    @bp.get("/health/ready")
    async def ready() -> tuple[dict[str, Any], int]:
        ok, details = health.ready()
        if ok:
            return {"status": "ready", "timestamp": now_iso()}, 200
        return {"status": "not_ready", "timestamp": now_iso(), "details": details}, 503

    @bp.get("/health/system")
    async def system() -> tuple[dict[str, Any], int]:
        doc = health.system()
        return doc, 503 if doc["status"] == UNHEALTHY else 200

    def component(name: str) -> tuple[dict[str, Any], int]:
        result = health.check(name)
        if result is None:
            return {"status": UNHEALTHY, "timestamp": now_iso(), "details": {"reason": f"no {name} component"}}, 503
        status = HEALTHY if result.status == HEALTHY else UNHEALTHY
        return {"status": status, "timestamp": now_iso(), "details": result.details}, 200 if status == HEALTHY else 503

    @bp.get("/health/cameras")
    async def cameras() -> tuple[dict[str, Any], int]:
        return component("cameras")

    @bp.get("/health/mediamtx")
    async def mediamtx() -> tuple[dict[str, Any], int]:
        return component("mediamtx")

    @bp.get("/supervisor")
    async def supervisor() -> tuple[dict[str, Any], int]:
        return supervisor_document(health.snapshot()), 200

    return bp
