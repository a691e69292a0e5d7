"""/health/* and /supervisor over a real socket, computed from a live supervision tree."""

from __future__ import annotations

import httpx
import trio

from camsvc.health import Health
from camsvc.http.health_routes import health_blueprint
from camsvc.http.server import HttpServer, create_app
from supervisor import Backoff, ChildSpec, Supervisor


async def poll_json(client: httpx.AsyncClient, url: str, predicate, deadline: float = 10.0):  # type: ignore[no-untyped-def]
    """GET ``url`` until ``predicate(status, body)`` holds (real time; the server runs for real)."""
    with trio.fail_after(deadline):
        while True:
            response = await client.get(url)
            body = response.json()
            if predicate(response.status_code, body):
                return response.status_code, body
            await trio.sleep(0.02)


def tree(crash_after_start: trio.Event) -> tuple[Supervisor, HttpServer]:
    runs = 0

    async def flaky(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal runs
        runs += 1
        task_status.started()
        await crash_after_start.wait()
        raise ConnectionError(f"camera unplugged (run {runs})")

    root: Supervisor | None = None
    health = Health(lambda: root.snapshot(), version="test")  # type: ignore[union-attr]
    http = HttpServer(create_app([health_blueprint(health)]), "127.0.0.1", 0)
    root = Supervisor(
        "root",
        [
            ChildSpec("http", http.run),
            ChildSpec("rpc", flaky, backoff=Backoff(initial=0.01, max=0.02, jitter=0)),
        ],
        max_restarts=1000,
    )
    return root, http


async def test_restarts_and_last_error_are_visible() -> None:
    crash = trio.Event()
    crash.set()  # the flaky child crashes right after each start
    root, http = tree(crash)
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        base = f"http://127.0.0.1:{http.bound_port}"
        async with httpx.AsyncClient(base_url=base) as client:
            _, system = await poll_json(
                client, "/health/system", lambda s, b: b["components"]["rpc"]["restarts"] >= 3
            )
            rpc = system["components"]["rpc"]
            assert rpc["last_error"].startswith("ConnectionError: camera unplugged")
            assert system["components"]["http"]["state"] == "running"
            assert system["status"] in ("unhealthy", "degraded", "healthy")

            sup = (await client.get("/supervisor")).json()
            child = next(c for c in sup["children"] if c["name"] == "rpc")
            assert child["restarts"] >= 3
            assert child["history"] and child["history"][-1]["reason"].startswith("ConnectionError")

            live = await client.get("/health/live")
            assert live.status_code == 200
            ready = await client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["status"] == "not_ready"
        nursery.cancel_scope.cancel()


async def test_unknown_routes_answer_json_404() -> None:
    root, http = tree(trio.Event())
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http.bound_port}") as client:
            response = await client.get("/nope")
            assert response.status_code == 404
            assert response.json()["reason"] == "not_found"
            system = await client.get("/health/system")
            # rpc child is running, no mediamtx check registered: nothing is failing
            assert system.status_code == 200
            assert system.json()["status"] == "healthy"
        nursery.cancel_scope.cancel()
