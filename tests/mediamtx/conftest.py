"""Fixtures for the mediamtx room: an in-process MediaMTX emulator, configs and cameras."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from camsvc.cameras.model import Camera, RecordingState, Source, SourceKind
from camsvc.config import Config, parse
from tools.mediamtx_emulator import Emulator, EmulatorConfig, open_emulator


@pytest.fixture
async def emu(tmp_path: Path) -> AsyncIterator[Emulator]:
    """The emulator's control API on a free port; no RTSP (no media needed here), hooks' output discarded."""
    config = EmulatorConfig(
        api_port=0, rtsp_port=None, record_dir=tmp_path / "mtx", hook_output="discard", auth_failure_delay=0
    )
    async with open_emulator(config) as emulator:
        yield emulator


def make_config(tmp_path: Path, api_url: str, **mediamtx: Any) -> Config:
    """A service config for tests: ports 0, tmp dirs, short reconcile periods."""
    m: dict[str, Any] = {
        "api_url": api_url,
        "reconcile_interval": 0.5,
        "backoff_max": 0.5,
        "request_timeout": 2.0,
        # hooks never need to publish in these tests; `true` exits at once
        "ffmpeg_path": "true",
    }
    m.update(mediamtx)
    return parse(
        {
            "server": {"host": "127.0.0.1", "port": 0},
            "http": {"host": "127.0.0.1", "port": 0},
            "mediamtx": m,
            "cameras": {"discovery": "disabled"},
            "recording": {"dir": str(tmp_path / "recordings")},
            "snapshots": {"dir": str(tmp_path / "snapshots")},
            "storage": {"state_dir": str(tmp_path / "state")},
            "logging": {"format": "console"},
        },
        environ={},
    )


def synthetic(cid: str, **kw: Any) -> Camera:
    src = Source(SourceKind.SYNTHETIC, ffmpeg_input=("-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=5"),
                 ffmpeg_encode=("-c:v", "libx264", "-preset", "ultrafast"))  # fmt: skip
    return Camera(id=cid, name=f"synthetic {cid}", source=src, **kw)


def network(cid: str, url: str = "rtsp://192.0.2.10:554/live", **kw: Any) -> Camera:
    return Camera(id=cid, name=f"network {cid}", source=Source(SourceKind.NETWORK, url=url), **kw)


def recording(fmt: str = "fmp4") -> RecordingState:
    return RecordingState(session_id="sess1", filename="x", start_time=0.0, format=fmt)
