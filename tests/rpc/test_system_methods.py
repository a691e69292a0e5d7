"""System, camera-read and stream-read methods: values come from the registry, health, gateway and counters."""

from __future__ import annotations

import time

import httpx
import pytest

from camsvc.app import Service
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
from tests.rpc.conftest import FakeGateway, FakeRuntime
from tests.rpc_client import RpcError, rpc_client, token_for, ws_url


def add_camera(service: Service, camera_id: str = "camera0", **kw: object) -> Camera:
    camera = Camera(
        id=camera_id,
        name=f"Cam {camera_id}",
        source=Source(SourceKind.V4L2, device_path=f"/dev/video{camera_id[-1]}"),
        resolution=Resolution(1280, 720),
        fps=30,
        capabilities=Capabilities(("YUYV", "MJPG"), ("640x480", "1280x720"), (15, 30), ValidationStatus.CONFIRMED),
        since=time.time() - 100,
        **kw,  # type: ignore[arg-type]
    )
    service.services.registry.put(camera)
    return camera


@pytest.fixture
def gateway(service: Service, monkeypatch: pytest.MonkeyPatch) -> FakeGateway:
    """Set answers behind the service's own gateway (Services is frozen; its gateway object stays)."""
    fake = FakeGateway()
    for name in ("ensure_available", "status", "runtime", "list_runtime"):
        monkeypatch.setattr(service.services.mediamtx, name, getattr(fake, name))
    return fake


async def test_camera_list_and_status(service: Service, gateway: FakeGateway) -> None:
    add_camera(service, "camera1")
    add_camera(service, "camera0", recording=RecordingState("s1", "camera0_2026.mp4", time.time() - 5, "fmp4"))
    add_camera(service, "front_door", status=CameraStatus.DISCONNECTED)
    gateway.paths["camera0"] = FakeRuntime("camera0", readers=3, bytes_sent=4242)
    async with rpc_client(ws_url(service), token=token_for(service, "viewer")) as c:
        listing = await c.call("get_camera_list")
        assert [cam["device"] for cam in listing["cameras"]] == ["camera0", "camera1", "front_door"]
        assert listing["total"] == 3 and listing["connected"] == 2
        cam0 = listing["cameras"][0]
        assert cam0 == {
            "device": "camera0", "status": "CONNECTED", "name": "Cam camera0", "resolution": "1280x720", "fps": 30,
            "streams": {"rtsp": "rtsp://127.0.0.1:8554/camera0", "hls": "http://127.0.0.1:8888/camera0/index.m3u8",
                        "webrtc": "http://127.0.0.1:8889/camera0/whep"},
            "recording": True,
        }
        status = await c.call("get_camera_status", {"device": "/dev/video0"})
        assert status["metrics"]["readers"] == 3 and status["metrics"]["bytes_sent"] == 4242
        assert status["metrics"]["uptime"] >= 99
        assert status["capabilities"] == {"formats": ["YUYV", "MJPG"], "resolutions": ["640x480", "1280x720"]}
        assert status["recording_session"]["session_id"] == "s1"
        assert "device_path" not in status  # only admins see Linux paths
        caps = await c.call("get_camera_capabilities", {"device": "camera1"})
        assert caps == {"device": "camera1", "formats": ["YUYV", "MJPG"], "resolutions": ["640x480", "1280x720"], "fps_options": [15, 30], "validation_status": "CONFIRMED"}
        gateway.open = True  # MediaMTX down: the camera is still described, its counters are unknown
        status = await c.call("get_camera_status", {"device": "camera0"})
        assert status["metrics"]["readers"] is None and status["metrics"]["bytes_sent"] is None
    async with rpc_client(ws_url(service), token=token_for(service, "admin")) as admin:
        assert (await admin.call("get_camera_status", {"device": "camera0"}))["device_path"] == "/dev/video0"


async def test_camera_list_follows_registry_changes(service: Service) -> None:
    async with rpc_client(ws_url(service), token=token_for(service, "viewer")) as c:
        assert (await c.call("get_camera_list"))["total"] == 0
        add_camera(service, "camera0")
        assert (await c.call("get_camera_list"))["total"] == 1
        service.services.registry.remove("camera0")
        assert (await c.call("get_camera_list"))["total"] == 0


async def test_stream_methods(service: Service, gateway: FakeGateway) -> None:
    add_camera(service, "camera0")
    add_camera(service, "camera1")
    gateway.paths["camera0"] = FakeRuntime("camera0", readers=2, bytes_sent=10, bytes_received=20)
    gateway.paths["camera1"] = FakeRuntime("camera1", ready=False, readers=0)
    async with rpc_client(ws_url(service), token=token_for(service, "viewer")) as c:
        streams = await c.call("get_streams")
        assert streams == [
            {"name": "camera0", "source": "rtspSession", "ready": True, "readers": 2, "bytes_sent": 10},
            {"name": "camera1", "source": "rtspSession", "ready": False, "readers": 0, "bytes_sent": 1000},
        ]
        url = await c.call("get_stream_url", {"device": "camera0"})
        assert url == {"device": "camera0", "stream_name": "camera0", "stream_url": "rtsp://127.0.0.1:8554/camera0", "available": True, "active_consumers": 2, "stream_status": "READY"}
        assert (await c.call("get_stream_url", {"device": "camera1"}))["stream_status"] == "NOT_READY"
        st = await c.call("get_stream_status", {"device": "camera0"})
        assert st["status"] == "ACTIVE" and st["mediamtx_path"] == {"exists": True, "ready": True, "readers": 2}
        assert st["metrics"] == {"bytes_sent": 10, "bytes_received": 20} and st["start_time"]
        assert (await c.call("get_stream_status", {"device": "camera1"}))["status"] == "INACTIVE"
        with pytest.raises(RpcError) as err:
            await c.call("get_stream_url", {"device": "camera9"})
        assert err.value.code == -32010
        gateway.open = True
        for method, params in (("get_streams", None), ("get_stream_url", {"device": "camera0"}), ("get_stream_status", {"device": "camera0"})):
            with pytest.raises(RpcError) as err:
                await c.call(method, params)
            assert err.value.code == -32050 and err.value.data["dependency"] == "mediamtx" and err.value.reason == "mediamtx_unavailable"


async def test_server_info_status_metrics(service: Service) -> None:
    async with rpc_client(ws_url(service), token=token_for(service, "admin")) as c:
        info = await c.call("get_server_info")
        assert info["name"] == "camsvc" and info["api_version"] == "1" and info["version"]
        assert {"build_date", "architecture", "python_version", "capabilities", "supported_formats", "max_cameras"} <= set(info)
        # arrays of strings: existing clients (a React app) render them with .map()
        assert info["supported_formats"] == ["fmp4", "mp4", "mpegts", "jpg", "png"]
        assert info["formats_by_kind"] == {"recording": ["fmp4", "mp4", "mpegts"], "snapshot": ["jpg", "png"]}
        assert info["capabilities"] and all(isinstance(c, str) for c in info["capabilities"])
        status = await c.call("get_status")
        assert status["status"] in ("HEALTHY", "DEGRADED", "UNHEALTHY")
        assert {"websocket_server", "camera_monitor", "mediamtx", "rpc", "http"} <= set(status["components"])
        assert status["components"]["websocket_server"] == "RUNNING"
        assert set(status["components"].values()) <= {"RUNNING", "STOPPED", "ERROR"}
        metrics = await c.call("get_metrics")
        assert metrics["active_connections"] == 1 and metrics["total_requests"] >= 3
        assert {"cpu_usage", "memory_usage", "disk_usage", "event_loop_lag_ms"} == set(metrics["system_metrics"])
        assert metrics["camera_metrics"] == {"connected_cameras": 0}
        assert metrics["recording_metrics"] == {"active_recordings": 0}
        assert set(metrics["stream_metrics"]) == {"active_streams", "total_readers"}
        system = await c.call("get_system_status")
        assert system["status"] in ("starting", "partial", "ready") and system["available_cameras"] == []
        assert system["discovery_active"] is False  # discovery is disabled in the test config


async def test_prometheus_metrics_endpoint(service: Service) -> None:
    add_camera(service, "camera0")
    async with rpc_client(ws_url(service), token=token_for(service, "viewer")) as c:
        await c.call("get_camera_list")
        await c.request("get_status")  # -32002
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http.bound_port}") as http:
            response = await http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'camsvc_rpc_requests_total{code="0",method="get_camera_list"} 1.0' in text
    assert 'camsvc_rpc_requests_total{code="-32002",method="get_status"} 1.0' in text
    assert "camsvc_rpc_request_duration_seconds_bucket" in text
    assert "camsvc_rpc_connections 1.0" in text
    assert 'camsvc_cameras{status="CONNECTED"} 1.0' in text
    assert "camsvc_recordings_active 0.0" in text
    assert 'camsvc_supervisor_restarts_total{child="rpc"} 0.0' in text
    assert "camsvc_event_loop_lag_seconds" in text
    assert "camsvc_mediamtx_reachable" in text
