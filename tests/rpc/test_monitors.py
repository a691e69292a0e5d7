"""The monitors child keeps metrics and health events live while ``rpc`` crashes and backs off."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from camsvc.app import build
from camsvc.events import Event
from camsvc.health import UNHEALTHY
from camsvc.rpc.server import RpcServer
from tests.rpc_client import apoll, service_config


def events_published(text: str) -> float:
    match = re.search(r"^camsvc_events_published_total (\S+)$", text, re.MULTILINE)
    assert match, "camsvc_events_published_total missing from /metrics"
    return float(match.group(1))


async def test_metrics_and_health_events_stay_live_while_rpc_backs_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash = trio.Event()
    serve = RpcServer.run

    async def crashing_run(self: RpcServer, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if crash.is_set():
            raise RuntimeError("rpc broken (test)")  # every restart fails: rpc stays in backoff
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(serve, self))
            task_status.started()
            await crash.wait()
            raise RuntimeError("rpc crashed (test)")

    monkeypatch.setattr(RpcServer, "run", crashing_run)
    service = build(service_config(tmp_path))
    monitors = service.extras["monitors"]
    monitors.sampler.interval = 0.05
    health_events: list[Event] = []
    service.bus.subscribe(lambda e: health_events.append(e) if e.topic == "system_health_update" else None)

    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        await apoll(lambda: monitors.health_watch.status is not None, what="the watcher's baseline")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http.bound_port}", timeout=5) as http:
            before = events_published((await http.get("/metrics")).text)

            crash.set()
            await apoll(lambda: service.root.snapshot().child("rpc").state.value == "backoff", what="rpc backing off")
            taken = monitors.sampler.latest.taken_at
            await apoll(lambda: monitors.sampler.latest.taken_at > taken, what="a sample taken while rpc is down")
            event = await apoll(lambda: health_events and health_events[-1], what="system_health_update")
            assert event.params["status"] == UNHEALTHY
            assert event.params["components"]["rpc"] == UNHEALTHY

            response = await http.get("/metrics")
            assert response.status_code == 200
            assert events_published(response.text) > before
            assert "camsvc_process_resident_memory_bytes" in response.text
        nursery.cancel_scope.cancel()
