"""Failed credentials over HTTP are throttled exactly like failures over the WebSocket."""

from __future__ import annotations

from pathlib import Path

from tests.media.rawhttp import request
from tests.rpc_client import running_service, token_for


def put_snapshot(snapshots: Path) -> None:
    snapshots.mkdir(parents=True, exist_ok=True)
    (snapshots / "a.jpg").write_bytes(b"img")


async def test_failed_download_auth_is_throttled_per_address(tmp_path: Path) -> None:
    async with running_service(tmp_path, security={"auth_failure_limit": 3, "auth_failure_window": 600}) as service:
        put_snapshot(Path(service.config.snapshots.dir))
        port = service.http.bound_port
        assert port is not None
        for _ in range(3):
            r = await request(port, "/files/snapshots/a.jpg", headers={"X-API-Key": "csk_" + "x" * 43})
            assert r.status == 401
        r = await request(port, "/files/snapshots/a.jpg", headers={"X-API-Key": "csk_" + "y" * 43})
        assert r.status == 429
        assert r.json()["reason"] == "too_many_auth_failures"
        assert int(r.headers["retry-after"]) >= 1
        # A valid credential from the same address (a shared NAT) is not locked out...
        r = await request(port, "/files/snapshots/a.jpg", headers={"Authorization": f"Bearer {token_for(service)}"})
        assert r.status == 200 and r.body == b"img"
        # ...and the address's failures are still throttled.
        r = await request(port, "/files/snapshots/a.jpg", headers={"X-API-Key": "csk_" + "z" * 43})
        assert r.status == 429
