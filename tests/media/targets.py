"""The MediaMTX a media end-to-end test talks to: the in-process emulator or the real binary.

A local stand-in for the suite-wide ``emulator``/``real`` parametrisation (issue 11.1): tests take the
``target`` fixture defined here; when the shared fixture lands, only this module changes. The real
binary is ``$CAMSVC_TEST_MEDIAMTX``, else ``mediamtx`` on PATH; without one the ``real`` params skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import yaml

from camsvc.mediamtx.process import MediamtxProcess
from tests.helpers import REPO, free_port
from tools.mediamtx_emulator import Emulator, EmulatorConfig, open_emulator

TARGETS = ("emulator", "real")


def real_binary() -> str | None:
    return os.environ.get("CAMSVC_TEST_MEDIAMTX") or shutil.which("mediamtx")


@attrs.define(eq=False)
class Target:
    """What a test needs of either server: where it listens, and how to make it go away and come back."""

    kind: str
    api_url: str
    rtsp_port: int
    emulator: Emulator | None = None
    process: MediamtxProcess | None = None
    nursery: trio.Nursery | None = None
    scope: trio.CancelScope | None = None

    async def restart(self, downtime: float) -> None:
        """MediaMTX goes away (every path and recording with it) for ``downtime`` s, then answers again."""
        if self.emulator is not None:
            await self.emulator.restart(downtime)
            return
        assert self.scope is not None and self.nursery is not None and self.process is not None
        self.scope.cancel()
        while self.process.pid is not None:  # noqa: ASYNC110 - the process is stopped by its own task
            await trio.sleep(0.01)
        await trio.sleep(downtime)  # the outage itself, not a synchronisation
        await self.nursery.start(self._run_real)

    async def _run_real(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        assert self.process is not None
        with trio.CancelScope() as self.scope:
            await self.process.run(task_status=task_status)


def _real_config(tmp_path: Path, api_port: int, rtsp_port: int) -> Path:
    """The shipped conf/mediamtx.yml on free loopback ports, RTSP/TCP only."""
    conf: dict[str, Any] = yaml.safe_load((REPO / "conf" / "mediamtx.yml").read_text())
    conf.update(
        apiAddress=f"127.0.0.1:{api_port}",
        rtspAddress=f"127.0.0.1:{rtsp_port}",
        rtspTransports=["tcp"],
        hls=False,
        webrtc=False,
        moq=False,  # else it opens more ports and writes auto.key/auto.crt into the working directory
    )
    path = tmp_path / "mediamtx.yml"
    path.write_text(yaml.safe_dump(conf))
    return path


@contextlib.asynccontextmanager
async def open_target(kind: str, tmp_path: Path) -> AsyncIterator[Target]:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed: recording needs it")
    if kind == "emulator":
        config = EmulatorConfig(
            api_port=0, rtsp_port=0, record_dir=tmp_path / "mtx", hook_output="discard", auth_failure_delay=0
        )
        async with open_emulator(config) as emu:
            if emu.media_unavailable_reason is not None:
                pytest.skip(emu.media_unavailable_reason)
            yield Target(kind, emu.api_url, emu.rtsp_port, emulator=emu)
        return
    binary = real_binary()
    if binary is None:
        pytest.skip("no real MediaMTX: set CAMSVC_TEST_MEDIAMTX or put `mediamtx` on PATH")
    api_port, rtsp_port = free_port(), free_port()
    url = f"http://127.0.0.1:{api_port}"
    work = tmp_path / "mediamtx"
    work.mkdir()
    process = MediamtxProcess(binary, str(_real_config(work, api_port, rtsp_port)), url, start_timeout=10)
    async with trio.open_nursery() as nursery:
        target = Target(kind, url, rtsp_port, process=process, nursery=nursery)
        await nursery.start(target._run_real)
        yield target
        nursery.cancel_scope.cancel()
