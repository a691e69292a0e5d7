"""Spec §2 over a real socket: authentication, sessions, roles, throttling, rate limits."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
import pytest

from camsvc.app import Service
from camsvc.security.api_keys import KEY_PATTERN, ApiKeyStore
from camsvc.security.roles import Role
from camsvc.security.throttle import SWEEP_MIN, AuthThrottle
from camsvc.storage.state import StateStore
from tests.rpc_client import RpcError, rpc_client, running_service, token_for, ws_url

SECRET = "test-secret-0123456789-0123456789-abcdef"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, object], claims: dict[str, object], key: bytes, digest=hashlib.sha256) -> str:  # type: ignore[no-untyped-def]
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = _b64(hmac.new(key, signing_input.encode(), digest).digest()) if key else ""
    return f"{signing_input}.{signature}"


def claims(**over: object) -> dict[str, object]:
    now = int(time.time())
    return {"user_id": "u1", "role": "admin", "iat": now, "exp": now + 3600, **over}


async def auth_error(service: Service, token: str) -> RpcError:
    async with rpc_client(ws_url(service)) as c:
        with pytest.raises(RpcError) as err:
            await c.call("authenticate", {"auth_token": token})
        return err.value


async def test_authenticate_with_jwt(service: Service) -> None:
    token = jwt.encode(claims(role="operator", sub="ignored"), SECRET, algorithm="HS256")
    async with rpc_client(ws_url(service)) as c:
        result = await c.call("authenticate", {"token": token, "auth_type": "jwt"})  # alias + ignored extra
    assert result["authenticated"] is True
    assert result["role"] == "operator"
    assert result["permissions"] == ["view", "control"]
    assert result["user_id"] == "u1"
    assert result["expires_at"].endswith("Z") and result["session_id"]


async def test_sub_claim_is_the_user_when_user_id_is_absent(service: Service) -> None:
    c = claims(sub="alice")
    del c["user_id"]
    async with rpc_client(ws_url(service)) as client:
        result = await client.call("authenticate", {"auth_token": jwt.encode(c, SECRET, algorithm="HS256")})
    assert result["user_id"] == "alice"


@pytest.mark.parametrize(
    ("token_fn", "reason"),
    [
        (lambda: "not-a-token", "invalid_token"),
        (lambda: jwt.encode(claims(), "another-secret-0123456789-0123456789", algorithm="HS256"), "invalid_token"),
        (lambda: jwt.encode(claims(exp=int(time.time()) - 10), SECRET, algorithm="HS256"), "token_expired"),
        (lambda: jwt.encode({k: v for k, v in claims().items() if k != "exp"}, SECRET, algorithm="HS256"), "invalid_token"),
        (lambda: jwt.encode({k: v for k, v in claims().items() if k != "iat"}, SECRET, algorithm="HS256"), "invalid_token"),
        (lambda: jwt.encode({k: v for k, v in claims().items() if k != "role"}, SECRET, algorithm="HS256"), "invalid_token"),
        (lambda: jwt.encode({k: v for k, v in claims().items() if k != "user_id"}, SECRET, algorithm="HS256"), "invalid_token"),
        (lambda: jwt.encode(claims(role="root"), SECRET, algorithm="HS256"), "invalid_token"),
        # alg none: unsigned
        (lambda: forged({"alg": "none", "typ": "JWT"}, claims(), b""), "invalid_token"),
        (lambda: forged({"alg": "None", "typ": "JWT"}, claims(), b""), "invalid_token"),
        # algorithm confusion: the right secret but another HMAC, and an RS256 header over an HMAC signature
        (lambda: jwt.encode(claims(), SECRET, algorithm="HS512"), "invalid_token"),
        (lambda: forged({"alg": "RS256", "typ": "JWT"}, claims(), SECRET.encode()), "invalid_token"),
        (lambda: forged({"alg": "ES256", "typ": "JWT"}, claims(), SECRET.encode()), "invalid_token"),
        (lambda: "csk_" + "A" * 43, "unknown_key"),
    ],
)
async def test_bad_credentials(service: Service, token_fn, reason: str) -> None:  # type: ignore[no-untyped-def]
    error = await auth_error(service, token_fn())
    assert error.code == -32001
    assert error.message == "Authentication failed"
    assert error.reason == reason


async def test_forged_hs256_with_the_right_secret_is_accepted_control(service: Service) -> None:
    # Control for the forgery helper: a correctly formed HS256 token passes, so the rejections above are real.
    async with rpc_client(ws_url(service)) as c:
        result = await c.call("authenticate", {"auth_token": forged({"alg": "HS256", "typ": "JWT"}, claims(), SECRET.encode())})
    assert result["role"] == "admin"


async def test_token_expiring_mid_session(service: Service) -> None:
    auth = service.services.auth
    async with rpc_client(ws_url(service), token=token_for(service, "viewer", ttl=60)) as c:
        assert (await c.call("get_camera_list"))["total"] == 0
        auth.clock = lambda: time.time() + 61  # the session's token has now expired
        with pytest.raises(RpcError) as err:
            await c.call("get_camera_list")
        assert err.value.code == -32001 and err.value.reason == "token_expired"
        assert await c.call("ping") == "pong"  # methods without a role still work
        auth.clock = time.time
        await c.call("authenticate", {"auth_token": token_for(service, "viewer")})
        assert (await c.call("get_camera_list"))["total"] == 0


async def test_api_key_revoked_mid_session(service: Service) -> None:
    keys = service.services.auth.keys
    key, record = await keys.create(Role.OPERATOR, "robot")
    assert KEY_PATTERN.fullmatch(key)
    async with rpc_client(ws_url(service)) as c:
        result = await c.call("authenticate", {"auth_token": key})
        assert result["role"] == "operator" and result["expires_at"] is None and result["user_id"] == "robot"
        assert (await c.call("get_camera_list"))["total"] == 0
        assert await keys.revoke(record.key_id)
        with pytest.raises(RpcError) as err:
            await c.call("get_camera_list")
        assert err.value.code == -32001 and err.value.reason == "revoked_key"
    error = await auth_error(service, key)
    assert error.reason == "revoked_key"


def other_process(service: Service) -> ApiKeyStore:
    """The key store as `camsvc keys ...` sees it: its own connection to the service's database."""
    other = StateStore(service.services.store.path)
    other.open()
    return ApiKeyStore(other)


async def test_revocation_by_another_process_reaches_live_sessions_at_once(service: Service) -> None:
    keys = service.services.auth.keys
    key, record = await keys.create(Role.VIEWER, "cli-test")
    async with rpc_client(ws_url(service), token=key) as c:
        assert (await c.call("get_camera_list"))["total"] == 0
        assert other_process(service).revoke_sync(record.key_id)
        with pytest.raises(RpcError) as err:  # the very next call, no waiting
            await c.call("get_camera_list")
        assert err.value.code == -32001 and err.value.reason == "revoked_key"


async def test_a_key_made_by_another_process_works_at_once(service: Service) -> None:
    async with rpc_client(ws_url(service)) as c:
        assert (await c.call("get_camera_list", {"auth_token": token_for(service, "viewer")}))["total"] == 0
        key, _ = other_process(service).create_sync(Role.OPERATOR, "new-robot")
        result = await c.call("authenticate", {"auth_token": key})
        assert result["role"] == "operator" and result["user_id"] == "new-robot"


async def test_keys_are_stored_only_as_hashes(service: Service) -> None:
    key, record = await service.services.auth.keys.create(Role.ADMIN, "x")
    raw = service.services.store.path.read_bytes()
    assert key.encode() not in raw and key[4:].encode() not in raw
    assert hashlib.sha256(key.encode()).hexdigest() == record.hash


async def test_expired_api_key(service: Service) -> None:
    key, _ = await service.services.auth.keys.create(Role.ADMIN, "short", ttl=60)
    async with rpc_client(ws_url(service), token=key) as c:
        service.services.auth.clock = lambda: time.time() + 120
        with pytest.raises(RpcError) as err:
            await c.call("get_status")
        assert err.value.reason == "token_expired"


async def test_reauthentication_replaces_and_failure_keeps_session(service: Service) -> None:
    async with rpc_client(ws_url(service), token=token_for(service, "viewer")) as c:
        with pytest.raises(RpcError) as err:
            await c.call("get_status")
        assert err.value.code == -32002
        assert err.value.data == {"reason": "insufficient_role", "required_role": "admin", "role": "viewer"}
        await c.call("authenticate", {"auth_token": token_for(service, "admin")})
        assert (await c.call("get_status"))["status"] in ("HEALTHY", "DEGRADED", "UNHEALTHY")
        with pytest.raises(RpcError):
            await c.call("authenticate", {"auth_token": "garbage"})
        assert (await c.call("get_status"))["version"]  # still admin


async def test_refresh_token(service: Service) -> None:
    async with rpc_client(ws_url(service), token=token_for(service, "operator", user="bob", ttl=30)) as c:
        result = await c.call("refresh_token")
        decoded = jwt.decode(result["auth_token"], SECRET, algorithms=["HS256"])
        assert decoded["user_id"] == "bob" and decoded["role"] == "operator"
        assert decoded["exp"] - decoded["iat"] == service.config.security.jwt_expiry
        assert result["expires_at"].endswith("Z")
    key, _ = await service.services.auth.keys.create(Role.VIEWER, "k")
    async with rpc_client(ws_url(service), token=key) as c:
        with pytest.raises(RpcError) as err:
            await c.call("refresh_token")
        assert err.value.code == -32030


async def test_compat_auth_token_in_any_method(service: Service) -> None:
    async with rpc_client(ws_url(service)) as c:
        result = await c.call("get_camera_list", {"auth_token": token_for(service, "viewer")})
        assert result["total"] == 0
        assert (await c.call("get_subscription_stats"))["client_topics"]  # the connection is now authenticated
        with pytest.raises(RpcError) as err:
            await c.call("get_camera_list", {"auth_token": "bad"})
        assert err.value.code == -32001 and err.value.reason == "invalid_token"
        assert (await c.call("get_camera_list"))["total"] == 0  # failure left the session untouched


async def test_failed_authentication_is_throttled_per_address(tmp_path: Path) -> None:
    async with running_service(tmp_path, security={"auth_failure_limit": 3, "auth_failure_window": 600}) as svc:
        good = token_for(svc, "viewer")
        async with rpc_client(ws_url(svc)) as noisy:
            for _ in range(3):
                with pytest.raises(RpcError) as err:
                    await noisy.call("authenticate", {"auth_token": "wrong"})
                assert err.value.code == -32001
            for _ in range(2):  # throttled: failures are answered -32040, and still counted
                with pytest.raises(RpcError) as err:
                    await noisy.call("authenticate", {"auth_token": "wrong"})
                assert err.value.code == -32040
                assert err.value.reason == "too_many_auth_failures"
                assert err.value.data["retry_after_ms"] > 0
            # Same address (a shared NAT), another client with a valid credential: not locked out.
            async with rpc_client(ws_url(svc)) as neighbour:
                assert (await neighbour.call("authenticate", {"auth_token": good}))["role"] == "viewer"
            # ...and its success handed the noisy client no fresh allowance.
            with pytest.raises(RpcError) as err:
                await noisy.call("authenticate", {"auth_token": "wrong"})
            assert err.value.code == -32040


def test_throttle_forgets_addresses_whose_failures_aged_out() -> None:
    now = [0.0]
    throttle = AuthThrottle(3, 60, clock=lambda: now[0])
    for i in range(SWEEP_MIN):  # a spread of addresses that fail once and never come back
        throttle.failed(f"10.0.{i // 256}.{i % 256}")
    assert throttle.tracked() == SWEEP_MIN
    now[0] = 61
    throttle.failed("192.0.2.1")
    assert throttle.tracked() <= 2 * SWEEP_MIN  # bounded however many addresses come and go
    for i in range(SWEEP_MIN):
        throttle.failed(f"10.1.{i // 256}.{i % 256}")
    assert throttle.tracked() <= SWEEP_MIN + 2
    assert throttle.retry_after("192.0.2.1") == 0.0


async def test_per_connection_rate_limit(tmp_path: Path) -> None:
    async with running_service(tmp_path, server={"rate_limit_burst": 3, "rate_limit_per_second": 0.01}) as svc:
        async with rpc_client(ws_url(svc)) as c:
            for _ in range(3):
                assert await c.call("ping") == "pong"
            answer = await c.request("ping")
            assert answer["error"]["code"] == -32040
            assert answer["error"]["message"] == "Rate limit exceeded"
            assert answer["error"]["data"]["reason"] == "rate_limited"
            assert answer["error"]["data"]["retry_after_ms"] > 1000
        async with rpc_client(ws_url(svc)) as fresh:  # per connection: a new one has its own bucket
            assert await fresh.call("ping") == "pong"
