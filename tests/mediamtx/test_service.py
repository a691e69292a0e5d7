"""The whole service in process (camsvc.app.build) against MediaMTX (emulator and real binary):
MediaMTX restarts and failures as the rest of the service sees them over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio

from camsvc.app import Service, build
from camsvc.config import Config, parse
from camsvc.errors import DependencyFailed
from camsvc.mediamtx.client import MediamtxClient
from camsvc.mediamtx.reconciler import MediamtxGateway
from tests.mediamtx_targets import MediamtxTarget
from tools.mediamtx_emulator import Emulator

from .conftest import make_config
from .test_reconciler import conf_names, until

CAMERAS = {
    "synthetic": [{"id": "camera0", "name": "pattern"}],
    "external": [{"id": "stream0", "url": "rtsp://192.0.2.10:554/live"}],
}


def service_config(tmp_path: Path, emu: Emulator | MediamtxTarget, **mediamtx: Any) -> Config:
    config = make_config(tmp_path, emu.api_url, **mediamtx)
    # two cameras from configuration: the camera actors publish them into the registry
    cams = parse({"cameras": {"discovery": "disabled", **CAMERAS}}, environ={}).cameras
    return attrs.evolve(config, cameras=cams)


@asynccontextmanager
async def running_service(config: Config) -> AsyncIterator[tuple[Service, httpx.AsyncClient, MediamtxGateway]]:
    service = build(config)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        gateway = service.services.mediamtx
        assert isinstance(gateway, MediamtxGateway)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http.bound_port}", timeout=5) as http:
            yield service, http, gateway
        nursery.cancel_scope.cancel()


async def status(http: httpx.AsyncClient, url: str) -> int:
    return (await http.get(url)).status_code


async def test_paths_return_after_mediamtx_is_killed_and_restarted(
    tmp_path: Path, mediamtx_target: MediamtxTarget
) -> None:
    interval = 1.0
    config = service_config(tmp_path, mediamtx_target, reconcile_interval=interval, backoff_max=interval)
    async with MediamtxClient(mediamtx_target.api_url, timeout=2) as api, running_service(config) as (service, http, gateway):
        registry = service.services.registry
        await until(lambda: {"camera0", "stream0"} <= set(registry.snapshot()), what="cameras registered")
        await gateway.sync(5)
        assert {"camera0", "stream0"} <= await conf_names(api)
        assert await status(http, "/health/mediamtx") == 200

        # MediaMTX dies (API refused, API-made paths forgotten) and comes back 1.5 s later
        back = trio.Event()

        async def kill_and_restart() -> None:
            await mediamtx_target.restart(downtime=1.5)
            back.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(kill_and_restart)
            await until(lambda: status(http, "/health/mediamtx"), timeout=5, what="any answer")
            await until(lambda: _is(http, "/health/mediamtx", 503), timeout=5, what="/health/mediamtx 503")
            body = (await http.get("/health/mediamtx")).json()
            assert body["details"]["circuit"] in ("open", "half_open")
            assert body["details"]["last_error"]
            assert await status(http, "/health/live") == 200  # the rest keeps serving
            await back.wait()

        async def all_back() -> bool:
            return {"camera0", "stream0"} <= await conf_names(api)

        # no operator action: the periodic/backoff pass re-applies within two reconcile periods
        await until(all_back, timeout=2 * interval, what="every camera path back within two reconcile periods")
        await until(lambda: _is(http, "/health/mediamtx", 200), timeout=2 * interval, what="/health/mediamtx 200")
        details = (await http.get("/health/mediamtx")).json()["details"]
        assert details["circuit"] == "closed" and details["paths_owned"] == 2
        assert gateway.status().server_restarts == 1

        sup = (await http.get("/supervisor")).json()
        child = next(c for c in sup["children"] if c["name"] == "mediamtx")
        # unreachability is not a crash: the reconciler kept running, no restarts
        assert child["state"] == "running" and child["restarts"] == 0 and child["history"] == []
        names = [c["name"] for c in sup["children"]]
        assert names.index("mediamtx") < names.index("cameras") < names.index("http")


async def _is(http: httpx.AsyncClient, url: str, code: int) -> bool:
    return await status(http, url) == code


# emulator only: injects API 500s and hangs, which the real server cannot be made to do
@pytest.mark.parametrize("fault", ["500", "hang"])
async def test_a_broken_mediamtx_degrades_only_what_needs_it(tmp_path: Path, emu: Emulator, fault: str) -> None:
    timeout = 0.5
    config = service_config(tmp_path, emu, request_timeout=timeout, backoff_max=5.0)
    async with running_service(config) as (service, http, gateway):
        await until(lambda: {"camera0", "stream0"} <= set(service.services.registry.snapshot()), what="cameras")
        await gateway.sync(5)
        if fault == "500":
            emu.faults.fail(500, "terminated")
        else:
            emu.faults.hang()

        # a caller before the circuit knows: bounded by the request timeout
        with trio.fail_after(timeout + 1.5):
            with pytest.raises(DependencyFailed) as info:
                await gateway.runtime("camera0")
        assert info.value.reason == "mediamtx_unavailable"

        await until(lambda: gateway.status().circuit == "open", timeout=5, what="circuit open")
        # now: fail fast, no waiting for MediaMTX
        with trio.fail_after(0.25):
            with pytest.raises(DependencyFailed) as info:
                gateway.ensure_available()
            assert info.value.reason == "mediamtx_unavailable"
            with pytest.raises(DependencyFailed):
                await gateway.runtime("camera0")

        assert await status(http, "/health/live") == 200
        ready = await http.get("/health/ready")
        assert ready.status_code == 503 and "mediamtx" in ready.json()["details"]
        assert await status(http, "/health/mediamtx") == 503
        sup = (await http.get("/supervisor")).json()
        assert next(c for c in sup["children"] if c["name"] == "mediamtx")["state"] == "running"
        emu.faults.clear()
