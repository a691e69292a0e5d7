"""One switch, two targets: the MediaMTX emulator and a real ``mediamtx`` binary behind one handle.

``CAMSVC_TEST_MEDIAMTX=PATH`` (else ``mediamtx`` on PATH) names the real binary. Tests that talk to
MediaMTX take the ``mediamtx_target`` fixture (tests/conftest.py), which runs them once per target with
ids ``emulator`` and ``real``; without a binary the ``real`` ones skip, naming what is missing.

Both targets start from the same per-test config file, derived from the shipped conf/mediamtx.yml:
free loopback ports, RTSP over TCP only, every other listener off (real MediaMTX instances must not
collide with each other or with anything else on the box), recordings under the target's work dir.
The emulator runs in process (its handle, for fault injection, is ``target.emulator``); the real
binary runs as a child process in the work dir and is SIGKILLed for a restart or at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from tests.helpers import REPO, free_port, own_group, stop_group
from tools.mediamtx_config import loopback_config
from tools.mediamtx_emulator import Emulator, EmulatorConfig, open_emulator

ENV = "CAMSVC_TEST_MEDIAMTX"
SHIPPED_CONFIG = REPO / "conf" / "mediamtx.yml"
TARGETS = ("emulator", "real")
START_TIMEOUT = 15.0


def real_binary() -> Path:
    """The real MediaMTX binary, or ``pytest.skip`` naming what is missing."""
    named = os.environ.get(ENV)
    if named:
        path = Path(named)
        if not (path.is_file() and os.access(path, os.X_OK)):
            pytest.skip(f"{ENV}={named} is not an executable file")
        return path.resolve()
    found = shutil.which("mediamtx")
    if found is None:
        pytest.skip(f"no real MediaMTX: {ENV} is not set and there is no `mediamtx` on PATH")
    return Path(found)


def write_config(work: Path, *, api_port: int, rtsp_port: int, **overrides: Any) -> Path:
    """The shipped conf/mediamtx.yml with this test's ports and dirs; only RTSP/TCP and the API listen."""
    return loopback_config(work, api_port=api_port, rtsp_port=rtsp_port, record_dir=work / "recordings", **overrides)


class MediamtxTarget:
    """A running MediaMTX of either kind: its addresses, a restart, and its path configs over the API."""

    def __init__(self, kind: str, work_dir: Path, config_file: Path) -> None:
        self.kind = kind
        self.work_dir = work_dir
        self.config_file = config_file
        self.api_url = ""
        self.rtsp_port = 0
        self.emulator: Emulator | None = None  # the in-process handle (faults, request log): emulator only
        self._real: _RealProcess | None = None

    @property
    def rtsp_url(self) -> str:
        return f"rtsp://127.0.0.1:{self.rtsp_port}"

    async def restart(self, downtime: float = 0.0) -> None:
        """MediaMTX dies (API refused, API-made paths forgotten) and is back after ``downtime`` s."""
        if self.emulator is not None:
            await self.emulator.restart(downtime)
        else:
            assert self._real is not None
            await self._real.kill()
            await trio.sleep(downtime)  # the outage itself, not synchronisation
            await self._real.start()

    async def path_conf(self, name: str) -> dict[str, Any] | None:
        """The effective config of path ``name`` (GET /v3/config/paths/get), None when it has none."""
        async with httpx.AsyncClient(base_url=self.api_url, timeout=5) as http:
            reply = await http.get(f"/v3/config/paths/get/{name}")
        if reply.status_code == 404:
            return None
        reply.raise_for_status()
        conf: dict[str, Any] = reply.json()
        return conf

    async def path_gone(self, name: str) -> bool:
        return await self.path_conf(name) is None


class _RealProcess:
    def __init__(self, binary: Path, target: MediamtxTarget) -> None:
        self.binary = binary
        self.target = target
        self.log = target.work_dir / "mediamtx.log"
        self.proc: trio.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:  # noqa: ASYNC230 - opening a local file is instant
            self.proc = await trio.lowlevel.open_process(
                [str(self.binary), str(self.target.config_file)],
                cwd=self.target.work_dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                **own_group(die_with_parent=False),
            )
        await wait_for_api(self.target.api_url, self.proc, self.log)

    async def kill(self) -> None:
        """SIGKILL, as a crash: nothing is stopped cleanly."""
        await self._signal_and_wait(signal.SIGKILL, 5)

    async def stop(self) -> None:
        """SIGTERM (MediaMTX stops its hooks and finishes recordings), SIGKILL after a grace."""
        if not await self._signal_and_wait(signal.SIGTERM, 10):
            await self._signal_and_wait(signal.SIGKILL, 5)

    async def _signal_and_wait(self, sig: signal.Signals, grace: float) -> bool:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)  # its own group (own_group): whatever it started goes too
        with trio.CancelScope(shield=True), trio.move_on_after(grace):
            await proc.wait()
        return proc.returncode is not None


async def wait_for_api(api_url: str, proc: trio.Process, log: Path) -> None:
    """Poll ``GET /v3/info`` until it answers; fail naming the log if the process exits or it times out."""
    async with httpx.AsyncClient(timeout=1) as http:
        with trio.move_on_after(START_TIMEOUT):
            while proc.returncode is None:
                try:
                    if (await http.get(f"{api_url}/v3/info")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await trio.sleep(0.02)  # polling interval of a deadline loop
    raise AssertionError(
        f"MediaMTX did not answer at {api_url} (exit code {proc.returncode}):\n{log_tail(log)}"
    )


def log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.exists() else ""


@asynccontextmanager
async def open_target(kind: str, work_dir: Path) -> AsyncIterator[MediamtxTarget]:
    """Start MediaMTX of ``kind`` ("emulator" or "real") in ``work_dir``; stop it on exit."""
    if kind == "emulator":
        config_file = write_config(work_dir, api_port=0, rtsp_port=0)
        target = MediamtxTarget(kind, work_dir, config_file)
        emu_config = EmulatorConfig(
            api_port=0,
            rtsp_port=0,
            record_dir=work_dir,
            config_file=config_file,
            hook_output="discard",
            auth_failure_delay=0,
        )
        async with open_emulator(emu_config) as emu:
            target.emulator, target.api_url, target.rtsp_port = emu, emu.api_url, emu.rtsp_port
            if emu.media_unavailable_reason is not None:
                pytest.skip(emu.media_unavailable_reason)
            yield target
        return
    if kind != "real":
        raise ValueError(f"unknown MediaMTX target {kind!r}")
    binary = real_binary()
    api_port, rtsp_port = free_port(), free_port()
    target = MediamtxTarget(kind, work_dir, write_config(work_dir, api_port=api_port, rtsp_port=rtsp_port))
    target.api_url, target.rtsp_port = f"http://127.0.0.1:{api_port}", rtsp_port
    target._real = _RealProcess(binary, target)
    try:
        await target._real.start()
        yield target
    finally:
        await target._real.stop()


@contextmanager
def target_process(kind: str, work_dir: Path) -> Iterator[tuple[str, int]]:
    """MediaMTX of ``kind`` as a separate process (for tests whose own process gets killed):
    yields ``(api_url, rtsp_port)``; the emulator is stopped with SIGTERM (finishing recordings)."""
    api_port, rtsp_port = free_port(), free_port()
    config_file = write_config(work_dir, api_port=api_port, rtsp_port=rtsp_port)
    api_url = f"http://127.0.0.1:{api_port}"
    if kind == "real":
        argv = [str(real_binary()), str(config_file)]
    else:
        argv = [sys.executable, "-m", "tools.mediamtx_emulator", "--config", str(config_file),
                "--api", f"127.0.0.1:{api_port}", "--rtsp-port", str(rtsp_port),
                "--record-dir", str(work_dir), "--quiet-hooks", "--auth-fail-delay", "0"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMSVC_")}
    if kind == "emulator":
        env["PYTHONPATH"] = str(REPO)
    log = work_dir / "mediamtx.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, cwd=work_dir, env=env, stdout=out, stderr=subprocess.STDOUT, **own_group())
    try:
        _wait_ready(proc, api_url, log)
        yield api_url, rtsp_port
    finally:
        stop_group(proc)  # SIGTERM first: both stop their hooks and finish recordings


def _wait_ready(proc: subprocess.Popen[bytes], api_url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(f"{api_url}/v3/info", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.02)  # polling interval of a deadline loop
    raise AssertionError(
        f"MediaMTX did not answer at {api_url} (exit code {proc.returncode}):\n{log_tail(log)}"
    )
