"""``python -m tools.mediamtx_emulator`` as a process: announces its real ports, serves, stops on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import trio

REPO = Path(__file__).resolve().parents[2]


async def _first_line(proc: trio.Process) -> str:
    assert proc.stdout is not None
    data = b""
    while b"\n" not in data:
        chunk = await proc.stdout.receive_some(1024)
        if not chunk:
            break
        data += chunk
    return data.decode().splitlines()[0] if data else ""


async def test_cli_prints_bound_ports_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "tools.mediamtx_emulator", "--api", "127.0.0.1:0", "--rtsp-port", "0",
            "--record-dir", str(tmp_path / "work")]  # fmt: skip
    proc = await trio.lowlevel.open_process(
        argv, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        with trio.fail_after(10):
            line = await _first_line(proc)
        m = re.fullmatch(
            r"mediamtx-emulator listening api=(http://127\.0\.0\.1:(\d+)) rtsp=rtsp://127\.0\.0\.1:(\d+)",
            line,
        )
        assert m, line
        assert int(m.group(2)) != 0 and int(m.group(3)) != 0
        async with httpx.AsyncClient(base_url=m.group(1)) as client:
            info = (await client.get("/v3/info")).json()
            assert info["version"] == "v1.20.1"
            conf = (await client.get("/v3/config/global/get")).json()
            assert conf["rtspAddress"] == f":{m.group(3)}"
        assert (tmp_path / "work").is_dir()
        proc.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            code = await proc.wait()
        assert code == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_cli_rejects_a_bad_address() -> None:
    argv = [sys.executable, "-m", "tools.mediamtx_emulator", "--api", "nonsense"]
    with trio.fail_after(10):
        result = await trio.run_process(
            argv, cwd=str(REPO), capture_stdout=True, capture_stderr=True, check=False
        )
    assert result.returncode == 2
    assert b"expected HOST:PORT" in result.stderr
