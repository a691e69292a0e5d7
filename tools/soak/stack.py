"""The processes under soak: ``camsvc run --demo`` and MediaMTX (the real binary, supervised by camsvc,
or the emulator, run by the soak), with the chaos done to them from outside.

- real MediaMTX is camsvc's own supervised child (``mediamtx.binary``): the soak SIGKILLs it and camsvc's
  supervisor restarts it, as it would on a box;
- the emulator is external to camsvc: the soak SIGKILLs its process group and starts it again on the same
  ports, as systemd would restart a separate ``mediamtx.service``.

Two kinds of camera chaos:

- publishers: the ffmpeg MediaMTX runs for a camera (``runOnDemand``) is SIGKILLed; its stream drops and
  must come back;
- through camsvc's fault-injection seam (``CAMSVC_FAULT_INJECTION``, camsvc/fault_injection.py), which the
  stack turns on with a control directory ``WORK/faults``: a camera actor crashed inside the process
  (``crash_actor``), a fake V4L2 node plugged in and out (``plug``/``unplug``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import psutil
import yaml

from camsvc import fault_injection, memtrace
from tools.mediamtx_config import loopback_config

REPO = Path(__file__).resolve().parents[2]
SECRET = "soak-secret-0123456789-0123456789-0123456789"
LISTENING = re.compile(r"listening api=(\S+) rtsp=rtsp://[^:]+:(\d+)")
#: synthetic cameras beside --demo's camera0: small, so ffmpeg does not starve the box
SYNTHETIC = [{"id": "camera1", "width": 320, "height": 240, "fps": 10}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CAMSVC_")}


def find_mediamtx() -> str | None:
    """$CAMSVC_TEST_MEDIAMTX, else ``mediamtx`` on PATH."""
    return os.environ.get("CAMSVC_TEST_MEDIAMTX") or shutil.which("mediamtx")


def _stop_group(proc: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM the process group, SIGKILL what is left after ``timeout``."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # sweep what the leader left behind
        except ProcessLookupError:
            pass
        return


@attrs.define(eq=False)
class Stack:
    work: Path
    mediamtx: str  # "real" | "emulator"
    binary: str | None = None
    #: seconds between tracemalloc dumps camsvc appends to ``tracemalloc.txt`` (camsvc/memtrace.py); None = off
    trace_memory: float | None = None
    #: seconds between memory censuses camsvc appends to ``census.jsonl``; None = off
    census: float | None = None
    #: turn on camsvc's fault-injection seam (actor crashes, hot-plug) with the control directory ``faults``
    faults: bool = True
    ws_port: int = attrs.Factory(free_port)
    http_port: int = attrs.Factory(free_port)
    api_port: int = attrs.Factory(free_port)
    rtsp_port: int = attrs.Factory(free_port)
    service: subprocess.Popen[bytes] | None = None
    emulator: subprocess.Popen[str] | None = None
    mediamtx_kills: int = 0
    publisher_kills: int = 0
    actor_crash_requests: int = 0

    @property
    def recordings(self) -> Path:
        return self.work / "recordings"

    @property
    def snapshots(self) -> Path:
        return self.work / "snapshots"

    @property
    def log(self) -> Path:
        return self.work / "camsvc.log"

    @property
    def state_db(self) -> Path:
        return self.work / "state" / "camsvc.db"

    @property
    def fault_control(self) -> fault_injection.FaultInjection:
        """camsvc's fault-injection control directory (``CAMSVC_FAULT_INJECTION``)."""
        return fault_injection.FaultInjection(self.work / "faults")

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def rtsp_base(self) -> str:
        return f"rtsp://127.0.0.1:{self.rtsp_port}"

    # ------------------------------------------------------------------------------------------ start/stop

    def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        mediamtx: dict[str, Any] = {
            "api_url": f"http://127.0.0.1:{self.api_port}",
            "rtsp_port": self.rtsp_port,
            "reconcile_interval": 2.0,
            "backoff_max": 2.0,
        }
        if self.mediamtx == "real":
            if self.binary is None:
                raise RuntimeError("no MediaMTX binary: set CAMSVC_TEST_MEDIAMTX or put mediamtx on PATH")
            mediamtx.update(binary=self.binary, config_file=str(self._real_mediamtx_yml()), server_start_timeout=10)
        else:
            self.start_emulator()
        config = {
            "server": {"host": "127.0.0.1", "port": self.ws_port},
            "http": {"host": "127.0.0.1", "port": self.http_port},
            "mediamtx": mediamtx,
            "cameras": {"discovery": "disabled", "synthetic": SYNTHETIC},
            "recording": {"dir": str(self.recordings), "segment_duration": 10.0},
            "snapshots": {"dir": str(self.snapshots)},
            # housekeeping runs the retention policy a soak may set (--retention-mb) every 20 s, not hourly
            "storage": {"state_dir": str(self.state_db.parent), "housekeeping_interval": 20.0},
            "security": {"jwt_secret": SECRET},
            # INFO as shipped: the report reads which files the service deleted ("file deleted") from the log
            "logging": {"level": "INFO", "format": "json"},
        }
        path = self.work / "camsvc.yaml"
        path.write_text(yaml.safe_dump(config))
        with self.log.open("ab") as out:
            self.service = subprocess.Popen(
                [sys.executable, "-m", "camsvc", "run", "--demo", "--config", str(path)],
                cwd=REPO, env=self._service_env(), stdout=out, stderr=out, start_new_session=True,
            )  # fmt: skip
        self._wait_port(self.ws_port, "camsvc")

    def _service_env(self) -> dict[str, str]:
        env = _clean_env()
        if self.faults:
            env[fault_injection.ENV] = str(self.fault_control.control)
        if self.trace_memory is not None:
            env[memtrace.ENV] = str(self.work / "tracemalloc.txt")
            env[memtrace.INTERVAL_ENV] = str(self.trace_memory)
        if self.census is not None:
            env[memtrace.CENSUS_ENV] = str(self.work / "census.jsonl")
            env[memtrace.CENSUS_INTERVAL_ENV] = str(self.census)
            for name in (memtrace.HOLDERS_ENV, memtrace.GARBAGE_ENV):  # what the census adds, as the caller asks
                if name in os.environ:
                    env[name] = os.environ[name]
        return env

    def stop(self) -> int | None:
        """SIGTERM camsvc (it stops recordings and its MediaMTX in order), then the emulator; camsvc's exit code."""
        code = None
        if self.service is not None:
            _stop_group(self.service, timeout=30)
            code = self.service.returncode
        if self.emulator is not None:
            _stop_group(self.emulator, timeout=10)
        return code

    def _wait_port(self, port: int, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.service is not None and self.service.poll() is not None:
                raise RuntimeError(f"{what} exited with {self.service.returncode}; see {self.log}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)  # polling interval of a deadline loop
        raise RuntimeError(f"{what} did not listen on {port} within {timeout:g}s")

    def _real_mediamtx_yml(self) -> Path:
        """conf/mediamtx.yml on this stack's ports, RTSP/TCP only (no HLS/WebRTC/MoQ listeners to collide)."""
        return loopback_config(self.work, api_port=self.api_port, rtsp_port=self.rtsp_port)

    def start_emulator(self) -> None:
        self.emulator = subprocess.Popen(
            [sys.executable, "-m", "tools.mediamtx_emulator", "--api", f"127.0.0.1:{self.api_port}",
             "--rtsp-port", str(self.rtsp_port), "--record-dir", str(self.work), "--quiet-hooks",
             "--auth-fail-delay", "0", "--log-level", "warning"],
            cwd=REPO, env=_clean_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            start_new_session=True,
        )  # fmt: skip
        assert self.emulator.stdout is not None
        line = self.emulator.stdout.readline()
        if LISTENING.search(line) is None:
            raise RuntimeError(f"emulator did not start: {line.strip()!r}")

    # ---------------------------------------------------------------------------------------------- chaos

    def service_process(self) -> psutil.Process:
        assert self.service is not None
        return psutil.Process(self.service.pid)

    def _mediamtx_process(self) -> psutil.Process | None:
        if self.mediamtx == "emulator":
            return psutil.Process(self.emulator.pid) if self.emulator is not None else None
        for child in self.service_process().children():
            if child.name() == "mediamtx":
                return child
        return None

    def kill_mediamtx(self) -> bool:
        """SIGKILL MediaMTX. Real: camsvc's supervisor restarts it. Emulator: call ``restart_emulator``."""
        if self.mediamtx == "emulator":
            if self.emulator is None:
                return False
            try:
                os.killpg(self.emulator.pid, signal.SIGKILL)
            except ProcessLookupError:
                return False
            self.emulator.wait()
            self.emulator = None
            self.mediamtx_kills += 1
            return True
        try:
            proc = self._mediamtx_process()
            if proc is None:
                return False
            proc.kill()
        except psutil.Error:  # not up (yet) again
            return False
        self.mediamtx_kills += 1
        return True

    def restart_emulator(self) -> None:
        if self.mediamtx == "emulator" and self.emulator is None:
            self.start_emulator()

    def kill_publisher(self, camera_id: str) -> bool:
        """SIGKILL the ffmpeg MediaMTX runs to publish ``camera_id``; False when none runs now."""
        try:
            return self._kill_publisher(camera_id)
        except psutil.Error:  # MediaMTX itself just died (killed, restarting)
            return False

    def _kill_publisher(self, camera_id: str) -> bool:
        mtx = self._mediamtx_process()
        if mtx is None:
            return False
        for proc in mtx.children(recursive=True):
            try:
                cmd = proc.cmdline()
            except psutil.Error:
                continue
            # the publisher ends "-f rtsp rtsp://.../<id>"; recorders and readers pull it with -i instead
            if len(cmd) >= 3 and cmd[-3:-1] == ["-f", "rtsp"] and cmd[-1].endswith(f"/{camera_id}"):
                proc.kill()
                self.publisher_kills += 1
                return True
        return False

    # ------------------------------------------------------------------------- fault injection (in camsvc)

    def crash_actor(self, camera_id: str) -> None:
        """Ask camsvc to crash ``camera_id``'s actor; what it did is in :meth:`crash_journal`."""
        control = self.fault_control
        control.prepare()
        (control.crashes / camera_id).touch()
        self.actor_crash_requests += 1

    def crash_journal(self) -> list[dict[str, Any]]:
        journal = self.fault_control.journal
        if not journal.exists():
            return []
        return [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]

    def plug(self, index: int) -> str:
        """Plug in the fake node ``/dev/video<index>``; the camera id discovery will give it."""
        control = self.fault_control
        control.prepare()
        (control.devices / f"video{index}").touch()
        return f"camera{index}"

    def unplug(self, index: int) -> None:
        (self.fault_control.devices / f"video{index}").unlink(missing_ok=True)
