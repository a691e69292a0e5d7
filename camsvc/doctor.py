"""``camsvc doctor``: check that a deployment can work, one readable line per check.

Each check yields OK, WARN (works, but worth a look) or FAIL (something will not work) with the reason;
the exit code is 1 when anything failed. It only reads: it probes the configured ports and health
endpoints, looks at directory permissions as the *service user* would see them, finds ffmpeg, and asks
systemd whether the units are enabled. Usable on a box (as root, against the installed config) and on a
developer machine (systemd checks then say WARN, not FAIL).
"""

from __future__ import annotations

import base64
import grp
import os
import pwd
import shutil
import socket
import stat
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal, TextIO

import attrs

from .config import Config

Status = Literal["OK", "WARN", "FAIL"]
SERVICE_USER = "camera-service"
SERVICE_UNIT = "camera-service.service"
MEDIAMTX_UNIT = "mediamtx.service"
VIDEO_GROUP = "video"
# Headroom over max_connections for files, ffmpeg pipes, the HTTP side and MediaMTX calls.
NOFILE_HEADROOM = 1024


@attrs.frozen
class CheckResult:
    name: str
    status: Status
    detail: str


@attrs.frozen
class DoctorOptions:
    """What the checks look at; tests point these at their own users, binaries and timeouts."""

    service_user: str = SERVICE_USER
    systemctl: str | None = "systemctl"
    # None: systemd counts as running when /run/systemd/system exists (sd_booted(3)).
    systemd_running: bool | None = None
    ffmpeg: str = "ffmpeg"
    timeout: float = 3.0

    def systemctl_to_use(self) -> str | None:
        running = Path("/run/systemd/system").is_dir() if self.systemd_running is None else self.systemd_running
        return self.systemctl if running else None


def run_doctor(config: Config, *, out: TextIO, options: DoctorOptions | None = None) -> int:
    """Run every check, print one line each and a summary to ``out``; 0 when nothing FAILed, else 1."""
    opts = options or DoctorOptions()
    results = list(_all_checks(config, opts))
    width = max(len(result.name) for result in results)
    for result in results:
        out.write(f"{result.status:<4}  {result.name:<{width}}  {result.detail}\n")
    counts = {status: sum(1 for r in results if r.status == status) for status in ("OK", "WARN", "FAIL")}
    out.write(f"doctor: {counts['OK']} OK, {counts['WARN']} WARN, {counts['FAIL']} FAIL\n")
    return 1 if counts["FAIL"] else 0


def _all_checks(config: Config, opts: DoctorOptions) -> Iterator[CheckResult]:
    yield check_port("websocket port", config.server.host, config.server.port, opts.timeout)
    yield check_port("http port", config.http.host, config.http.port, opts.timeout)
    yield check_mediamtx_api(config, opts.timeout)
    base = f"http://{_probe_host(config.http.host)}:{config.http.port}"
    yield check_health("health live", base + "/health/live", opts.timeout)
    yield check_health("health ready", base + "/health/ready", opts.timeout)
    user = _lookup_user(opts.service_user)
    if user is None:
        yield CheckResult(
            "service user", "WARN", f"user {opts.service_user} does not exist; directory checks use {_current_user()}"
        )
    else:
        yield CheckResult("service user", "OK", f"{user.pw_name} (uid {user.pw_uid})")
    yield from check_directories(_data_dirs(config), user)
    yield check_disk_space(config)
    yield check_ffmpeg(opts.ffmpeg, opts.timeout)
    yield check_video_group(user, opts.service_user)
    systemctl = opts.systemctl_to_use()
    yield from check_units(systemctl, opts.timeout)
    yield check_nofile(systemctl, config.server.max_connections, opts.timeout)


# ---------------------------------------------------------------- network


def _probe_host(host: str) -> str:
    """Wildcard binds are probed on loopback."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else host.strip("[]")


def check_port(name: str, host: str, port: int, timeout: float) -> CheckResult:
    address = (_probe_host(host), port)
    try:
        with socket.create_connection(address, timeout=timeout):
            pass
    except OSError as exc:
        return CheckResult(name, "FAIL", f"nothing answers on {address[0]}:{port} ({_reason(exc)})")
    return CheckResult(name, "OK", f"answering on {address[0]}:{port}")


def _get(url: str, timeout: float, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """(status, start of body); raises OSError when nothing answers."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(300).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(300).decode(errors="replace")


def check_mediamtx_api(config: Config, timeout: float) -> CheckResult:
    name = "mediamtx api"
    url = config.mediamtx.api_url.rstrip("/") + "/v3/info"
    headers = {}
    if config.mediamtx.username:
        token = f"{config.mediamtx.username}:{config.mediamtx.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
    try:
        status, body = _get(url, timeout, headers)
    except (OSError, ValueError) as exc:
        return CheckResult(name, "FAIL", f"{url}: no answer ({_reason(exc)}); is mediamtx.service running?")
    if status == 200:
        return CheckResult(name, "OK", f"{url} answers 200 {body.strip()[:80]}")
    if status == 401:
        return CheckResult(name, "FAIL", f"{url} answers 401: set mediamtx.username/password to an API user")
    return CheckResult(name, "FAIL", f"{url} answers {status}")


def check_health(name: str, url: str, timeout: float) -> CheckResult:
    try:
        status, body = _get(url, timeout)
    except (OSError, ValueError) as exc:
        return CheckResult(name, "FAIL", f"{url}: no answer ({_reason(exc)})")
    summary = " ".join(body.split())[:120]
    if status == 200:
        return CheckResult(name, "OK", f"{url} answers 200")
    return CheckResult(name, "FAIL", f"{url} answers {status}: {summary}")


# ---------------------------------------------------------------- files and users


def _data_dirs(config: Config) -> list[tuple[str, Path]]:
    dirs = [
        ("recordings dir", Path(config.recording.dir)),
        ("snapshots dir", Path(config.snapshots.dir)),
        ("state dir", Path(config.storage.state_dir)),
    ]
    if config.logging.file:
        dirs.append(("log dir", Path(config.logging.file).parent))
    return dirs


def _lookup_user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _current_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def _groups_of(user: pwd.struct_passwd) -> set[int]:
    return {user.pw_gid} | {g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem}


def writable_by(path: Path, user: pwd.struct_passwd | None) -> bool:
    """Whether ``user`` may create files in directory ``path`` (mode bits; ACLs are not consulted).

    Without a user, the current process is asked (os.access), which is right on a developer machine.
    """
    if user is None:
        return os.access(path, os.W_OK | os.X_OK)
    if user.pw_uid == 0:
        return True
    info = path.stat()
    if info.st_uid == user.pw_uid:
        return bool(info.st_mode & stat.S_IWUSR and info.st_mode & stat.S_IXUSR)
    if info.st_gid in _groups_of(user):
        return bool(info.st_mode & stat.S_IWGRP and info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IWOTH and info.st_mode & stat.S_IXOTH)


def check_directories(dirs: Iterable[tuple[str, Path]], user: pwd.struct_passwd | None) -> Iterator[CheckResult]:
    who = user.pw_name if user is not None else _current_user()
    for name, path in dirs:
        if not path.exists():
            yield CheckResult(name, "FAIL", f"{path} does not exist (the installer creates it)")
        elif not path.is_dir():
            yield CheckResult(name, "FAIL", f"{path} is not a directory")
        elif not writable_by(path, user):
            info = path.stat()
            owner = _name_of_uid(info.st_uid) + ":" + _name_of_gid(info.st_gid)
            yield CheckResult(
                name, "FAIL", f"{path} is not writable by {who} (owner {owner}, mode {stat.filemode(info.st_mode)})"
            )
        else:
            yield CheckResult(name, "OK", f"{path} writable by {who}")


def _name_of_uid(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _name_of_gid(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def check_disk_space(config: Config) -> CheckResult:
    path = Path(config.recording.dir)
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        return CheckResult("disk space", "WARN", f"cannot measure {path}: {_reason(exc)}")
    percent = 100.0 * usage.used / usage.total if usage.total else 0.0
    detail = f"{path}: {percent:.0f}% used, {usage.free / 2**30:.1f} GiB free"
    if percent >= config.storage.block_percent:
        return CheckResult("disk space", "FAIL", f"{detail} (recordings refused at {config.storage.block_percent:g}%)")
    if percent >= config.storage.warn_percent:
        return CheckResult("disk space", "WARN", f"{detail} (warning at {config.storage.warn_percent:g}%)")
    return CheckResult("disk space", "OK", detail)


def check_ffmpeg(ffmpeg: str, timeout: float) -> CheckResult:
    path = shutil.which(ffmpeg)
    if path is None:
        return CheckResult("ffmpeg", "FAIL", f"{ffmpeg} not found on PATH: snapshots and local cameras need it (apt-get install ffmpeg)")
    try:
        result = subprocess.run([path, "-hide_banner", "-version"], capture_output=True, text=True, timeout=timeout * 3, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return CheckResult("ffmpeg", "FAIL", f"{path} does not run: {_reason(exc)}")
    if result.returncode != 0:
        return CheckResult("ffmpeg", "FAIL", f"{path} -version exited {result.returncode}: {result.stderr.strip()[:120]}")
    first = " ".join(result.stdout.split()[:3]) if result.stdout else "?"
    return CheckResult("ffmpeg", "OK", f"{path} ({first})")


def check_video_group(user: pwd.struct_passwd | None, user_name: str) -> CheckResult:
    try:
        video = grp.getgrnam(VIDEO_GROUP)
    except KeyError:
        return CheckResult("video group", "WARN", f"no '{VIDEO_GROUP}' group on this system: who owns /dev/video*?")
    if user is None:
        return CheckResult("video group", "WARN", f"user {user_name} does not exist")
    if user.pw_gid == video.gr_gid or user.pw_name in video.gr_mem:
        return CheckResult("video group", "OK", f"{user.pw_name} is in group {VIDEO_GROUP}")
    return CheckResult(
        "video group", "FAIL", f"{user.pw_name} is not in group {VIDEO_GROUP}: usermod -aG {VIDEO_GROUP} {user.pw_name}"
    )


# ---------------------------------------------------------------- systemd


def _systemctl(systemctl: str, args: list[str], timeout: float) -> tuple[int, str]:
    result = subprocess.run([systemctl, *args], capture_output=True, text=True, timeout=timeout * 3, check=False)
    return result.returncode, (result.stdout.strip() or result.stderr.strip())


def _no_systemd(systemctl: str | None) -> str | None:
    if systemctl is None:
        return "systemd is not running here: unit checks skipped"
    if shutil.which(systemctl) is None:
        return f"{systemctl} not found: not a systemd host"
    return None


def check_units(systemctl: str | None, timeout: float) -> Iterator[CheckResult]:
    skipped = _no_systemd(systemctl)
    if skipped is not None or systemctl is None:
        yield CheckResult("units", "WARN", skipped or "")
        return
    for unit, required in ((SERVICE_UNIT, True), (MEDIAMTX_UNIT, False)):
        try:
            code, state = _systemctl(systemctl, ["is-enabled", unit], timeout)
            _, active = _systemctl(systemctl, ["is-active", unit], timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            yield CheckResult(unit, "WARN", f"systemctl did not answer: {_reason(exc)}")
            continue
        if code == 0 and state == "enabled":
            status: Status = "OK" if active == "active" else "FAIL"
            yield CheckResult(unit, status, f"enabled, {active}")
        elif not required and (state in ("not-found", "") or "No such file" in state):
            yield CheckResult(unit, "WARN", "not installed: MediaMTX must run elsewhere or under camsvc (mediamtx.manage)")
        else:
            yield CheckResult(unit, "FAIL", f"not enabled ({state or 'unknown'}): systemctl enable --now {unit}")


def check_nofile(systemctl: str | None, max_connections: int, timeout: float) -> CheckResult:
    name = "open files limit"
    skipped = _no_systemd(systemctl)
    if skipped is not None or systemctl is None:
        return CheckResult(name, "WARN", skipped or "")
    try:
        _, pid_text = _systemctl(systemctl, ["show", "--property=MainPID", "--value", SERVICE_UNIT], timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return CheckResult(name, "WARN", f"systemctl did not answer: {_reason(exc)}")
    if not pid_text.isdigit() or pid_text == "0":
        return CheckResult(name, "WARN", f"{SERVICE_UNIT} is not running; limit not checked")
    try:
        limits = Path(f"/proc/{pid_text}/limits").read_text()
    except OSError as exc:
        return CheckResult(name, "WARN", f"cannot read limits of pid {pid_text}: {_reason(exc)}")
    for line in limits.splitlines():
        if line.startswith("Max open files"):
            soft = line.split()[3]
            needed = max_connections + NOFILE_HEADROOM
            if soft != "unlimited" and int(soft) < needed:
                return CheckResult(
                    name, "WARN", f"{soft} open files < {needed} for server.max_connections={max_connections} (LimitNOFILE)"
                )
            return CheckResult(name, "OK", f"{soft} open files (server.max_connections={max_connections})")
    return CheckResult(name, "WARN", f"no open-files line in /proc/{pid_text}/limits")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__
