"""Fixtures for the rpc room's tests: the whole service in-process, and clients of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from camsvc.app import Service
from tests.rpc_client import running_service


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    async with running_service(tmp_path) as svc:
        yield svc


class FakeRuntime:
    def __init__(self, name: str, *, ready: bool = True, readers: int = 2, bytes_sent: int = 1000, bytes_received: int = 5000) -> None:
        self.name = name
        self.ready = ready
        self.ready_time = "2026-01-01T00:00:00Z" if ready else None
        self.readers = readers
        self.bytes_received = bytes_received
        self.bytes_sent = bytes_sent
        self.source_type = "rtspSession"
        self.tracks = ("H264",)


class FakeGateway:
    """Stands in for the MediaMTX gateway (services.mediamtx): its interface, with set answers."""

    def __init__(self) -> None:
        self.paths: dict[str, FakeRuntime] = {}
        self.open = False

    def ensure_available(self) -> None:
        from camsvc.errors import DependencyFailed

        if self.open:
            raise DependencyFailed("mediamtx", "circuit open", reason="mediamtx_unavailable")

    def status(self) -> Any:
        class S:
            reachable = not self.open
            circuit = "open" if self.open else "closed"

        return S()

    async def runtime(self, name: str) -> FakeRuntime | None:
        self.ensure_available()
        return self.paths.get(name)

    async def list_runtime(self) -> list[FakeRuntime]:
        self.ensure_available()
        return list(self.paths.values())
