"""Fixtures shared by every room: the MediaMTX target (emulator and real binary, see mediamtx_targets)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.mediamtx_targets import TARGETS, MediamtxTarget, open_target, real_binary


@pytest.fixture(params=TARGETS)
def mediamtx_kind(request: pytest.FixtureRequest) -> str:
    """``emulator`` or ``real``; the real one skips here, naming what is missing (a skip raised inside
    an async fixture loses its message)."""
    kind: str = request.param
    if kind == "real":
        real_binary()
    return kind


@pytest.fixture
async def mediamtx_target(mediamtx_kind: str, tmp_path: Path) -> AsyncIterator[MediamtxTarget]:
    """MediaMTX to test against, once as the emulator and once as the real binary."""
    async with open_target(mediamtx_kind, tmp_path / "mediamtx") as target:
        yield target
