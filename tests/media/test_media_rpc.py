"""The media methods over the real RPC server (no MediaMTX needed): params, errors, shapes, persistence,
and downloads with the service's real credentials."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest

from camsvc.rpc.methods.media import requested_duration
from camsvc.security.roles import Role
from tests.media.fakes import make_sample, segment_name
from tests.media.rawhttp import request
from tests.rpc_client import RpcError, rpc_client, running_service, token_for, ws_url

CAMERA = {"cameras": {"discovery": "disabled", "synthetic": [{"id": "camera0", "width": 160, "height": 120}]}}


def _recordings(service: Any) -> Path:
    return Path(service.config.recording.dir)


def _put(directory: Path, names: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_bytes(b"\0" * 64)


async def _error(client: Any, method: str, params: dict[str, Any]) -> RpcError:
    with pytest.raises(RpcError) as err:
        await client.call(method, params)
    return err.value


def test_duration_params() -> None:
    assert requested_duration({}) is None
    assert requested_duration({"duration": 5}) == 5
    assert requested_duration({"duration_seconds": 7}) == 7
    assert requested_duration({"duration_minutes": 2}) == 120
    assert requested_duration({"duration_hours": 1}) == 3600


async def test_listing_params_and_shapes(tmp_path: Path) -> None:
    async with running_service(tmp_path) as service:
        names = [segment_name("camera0", 1_700_000_000 + i * 60) for i in range(3)]
        names.append(segment_name("camera1", 1_700_000_030))
        _put(_recordings(service), names)
        async with rpc_client(ws_url(service), token=token_for(service, Role.VIEWER)) as viewer:
            page = await viewer.call("list_recordings")
            assert (page["total"], page["limit"], page["offset"]) == (4, 50, 0)
            assert [f["filename"] for f in page["files"]][0] == names[2]  # newest first
            first = page["files"][0]
            assert set(first) >= {
                "filename",
                "file_size",
                "created_time",
                "modified_time",
                "download_url",
                "device",
                "format",
            }
            assert (
                first["download_url"]
                == f"http://127.0.0.1:{service.http.bound_port}/files/recordings/{names[2]}"
            )
            assert first["format"] == "mp4" and first["device"] == "camera0"
            only = await viewer.call("list_recordings", {"device": "/dev/video1", "limit": 1})
            assert [f["filename"] for f in only["files"]] == [names[3]] and only["total"] == 1
            assert (await viewer.call("list_snapshots")) == {
                "files": [],
                "total": 0,
                "limit": 50,
                "offset": 0,
            }
            for params, param in (
                ({"limit": 0}, "limit"),
                ({"limit": 1001}, "limit"),
                ({"offset": -1}, "offset"),
                ({"limit": "10"}, "limit"),
                ({"device": 3}, "device"),
            ):
                err = await _error(viewer, "list_recordings", params)
                assert (err.code, err.data["param"]) == (-32602, param)
            err = await _error(viewer, "get_recording_info", {"filename": "camera0_missing.mp4"})
            assert (err.code, err.data["resource"], err.data["id"]) == (-32010, "file", "camera0_missing.mp4")
            err = await _error(viewer, "get_recording_info", {"filename": "../x.mp4"})
            assert (err.code, err.reason, err.data["param"]) == (-32602, "invalid_filename", "filename")
            err = await _error(viewer, "delete_recording", {"filename": names[0]})
            assert (err.code, err.data["required_role"]) == (-32002, "admin")
            err = await _error(viewer, "take_snapshot", {"device": "camera0"})
            assert err.code == -32002


async def test_recording_params_and_mediamtx_down(tmp_path: Path) -> None:
    async with running_service(tmp_path, **CAMERA) as service:
        async with rpc_client(ws_url(service), token=token_for(service, Role.OPERATOR)) as op:
            for params, param in (
                ({"device": "camera0", "duration": 0}, "duration"),
                ({"device": "camera0", "duration_minutes": -1}, "duration_minutes"),
                ({"device": "camera0", "duration": 5, "duration_hours": 1}, "duration_hours"),
                ({"device": "camera0", "format": "avi"}, "format"),
                ({}, "device"),
            ):
                err = await _error(op, "start_recording", params)
                assert (err.code, err.data["param"]) == (-32602, param), params
            err = await _error(op, "start_recording", {"device": "camera9"})
            assert (err.code, err.data["resource"]) == (-32010, "camera")
            # MediaMTX is unreachable in this test: fail fast, nothing recorded
            err = await _error(op, "start_recording", {"device": "camera0", "duration_minutes": 1})
            assert (err.code, err.data["dependency"]) == (-32050, "mediamtx")
            status = await op.call("get_recording_status", {"device": "/dev/video0"})
            assert status == {
                "device": "camera0",
                "recording": False,
                "session_id": None,
                "filename": None,
                "start_time": None,
                "elapsed": None,
                "duration": None,
                "format": None,
                "interrupted": False,
                "gaps": [],
            }
            err = await _error(op, "stop_recording", {"device": "camera0"})
            assert (err.code, err.reason) == (-32020, "not_recording")


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
async def test_local_snapshots_work_without_mediamtx(tmp_path: Path) -> None:
    async with running_service(tmp_path, **CAMERA) as service:
        async with rpc_client(ws_url(service), token=token_for(service, Role.OPERATOR)) as op:
            snap = await op.call("take_snapshot", {"device": "camera0", "filename": "door", "quality": 50})
            assert snap["filename"] == "door.jpg" and snap["status"] == "SUCCESS" and snap["file_size"] > 0
            assert snap["capture_method"] == "direct"
            info = await op.call("get_snapshot_info", {"filename": "door.jpg"})
            assert info["resolution"] == "160x120" and info["device"] == "camera0"
            err = await _error(op, "take_snapshot", {"device": "camera0", "filename": "door"})
            assert (err.code, err.reason) == (-32020, "file_exists")
            err = await _error(op, "take_snapshot", {"device": "camera0", "quality": 101})
            assert (err.code, err.data["param"]) == (-32602, "quality")


async def test_retention_policy_is_validated_and_persisted(tmp_path: Path) -> None:
    async with running_service(tmp_path) as service:
        async with rpc_client(ws_url(service), token=token_for(service, Role.ADMIN)) as admin:
            assert await admin.call("get_retention_policy") == {
                "policy_type": "manual",
                "enabled": False,
                "max_age_days": 30,
                "max_size_gb": 10.0,
            }
            for params, param in (
                ({"policy_type": "age", "enabled": True}, "max_age_days"),
                ({"policy_type": "size", "enabled": True}, "max_size_gb"),
                ({"policy_type": "age", "enabled": True, "max_age_days": 0}, "max_age_days"),
                ({"policy_type": "size", "enabled": True, "max_size_gb": -1.5}, "max_size_gb"),
                ({"policy_type": "never", "enabled": True}, "policy_type"),
                ({"policy_type": "age", "max_age_days": 3}, "enabled"),
            ):
                err = await _error(admin, "set_retention_policy", params)
                assert (err.code, err.data["param"]) == (-32602, param), params
            result = await admin.call(
                "set_retention_policy", {"policy_type": "size", "enabled": False, "max_size_gb": 2.5}
            )
            assert {k: result[k] for k in ("policy_type", "enabled", "max_age_days", "max_size_gb")} == {
                "policy_type": "size",
                "enabled": False,
                "max_age_days": 30,
                "max_size_gb": 2.5,
            }
            assert isinstance(result["message"], str)
            cleanup = await admin.call("cleanup_old_files")
            assert cleanup["cleanup_executed"] is False and cleanup["files_deleted"] == 0
            info = await admin.call("get_storage_info")
            assert set(info) == {
                "total_space", "used_space", "available_space", "usage_percentage", "recordings_size",
                "snapshots_size", "warn_percent", "block_percent", "low_space_warning", "critical_space_warning",
            }  # fmt: skip
            assert info["total_space"] >= info["used_space"] > 0 and info["block_percent"] == 95.0
    async with running_service(tmp_path) as again:  # same state dir: the policy survived
        async with rpc_client(ws_url(again), token=token_for(again, Role.ADMIN)) as admin:
            assert (await admin.call("get_retention_policy"))["max_size_gb"] == 2.5
            health = again.health.system()
            assert health["components"]["storage"]["status"] in ("healthy", "degraded", "unhealthy")


async def test_downloads_with_the_services_real_credentials(tmp_path: Path) -> None:
    async with running_service(tmp_path) as service:
        name = segment_name("camera0", 1_700_000_000)
        (_recordings(service)).mkdir(parents=True, exist_ok=True)
        make_sample(_recordings(service) / name, seconds=1.0)
        port = service.http.bound_port
        assert port is not None
        async with rpc_client(ws_url(service), token=token_for(service, Role.VIEWER)) as viewer:
            err = await _error(
                viewer, "get_download_url", {"file_type": "recording", "filename": name, "expires_in": 86401}
            )
            assert (err.code, err.data["param"]) == (-32602, "expires_in")
            err = await _error(viewer, "get_download_url", {"file_type": "video", "filename": name})
            assert (err.code, err.data["param"]) == (-32602, "file_type")
            err = await _error(viewer, "get_download_url", {"file_type": "snapshot", "filename": name})
            assert err.code == -32010
            link = await viewer.call("get_download_url", {"file_type": "recording", "filename": name})
            assert link["expires_at"].endswith("Z")
            target = link["url"].split(f":{port}", 1)[1]
            by_token = await request(port, target)
            assert by_token.status == 200 and by_token.headers["content-type"] == "video/mp4"
            forged = target[:-2] + ("AA" if not target.endswith("AA") else "BB")
            assert (await request(port, forged)).status == 401
        jwt = token_for(service, Role.VIEWER)
        by_jwt = await request(port, f"/files/recordings/{name}", headers={"Authorization": f"Bearer {jwt}"})
        assert by_jwt.status == 200 and by_jwt.body == by_token.body
        key, _ = service.services.auth.keys.create_sync(Role.VIEWER, "downloads")
        by_key = await request(port, f"/files/recordings/{name}", headers={"X-API-Key": key})
        assert by_key.status == 200 and by_key.body == by_token.body
        now = int(time.time())
        claims = {"user_id": "old", "role": "viewer", "iat": now - 100, "exp": now - 10}
        expired = pyjwt.encode(claims, service.config.security.jwt_secret, algorithm="HS256")
        refused = await request(
            port, f"/files/recordings/{name}", headers={"Authorization": f"Bearer {expired}"}
        )
        assert refused.status == 401 and refused.json()["reason"] == "token_expired"
