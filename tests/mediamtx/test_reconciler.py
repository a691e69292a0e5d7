"""The reconciler actor against MediaMTX, the emulator and the real binary (no HTTP server of ours).

Tests that inject API faults (500s, hangs) or count requests use the emulator alone: the real server
can do neither on demand."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from camsvc.cameras.registry import CameraRegistry
from camsvc.config import Config
from camsvc.errors import DependencyFailed
from camsvc.health import DEGRADED, HEALTHY, UNHEALTHY, Health
from camsvc.mediamtx.client import MediamtxClient
from camsvc.mediamtx.paths import PathSettings, camera_path
from camsvc.mediamtx.reconciler import MediamtxReconciler
from camsvc.storage.state import StateStore
from supervisor import Backoff, ChildSpec, Supervisor, SupervisorSnapshot
from tests.mediamtx_targets import MediamtxTarget
from tools.mediamtx_emulator import Emulator

from .conftest import make_config, network, recording, synthetic


@attrs.define
class Rig:
    reconciler: MediamtxReconciler
    registry: CameraRegistry
    health: Health
    api: MediamtxClient
    config: Config


def empty_tree() -> SupervisorSnapshot:
    return SupervisorSnapshot("root", "running", 5, 60.0, 0, ())


@asynccontextmanager
async def running(
    tmp_path: Path, emu: Emulator | MediamtxTarget, registry: CameraRegistry | None = None, **mediamtx: Any
) -> AsyncIterator[Rig]:
    config = make_config(tmp_path, emu.api_url, **mediamtx)
    registry = registry or CameraRegistry()
    store = StateStore(tmp_path / "state" / "camsvc.db")
    store.open()
    health = Health(empty_tree, version="test")
    rec = MediamtxReconciler(config=config, registry=registry, store=store, health=health)
    try:
        async with MediamtxClient(emu.api_url, timeout=2) as api, trio.open_nursery() as nursery:
            await nursery.start(rec.run)
            yield Rig(rec, registry, health, api, config)
            nursery.cancel_scope.cancel()
    finally:
        store.close()


async def until(fn: Callable[[], Any], *, timeout: float = 5.0, what: str = "condition") -> Any:  # noqa: ASYNC109
    """Poll an async or sync predicate with a deadline (the polling interval is not synchronisation)."""
    with trio.move_on_after(timeout):
        while True:
            value = fn()
            if hasattr(value, "__await__"):
                value = await value
            if value:
                return value
            await trio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def conf_names(api: MediamtxClient) -> set[str]:
    return {item["name"] for item in await api.list_path_configs()}


async def test_creates_patches_and_deletes_camera_paths(
    tmp_path: Path, mediamtx_target: MediamtxTarget
) -> None:
    registry = CameraRegistry()
    registry.put(synthetic("camera0"))
    registry.put(network("stream0"))
    async with running(tmp_path, mediamtx_target, registry) as rig:
        await rig.reconciler.gateway.sync(5)
        names = await conf_names(rig.api)
        assert {"camera0", "stream0", "all_others"} <= names
        conf = await rig.api.get_path_config("camera0")
        assert conf["source"] == "publisher"
        assert conf["runOnDemand"].startswith("true ")
        assert conf["recordDeleteAfter"] in ("", "0s")
        assert (await rig.api.get_path_config("stream0"))["sourceOnDemand"] is True

        # start recording: MediaMTX gets record + runOnInit
        registry.put(attrs.evolve(registry.get("camera0"), recording=recording("mpegts")))  # type: ignore[arg-type]
        await rig.reconciler.gateway.sync(5)
        conf = await rig.api.get_path_config("camera0")
        assert conf["record"] is True and conf["recordFormat"] == "mpegts"
        assert conf["runOnInit"].startswith("true ") and conf["runOnDemand"] == ""
        assert conf["recordPath"] == f"{rig.config.recording.dir}/%path_%Y-%m-%d_%H-%M-%S-%f"

        # camera gone: its path goes
        registry.remove("stream0")
        await rig.reconciler.gateway.sync(5)
        assert "stream0" not in await conf_names(rig.api)
        st = rig.reconciler.gateway.status()
        assert st.reachable and st.circuit == "closed" and st.paths_owned == 1
        assert st.server_started is not None and st.last_sync is not None
        assert rig.health.check("mediamtx").status == HEALTHY  # type: ignore[union-attr]


# emulator only: asserts on the emulator's request log (no request of ours touched the path)
async def test_a_path_someone_else_added_is_never_modified_or_deleted(tmp_path: Path, emu: Emulator) -> None:
    registry = CameraRegistry()
    registry.put(synthetic("camera0"))
    async with running(tmp_path, emu, registry) as rig:
        await rig.reconciler.gateway.sync(5)
        foreign = {"source": "rtsp://192.0.2.50/x", "sourceOnDemand": True, "maxReaders": 3}
        await rig.api.add_path_config("theirs", foreign)
        before = await rig.api.get_path_config("theirs")
        all_others_before = await rig.api.get_path_config("all_others")
        # churn: cameras come and go, several full passes run
        for i in range(3):
            registry.put(synthetic(f"camera{i + 1}"))
            await rig.reconciler.gateway.sync(5)
            registry.remove(f"camera{i + 1}")
            await rig.reconciler.gateway.sync(5)
        full_passes = emu_info_calls(emu)
        await until(lambda: emu_info_calls(emu) >= full_passes + 2, what="two more full passes")
        assert await rig.api.get_path_config("theirs") == before
        assert await rig.api.get_path_config("all_others") == all_others_before
        # and no request of ours ever targeted them
        touched = [r for r in emu.requests if r.method != "GET" and ("theirs" in r.target or "all_others" in r.target)]
        assert [r for r in touched if not r.target.endswith("/add/theirs")] == []


def emu_info_calls(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r.target == "/v3/info")


async def test_a_foreign_path_with_a_camera_name_is_taken_over_with_one_warning(
    tmp_path: Path, mediamtx_target: MediamtxTarget, caplog: pytest.LogCaptureFixture
) -> None:
    async with MediamtxClient(mediamtx_target.api_url, timeout=2) as api:
        await api.add_path_config("camera0", {"source": "rtsp://192.0.2.9/cam", "sourceOnDemand": True})
    registry = CameraRegistry()
    registry.put(synthetic("camera0"))
    with caplog.at_level(logging.WARNING, logger="camsvc.mediamtx"):
        async with running(tmp_path, mediamtx_target, registry) as rig:
            await rig.reconciler.gateway.sync(5)
            conf = await rig.api.get_path_config("camera0")
            assert conf["source"] == "publisher" and conf["runOnDemand"].startswith("true ")
            await rig.reconciler.gateway.sync(5)
            registry.put(attrs.evolve(registry.get("camera0"), keep_streaming=True))  # type: ignore[arg-type]
            await rig.reconciler.gateway.sync(5)
    takeovers = [r for r in caplog.records if "taking over" in r.getMessage()]
    assert len(takeovers) == 1 and takeovers[0].path == "camera0"  # type: ignore[attr-defined]


async def test_after_our_restart_paths_of_vanished_cameras_are_cleaned_up(
    tmp_path: Path, mediamtx_target: MediamtxTarget
) -> None:
    registry = CameraRegistry()
    registry.put(synthetic("camera0"))
    registry.put(synthetic("camera1"))
    async with running(tmp_path, mediamtx_target, registry) as rig:
        await rig.reconciler.gateway.sync(5)
        await rig.api.add_path_config("theirs", {"source": "publisher"})
    # camsvc is down; camera1 disappears meanwhile
    registry.remove("camera1")
    async with running(tmp_path, mediamtx_target, registry, reconcile_interval=0.3) as rig:
        await rig.reconciler.gateway.sync(5)
        await until(lambda: conf_names(rig.api), what="list")
        # deleted after the start-up grace (one reconcile interval), by a later full pass
        async def gone() -> bool:
            return "camera1" not in await conf_names(rig.api)

        await until(gone, what="camera1's path deleted")
        names = await conf_names(rig.api)
        assert {"camera0", "theirs", "all_others"} <= names
        assert rig.reconciler.gateway.status().paths_owned == 1


async def test_mediamtx_restart_is_noticed_and_paths_reapplied(
    tmp_path: Path, mediamtx_target: MediamtxTarget
) -> None:
    registry = CameraRegistry()
    registry.put(synthetic("camera0"))
    registry.put(network("stream0"))
    async with running(tmp_path, mediamtx_target, registry, reconcile_interval=0.3, backoff_max=0.3) as rig:
        await rig.reconciler.gateway.sync(5)
        started = rig.reconciler.gateway.status().server_started
        await mediamtx_target.restart()
        assert "camera0" not in await conf_names(rig.api)  # MediaMTX forgot API-made paths

        async def back() -> bool:
            return {"camera0", "stream0"} <= await conf_names(rig.api)

        await until(back, what="paths re-applied")
        await until(lambda: rig.reconciler.gateway.status().server_restarts == 1, what="restart noticed")
        assert rig.reconciler.gateway.status().server_started != started


# emulator only: injects API 500s, which the real server cannot be made to do
async def test_unreachable_opens_the_circuit_and_fails_fast(tmp_path: Path, emu: Emulator) -> None:
    registry = CameraRegistry()
    registry.put(synthetic("camera0"))
    async with running(tmp_path, emu, registry, backoff_max=5.0) as rig:
        gw = rig.reconciler.gateway
        await gw.sync(5)
        emu.faults.fail(500, "terminated")
        registry.put(synthetic("camera1"))  # wakes a pass, which fails
        await until(lambda: gw.status().circuit == "open", what="circuit open")
        st = gw.status()
        assert not st.reachable and st.consecutive_failures >= 1 and "terminated" in (st.last_error or "")
        health = rig.health.check("mediamtx")
        assert health is not None and health.status == UNHEALTHY and health.details["circuit"] == "open"
        with trio.fail_after(0.5):  # fails at once, no request
            with pytest.raises(DependencyFailed) as info:
                gw.ensure_available()
            assert info.value.reason == "mediamtx_unavailable"
            with pytest.raises(DependencyFailed):
                await gw.runtime("camera0")
            with pytest.raises(DependencyFailed):
                await gw.sync(5)
        emu.faults.clear()
        await until(lambda: gw.status().circuit == "closed" and gw.status().reachable, timeout=8, what="recovery")
        await gw.sync(5)
        assert "camera1" in await conf_names(rig.api)


# emulator only: makes the API hang, which the real server cannot be made to do
async def test_a_hanging_mediamtx_is_bounded_by_the_request_timeout(tmp_path: Path, emu: Emulator) -> None:
    async with running(tmp_path, emu, request_timeout=0.4) as rig:
        gw = rig.reconciler.gateway
        await gw.sync(5)
        emu.faults.hang()
        with trio.fail_after(3):
            with pytest.raises(DependencyFailed) as info:
                await gw.runtime("camera0")
        assert info.value.reason == "mediamtx_unavailable"
        assert "no answer within 0.4s" in str(info.value)
        # now the circuit is open: later calls fail without waiting
        with trio.fail_after(0.2):
            with pytest.raises(DependencyFailed):
                await gw.list_runtime()
        emu.faults.clear()


async def test_runtime_views(
    tmp_path: Path, mediamtx_target: MediamtxTarget
) -> None:
    registry = CameraRegistry()
    registry.put(synthetic("camera0"))
    async with running(tmp_path, mediamtx_target, registry) as rig:
        gw = rig.reconciler.gateway
        await gw.sync(5)
        rt = await gw.runtime("camera0")
        assert rt is not None and rt.name == "camera0" and rt.ready is False and rt.readers == 0
        assert rt.ready_time is None and rt.bytes_received == 0
        assert await gw.runtime("nope") is None
        assert "camera0" in {p.name for p in await gw.list_runtime()}


async def test_a_refused_path_degrades_health_and_fails_sync_for_it_only(
    tmp_path: Path, mediamtx_target: MediamtxTarget
) -> None:
    registry = CameraRegistry()
    registry.put(synthetic("camera0"))
    registry.put(network("stream0", url="rtsp://host:abc/x"))  # MediaMTX refuses this URL
    async with running(tmp_path, mediamtx_target, registry) as rig:
        gw = rig.reconciler.gateway
        with pytest.raises(DependencyFailed) as info:
            await gw.sync(5)
        assert info.value.reason == "mediamtx_failed" and "stream0" in str(info.value)
        await gw.sync(5, name="camera0")  # the good camera is fine
        health = rig.health.check("mediamtx")
        assert health is not None and health.status == DEGRADED
        assert "stream0" in health.details["path_errors"]
        assert "camera0" in await conf_names(rig.api)
        # fixing the camera clears the error
        registry.put(network("stream0"))
        await gw.sync(5)
        assert rig.health.check("mediamtx").status == HEALTHY  # type: ignore[union-attr]


# emulator only: counts requests in the emulator's request log
async def test_incremental_pass_costs_one_request_per_changed_camera(tmp_path: Path, emu: Emulator) -> None:
    registry = CameraRegistry()
    for i in range(20):
        registry.put(synthetic(f"camera{i}"))
    async with running(tmp_path, emu, registry, reconcile_interval=60) as rig:
        await rig.reconciler.gateway.sync(5)
        before = len(emu.requests)
        registry.put(synthetic("camera99"))
        await rig.reconciler.gateway.sync(5)
        new = list(emu.requests)[before:]
        assert [(r.method, r.target) for r in new] == [("POST", "/v3/config/paths/add/camera99")]


async def test_an_externally_deleted_path_comes_back(
    tmp_path: Path, mediamtx_target: MediamtxTarget
) -> None:
    registry = CameraRegistry()
    registry.put(synthetic("camera0"))
    async with running(tmp_path, mediamtx_target, registry, reconcile_interval=0.3) as rig:
        await rig.reconciler.gateway.sync(5)
        await rig.api.delete_path_config("camera0")

        async def back() -> bool:
            return "camera0" in await conf_names(rig.api)

        await until(back, what="camera0 re-created by a periodic pass")


async def test_an_externally_modified_managed_key_is_patched_back(
    tmp_path: Path, mediamtx_target: MediamtxTarget
) -> None:
    registry = CameraRegistry()
    registry.put(synthetic("camera0"))
    async with running(tmp_path, mediamtx_target, registry, reconcile_interval=0.3) as rig:
        await rig.reconciler.gateway.sync(5)
        await rig.api.patch_path_config("camera0", {"record": True, "maxReaders": 5})

        async def fixed() -> bool:
            conf = await rig.api.get_path_config("camera0")
            return conf["record"] is False

        await until(fixed, what="record switched back off")
        # keys we do not manage are left as the other party set them
        assert (await rig.api.get_path_config("camera0"))["maxReaders"] == 5


def test_desired_conf_matches_what_the_builder_makes(tmp_path: Path) -> None:
    config = make_config(tmp_path, "http://127.0.0.1:1")
    conf = camera_path(synthetic("camera0"), PathSettings.from_config(config))
    assert conf["runOnDemand"].split()[0] == "true"


async def test_a_genuine_bug_crashes_the_child_and_the_supervisor_restarts_it(
    tmp_path: Path, mediamtx_target: MediamtxTarget
) -> None:
    """Unreachability is handled inside; an unexpected exception (a bug) is not swallowed."""
    calls = {"info": 0}

    class BuggyOnce(MediamtxClient):
        async def info(self) -> Any:
            calls["info"] += 1
            if calls["info"] == 1:
                raise RuntimeError("bug in the reconciler")
            return await super().info()

    config = make_config(tmp_path, mediamtx_target.api_url)
    registry = CameraRegistry()
    registry.put(synthetic("camera0"))
    store = StateStore(tmp_path / "state.db")
    store.open()
    rec = MediamtxReconciler(
        config=config, registry=registry, store=store, client_factory=lambda: BuggyOnce(mediamtx_target.api_url, timeout=2)
    )
    sup = Supervisor("root", [ChildSpec("mediamtx", rec.run, backoff=Backoff(initial=0.05, jitter=0))])
    try:
        async with MediamtxClient(mediamtx_target.api_url, timeout=2) as api, trio.open_nursery() as nursery:
            await nursery.start(sup.run)

            async def created() -> bool:
                return "camera0" in await conf_names(api)

            await until(created, what="path created by the restarted reconciler")
            child = sup.snapshot().child("mediamtx")
            assert child is not None and child.restarts == 1
            assert child.last_error == "RuntimeError: bug in the reconciler"
            assert rec.gateway.status().running
            nursery.cancel_scope.cancel()
    finally:
        store.close()
