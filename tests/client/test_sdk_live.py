"""The SDK against the whole service in process (MediaMTX emulator, a synthetic camera, real ffmpeg):
every method of the method table is called through its typed SDK method, errors arrive as typed
exceptions, downloads go through signed URLs, and the blocking SyncClient does the same from a thread.
The emulator target only: these test the client side of camsvc's API; MediaMTX itself is tested on
both targets by tests/media and tests/mediamtx.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from camsvc.client import (
    AuthError,
    Client,
    ConnectError,
    InvalidParams,
    InvalidState,
    NotFound,
    PermissionDenied,
    RpcError,
    SyncClient,
    Unsupported,
)
from camsvc.rpc.catalog import load_table
from camsvc.security.roles import Role
from tests.helpers import poll
from tests.media.test_media_e2e import media_service, pytestmark  # noqa: F401  (skip without ffmpeg)
from tests.mediamtx_targets import open_target
from tests.rpc_client import token_for, ws_url


def _spy(client: Client) -> set[str]:
    """The names of every API method the client sends from now on."""
    called: set[str] = set()
    send = client.connection.call

    async def spy(method: str, params: Any = None) -> Any:
        called.add(method)
        return await send(method, params)

    client.connection.call = spy  # type: ignore[method-assign]
    return called


async def camera_connected(client: Client) -> None:
    with trio.fail_after(8):
        while True:  # polled with a deadline: the camera's state lives in the service
            if any(c["status"] == "CONNECTED" for c in (await client.get_camera_list())["cameras"]):
                return
            await trio.sleep(0.05)


def same_file(a: Path, b: str) -> bool:
    return a.read_bytes() == Path(b).read_bytes()


async def test_every_table_method_through_the_sdk(tmp_path: Path) -> None:
    async with (
        open_target("emulator", tmp_path / "mediamtx") as emu,
        media_service(tmp_path, emu) as service,
        Client(ws_url(service), token=token_for(service, Role.ADMIN)) as client,
    ):
        called = _spy(client)
        assert client.session is not None and client.session["role"] == "admin"
        await camera_connected(client)

        assert await client.ping() == "pong"
        assert (await client.authenticate(token_for(service, Role.ADMIN)))["authenticated"] is True
        fresh = await client.refresh_token()
        assert fresh["auth_token"] and client.connection.credential == fresh["auth_token"]
        assert (await client.discover())["openrpc"].startswith("1.")
        info = await client.get_server_info()
        assert info["supported_formats"] == ["fmp4", "mp4", "mpegts", "jpg", "png"]
        assert (await client.get_status())["components"]["websocket_server"] == "RUNNING"
        assert (await client.get_system_status())["available_cameras"] == ["camera0"]
        assert (await client.get_metrics())["active_connections"] >= 1

        assert (await client.get_camera_status("camera0"))["device"] == "camera0"
        assert (await client.get_camera_capabilities("camera0"))["device"] == "camera0"
        with pytest.raises(NotFound) as not_found:
            await client.get_camera_status("camera9")
        assert (not_found.value.code, not_found.value.reason) == (-32010, "camera_not_found")

        started = await client.start_streaming("camera0")
        assert started["status"] == "STARTED"
        assert any(s["name"] == "camera0" for s in await client.get_streams())
        assert (await client.get_stream_url("camera0"))["stream_url"].startswith("rtsp://")
        assert (await client.get_stream_status("camera0"))["device"] == "camera0"
        assert (await client.stop_streaming("camera0"))["status"] == "STOPPED"

        added = await client.add_external_stream("rtsp://127.0.0.1:9/none", "door")
        assert added["status"] == "ADDED"
        assert "door" in [s["stream_name"] for s in (await client.get_external_streams())["external_streams"]]
        assert (await client.remove_external_stream(stream_name="door"))["status"] == "REMOVED"
        try:
            await client.discover_external_streams(force_rescan=True)
        except Unsupported as exc:  # no discovery candidates configured
            assert exc.code == -32030
        assert (await client.set_discovery_interval(0))["status"] == "UPDATED"

        subscribed = await client.subscribe_events(["snapshot.taken"], {"device": "camera0"})
        assert subscribed["topics"] == ["snapshot.taken"]
        assert "snapshot.taken" in (await client.get_subscription_stats())["client_topics"]

        snap = await client.take_snapshot("camera0", format="png")
        assert snap["filename"].endswith(".png")
        with trio.fail_after(5):
            async for event in client.notifications():
                if event.method == "snapshot_taken":
                    break
        assert (await client.get_snapshot_info(snap["filename"]))["filename"] == snap["filename"]
        assert (await client.list_snapshots(device="camera0"))["total"] == 1
        saved = await client.download("snapshot", snap["filename"], tmp_path)
        assert same_file(saved, snap["file_path"])
        assert (await client.unsubscribe_events())["unsubscribed"] is True
        assert client.connection.subscriptions == []

        rec = await client.start_recording("camera0", format="mp4")
        assert (await client.get_recording_status("camera0"))["recording"] is True
        with pytest.raises(InvalidState) as busy:
            await client.start_recording("camera0")
        assert busy.value.reason == "already_recording"
        stopped = await client.stop_recording("camera0")
        assert stopped["session_id"] == rec["session_id"] and stopped["files"]
        name = stopped["files"][0]
        assert (await client.list_recordings(limit=10))["files"]
        assert (await client.get_recording_info(name))["filename"] == name
        link = await client.get_download_url("recording", name, expires_in=60)
        assert "token=" in link["url"]
        assert (await client.delete_recording(name))["deleted"] is True
        assert (await client.delete_snapshot(snap["filename"]))["deleted"] is True

        assert (await client.get_storage_info())["total_space"] > 0
        assert (await client.set_retention_policy("age", True, max_age_days=30))["policy_type"] == "age"
        assert (await client.get_retention_policy())["max_age_days"] == 30
        assert "cleanup_executed" in await client.cleanup_old_files()
        with pytest.raises(InvalidParams) as bad:
            await client.set_retention_policy("age", True)
        assert bad.value.code == -32602

    assert called == {m.name for m in load_table()}, sorted({m.name for m in load_table()} - called)


async def test_errors_are_typed(tmp_path: Path) -> None:
    async with open_target("emulator", tmp_path / "mediamtx") as emu, media_service(tmp_path, emu) as service:
        url = ws_url(service)
        with pytest.raises(AuthError) as bad:
            async with Client(url, token="not-a-token"):
                pass
        assert (bad.value.code, bad.value.reason) == (-32001, "invalid_token")
        async with Client(url, token=token_for(service, Role.VIEWER)) as viewer:
            with pytest.raises(PermissionDenied) as denied:
                await viewer.delete_snapshot("x.jpg")
            assert denied.value.reason == "insufficient_role" and denied.value.data["required_role"] == "admin"
        async with Client(url) as anonymous:
            assert await anonymous.ping() == "pong"
            with pytest.raises(AuthError) as anon:
                await anonymous.get_camera_list()
            assert anon.value.reason == "auth_required"
        with pytest.raises(RpcError) as unknown:
            async with Client(url, token=token_for(service)) as admin:
                await admin.call("no_such_method")
        assert unknown.value.code == -32601
    with pytest.raises(ConnectError, match="cannot connect"):
        async with Client(url, token="x", connect_timeout=5):
            pass


def test_sync_client_from_a_script(tmp_path: Path) -> None:
    async def main() -> None:
        async with open_target("emulator", tmp_path / "mediamtx") as emu, media_service(tmp_path, emu) as service:
            url, token = ws_url(service), token_for(service, Role.OPERATOR)

            def script() -> None:
                with SyncClient(url, token=token) as client:
                    assert client.ping() == "pong"
                    poll(lambda: client.get_camera_list()["connected"] == 1, what="camera0 connected")
                    client.subscribe_events(["snapshot_taken"])
                    snap = client.take_snapshot("camera0", filename="door")
                    assert snap["filename"] == "door.jpg"
                    events = (e for e in client.notifications() if e.method == "snapshot_taken")
                    assert next(events).params["filename"] == "door.jpg"
                    path = client.download("snapshot", "door.jpg", tmp_path / "copy.jpg")
                    assert path.read_bytes()[:2] == b"\xff\xd8"
                    with pytest.raises(InvalidState):
                        client.take_snapshot("camera0", filename="door")
                with pytest.raises(AuthError):
                    with SyncClient(url, token="bad"):
                        pass

            await trio.to_thread.run_sync(script)

    trio.run(main)
