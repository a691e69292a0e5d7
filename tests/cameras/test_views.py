"""API renderings of cameras (spec §3) and the camera_status_update publisher."""

from __future__ import annotations

import json

import attrs

from camsvc.cameras.model import (
    Camera,
    CameraStatus,
    Capabilities,
    RecordingState,
    Resolution,
    Source,
    SourceKind,
    ValidationStatus,
)
from camsvc.cameras.registry import CameraRegistry
from camsvc.cameras.views import (
    StreamUrls,
    camera_object,
    camera_status_object,
    capabilities_object,
)
from camsvc.cameras.wiring import status_publisher
from camsvc.config import MediamtxConfig
from camsvc.events import Event, EventBus

URLS = StreamUrls(public_host=None, rtsp_port=8554, hls_port=8888, webrtc_port=8889)
CAMERA = Camera(
    id="camera0",
    name="Webcam",
    source=Source(SourceKind.V4L2, ffmpeg_input=("-i", "/dev/video0"), device_path="/dev/video0"),
    resolution=Resolution(1280, 720),
    fps=30,
    capabilities=Capabilities(("MJPG",), ("1280x720", "640x480"), (30, 15), ValidationStatus.CONFIRMED),
)


def test_camera_object_has_exactly_the_contract_fields() -> None:
    assert camera_object(CAMERA, host="cam.local", urls=URLS) == {
        "device": "camera0",
        "status": "CONNECTED",
        "name": "Webcam",
        "resolution": "1280x720",
        "fps": 30,
        "streams": {
            "rtsp": "rtsp://cam.local:8554/camera0",
            "hls": "http://cam.local:8888/camera0/index.m3u8",
            "webrtc": "http://cam.local:8889/camera0/whep",
        },
        "recording": False,
    }


def test_stream_host_is_public_host_then_client_host_then_localhost() -> None:
    public = attrs.evolve(URLS, public_host="cams.example.org")
    assert public.for_camera("camera0", "10.0.0.2")["rtsp"] == "rtsp://cams.example.org:8554/camera0"
    assert URLS.for_camera("camera0", "10.0.0.2")["rtsp"] == "rtsp://10.0.0.2:8554/camera0"
    assert URLS.for_camera("camera0", None)["rtsp"] == "rtsp://localhost:8554/camera0"
    assert URLS.for_camera("camera0", "fe80::1")["hls"] == "http://[fe80::1]:8888/camera0/index.m3u8"
    cfg = MediamtxConfig(public_host="h", rtsp_port=1, hls_port=2, webrtc_port=3)
    assert StreamUrls.from_config(cfg) == StreamUrls("h", 1, 2, 3)


def test_capabilities_and_status_objects() -> None:
    assert capabilities_object(CAMERA) == {
        "device": "camera0",
        "formats": ["MJPG"],
        "resolutions": ["1280x720", "640x480"],
        "fps_options": [30, 15],
        "validation_status": "CONFIRMED",
    }
    gone = attrs.evolve(CAMERA, status=CameraStatus.DISCONNECTED)
    assert capabilities_object(gone)["validation_status"] == "DISCONNECTED"
    recording = attrs.evolve(CAMERA, recording=RecordingState("s1", "camera0_a.mp4", 1000.0, "fmp4"))
    status = camera_status_object(recording, host=None, urls=URLS, metrics={"readers": 2}, now=1042.5)
    assert status["recording"] is True
    assert status["metrics"] == {"bytes_sent": 0, "readers": 2, "uptime": 0}
    assert status["capabilities"] == {"formats": ["MJPG"], "resolutions": ["1280x720", "640x480"]}
    assert status["recording_session"] == {
        "session_id": "s1",
        "filename": "camera0_a.mp4",
        "start_time": "1970-01-01T00:16:40.000Z",
        "elapsed": 42,
    }
    assert "recording_session" not in camera_status_object(CAMERA, host=None, urls=URLS)


def test_status_updates_follow_public_changes_and_render_per_host() -> None:
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    registry = CameraRegistry()
    registry.add_listener(status_publisher(bus, URLS))
    registry.put(CAMERA)
    registry.put(attrs.evolve(CAMERA, keep_streaming=True, since=5.0))  # not visible to clients
    registry.put(attrs.evolve(CAMERA, keep_streaming=True, since=5.0, status=CameraStatus.ERROR))
    registry.remove("camera0")
    assert [(e.topic, e.device, e.params["status"]) for e in events] == [
        ("camera_status_update", "camera0", "CONNECTED"),
        ("camera_status_update", "camera0", "ERROR"),
        ("camera_status_update", "camera0", "DISCONNECTED"),
    ]
    first = events[0]
    assert first.params["streams"]["rtsp"] == "rtsp://localhost:8554/camera0"
    note = json.loads(first.notification("192.168.1.9"))
    assert note["method"] == "camera_status_update"
    assert note["params"]["streams"]["rtsp"] == "rtsp://192.168.1.9:8554/camera0"
