"""sd_notify against real AF_UNIX datagram sockets (filesystem and abstract namespace)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from camsvc import sd_notify


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    try:
        yield sock, str(path)
    finally:
        sock.close()


def test_no_socket_is_a_noop() -> None:
    assert sd_notify.notify("READY=1", environ={}) is False
    assert sd_notify.notify_socket_address({"NOTIFY_SOCKET": ""}) is None


def test_relative_or_foreign_addresses_are_ignored() -> None:
    assert sd_notify.notify_socket_address({"NOTIFY_SOCKET": "relative/path"}) is None
    assert sd_notify.notify_socket_address({"NOTIFY_SOCKET": "vsock:2:1234"}) is None
    assert sd_notify.notify_socket_address({"NOTIFY_SOCKET": "@"}) is None


def test_ready_reaches_filesystem_socket(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    assert sd_notify.notify("READY=1\nSTATUS=up", environ={"NOTIFY_SOCKET": path}) is True
    assert sock.recv(4096) == b"READY=1\nSTATUS=up"


def test_uses_process_environment_by_default(
    receiver: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, path = receiver
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    assert sd_notify.notify("STOPPING=1") is True
    assert sock.recv(4096) == b"STOPPING=1"


def test_abstract_namespace_socket() -> None:
    name = f"camsvc-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(5)
    with sock:
        assert sd_notify.notify_socket_address({"NOTIFY_SOCKET": "@" + name}) == b"\0" + name.encode()
        assert sd_notify.notify("READY=1", environ={"NOTIFY_SOCKET": "@" + name}) is True
        assert sock.recv(4096) == b"READY=1"


def test_configured_but_missing_socket_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        sd_notify.notify("READY=1", environ={"NOTIFY_SOCKET": str(tmp_path / "absent.sock")})


def test_empty_state_is_rejected() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        sd_notify.notify("", environ={})


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "3000000"}, 3.0),
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": str(os.getpid())}, 0.5),
        ({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "x"}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert sd_notify.watchdog_interval(env) == expected


async def test_run_watchdog_without_watchdog_returns_at_once() -> None:
    async with trio.open_nursery() as nursery:
        assert await nursery.start(lambda task_status: sd_notify.run_watchdog(environ={}, task_status=task_status)) is None


async def test_run_watchdog_pings_until_cancelled(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    sock.setblocking(False)
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000"}
    trio_sock = trio.socket.from_stdlib_socket(sock)
    async with trio.open_nursery() as nursery:
        interval = await nursery.start(
            lambda task_status: sd_notify.run_watchdog(environ=env, task_status=task_status)
        )
        assert interval == pytest.approx(0.02)
        with trio.fail_after(5):
            assert await trio_sock.recv(4096) == b"WATCHDOG=1"
            assert await trio_sock.recv(4096) == b"WATCHDOG=1"
        nursery.cancel_scope.cancel()
