"""Spec §2's permission matrix, cell by cell, over a real socket.

The matrix below is the contract's (spec §2, copied here so the test does not
depend on a file outside the repository). Every method of the dispatched table
and every method of the matrix is tried with no identity and with each role:
below the method's role the answer must be -32001 ``auth_required`` (no identity)
or -32002 ``insufficient_role`` with ``required_role`` and ``role``; at or above
it, anything but those two (the handler may well reject the empty params).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from camsvc.app import Service
from camsvc.rpc.catalog import load_table
from camsvc.security.roles import Role
from tests.rpc_client import rpc_client, running_service, token_for, ws_url

SPEC_MATRIX: dict[str | None, list[str]] = {
    None: ["ping", "authenticate", "rpc.discover"],
    "viewer": [
        "get_camera_list", "get_camera_status", "get_camera_capabilities", "get_recording_status", "list_recordings",
        "list_snapshots", "get_recording_info", "get_snapshot_info", "get_download_url", "get_streams",
        "get_stream_url", "get_stream_status", "get_system_status", "get_server_info", "subscribe_events",
        "unsubscribe_events", "get_subscription_stats", "get_external_streams", "refresh_token",
    ],
    "operator": [
        "take_snapshot", "start_recording", "stop_recording", "start_streaming", "stop_streaming",
        "add_external_stream", "remove_external_stream", "discover_external_streams",
    ],
    "admin": [
        "delete_recording", "delete_snapshot", "get_storage_info", "get_retention_policy", "set_retention_policy",
        "cleanup_old_files", "get_metrics", "get_status", "set_discovery_interval",
    ],
}
SPEC_ROLE = {name: role for role, names in SPEC_MATRIX.items() for name in names}
ROLES: list[str | None] = [None, "viewer", "operator", "admin"]


def required(name: str, table_role: Role | None) -> str | None:
    return table_role.label if table_role is not None else None


def test_every_spec_method_is_in_the_table() -> None:
    table = load_table()
    missing = sorted(set(SPEC_ROLE) - {m.name for m in table})
    assert not missing, f"methods of the contract not in the method table yet: {missing}"


def test_table_roles_match_the_spec_matrix() -> None:
    table = load_table()
    wrong = {
        m.name: (required(m.name, m.role), SPEC_ROLE[m.name])
        for m in table
        if m.name in SPEC_ROLE and required(m.name, m.role) != SPEC_ROLE[m.name]
    }
    assert not wrong, f"(table role, spec role) differ: {wrong}"
    extra = sorted({m.name for m in table} - set(SPEC_ROLE))
    assert not extra, f"methods not in the contract: {extra}"


def _rank(role: str | None) -> int:
    return 0 if role is None else int(Role.parse(role))


async def check_matrix(service: Service, expected_role: dict[str, str | None]) -> list[str]:
    """Problems found calling every method of ``expected_role`` with each role."""
    problems: list[str] = []
    names = sorted(expected_role)
    for role in ROLES:
        token = token_for(service, role) if role else None
        async with rpc_client(ws_url(service), token=token) as c:
            for name in names:
                answer = await c.request(name, {}, limit=8)
                need = expected_role.get(name)
                error = answer.get("error")
                code = error["code"] if error else None
                if error and code == -32601:
                    problems.append(f"{name}: not dispatched (-32601)")
                    continue
                if _rank(role) >= _rank(need):
                    if code in (-32001, -32002):
                        problems.append(f"{name} as {role}: refused {error} but the matrix allows it")
                elif role is None:
                    if code != -32001 or error["data"] != {"reason": "auth_required"}:
                        problems.append(f"{name} unauthenticated: expected -32001 auth_required, got {answer}")
                elif code != -32002 or error["data"] != {"reason": "insufficient_role", "required_role": need, "role": role}:
                    problems.append(f"{name} as {role}: expected -32002 for {need}, got {answer}")
    return problems


async def test_every_cell_of_the_permission_matrix(service: Service) -> None:
    table_roles = {m.name: required(m.name, m.role) for m in service.extras["rpc"].table}
    # The spec's cells, plus any method the table has beyond the spec (at the table's own role).
    problems = await check_matrix(service, {**table_roles, **SPEC_ROLE})
    assert not problems, "\n".join(problems)


async def test_permission_overrides_from_config(tmp_path: Path) -> None:
    overrides = {"take_snapshot": "viewer", "get_camera_list": "admin", "get_metrics": "operator"}
    async with running_service(tmp_path, security={"permissions": overrides}) as svc:
        expected = {**SPEC_ROLE, **overrides}
        problems = await check_matrix(svc, {k: expected[k] for k in overrides})
        assert not problems, "\n".join(problems)


def test_unknown_method_in_overrides_is_a_start_error(tmp_path: Path) -> None:
    from camsvc.app import build
    from tests.rpc_client import service_config

    with pytest.raises(ValueError, match="get_teapot"):
        build(service_config(tmp_path, security={"permissions": {"get_teapot": "viewer"}}))
