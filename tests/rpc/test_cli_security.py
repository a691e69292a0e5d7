"""`camsvc token create` and `camsvc keys ...` against a state directory, as an operator would run them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import attrs
import jwt
import pytest

from camsvc import cli
from camsvc.security.api_keys import KEY_PATTERN
from camsvc.security.cli_commands import parse_ttl
from tests.rpc_client import RpcError, rpc_client, running_service, ws_url


@attrs.frozen
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def camsvc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run the CLI in-process (as `camsvc ...`) against a state dir under tmp_path."""
    for name in list(os.environ):
        if name.startswith("CAMSVC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CAMSVC_STORAGE__STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CAMSVC_CONFIG", str(tmp_path / "empty.yaml"))
    (tmp_path / "empty.yaml").write_text("{}\n")

    def run(*args: str) -> Done:
        try:
            code = cli.main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Done(code, out.out, out.err)

    return run


def test_token_create_signs_with_the_generated_secret(tmp_path: Path, camsvc) -> None:  # type: ignore[no-untyped-def]
    done = camsvc("token", "create", "--role", "operator", "--user", "ops", "--ttl", "2h")
    assert done.returncode == 0, done.stderr
    secret_file = tmp_path / "state" / "jwt_secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    claims = jwt.decode(done.stdout.strip(), secret_file.read_text().strip(), algorithms=["HS256"])
    assert claims["role"] == "operator" and claims["user_id"] == "ops" and claims["exp"] - claims["iat"] == 7200


def test_keys_lifecycle(camsvc) -> None:  # type: ignore[no-untyped-def]
    created = camsvc("keys", "create", "--role", "viewer", "--name", "dashboard")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert KEY_PATTERN.fullmatch(key)
    listed = [json.loads(line) for line in camsvc("keys", "list").stdout.splitlines()]
    assert len(listed) == 1 and listed[0]["name"] == "dashboard" and listed[0]["revoked"] is False
    assert key not in json.dumps(listed)
    key_id = listed[0]["key_id"]
    rotated = camsvc("keys", "rotate", key_id)
    assert rotated.returncode == 0 and KEY_PATTERN.fullmatch(rotated.stdout.strip()) and rotated.stdout.strip() != key
    listed = [json.loads(line) for line in camsvc("keys", "list").stdout.splitlines()]
    assert [k["revoked"] for k in listed] == [True, False] and listed[1]["role"] == "viewer"
    assert camsvc("keys", "revoke", listed[1]["key_id"]).returncode == 0
    missing = camsvc("keys", "revoke", "nope")
    assert missing.returncode == 1 and "no API key" in missing.stderr


def test_bad_role_and_ttl_are_clear_errors(camsvc) -> None:  # type: ignore[no-untyped-def]
    bad = camsvc("token", "create", "--role", "root")
    assert bad.returncode == 2 and "unknown role" in bad.stderr
    assert parse_ttl("24h") == 86400 and parse_ttl("30m") == 1800 and parse_ttl("90") == 90 and parse_ttl("7d") == 604800
    with pytest.raises(Exception, match="invalid duration"):
        parse_ttl("soon")


async def test_keys_made_and_revoked_by_the_cli_take_effect_at_once(tmp_path: Path, camsvc) -> None:  # type: ignore[no-untyped-def]
    """The running service sees `camsvc keys create` / `revoke` on the next use of the key, not a second later."""
    async with running_service(tmp_path) as service:  # its state dir is the one the CLI uses
        created = camsvc("keys", "create", "--role", "operator", "--name", "robot")
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip()
        async with rpc_client(ws_url(service)) as c:
            assert (await c.call("authenticate", {"auth_token": key}))["role"] == "operator"
            key_id = json.loads(camsvc("keys", "list").stdout.splitlines()[0])["key_id"]
            assert camsvc("keys", "revoke", key_id).returncode == 0
            with pytest.raises(RpcError) as err:
                await c.call("get_camera_list")
            assert err.value.reason == "revoked_key"
