"""cameras_control RPC methods over a real WebSocket against the in-process service (no MediaMTX here;
the end-to-end tests with the emulator are in test_end_to_end.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from camsvc.app import Service, build
from camsvc.cameras.device_source import FakeSource
from camsvc.cameras.external import ProbeResult
from camsvc.security.roles import Role
from tests.cameras.fakes import FakeProber, eventually
from tests.rpc_client import RpcClient, RpcError, rpc_client, service_config, token_for, ws_url


@contextlib.asynccontextmanager
async def camera_service(
    tmp_path: Path, *, fake: FakeSource | None = None, candidate_prober: Any = None, **cameras: Any
) -> AsyncIterator[Service]:
    """The whole service, with discovery fed by a FakeSource and a fake prober."""
    config = service_config(tmp_path, cameras={"discovery": "hybrid", "debounce": 0, **cameras})
    service = build(config)
    discovery = service.extras["cameras"].discovery
    discovery.source = fake or FakeSource()
    discovery.prober = FakeProber()
    if candidate_prober is not None:
        service.extras["cameras"].scanner.prober = candidate_prober
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        yield service
        nursery.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def client_for(service: Service, role: Role = Role.ADMIN) -> AsyncIterator[RpcClient]:
    async with rpc_client(ws_url(service), token=token_for(service, role)) as client:
        yield client


async def error_of(client: RpcClient, method: str, params: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(RpcError) as info:
        await client.call(method, params)
    return {"code": info.value.code, "message": info.value.message, "data": info.value.data}


async def test_external_streams_are_added_listed_persisted_and_removed(tmp_path: Path) -> None:
    async with camera_service(tmp_path) as service, client_for(service, Role.OPERATOR) as client:
        added = await client.call(
            "add_external_stream", {"stream_url": "rtsp://192.0.2.7:554/h264", "stream_name": "gate"}
        )
        assert set(added) == {"stream_url", "stream_name", "stream_type", "status", "timestamp"}
        assert (
            added["status"] == "ADDED"
            and added["stream_name"] == "gate"
            and added["stream_type"] == "generic"
        )
        assert added["timestamp"].endswith("Z")
        listing = await client.call("get_camera_list")
        gate = next(c for c in listing["cameras"] if c["device"] == "gate")
        assert gate["status"] == "CONNECTED"
        assert gate["streams"]["rtsp"] == "rtsp://127.0.0.1:8554/gate"  # the host the client connected to
        streams = await client.call("get_external_streams")
        assert streams["total_count"] == 1
        [entry] = streams["external_streams"]
        assert entry["stream_name"] == "gate" and entry["stream_url"] == "rtsp://192.0.2.7:554/h264"
        assert entry["source"] == "api"
        duplicate = await error_of(
            client, "add_external_stream", {"stream_url": "rtsp://192.0.2.8/x", "stream_name": "gate"}
        )
        assert duplicate["code"] == -32602 and duplicate["data"]["reason"] == "name_in_use"

    # a restart brings it back from the state store
    async with camera_service(tmp_path) as service, client_for(service, Role.OPERATOR) as client:
        assert service.services.registry.get("gate") is not None
        removed = await client.call("remove_external_stream", {"stream_url": "rtsp://192.0.2.7:554/h264"})
        assert removed["status"] == "REMOVED" and removed["stream_name"] == "gate"
        assert service.services.registry.get("gate") is None
        assert (await client.call("get_external_streams"))["total_count"] == 0
        missing = await error_of(client, "remove_external_stream", {"stream_name": "gate"})
        assert missing["code"] == -32010 and missing["data"]["resource"] == "stream"

    async with camera_service(tmp_path) as service:
        assert service.services.registry.get("gate") is None


async def test_external_stream_params_are_checked(tmp_path: Path) -> None:
    config_stream = {"id": "door", "url": "rtsp://192.0.2.1/door", "name": "Door"}
    async with camera_service(tmp_path, external=[config_stream]) as service, client_for(service) as client:
        bad_url = await error_of(
            client, "add_external_stream", {"stream_url": "file:///etc/passwd", "stream_name": "x"}
        )
        assert bad_url["code"] == -32602 and bad_url["data"]["param"] == "stream_url"
        bad_name = await error_of(
            client, "add_external_stream", {"stream_url": "rtsp://h/x", "stream_name": "Bad-Name"}
        )
        assert bad_name["code"] == -32602 and bad_name["data"]["param"] == "stream_name"
        taken = await error_of(
            client, "add_external_stream", {"stream_url": "rtsp://h/x", "stream_name": "door"}
        )
        assert taken["data"]["reason"] == "name_in_use"
        reserved = await error_of(
            client, "add_external_stream", {"stream_url": "rtsp://h/x", "stream_name": "discovery"}
        )
        assert reserved["data"]["reason"] == "name_in_use"
        neither = await error_of(client, "remove_external_stream", {})
        assert neither["code"] == -32602
        configured = await error_of(client, "remove_external_stream", {"stream_name": "door"})
        assert configured["code"] == -32020 and configured["data"]["reason"] == "stream_configured"
        [door] = (await client.call("get_external_streams"))["external_streams"]
        assert door["source"] == "config" and door["status"] == "CONNECTED"


async def test_roles_follow_the_contract(tmp_path: Path) -> None:
    async with camera_service(tmp_path) as service, client_for(service, Role.VIEWER) as viewer:
        assert (await viewer.call("get_external_streams"))["total_count"] == 0
        for method, params in (
            ("add_external_stream", {"stream_url": "rtsp://h/x", "stream_name": "x"}),
            ("start_streaming", {"device": "camera0"}),
            ("stop_streaming", {"device": "camera0"}),
            ("discover_external_streams", {}),
            ("set_discovery_interval", {"scan_interval": 5}),
        ):
            err = await error_of(viewer, method, params)
            assert err["code"] == -32002, method


async def test_streaming_needs_mediamtx_and_a_known_camera(tmp_path: Path) -> None:
    fake = FakeSource(initial=("/dev/video0",))
    async with camera_service(tmp_path, fake=fake) as service, client_for(service, Role.OPERATOR) as client:
        unknown = await error_of(client, "start_streaming", {"device": "camera9"})
        assert unknown["code"] == -32010 and unknown["data"]["resource"] == "camera"
        # MediaMTX is unreachable in this test: the lease is not left behind when it cannot be applied
        down = await error_of(client, "start_streaming", {"device": "/dev/video0"})
        assert down["code"] == -32050 and down["data"]["dependency"] == "mediamtx"
        camera = service.services.registry.get("camera0")
        assert camera is not None and not camera.keep_streaming
        stopped = await client.call("stop_streaming", {"device": "camera0"})
        assert stopped["status"] == "STOPPED" and stopped["start_time"] is None and stopped["duration"] == 0
        assert stopped["stream_continues"] is False


async def test_discovery_of_candidates(tmp_path: Path) -> None:
    probed: list[str] = []

    async def prober(url: str, timeout: float) -> ProbeResult:  # noqa: ASYNC109
        probed.append(url)
        if "good" in url:
            return ProbeResult(url, True, {"codec": "h264", "resolution": "1920x1080", "fps": 25.0})
        return ProbeResult(url, False, error="Connection refused")

    candidates = ["rtsp://192.0.2.1/good", "rtsp://192.0.2.2/bad"]
    async with (
        camera_service(tmp_path, discovery_candidates=candidates, candidate_prober=prober) as service,
        client_for(service) as client,
    ):
        await client.call("add_external_stream", {"stream_url": candidates[0], "stream_name": "good"})
        result = await client.call("discover_external_streams", {})
        assert set(result) == {
            "discovered_streams",
            "total_found",
            "scan_timestamp",
            "scan_duration",
            "errors",
        }
        assert result["total_found"] == 1
        [found] = result["discovered_streams"]
        assert found["stream_url"] == candidates[0] and found["resolution"] == "1920x1080"
        assert found["already_added"] is True and found["stream_name"] == "good"
        assert result["errors"] == [{"stream_url": candidates[1], "error": "Connection refused"}]
        assert sorted(probed) == sorted(candidates)
        updated = await client.call("set_discovery_interval", {"scan_interval": 60})
        assert updated["status"] == "UPDATED" and updated["scan_interval"] == 60
        cached = await client.call("discover_external_streams", {})  # periodic mode: the last result
        assert cached["scan_timestamp"] == result["scan_timestamp"] and len(probed) == 2
        forced = await client.call("discover_external_streams", {"force_rescan": True})
        assert len(probed) == 4 and forced["total_found"] == 1
        negative = await error_of(client, "set_discovery_interval", {"scan_interval": -1})
        assert negative["code"] == -32602

    # the interval survives a restart
    async with camera_service(tmp_path, discovery_candidates=candidates, candidate_prober=prober) as service:
        await eventually(lambda: service.extras["cameras"].scanner.interval == 60, what="restored interval")


async def test_discovery_without_candidates_is_unsupported(tmp_path: Path) -> None:
    async with camera_service(tmp_path) as service, client_for(service) as client:
        err = await error_of(client, "discover_external_streams", {"force_rescan": True})
        assert err["code"] == -32030 and err["data"]["feature"] == "external_discovery"
        updated = await client.call("set_discovery_interval", {"scan_interval": 0})
        assert updated["status"] == "UPDATED" and "no cameras.discovery_candidates" in updated["message"]


async def test_hot_plug_reaches_websocket_clients(tmp_path: Path) -> None:
    fake = FakeSource()
    async with camera_service(tmp_path, fake=fake) as service, client_for(service, Role.VIEWER) as client:
        await client.call("subscribe_events", {"topics": ["camera_status_update"]})
        await fake.add("/dev/video2")
        update = await client.notification("camera_status_update")
        assert update["params"]["device"] == "camera2" and update["params"]["status"] == "CONNECTED"
        assert update["params"]["streams"]["hls"] == "http://127.0.0.1:8888/camera2/index.m3u8"
        caps = await client.call("get_camera_capabilities", {"device": "/dev/video2"})
        assert caps["validation_status"] == "CONFIRMED" and "1280x720" in caps["resolutions"]
        await fake.remove("/dev/video2")
        update = await client.notification("camera_status_update")
        assert update["params"]["device"] == "camera2" and update["params"]["status"] == "DISCONNECTED"
        health = service.services.health.check("cameras")
        assert health is not None and health.details["cameras"]["total"] == 0
