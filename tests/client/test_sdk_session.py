"""The SDK keeps its session: it reconnects to a restarted service with backoff and restores the
session (authentication and subscriptions), re-authenticates when the session expires, takes a
fresh token from its provider, and refreshes a JWT before it runs out."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import attrs
import trio

from camsvc.app import build
from camsvc.client import Backoff, Client, ConnectionLost
from camsvc.security.roles import Role
from tests.helpers import free_port
from tests.rpc_client import apoll, running_service, service_config, token_for, ws_url

FAST = Backoff(initial=0.05, factor=2, max=0.2)


async def _serve(config: Any, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """The service until cancelled; started with its cancel scope (to stop it) and the service."""
    with trio.CancelScope() as scope:
        service = build(config)
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            task_status.started((scope, service))


async def test_reconnects_to_a_restarted_service_and_restores_the_session(tmp_path: Path) -> None:
    config = service_config(tmp_path, server={"port": free_port()})
    async with trio.open_nursery() as nursery:
        scope, service = await nursery.start(_serve, config)
        url = ws_url(service)
        async with Client(url, token=token_for(service, Role.VIEWER), backoff=FAST) as client:
            await client.subscribe_events(["camera.connected"], {"device": "camera0"})
            scope.cancel()  # the service goes away: the socket drops
            await apoll(lambda: not client.connected, what="the client to notice the drop")
            with trio.move_on_after(0.3):  # calls while it is down wait for the next session...
                await client.ping()
                raise AssertionError("a call answered while the service was down")
            _, restarted = await nursery.start(_serve, config)
            # ...and go through once it is back (same port, same secret)
            assert await client.ping() == "pong"
            assert client.connection.reconnects >= 1
            stats = await client.get_subscription_stats()
            assert "camera.connected" in stats["client_topics"]  # replayed, as the client named it
            assert (await client.get_camera_list())["total"] == 0  # authenticated again (viewer method)
            assert restarted.extras["rpc"].connections  # the new service holds the session
        nursery.cancel_scope.cancel()


async def test_an_expired_session_reauthenticates_and_the_call_goes_through(tmp_path: Path) -> None:
    async with running_service(tmp_path) as service, Client(ws_url(service), token=token_for(service)) as client:
        assert client.session is not None
        first_session = client.session["session_id"]
        for conn in service.extras["rpc"].connections.values():  # the server now sees it as expired
            conn.identity = attrs.evolve(conn.identity, expires_at=time.time() - 1)
        assert (await client.get_camera_list())["total"] == 0
        assert client.session["session_id"] != first_session


async def test_a_token_provider_replaces_an_expired_token(tmp_path: Path) -> None:
    async with running_service(tmp_path) as service:
        expired, _ = service.services.auth.jwt.issue("tester", Role.OPERATOR, 60, now=time.time() - 3600)
        provided: list[str] = []

        def provider() -> str:
            provided.append(token_for(service, Role.OPERATOR, user="renewed"))
            return provided[-1]

        async with Client(ws_url(service), token=expired, token_provider=provider) as client:
            assert client.session is not None and client.session["user_id"] == "renewed"
            assert client.connection.credential == provided[0]


async def test_a_jwt_is_refreshed_before_it_expires(tmp_path: Path) -> None:
    async with running_service(tmp_path) as service:
        token = token_for(service, ttl=3)
        async with Client(ws_url(service), token=token) as client:
            await apoll(lambda: client.connection.credential != token, what="the token to be refreshed")
            assert client.session is not None


async def test_closing_ends_notifications_and_calls(tmp_path: Path) -> None:
    async with running_service(tmp_path) as service:
        client = Client(ws_url(service), token=token_for(service))
        async with client:
            pass
        assert [n async for n in client.notifications()] == []
        try:
            await client.ping()
        except ConnectionLost:
            pass
        else:
            raise AssertionError("a closed client answered")


def test_backoff_grows_to_its_cap() -> None:
    import itertools

    assert list(itertools.islice(Backoff(initial=1, factor=2, max=5, jitter=0).delays(), 5)) == [1, 2, 4, 5, 5]
    jittered = list(itertools.islice(Backoff(initial=1, factor=1, max=1, jitter=0.1).delays(), 50))
    assert all(0.9 <= d <= 1.1 for d in jittered) and len(set(jittered)) > 1
