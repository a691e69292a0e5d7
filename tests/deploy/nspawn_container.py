"""A booted Debian container (systemd-nspawn) to test the deployment story against a real systemd.

The host need not run systemd itself: the container is started with ``--register=no --keep-unit`` (no
machined, no scope unit) and driven with ``nsenter`` into its init process, which is the nspawn process's
child. The debootstrapped rootfs is cached under /var/cache/camsvc-tests/ keyed by suite and package list;
each run boots a private copy, so a run never sees what an earlier one installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import attrs

CACHE_ROOT = Path(os.environ.get("CAMSVC_TEST_CACHE", "/var/cache/camsvc-tests"))
SUITE = "bookworm"
MIRROR = os.environ.get("CAMSVC_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# What the deployment needs inside: an init, a bus for systemctl, Python with venv (the service's venv is
# built from wheels), and a TLS store; ffmpeg publishes the synthetic camera through a real MediaMTX (its
# runOnDemand hook, under the hardened unit) and reads the stream back; curl helps a human debug.
PACKAGES: tuple[str, ...] = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3",
    "python3-venv",
    "ca-certificates",
    "curl",
    "ffmpeg",
)


# Measured figures of the last deployment test run, printed by tests/deploy/conftest.py.
FIGURES: dict[str, float | str] = {}


class ContainerUnavailable(Exception):
    """This host cannot build or boot the test container; the message says why (used as a skip reason)."""


def missing_prerequisites() -> str | None:
    """Why nspawn tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root (debootstrap and systemd-nspawn)"
    for tool, package in (("systemd-nspawn", "systemd-container"), ("debootstrap", "debootstrap"), ("nsenter", "util-linux")):
        if shutil.which(tool) is None:
            return f"{tool} not found (apt-get install {package})"
    return None


def rootfs_key(packages: Sequence[str] = PACKAGES) -> str:
    text = "\n".join([SUITE, "minbase", *sorted(packages)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_rootfs(packages: Sequence[str] = PACKAGES, *, timeout: float = 900) -> Path:
    """The cached rootfs for this package list, debootstrapped on first use."""
    target = CACHE_ROOT / f"rootfs-{SUITE}-{rootfs_key(packages)}"
    if (target / ".complete").exists():
        return target
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        "debootstrap",
        "--variant=minbase",
        "--include=" + ",".join(packages),
        SUITE,
        str(staging),
        MIRROR,
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ContainerUnavailable(f"debootstrap did not finish within {timeout:.0f} s") from exc
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
        raise ContainerUnavailable(f"debootstrap failed (no network to {MIRROR}?): {' | '.join(tail)}")
    # Boot-time niceties: no getty on a passive console, no apt timers racing the test.
    (staging / "etc" / "hostname").write_text("camsvc-test\n")
    for unit in ("apt-daily.timer", "apt-daily-upgrade.timer", "console-getty.service", "getty@.service"):
        for link in (staging / "etc" / "systemd" / "system").rglob(unit):
            link.unlink()
    (staging / ".complete").write_text(" ".join(packages) + "\n")
    staging.rename(target)
    return target


@attrs.frozen
class Bind:
    host: Path
    container: str
    read_only: bool = True

    def option(self) -> str:
        flag = "--bind-ro" if self.read_only else "--bind"
        return f"{flag}={self.host}:{self.container}"


@attrs.define
class Container:
    """A booted container; use :meth:`boot` and always :meth:`shutdown`."""

    workdir: Path
    process: subprocess.Popen[bytes]
    init_pid: int
    console_log: Path

    @classmethod
    def boot(cls, rootfs: Path, workdir: Path, binds: Sequence[Bind] = (), *, timeout: float = 60) -> Container:
        root_copy = workdir / "rootfs"
        subprocess.run(["cp", "-a", "--reflink=auto", f"{rootfs}/.", str(root_copy)], check=True, timeout=300)
        hosts = root_copy / "etc" / "hosts"
        if not hosts.exists():  # debootstrap writes none; every installed box has one (MediaMTX's publishers use localhost)
            hosts.write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
        console_log = workdir / "console.log"
        command = [
            "systemd-nspawn",
            "--boot",
            "--register=no",
            "--keep-unit",
            "--console=passive",
            "--private-network",
            "--machine=camsvc-test",
            "-D",
            str(root_copy),
            *(bind.option() for bind in binds),
        ]
        with console_log.open("wb") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        container = cls(workdir=workdir, process=process, init_pid=0, console_log=console_log)
        try:
            container.init_pid = container._wait_for_init(timeout)
            container._wait_for_boot(timeout)
        except BaseException:
            container.shutdown()
            raise
        return container

    def _wait_for_init(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ContainerUnavailable(f"systemd-nspawn exited ({self.process.returncode}): {self.console_tail()}")
            try:
                pids = children.read_text().split()
            except FileNotFoundError:
                pids = []
            for pid in pids:
                # nspawn's first child only sets up the container (mounts) and exits; its init is the one
                # that runs systemd
                try:
                    if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                        return int(pid)
                except FileNotFoundError:
                    continue
            time.sleep(0.05)
        raise ContainerUnavailable(f"no container init process after {timeout:.0f} s: {self.console_tail()}")

    def _wait_for_boot(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            result = self.run(["systemctl", "is-system-running"], check=False, timeout=10)
            state = result.stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(0.2)
        raise ContainerUnavailable(f"container did not finish booting within {timeout:.0f} s (state {state!r})")

    def run(
        self,
        command: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 120,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the container (all namespaces, the container's root) and capture it."""
        prefix = ["nsenter", "-t", str(self.init_pid), "-a", "--"]
        environ = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        if env:
            environ.update(env)
        result = subprocess.run(
            [*prefix, "env", "-i", *(f"{k}={v}" for k, v in environ.items()), *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"in container: {' '.join(command)} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result

    def host_path(self, container_path: str) -> Path:
        return self.workdir / "rootfs" / container_path.lstrip("/")

    def console_tail(self, lines: int = 20) -> str:
        try:
            return " | ".join(self.console_log.read_text(errors="replace").strip().splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def shutdown(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            # SIGTERM asks nspawn for an orderly poweroff of the container's systemd.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.workdir / "rootfs", ignore_errors=True)
