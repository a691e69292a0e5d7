"""Spec §5 over a real socket: default topics, subscriptions, aliases, filters, slow consumers, health."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import trio
from trio_websocket import open_websocket_url

from camsvc.app import Service
from camsvc.health import UNHEALTHY, ComponentHealth
from camsvc.rpc import subscriptions
from tests.rpc_client import RpcError, apoll, rpc_client, running_service, token_for, ws_url


def publish_camera(service: Service, device: str = "camera0", status: str = "CONNECTED") -> None:
    service.bus.publish(
        "camera_status_update",
        {"device": device, "status": status, "streams": {"rtsp": f"rtsp://localhost:8554/{device}"}},
        device=device,
        render=lambda host: {"device": device, "status": status, "streams": {"rtsp": f"rtsp://{host}:8554/{device}"}},
    )


async def test_default_topics_after_authentication(service: Service) -> None:
    async with rpc_client(ws_url(service)) as anonymous, rpc_client(ws_url(service), token=token_for(service, "viewer")) as viewer:
        stats = await viewer.call("get_subscription_stats")
        assert stats["client_topics"] == ["camera_status_update", "recording_status_update"]
        publish_camera(service)
        service.bus.publish("recording_status_update", {"device": "camera0", "status": "RECORDING", "session_id": "s1", "filename": "f", "duration": None}, device="camera0")
        service.bus.publish("snapshot_taken", {"device": "camera0", "filename": "x.jpg"}, device="camera0")  # not a default topic
        first = await viewer.notification()
        second = await viewer.notification()
        assert first == {"jsonrpc": "2.0", "method": "camera_status_update", "params": {"device": "camera0", "status": "CONNECTED", "streams": {"rtsp": "rtsp://127.0.0.1:8554/camera0"}}}
        assert second["method"] == "recording_status_update" and second["params"]["session_id"] == "s1"
        assert "id" not in first
        assert await anonymous.call("ping") == "pong"
        assert anonymous.pending_notifications() == []  # unauthenticated connections get no events
        assert await viewer.call("ping") == "pong"
        assert viewer.pending_notifications() == []  # snapshot_taken was not subscribed


async def test_subscribe_aliases_filters_and_stats(service: Service) -> None:
    async with rpc_client(ws_url(service), token=token_for(service, "viewer")) as c:
        await c.call("unsubscribe_events")
        result = await c.call("subscribe_events", {"topics": ["camera.connected", "snapshot.taken"], "filters": {"device": "/dev/video1"}})
        assert result == {"subscribed": True, "topics": ["camera.connected", "snapshot.taken"], "filters": {"device": "camera1"}}
        stats = await c.call("get_subscription_stats")
        assert stats["client_topics"] == ["camera.connected", "snapshot.taken"]
        assert stats["client_id"]
        assert stats["global_stats"]["topic_counts"]["camera_status_update"] == 1
        assert stats["global_stats"]["topic_counts"]["snapshot_taken"] == 1
        assert stats["global_stats"]["active_clients"] == 1 and stats["global_stats"]["total_subscriptions"] == 2
        publish_camera(service, "camera0")  # filtered out
        publish_camera(service, "camera1")
        event = await c.notification()
        assert event["params"]["device"] == "camera1"
        removed = await c.call("unsubscribe_events", {"topics": ["snapshot_taken"]})
        assert removed == {"unsubscribed": True, "topics": ["snapshot.taken"]}
        assert (await c.call("get_subscription_stats"))["client_topics"] == ["camera.connected"]
        with pytest.raises(RpcError) as err:
            await c.call("subscribe_events", {"topics": ["camera_status_update", "camera.exploded"]})
        assert err.value.code == -32602 and err.value.data["param"] == "topics" and err.value.data["reason"] == "unknown_topic"
        assert (await c.call("get_subscription_stats"))["client_topics"] == ["camera.connected"]  # nothing half-applied


async def test_one_frame_per_host_is_shared(service: Service) -> None:
    url_localhost = ws_url(service).replace("127.0.0.1", "localhost")
    async with rpc_client(ws_url(service), token=token_for(service, "viewer")) as a, rpc_client(url_localhost, token=token_for(service, "viewer")) as b:
        publish_camera(service)
        ea, eb = await a.notification(), await b.notification()
    assert ea["params"]["streams"]["rtsp"] == "rtsp://127.0.0.1:8554/camera0"
    assert eb["params"]["streams"]["rtsp"] == "rtsp://localhost:8554/camera0"


async def test_slow_consumer_is_closed_with_1008_and_others_keep_going(tmp_path: Path) -> None:
    async with running_service(tmp_path, server={"outbound_queue": 8}) as svc:
        token = token_for(svc, "viewer")
        # The slow client: a real WebSocket whose socket buffer is tiny and that stops reading.
        async with open_websocket_url(ws_url(svc), message_queue_size=0) as slow, rpc_client(ws_url(svc), token=token) as fast:
            slow._stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # type: ignore[attr-defined]
            await slow.send_message(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "authenticate", "params": {"auth_token": token}}))
            rpc = svc.extras["rpc"]
            await apoll(lambda: sum(1 for conn in rpc.connections.values() if conn.identity is not None) == 2, what="both authenticated")
            big = {"device": "camera0", "status": "CONNECTED", "blob": "x" * 60000}
            for _ in range(400):
                svc.bus.publish("camera_status_update", big, device="camera0")
                assert await fast.call("ping") == "pong"  # never delayed by the slow one
            await apoll(lambda: rpc.stats.closed_by_server["slow_consumer"] == 1, what="slow consumer closed")
            assert await fast.call("ping") == "pong"
            # Drain the slow client: it sees messages, then the 1008 close.
            with trio.fail_after(10):
                try:
                    while True:
                        await slow.get_message()
                except Exception:  # ConnectionClosed
                    pass
            assert slow.closed is not None and slow.closed.code == 1008


async def test_system_health_update_on_overall_change(service: Service) -> None:
    state = {"status": "healthy"}
    service.health.add_check("rpc", lambda: ComponentHealth(state["status"], {}))
    watcher = service.extras["monitors"].health_watch
    async with rpc_client(ws_url(service), token=token_for(service, "viewer")) as c:
        await c.call("subscribe_events", {"topics": ["system.health"]})
        watcher.poke()
        await apoll(lambda: watcher.status is not None, what="baseline")
        state["status"] = UNHEALTHY
        watcher.poke()
        event = await c.notification("system_health_update")
        assert event["params"]["status"] == "unhealthy"
        assert event["params"]["components"]["rpc"] == "unhealthy"
        state["status"] = "healthy"
        watcher.poke()
        event = await c.notification("system_health_update")
        assert event["params"]["status"] != "unhealthy"


async def test_subscription_counts_follow_connections(service: Service) -> None:
    rpc = service.extras["rpc"]
    async with rpc_client(ws_url(service), token=token_for(service, "viewer")) as a:
        async with rpc_client(ws_url(service), token=token_for(service, "viewer")) as b:
            await b.call("subscribe_events", {"topics": ["snapshot_taken", "system.health"]})
            stats = (await a.call("get_subscription_stats"))["global_stats"]
            assert stats["active_clients"] == 2 and stats["total_subscriptions"] == 6
            assert stats["topic_counts"] == {"camera_status_update": 2, "recording_status_update": 2, "snapshot_taken": 1, "system_health_update": 1}
        await apoll(lambda: rpc.hub.stats()["active_clients"] == 1, what="b dropped")
        stats = (await a.call("get_subscription_stats"))["global_stats"]
        assert stats["total_subscriptions"] == 2 and stats["topic_counts"]["snapshot_taken"] == 0
        await a.call("unsubscribe_events")
        assert (await a.call("get_subscription_stats"))["global_stats"]["active_clients"] == 0


async def test_a_fan_out_over_many_turns_keeps_every_notification_in_order(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    # No time budget and one delivery per chunk: every notification after the first of each
    # fan-out goes through the flusher, one scheduler turn each, while more are published.
    monkeypatch.setattr(subscriptions, "FANOUT_TURN", 0.0)
    monkeypatch.setattr(subscriptions, "FANOUT_CHUNK", 1)
    token = token_for(service, "viewer")
    async with rpc_client(ws_url(service), token=token) as a, rpc_client(ws_url(service), token=token) as b:
        for k in range(5):
            publish_camera(service, status=f"S{k}")
        for client in (a, b):
            got = [(await client.notification("camera_status_update"))["params"]["status"] for _ in range(5)]
            assert got == ["S0", "S1", "S2", "S3", "S4"]
