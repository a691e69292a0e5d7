"""The soak's fault-injection seam (camsvc/fault_injection.py): off unless asked for; crash requests make a
camera actor fail inside its own task and be restarted by its supervisor; fake nodes are hot-plugged
through the real polling source, debouncer, discovery and camera actors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from camsvc import fault_injection
from camsvc.app import build
from camsvc.cameras import v4l2
from camsvc.cameras.device_source import Debouncer
from camsvc.cameras.discovery import probe_v4l2
from camsvc.cameras.model import CameraStatus, SourceKind
from camsvc.fault_injection import ControlDirSource, CrashRequests, FaultInjection
from tests.cameras.fakes import eventually, make_config, running_room
from tests.rpc_client import running_service, service_config


def _faults(tmp_path: Path) -> FaultInjection:
    faults = FaultInjection(tmp_path / "faults")
    faults.prepare()
    return faults


def _journal(faults: FaultInjection) -> list[dict[str, object]]:
    if not faults.journal.exists():
        return []
    return [json.loads(line) for line in faults.journal.read_text().splitlines()]


async def test_off_unless_the_environment_asks_for_it(tmp_path: Path) -> None:
    assert fault_injection.from_env({}) is None
    assert fault_injection.from_env({fault_injection.ENV: ""}) is None
    async with running_service(tmp_path / "plain") as plain:
        names = [c.name for c in plain.root.snapshot().children]
        assert names == ["monitors", "mediamtx", "cameras", "recordings", "rpc", "http", "housekeeping"]
        discovery = plain.extras["cameras"].discovery
        assert discovery.source is None and discovery.prober is probe_v4l2 and discovery.mode == "disabled"

    faults = fault_injection.from_env({fault_injection.ENV: str(tmp_path / "ctl")})
    assert faults is not None and faults.devices.is_dir() and faults.crashes.is_dir()
    seamed = build(service_config(tmp_path / "seamed"), faults=faults)
    async with trio.open_nursery() as nursery:
        await nursery.start(seamed.run)
        assert [c.name for c in seamed.root.snapshot().children] == [*names, "fault-injection"]
        discovery = seamed.extras["cameras"].discovery
        assert isinstance(discovery.source, Debouncer) and isinstance(discovery.source.inner, ControlDirSource)
        assert discovery.prober == faults.prober and discovery.mode == "injected"
        nursery.cancel_scope.cancel()


async def test_a_crash_request_fails_the_actor_and_its_supervisor_restarts_it(tmp_path: Path) -> None:
    faults = _faults(tmp_path)
    config = make_config(tmp_path, synthetic=[{"id": "cam_a"}])
    async with running_room(tmp_path, config=config) as room, trio.open_nursery() as nursery:
        await eventually(lambda: room.registry.get("cam_a"), what="cam_a published")
        actor = room.directory.actor("cam_a")
        nursery.start_soon(CrashRequests(faults, room.directory).run)

        (faults.crashes / "cam_a").touch()
        await eventually(lambda: actor.starts == 2 and actor.running, what="the actor restarted")
        child = room.child("cam_a")
        assert child is not None and child.restarts == 1
        assert "InjectedCrash" in (child.last_error or "")
        statuses = [p["status"] for p in room.topics() if p["device"] == "cam_a"]
        assert statuses[-2:] == ["ERROR", "CONNECTED"]
        assert not (faults.crashes / "cam_a").exists()  # consumed
        assert _journal(faults)[-1] == {**_journal(faults)[-1], "camera": "cam_a", "outcome": "posted"}

        assert not await CrashRequests(faults, room.directory).crash("nope")
        assert _journal(faults)[-1]["outcome"] == "refused"
        assert _journal(faults)[-1]["reason"] == "camera_not_found"
        nursery.cancel_scope.cancel()


async def test_a_fake_node_is_hot_plugged_through_discovery(tmp_path: Path) -> None:
    faults = _faults(tmp_path)
    async with running_room(tmp_path, source=faults.source(), prober=faults.prober) as room:
        node = faults.devices / "video57"
        node.touch()
        camera = await eventually(lambda: room.registry.get("camera57"), what="camera57 plugged in")
        assert camera.status is CameraStatus.CONNECTED
        assert camera.source.kind is SourceKind.V4L2 and camera.source.device_path == "/dev/video57"
        assert "/dev/video57" in camera.source.ffmpeg_input

        node.unlink()
        await eventually(lambda: room.registry.get("camera57") is None, what="camera57 unplugged")
        statuses = [p["status"] for p in room.topics() if p["device"] == "camera57"]
        assert statuses == ["CONNECTED", "DISCONNECTED"]


async def test_a_node_without_a_control_file_is_probed_for_real(tmp_path: Path) -> None:
    faults = _faults(tmp_path)
    (faults.devices / "video98").touch()
    assert await faults.prober("/dev/video98", 1.0) is fault_injection.FAKE_WEBCAM
    (faults.devices / "video98").unlink()
    if await trio.Path("/dev/video98").exists():
        pytest.skip("/dev/video98 exists on this machine")
    with pytest.raises(v4l2.ProbeError):
        await faults.prober("/dev/video98", 1.0)
