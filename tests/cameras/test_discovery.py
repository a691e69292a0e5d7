"""Discovery: device events (FakeSource) → probe → camera actors, registry values, events, removal callbacks,
conflicts, and supervision (a crashing actor restarts alone; a restarted discovery re-syncs).

The room uses the SQLite state store (worker threads), so these tests run on the real clock: a virtual
clock would jump ahead while a thread works. Backoffs and windows involved are fractions of a second.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
import trio

from camsvc.cameras import v4l2
from camsvc.cameras.device_source import (
    Debouncer,
    DeviceEvent,
    FakeSource,
    HybridSource,
    PollSource,
    UdevSource,
)
from camsvc.cameras.discovery import source_for
from camsvc.cameras.model import Camera, CameraStatus, RecordingState, SourceKind
from camsvc.errors import InvalidState, NotFound
from camsvc.health import HEALTHY
from supervisor import ChildState
from tests.cameras.fakes import (
    METADATA_NODE,
    FakeProber,
    eventually,
    make_config,
    probed,
    running_room,
    settle,
)


async def test_added_device_becomes_a_running_camera(tmp_path: Path) -> None:
    fake = FakeSource()
    async with running_room(tmp_path, source=fake) as room:
        await fake.add("/dev/video0")
        await settle()
        camera = room.registry.get("camera0")
        assert camera is not None
        assert camera.status is CameraStatus.CONNECTED
        assert camera.source.kind is SourceKind.V4L2
        assert camera.source.device_path == "/dev/video0"
        # the format policy picked 1280x720 MJPEG at 30 fps and the encoder re-encodes it to H.264
        assert (str(camera.resolution), camera.fps) == ("1280x720", 30)
        assert camera.source.ffmpeg_input[-2:] == ("-i", "/dev/video0")
        assert "mjpeg" in camera.source.ffmpeg_input
        assert camera.source.ffmpeg_encode[:2] == ("-c:v", "libx264")
        assert camera.capabilities.validation_status.value == "CONFIRMED"
        assert camera.name == "Fake Webcam"
        child = room.child("camera0")
        assert child is not None and child.state is ChildState.RUNNING
        assert room.directory.actor("camera0").id == "camera0"
        assert room.directory.actor("/dev/video0").id == "camera0"  # the compatibility alias
        updates = room.topics()
        assert updates[-1]["device"] == "camera0"
        assert updates[-1]["status"] == "CONNECTED"
        assert updates[-1]["resolution"] == "1280x720"
        assert updates[-1]["streams"]["rtsp"] == "rtsp://localhost:8554/camera0"


async def test_metadata_nodes_are_not_cameras(tmp_path: Path) -> None:
    fake = FakeSource()
    prober = FakeProber(results={"/dev/video1": METADATA_NODE})
    async with running_room(tmp_path, source=fake, prober=prober) as room:
        await fake.add("/dev/video0")
        await fake.add("/dev/video1")
        await settle()
        assert sorted(room.registry.snapshot()) == ["camera0"]
        assert room.child("camera1") is None
        assert prober.calls.count("/dev/video1") == 1
        health = room.services.health.check("cameras")
        assert health is not None
        assert health.details["ignored_nodes"] == ["/dev/video1"]


async def test_initial_devices_are_cameras_before_discovery_reports_ready(tmp_path: Path) -> None:
    fake = FakeSource(initial=("/dev/video2", "/dev/video0"))
    async with running_room(tmp_path, source=fake) as room:
        # no settle(): start-up waited for the initial probes
        assert sorted(room.registry.snapshot()) == ["camera0", "camera2"]
        await settle()
        assert sorted(room.registry.snapshot()) == ["camera0", "camera2"]  # the initial adds are not doubled
        assert room.directory.actor("camera2").starts == 1


async def test_removal_runs_callbacks_first_then_stops_the_actor(tmp_path: Path) -> None:
    fake = FakeSource()
    async with running_room(tmp_path, source=fake) as room:
        seen: list[tuple[Camera, bool, ChildState | None]] = []

        async def on_removed(camera: Camera) -> None:
            child = room.child(camera.id)
            seen.append((camera, room.registry.get(camera.id) is not None, child.state if child else None))

        room.directory.on_removed(on_removed)
        await fake.add("/dev/video0")
        await settle()
        actor = room.directory.actor("camera0")
        await fake.remove("/dev/video0")
        await settle()
        [(camera, was_registered, state)] = seen
        assert camera.id == "camera0" and camera.status is CameraStatus.CONNECTED
        assert was_registered and state is ChildState.RUNNING  # callbacks run while the actor still runs
        assert room.registry.get("camera0") is None
        assert room.child("camera0") is None
        with pytest.raises(NotFound):
            room.directory.actor("camera0")
        assert not actor.running
        last = room.topics()[-1]
        assert (last["device"], last["status"]) == ("camera0", "DISCONNECTED")


async def test_a_recording_camera_that_disappears_ends_its_session_failed(tmp_path: Path) -> None:
    """The media room ends the session from its on_removed callback; here a stub does what it will."""
    fake = FakeSource()
    async with running_room(tmp_path, source=fake) as room:

        async def media_stub(camera: Camera) -> None:
            if camera.recording is not None:
                room.services.bus.publish(
                    "recording_status_update",
                    {
                        "device": camera.id,
                        "status": "FAILED",
                        "session_id": camera.recording.session_id,
                        "filename": camera.recording.filename,
                        "duration": 3,
                        "reason": "camera_disconnected",
                    },
                    device=camera.id,
                )
                room.directory.actor(camera.id).set_recording(None)

        room.directory.on_removed(media_stub)
        await fake.add("/dev/video0")
        await settle()
        actor = room.directory.actor("camera0")
        actor.set_recording(RecordingState("s1", "camera0_2026-01-01_00-00-00", 1.0, "fmp4"))
        assert room.topics()[-1]["recording"] is True
        await fake.remove("/dev/video0")
        await settle()
        topics = [(e.topic, e.params.get("status")) for e in room.events]
        failed = topics.index(("recording_status_update", "FAILED"))
        gone = topics.index(("camera_status_update", "DISCONNECTED"))
        assert failed < gone
        assert room.topics("recording_status_update")[-1]["reason"] == "camera_disconnected"
        assert room.topics()[-1]["recording"] is False


async def test_a_failing_removal_callback_does_not_keep_the_camera(tmp_path: Path) -> None:
    fake = FakeSource()
    async with running_room(tmp_path, source=fake) as room:

        async def broken(camera: Camera) -> None:
            raise RuntimeError("media is broken")

        room.directory.on_removed(broken)
        await fake.add("/dev/video0")
        await settle()
        await fake.remove("/dev/video0")
        await settle()
        assert room.registry.get("camera0") is None
        assert room.child("camera0") is None


async def test_remove_during_probe_cancels_it(tmp_path: Path) -> None:
    fake = FakeSource()
    gate = trio.Event()
    prober = FakeProber(gates={"/dev/video3": gate})
    async with running_room(tmp_path, source=fake, prober=prober) as room:
        await fake.add("/dev/video3")
        await settle()
        assert prober.in_progress == {"/dev/video3"}
        await fake.remove("/dev/video3")
        await settle()
        assert prober.in_progress == set()  # cancelled, not finished
        assert room.registry.get("camera3") is None
        gate.set()
        await fake.add("/dev/video3")
        await settle()
        camera = room.registry.get("camera3")
        assert camera is not None and camera.status is CameraStatus.CONNECTED


async def test_devices_are_probed_in_parallel(tmp_path: Path) -> None:
    fake = FakeSource()
    gate = trio.Event()
    paths = [f"/dev/video{n}" for n in range(10)]
    prober = FakeProber(gates=dict.fromkeys(paths, gate))
    config = make_config(tmp_path, device_range=[0, 20])
    async with running_room(tmp_path, config=config, source=fake, prober=prober) as room:
        for path in paths:
            await fake.add(path)
        await settle()
        assert prober.in_progress == set(paths)
        gate.set()
        await settle()
        assert sorted(room.registry.snapshot()) == sorted(f"camera{n}" for n in range(10))
        assert [c.id for c in room.directory.cameras()][:3] == ["camera0", "camera1", "camera2"]


async def test_unprobeable_devices_are_reported_not_registered(tmp_path: Path) -> None:
    fake = FakeSource()
    denied = v4l2.ProbeError("/dev/video4", "open: permission denied", errno.EACCES)
    prober = FakeProber(results={"/dev/video4": denied})
    async with running_room(tmp_path, source=fake, prober=prober) as room:
        await fake.add("/dev/video4")
        await settle()
        assert room.registry.get("camera4") is None
        assert prober.calls == ["/dev/video4"]  # permission problems are not retried
        health = room.services.health.check("cameras")
        assert health is not None
        assert health.details["probe_failures"] == {"/dev/video4": "open: permission denied"}
        await fake.remove("/dev/video4")
        await settle()
        health = room.services.health.check("cameras")
        assert health is not None and "probe_failures" not in health.details


async def test_transient_probe_errors_are_retried(tmp_path: Path) -> None:
    fake = FakeSource()
    busy = v4l2.ProbeError("/dev/video0", "VIDIOC_QUERYCAP: device is busy", errno.EBUSY)

    @attrs.define
    class BusyOnce(FakeProber):
        async def __call__(self, path: str, timeout: float) -> v4l2.Capabilities:  # noqa: ASYNC109
            self.results[path] = busy if not self.calls else probed()
            return await super().__call__(path, timeout)

    prober = BusyOnce()
    async with running_room(tmp_path, source=fake, prober=prober) as room:
        await fake.add("/dev/video0")
        await eventually(lambda: room.registry.get("camera0"), what="camera0 after a retry")
        assert prober.calls == ["/dev/video0", "/dev/video0"]


async def test_a_node_with_no_usable_format_is_an_error_camera(tmp_path: Path) -> None:
    fake = FakeSource()
    prober = FakeProber(results={"/dev/video0": probed({"XYZW": {(640, 480): (30.0,)}})})
    async with running_room(tmp_path, source=fake, prober=prober) as room:
        await fake.add("/dev/video0")
        await settle()
        camera = room.registry.get("camera0")
        assert camera is not None
        assert camera.status is CameraStatus.ERROR
        assert camera.error is not None and "XYZW" in camera.error
        assert camera.capabilities.formats == ("XYZW",)
        assert room.topics()[-1]["status"] == "ERROR"

        async def op(camera: Camera) -> None:
            raise AssertionError("must not run on an ERROR camera")

        with pytest.raises(InvalidState) as info:
            await room.directory.actor("camera0").call(op)
        assert info.value.reason == "camera_disconnected"
        health = room.services.health.check("cameras")
        assert health is not None and health.details["cameras"]["ERROR"] == 1
        assert "XYZW" in health.details["errors"]["camera0"]


async def test_configured_ids_win_over_devices_and_the_device_is_reported(tmp_path: Path) -> None:
    fake = FakeSource()
    config = make_config(tmp_path, synthetic=[{"id": "camera3", "name": "pattern"}])
    async with running_room(tmp_path, config=config, source=fake) as room:
        await room.directory.add_external_stream("camera5", "rtsp://10.0.0.5/live", "generic")
        await fake.add("/dev/video3")
        await fake.add("/dev/video5")
        await settle()
        held = room.registry.get("camera3")
        assert held is not None and held.source.kind is SourceKind.SYNTHETIC
        network = room.registry.get("camera5")
        assert network is not None and network.source.kind is SourceKind.NETWORK
        health = room.services.health.check("cameras")
        assert health is not None
        assert health.details["conflicts"] == [
            {"device": "/dev/video3", "camera": "camera3"},
            {"device": "/dev/video5", "camera": "camera5"},
        ]
        # When the holder goes away, the device gets its id after all.
        await room.directory.remove_external_stream(name="camera5")
        await settle()
        camera5 = room.registry.get("camera5")
        assert camera5 is not None and camera5.source.kind is SourceKind.V4L2
        health = room.services.health.check("cameras")
        assert health is not None
        assert health.details["conflicts"] == [{"device": "/dev/video3", "camera": "camera3"}]
        # and it is a normal device again: unplugging removes it
        await fake.remove("/dev/video5")
        await settle()
        assert room.registry.get("camera5") is None


async def test_keep_streaming_alone_is_not_a_public_change(tmp_path: Path) -> None:
    fake = FakeSource()
    async with running_room(tmp_path, source=fake) as room:
        await fake.add("/dev/video0")
        await settle()
        before = len(room.topics())
        room.directory.actor("camera0").set_keep_streaming(True)
        assert len(room.topics()) == before
        room.directory.actor("camera0").set_recording(RecordingState("s", "f", 1.0, "fmp4"))
        assert len(room.topics()) == before + 1


@attrs.define
class FreshFakes:
    """A source that is a new FakeSource on every run (discovery restarts re-run its source)."""

    present: Callable[[], tuple[str, ...]]
    runs: list[FakeSource] = attrs.Factory(list)

    async def run(
        self,
        send: trio.MemorySendChannel[DeviceEvent],
        *,
        task_status: trio.TaskStatus[frozenset[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        fake = FakeSource(initial=self.present())
        self.runs.append(fake)
        await fake.run(send, task_status=task_status)


async def test_restarted_discovery_resyncs_without_restarting_cameras(tmp_path: Path) -> None:
    present = ["/dev/video0", "/dev/video1"]
    source = FreshFakes(lambda: tuple(present))
    async with running_room(tmp_path, source=source) as room:
        removed: list[str] = []

        async def on_removed(camera: Camera) -> None:
            removed.append(camera.id)

        room.directory.on_removed(on_removed)
        camera0 = room.directory.actor("camera0")
        assert sorted(room.registry.snapshot()) == ["camera0", "camera1"]
        present.remove("/dev/video1")  # unplugged while discovery is down
        source.runs[-1].fail(RuntimeError("netlink socket died"))
        await eventually(
            lambda: len(source.runs) == 2 and room.child("discovery").state is ChildState.RUNNING
        )
        discovery = room.child("discovery")
        assert discovery is not None and discovery.restarts == 1
        assert "netlink socket died" in (discovery.last_error or "")
        assert sorted(room.registry.snapshot()) == ["camera0"]
        assert removed == ["camera1"]
        assert room.directory.actor("camera0") is camera0 and camera0.starts == 1
        child0 = room.child("camera0")
        assert child0 is not None and child0.restarts == 0


async def test_a_crashing_camera_actor_is_restarted_alone(tmp_path: Path) -> None:
    fake = FakeSource(initial=("/dev/video0", "/dev/video1"))
    config = make_config(tmp_path, synthetic=[{"id": "pattern"}])
    async with running_room(tmp_path, config=config, source=fake) as room:
        crashing = room.directory.actor("camera0")
        others = [room.directory.actor(i) for i in ("camera1", "pattern")]
        crashing.set_recording(RecordingState("s1", "f1", 1.0, "fmp4"))
        statuses: list[str] = []
        room.services.bus.subscribe(
            lambda e: statuses.append(e.params["status"]) if e.params.get("device") == "camera0" else None
        )
        await crashing._post(object())  # a message it does not understand: a bug, so it crashes
        await eventually(lambda: crashing.starts == 2 and crashing.running, what="camera0 restarted")
        assert statuses == ["ERROR", "CONNECTED"]
        camera = room.registry.get("camera0")
        assert camera is not None and camera.status is CameraStatus.CONNECTED
        assert camera.recording is not None and camera.recording.session_id == "s1"  # desired state survives
        child = room.child("camera0")
        assert child is not None and child.restarts == 1 and "unknown message" in (child.last_error or "")
        for other in others:
            assert other.starts == 1 and other.running
            assert room.child(other.id).restarts == 0
        assert room.child("discovery").restarts == 0


async def test_configured_cameras_and_disabled_discovery(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        discovery="disabled",
        synthetic=[{"id": "camera0", "width": 320, "height": 240, "fps": 10}],
        external=[{"id": "door", "url": "rtsp://192.0.2.10/stream1", "name": "Front door"}],
    )
    async with running_room(tmp_path, config=config, use_config_source=True) as room:
        assert sorted(room.registry.snapshot()) == ["camera0", "door"]
        door = room.registry.get("door")
        assert (
            door is not None and door.name == "Front door" and door.source.url == "rtsp://192.0.2.10/stream1"
        )
        health = room.services.health.check("cameras")
        assert health is not None and health.status == HEALTHY
        assert health.details["discovery"] == "disabled"
        assert health.details["discovery_active"] is False
        assert health.details["cameras"]["synthetic"] == 1 and health.details["cameras"]["network"] == 1


async def test_health_is_unhealthy_when_discovery_is_not_running(tmp_path: Path) -> None:
    async with running_room(tmp_path) as room:
        check = room.services.health.check("cameras")
        assert check is not None and check.status == HEALTHY
        await room.room.supervisor.stop_child("discovery")
        check = room.services.health.check("cameras")
        assert check is not None and check.status == "unhealthy"


def test_source_for_follows_the_discovery_mode(tmp_path: Path) -> None:
    assert source_for(make_config(tmp_path, discovery="disabled").cameras) is None
    poll = source_for(make_config(tmp_path, discovery="poll", poll_interval=2.5, device_range=[2, 4]).cameras)
    assert isinstance(poll, PollSource) and poll.interval == 2.5 and poll.device_range == (2, 4)
    hybrid = source_for(make_config(tmp_path, discovery="hybrid", debounce=0.3).cameras)
    assert isinstance(hybrid, Debouncer) and hybrid.window == 0.3
    assert isinstance(hybrid.inner, HybridSource)
    assert isinstance(hybrid.inner.udev, UdevSource) and isinstance(hybrid.inner.poll, PollSource)
    udev = source_for(make_config(tmp_path, discovery="udev").cameras)
    assert isinstance(udev, UdevSource)


async def test_debounced_flapping_device_settles_once(tmp_path: Path) -> None:
    fake = FakeSource()
    config = make_config(tmp_path, debounce=0.2)
    prober = FakeProber()
    async with running_room(
        tmp_path, config=config, source=Debouncer(fake, window=0.2), prober=prober
    ) as room:
        for _ in range(5):
            await fake.add("/dev/video0")
            await fake.remove("/dev/video0")
        await fake.add("/dev/video0")
        await eventually(lambda: room.registry.get("camera0"), what="camera0")
        await settle()
        assert prober.calls == ["/dev/video0"]
        assert [u["status"] for u in room.topics()] == ["CONNECTED"]


async def test_a_restarted_cameras_supervisor_rebuilds_actors_and_keeps_desired_state(tmp_path: Path) -> None:
    present = ["/dev/video0", "/dev/video7"]
    source = FreshFakes(lambda: tuple(present))
    config = make_config(tmp_path, synthetic=[{"id": "pattern"}])
    async with running_room(tmp_path, config=config, source=source) as room:
        removed: list[str] = []

        async def on_removed(camera: Camera) -> None:
            removed.append(camera.id)

        room.directory.on_removed(on_removed)
        old = room.directory.actor("camera0")
        old.set_recording(RecordingState("s1", "f1", 1.0, "fmp4"))
        room.directory.actor("pattern").set_keep_streaming(True)
        present.remove("/dev/video7")
        await room.restart_supervisor()
        assert sorted(room.registry.snapshot()) == ["camera0", "pattern"]
        assert removed == ["camera7"]  # its device vanished while nothing watched it
        new = room.directory.actor("camera0")
        assert new is not old and new.running and not old.running
        camera0 = room.registry.get("camera0")
        assert camera0 is not None and camera0.recording is not None and camera0.recording.session_id == "s1"
        pattern = room.registry.get("pattern")
        assert pattern is not None and pattern.keep_streaming
        names = sorted(c.name for c in room.room.supervisor.snapshot().children)
        assert names == ["camera0", "discovery", "pattern"]


async def test_a_stuck_removal_callback_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("camsvc.cameras.directory.REMOVAL_CALLBACK_TIMEOUT", 0.1)
    fake = FakeSource()
    async with running_room(tmp_path, source=fake) as room:
        later: list[str] = []

        async def stuck(camera: Camera) -> None:
            await trio.sleep_forever()

        async def after(camera: Camera) -> None:
            later.append(camera.id)

        room.directory.on_removed(stuck)
        room.directory.on_removed(after)
        await fake.add("/dev/video0")
        await settle()
        await fake.remove("/dev/video0")
        await eventually(lambda: room.registry.get("camera0") is None, what="camera0 removed")
        assert later == ["camera0"] and room.child("camera0") is None
