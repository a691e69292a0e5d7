"""The real service as the benchmarks load it: ``camsvc run --demo`` in its own process.

MediaMTX is either the emulator (its own process, as ``tools/setup.sh run`` starts it) or a real binary
supervised by camsvc with the shipped ``conf/mediamtx.yml``, as deployed. Logging, discovery and the
periodic work (reconcile, keepalive, health watch) stay as configured: only the per-connection rate
limit and the connection cap are opened, since load is what the benchmarks send.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import jwt
import yaml

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
SECRET = "bench-secret-" + "0123456789abcdef" * 4


@attrs.frozen
class RunningService:
    pid: int
    ws_url: str
    http_url: str
    mediamtx: str
    #: the process tree's root (camsvc); a supervised mediamtx is its child
    log: Path

    def token(self, role: str = "admin", ttl: float = 24 * 3600) -> str:
        now = int(time.time())
        claims = {"user_id": "bench", "role": role, "iat": now, "exp": int(now + ttl)}
        return jwt.encode(claims, SECRET, "HS256")

    def auth_message(self, role: str = "admin") -> str:
        request = {"jsonrpc": "2.0", "id": 0, "method": "authenticate", "params": {"auth_token": self.token(role)}}
        return json.dumps(request)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _wait_ready(http_url: str, proc: subprocess.Popen[bytes], log: Path, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"camsvc exited {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{http_url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)  # polling interval of a deadline loop
    raise RuntimeError(f"camsvc not ready within {within}s: {log.read_text(errors='replace')[-2000:]}")


@contextlib.contextmanager
def running_service(
    work: Path, *, mediamtx_binary: str | None = None, server: dict[str, Any] | None = None
) -> Iterator[RunningService]:
    """Start MediaMTX (emulator unless a binary is given) and ``camsvc run --demo``; stop both after."""
    work.mkdir(parents=True, exist_ok=True)
    log = work / "service.log"
    ws_port, http_port = free_port(), free_port()
    config: dict[str, Any] = {
        "server": {
            "host": "127.0.0.1",
            "port": ws_port,
            "max_connections": 20000,
            "rate_limit_per_second": 1e9,
            "rate_limit_burst": 10**9,
            **(server or {}),
        },
        "http": {"host": "127.0.0.1", "port": http_port},
        "recording": {"dir": str(work / "recordings")},
        "snapshots": {"dir": str(work / "snapshots")},
        "storage": {"state_dir": str(work / "state")},
        "security": {"jwt_secret": SECRET},
        "logging": {"level": "WARNING", "format": "json"},
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if mediamtx_binary is None:
            api_port, rtsp_port = free_port(), free_port()
            procs.append(
                _spawn(
                    [PY, "-m", "tools.mediamtx_emulator", "--api", f"127.0.0.1:{api_port}",
                     "--rtsp-port", str(rtsp_port), "--record-dir", str(work / "recordings"), "--quiet-hooks"],
                    log,
                )
            )  # fmt: skip
            config["mediamtx"] = {"api_url": f"http://127.0.0.1:{api_port}", "rtsp_port": rtsp_port}
            which = "emulator"
        else:
            # supervised by camsvc with the shipped config, as deployed (its default ports)
            config["mediamtx"] = {"binary": mediamtx_binary, "config_file": str(REPO / "conf" / "mediamtx.yml")}
            which = f"real ({mediamtx_binary})"
        path = work / "camsvc.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAMSVC_")}
        procs.append(_spawn([PY, "-m", "camsvc", "run", "--demo", "--config", str(path)], log, env))
        http_url = f"http://127.0.0.1:{http_port}"
        _wait_ready(http_url, procs[-1], log)
        yield RunningService(procs[-1].pid, f"ws://127.0.0.1:{ws_port}/ws", http_url, which, log)
    finally:
        for proc in reversed(procs):
            _stop(proc)
