"""Small helpers shared by tests: free ports, polling with a deadline, running camsvc."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


def poll(fn: Callable[[], T | None], *, timeout: float = 10.0, interval: float = 0.05, what: str = "condition") -> T:
    """Call ``fn`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = fn()
        except Exception as exc:  # e.g. connection refused while starting
            last_exc = exc
        else:
            if value:
                return value
        time.sleep(interval)  # polling interval of a deadline loop, not synchronisation
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last error: {last_exc!r}")


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: SIGTERM it when the test run dies, however it dies.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def own_group(*, die_with_parent: bool = True) -> dict[str, Any]:
    """Popen options for a process a test spawns: its own process group, so teardown signals it and
    everything it started at once (``stop_group``), and SIGTERM if the test run itself is killed, so no
    orphan outlives it. ``die_with_parent`` must be False when the spawn happens in a worker thread
    (``trio.lowlevel.open_process``): the signal follows the spawning *thread*, which trio may retire."""
    options: dict[str, Any] = {"start_new_session": True}
    if die_with_parent:
        options["preexec_fn"] = _die_with_parent
    return options


def stop_group(proc: subprocess.Popen[Any], *, timeout: float = 10.0) -> None:
    """SIGTERM a spawned process's group, then SIGKILL what is left after ``timeout``."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            # the leader is gone; sweep any child it left in the group
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            break
        except subprocess.TimeoutExpired:
            continue
        break


def camsvc_process(
    args: list[str], *, env: Mapping[str, str] | None = None, tmp: Path | None = None
) -> subprocess.Popen[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CAMSVC_")}
    if tmp is not None:
        full_env.update(
            {
                "CAMSVC_STORAGE__STATE_DIR": str(tmp / "state"),
                "CAMSVC_RECORDING__DIR": str(tmp / "recordings"),
                "CAMSVC_SNAPSHOTS__DIR": str(tmp / "snapshots"),
            }
        )
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "camsvc", *args],
        cwd=REPO,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **own_group(),
    )
