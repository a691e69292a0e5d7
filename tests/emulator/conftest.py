"""Fixtures for the MediaMTX emulator's own tests: an in-process emulator and an HTTP client for it."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tools.mediamtx_emulator import Emulator, EmulatorConfig, open_emulator


@pytest.fixture
async def emu(tmp_path: Path) -> AsyncIterator[Emulator]:
    """Control API and RTSP server on free ports; the working directory is the test's tmp dir."""
    config = EmulatorConfig(
        api_port=0, rtsp_port=0, record_dir=tmp_path, hook_output="discard", auth_failure_delay=0
    )
    async with open_emulator(config) as emulator:
        yield emulator


@pytest.fixture
async def api(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emu.api_url, timeout=10) as client:
        yield client


@pytest.fixture
def media(emu: Emulator) -> Emulator:
    """The emulator, for tests that need real media: skips when RTSP or ffmpeg is unavailable."""
    reason = emu.media_unavailable_reason
    if reason is not None:
        pytest.skip(reason)
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe not found")
    return emu
