"""The deployment story against a real systemd: a Debian bookworm container booted with systemd-nspawn.

Wheels of the project (one build as version A, restamped as B and as C; C proves that a failed upgrade
goes back) and of its dependencies are made on the host and bind-mounted read-only at /wheels; the
container has a private network, so every install is offline. The checkout is bind-mounted at /src and
its tools/install.sh is what runs. MediaMTX is the real binary (``CAMSVC_TEST_MEDIAMTX``, else ``mediamtx``
on PATH) installed with ``--mediamtx``, so it runs under the hardened mediamtx.service, publishes a
synthetic camera through ffmpeg, records into /var/recordings and gets its paths back after a restart;
the install is gated on ``/health/ready``. Without a binary a stdlib stand-in (fake_mediamtx.py), which
streams nothing, takes its place: the log says so and the media test skips.

The tests run in order and build on each other (install, upgrade, failures, rollback, uninstall), like an
operator's day. Figures (install/upgrade/rollback/uninstall times, the systemd-analyze exposure) are
printed at the end and written to /var/cache/camsvc-tests/deploy-figures.json.

Needs root, systemd-container and debootstrap (apt-get install systemd-container debootstrap), and the
Debian mirror and PyPI on first run (rootfs and dependency wheels are cached); skips otherwise.
Select or deselect with ``-m slow`` / ``-m "not slow"``. Set CAMSVC_DEPLOY_SRC to test another tree.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from tests.deploy.nspawn_container import (
    CACHE_ROOT,
    FIGURES,
    Bind,
    Container,
    ContainerUnavailable,
    cached_rootfs,
    missing_prerequisites,
)

# Building the rootfs on a cold machine (debootstrap) alone can take minutes.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

# The checkout whose tools/ and conf/ are tested; wheels come from CAMSVC_DEPLOY_SRC when set.
REPO = Path(__file__).resolve().parents[2]
WHEEL_SRC = Path(os.environ.get("CAMSVC_DEPLOY_SRC") or REPO)
HERE = Path(__file__).resolve().parent
log = logging.getLogger("tests.deploy")
FIGURES_FILE = CACHE_ROOT / "deploy-figures.json"
PREFIX = "/opt/camera-service"
READY_URL = "http://127.0.0.1:8003/health/ready"
SYNTHETIC = "{id: camera0, width: 320, height: 240, fps: 10}"
API = "http://127.0.0.1:9997"
INSTALL = "/src/tools/install.sh"
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "venv", "__pycache__", "*.egg-info", "build", "dist", "var", ".mypy_cache", ".ruff_cache",
    ".pytest_cache", ".hypothesis",
)


@attrs.frozen
class Versions:
    a: str
    b: str
    c: str


@attrs.define
class Deployment:
    container: Container
    versions: Versions
    #: the MediaMTX given to install.sh --mediamtx (a path inside the container)
    mediamtx: str
    #: it is the real binary (else the stdlib stand-in)
    real_mediamtx: bool
    figures: dict[str, float | str] = attrs.Factory(dict)

    def sh(self, *command: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return self.container.run(list(command), check=check, timeout=timeout)

    def timed(self, key: str, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        start = time.monotonic()
        result = self.sh(*command, check=check)
        self.figures[key] = round(time.monotonic() - start, 1)
        return result

    def http_status(self, url: str = READY_URL) -> int:
        result = self.sh("curl", "-s", "-o", "/dev/null", "-m", "3", "-w", "%{http_code}", url, check=False)
        return int(result.stdout.strip() or 0)

    def current(self) -> str:
        return self.sh("readlink", f"{PREFIX}/current").stdout.strip()

    def previous(self) -> str:
        return self.sh("readlink", f"{PREFIX}/previous", check=False).stdout.strip()

    def main_pid(self) -> int:
        return int(self.sh("systemctl", "show", "-p", "MainPID", "--value", "camera-service").stdout.strip())

    def write(self, path: str, text: str) -> None:
        target = self.container.host_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def read(self, path: str) -> str:
        return self.container.host_path(path).read_text()

    def wait_for(self, what: str, predicate: object, timeout: float = 30) -> None:
        assert callable(predicate)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.2)  # polling interval of a deadline loop
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


# ---------------------------------------------------------------- wheels


def container_python(rootfs: Path) -> str:
    """'3.11' from the rootfs's python3 symlink (python3 -> python3.11)."""
    match = re.fullmatch(r"python(\d+\.\d+)", os.readlink(rootfs / "usr" / "bin" / "python3"))
    if match is None:
        raise ContainerUnavailable("cannot tell the container's Python version")
    return match.group(1)


def dependency_wheels(python_version: str) -> Path:
    """Binary wheels of the project's dependencies for the container's Python, cached by their list."""
    project = tomllib.loads((WHEEL_SRC / "pyproject.toml").read_text())["project"]
    deps: list[str] = project["dependencies"]
    machine = platform.machine()
    key = hashlib.sha256("\n".join([python_version, machine, *sorted(deps)]).encode()).hexdigest()[:16]
    target = CACHE_ROOT / f"wheels-{key}"
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    abi = "cp" + python_version.replace(".", "")
    platforms = [f"manylinux_2_{n}_{machine}" for n in (36, 34, 31, 28, 17, 12)] + [
        f"manylinux2014_{machine}", f"manylinux2010_{machine}", f"linux_{machine}",
    ]
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
        "--python-version", python_version, "--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none",
        *(arg for plat in platforms for arg in ("--platform", plat)), "-d", str(target), *deps,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        raise ContainerUnavailable(f"cannot download dependency wheels (PyPI unreachable?): {result.stderr.strip()[-300:]}")
    (target / ".complete").write_text("\n".join(deps) + "\n")
    return target


def build_camsvc_wheel(version: str, out: Path, scratch: Path) -> Path:
    """A wheel of the tree under test, stamped with ``version`` (pyproject and __version__)."""
    tree = scratch / f"src-{version}"
    shutil.copytree(WHEEL_SRC, tree, ignore=COPY_IGNORE)
    pyproject = tree / "pyproject.toml"
    pyproject.write_text(re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', pyproject.read_text(), count=1))
    init = tree / "camsvc" / "__init__.py"
    if init.exists():
        init.write_text(re.sub(r'(?m)^__version__ = ".*"$', f'__version__ = "{version}"', init.read_text()))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps", "-w", str(out), str(tree)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    shutil.rmtree(tree, ignore_errors=True)
    if result.returncode != 0:
        raise ContainerUnavailable(f"cannot build the camsvc wheel: {result.stderr.strip()[-300:]}")
    return next(out.glob(f"camsvc-{version}-*.whl"))


def restamp_wheel(wheel: Path, old: str, new: str) -> Path:
    """The same build under another version: renamed dist-info, METADATA and __version__, RECORD rehashed.

    Saves a second and third pip build; the code is byte-for-byte that of the first wheel otherwise.
    """
    target = wheel.with_name(wheel.name.replace(f"camsvc-{old}-", f"camsvc-{new}-", 1))
    old_info, new_info = f"camsvc-{old}.dist-info/", f"camsvc-{new}.dist-info/"
    records: list[str] = []
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dest:
        for item in source.infolist():
            name = item.filename.replace(old_info, new_info, 1)
            if name == new_info + "RECORD":
                continue
            data = source.read(item)
            if name == new_info + "METADATA":
                data = re.sub(rb"(?m)^Version: .*$", f"Version: {new}".encode(), data, count=1)
            elif name == "camsvc/__init__.py":
                data = re.sub(rb'(?m)^__version__ = ".*"$', f'__version__ = "{new}"'.encode(), data)
            dest.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append(f"{name},sha256={digest},{len(data)}")
        records.append(f"{new_info}RECORD,,")
        dest.writestr(new_info + "RECORD", "\n".join(records) + "\n")
    return target


# ---------------------------------------------------------------- the container


def real_mediamtx() -> Path | None:
    """The real MediaMTX binary to deploy (never copied into the repository), or None."""
    given = os.environ.get("CAMSVC_TEST_MEDIAMTX") or shutil.which("mediamtx")
    return Path(given) if given and Path(given).is_file() else None


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    reason = missing_prerequisites()
    if reason:
        pytest.skip(reason)
    workdir = Path(tempfile.mkdtemp(prefix="camsvc-deploy-", dir="/var/tmp"))
    figures: dict[str, float | str] = {}
    container = None
    try:
        start = time.monotonic()
        rootfs = cached_rootfs()
        figures["rootfs_s"] = round(time.monotonic() - start, 1)
        wheels = workdir / "wheels"
        wheels.mkdir()
        for wheel in dependency_wheels(container_python(rootfs)).glob("*.whl"):
            shutil.copy2(wheel, wheels)
        base = tomllib.loads((WHEEL_SRC / "pyproject.toml").read_text())["project"]["version"]
        versions = Versions(a=base, b=f"{base}.post1", c=f"{base}.post2")
        start = time.monotonic()
        wheel_a = build_camsvc_wheel(versions.a, wheels, workdir)
        restamp_wheel(wheel_a, versions.a, versions.b)
        restamp_wheel(wheel_a, versions.a, versions.c)
        figures["wheel_build_s"] = round(time.monotonic() - start, 1)
        shutil.copy2(HERE / "record_via_rpc.py", wheels / "record_via_rpc.py")
        binary = real_mediamtx()
        if binary is not None:
            shutil.copy2(binary, wheels / "mediamtx")
            mediamtx, figures["mediamtx"] = "/wheels/mediamtx", f"real ({binary})"
        else:
            shutil.copy2(HERE / "fake_mediamtx.py", wheels / "fake_mediamtx.py")
            mediamtx, figures["mediamtx"] = "/wheels/fake_mediamtx.py", "stdlib stand-in (no real binary)"
            log.warning(
                "no real MediaMTX (CAMSVC_TEST_MEDIAMTX unset and none on PATH): the deployment runs the stdlib"
                " stand-in tests/deploy/fake_mediamtx.py, which streams and records nothing"
            )
        start = time.monotonic()
        container = Container.boot(rootfs, workdir, [Bind(REPO, "/src"), Bind(wheels, "/wheels")])
        figures["boot_s"] = round(time.monotonic() - start, 1)
    except ContainerUnavailable as exc:
        if container is not None:
            container.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.skip(str(exc))
    assert container is not None
    dep = Deployment(
        container=container, versions=versions, mediamtx=mediamtx, real_mediamtx=binary is not None, figures=figures
    )
    try:
        yield dep
    finally:
        container.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)
        _report(dep.figures)


def _report(figures: dict[str, float | str]) -> None:
    """Keep the figures for the terminal summary (conftest.py) and in a file for docs and trends."""
    FIGURES.update(figures)
    try:
        FIGURES_FILE.write_text(json.dumps(figures, indent=2) + "\n")
    except OSError:
        pass


# ---------------------------------------------------------------- the operator's day, in order


def test_fresh_install(deployment: Deployment) -> None:
    dep, a = deployment, deployment.versions.a
    # the shipped config plus one synthetic camera, so that MediaMTX has a path to serve and record
    config = (REPO / "conf" / "camsvc.yaml").read_text()
    dep.write("/root/a.yaml", config.replace("  synthetic: []\n", f"  synthetic: [{SYNTHETIC}]\n", 1))
    assert SYNTHETIC in dep.read("/root/a.yaml")
    result = dep.timed(
        "install_s", INSTALL, "--wheels", "/wheels", "--version", a, "--config", "/root/a.yaml", "--mediamtx", dep.mediamtx
    )
    assert f"camsvc {a} is running and healthy" in result.stdout
    assert dep.current() == f"releases/{a}"
    assert dep.http_status() == 200
    assert dep.sh("systemctl", "is-enabled", "camera-service", "mediamtx").stdout.split() == ["enabled", "enabled"]
    for user in ("camera-service", "mediamtx"):
        assert "video" in dep.sh("id", "-nG", user).stdout.split()
    assert "camera-service" in dep.sh("id", "-nG", "mediamtx").stdout.split()
    for path in ("/var/recordings", "/var/snapshots", "/var/lib/camera-service", "/var/log/camera-service"):
        owner = dep.sh("stat", "-c", "%U:%G %a", path).stdout.split()
        assert owner == ["camera-service:camera-service", "2770"], path
    # The service runs as its user, with its supplementary video group and the raised descriptor limit.
    pid = dep.main_pid()
    status = dep.sh("cat", f"/proc/{pid}/status").stdout
    uid = dep.sh("id", "-u", "camera-service").stdout.strip()
    video = dep.sh("getent", "group", "video").stdout.split(":")[2]
    assert re.search(rf"(?m)^Uid:\s+{uid}\s", status)
    assert video in re.search(r"(?m)^Groups:(.*)$", status).group(1).split()  # type: ignore[union-attr]
    limits = dep.sh("cat", f"/proc/{pid}/limits").stdout
    soft_nofile = int(re.search(r"Max open files\s+(\d+)", limits).group(1))  # type: ignore[union-attr]
    # LimitNOFILE=65536; a container gets at most its host's hard limit, which must still fit 10,000 clients.
    assert soft_nofile >= 10_240, f"open files limit {soft_nofile} is too low for 10,000 WebSocket clients"
    dep.figures["nofile_in_container"] = soft_nofile


def test_reinstall_same_version_is_a_noop(deployment: Deployment) -> None:
    dep, a = deployment, deployment.versions.a
    pid = dep.main_pid()
    result = dep.sh(INSTALL, "--wheels", "/wheels", "--version", a)
    assert "already built, reusing it" in result.stdout
    assert dep.main_pid() == pid, "an unchanged install must not restart the service"
    assert dep.http_status() == 200


def test_units_verify_and_security(deployment: Deployment) -> None:
    dep = deployment
    verify = dep.sh(
        "systemd-analyze", "verify", "/etc/systemd/system/camera-service.service", "/etc/systemd/system/mediamtx.service",
        check=False,
    )
    assert verify.returncode == 0, _output(verify)
    for unit in ("camera-service.service", "mediamtx.service"):
        assert unit not in _output(verify), _output(verify)  # no warnings about our units either
    for unit in ("camera-service.service", "mediamtx.service"):
        security = dep.sh("systemd-analyze", "security", "--no-pager", unit, check=False)
        match = re.search(rf"Overall exposure level for {re.escape(unit)}: ([\d.]+) (\w+)", security.stdout)
        assert match, _output(security)
        dep.figures[f"exposure_{unit.split('.')[0]}"] = f"{match.group(1)} {match.group(2)}"
        assert match.group(2) in ("OK", "SAFE", "PERFECT"), security.stdout


def test_doctor_in_the_box(deployment: Deployment) -> None:
    dep = deployment
    camsvc = f"{PREFIX}/current/venv/bin/camsvc"
    # A build without doctor is a regression, not a reason to skip.
    assert "doctor" in dep.sh(camsvc, "--help", check=False).stdout
    result = dep.sh(camsvc, "doctor", "--config", "/etc/camera-service/camsvc.yaml", check=False)
    lines = {}
    for line in result.stdout.splitlines()[:-1]:
        status, rest = line.split(None, 1)
        lines[rest.split("  ")[0].strip()] = status
    for name in ("websocket port", "http port", "mediamtx api", "health live", "health ready", "recordings dir",
                 "snapshots dir", "state dir", "video group", "camera-service.service", "mediamtx.service"):
        assert lines.get(name) == "OK", result.stdout
    assert lines["ffmpeg"] == "OK" and result.returncode == 0, result.stdout


def _path_names(dep: Deployment) -> set[str]:
    result = dep.sh("curl", "-s", "-m", "3", f"{API}/v3/config/paths/list", check=False)
    try:
        return {item["name"] for item in json.loads(result.stdout)["items"]}
    except (ValueError, KeyError, TypeError):
        return set()  # not answering (yet)


def test_real_mediamtx_serves_and_records_under_its_unit(deployment: Deployment) -> None:
    dep = deployment
    if not dep.real_mediamtx:
        pytest.skip("no real MediaMTX binary (set CAMSVC_TEST_MEDIAMTX or put mediamtx on PATH)")
    journal = dep.sh("journalctl", "--namespace=camera-service", "-u", "mediamtx", "--no-pager", "-o", "cat").stdout
    serving = [line for line in journal.splitlines() if " INF MediaMTX v" in line or " INF [API] started" in line]
    log.info("MediaMTX under mediamtx.service:\n%s", "\n".join(serving))
    assert any("[API] started with listener on 127.0.0.1:9997" in line for line in serving), journal
    dep.figures["mediamtx_under_unit"] = " | ".join(line.split(" ", 3)[-1] for line in serving)
    user = dep.sh("systemctl", "show", "-p", "User", "--value", "mediamtx").stdout.strip()
    assert user == "mediamtx"
    # A reader makes MediaMTX run the camera's ffmpeg publisher (runOnDemand), under the unit's hardening.
    probe = dep.sh(
        "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name,width,height",
        "-of", "csv=p=0", "rtsp://127.0.0.1:8554/camera0", check=False, timeout=60,
    )  # fmt: skip
    assert probe.stdout.strip() == "h264,320,240", _output(probe)
    # A recording started through camsvc's API lands in the data directory, group camera-service.
    token = dep.sh(f"{PREFIX}/current/venv/bin/camsvc", "token", "create", "--role", "operator").stdout.strip()
    record = dep.sh(f"{PREFIX}/current/venv/bin/python", "/wheels/record_via_rpc.py", token, "camera0", "4", check=False)
    assert record.returncode == 0, _output(record)
    files = dep.sh("find", "/var/recordings", "-maxdepth", "1", "-name", "camera0_*", "-size", "+0", "-printf", "%g %f\n")
    found = files.stdout.split("\n")[0].split()
    assert found and found[0] == "camera-service", _output(record) + files.stdout
    dep.figures["recording"] = found[1]


def test_a_restart_of_the_mediamtx_unit_restores_the_paths(deployment: Deployment) -> None:
    dep = deployment
    dep.wait_for("camera0's path in MediaMTX", lambda: "camera0" in _path_names(dep))
    dep.sh("systemctl", "restart", "mediamtx")
    start = time.monotonic()
    # MediaMTX forgets API-made paths when it restarts; camsvc notices on its next probe and adds them again
    dep.wait_for("camera0's path restored", lambda: "camera0" in _path_names(dep))
    dep.figures["paths_restored_after_unit_restart_s"] = round(time.monotonic() - start, 2)
    assert dep.http_status() == 200


def test_upgrade_with_config_change_keeps_data(deployment: Deployment) -> None:
    dep, a, b = deployment, deployment.versions.a, deployment.versions.b
    dep.sh("install", "-o", "camera-service", "-g", "camera-service", "/dev/null", "/var/recordings/marker.mp4")
    dep.sh("install", "-o", "camera-service", "-g", "camera-service", "/dev/null", "/var/snapshots/marker.jpg")
    old_config = dep.read("/etc/camera-service/camsvc.yaml")
    new_config = re.sub(r"(?m)^  level: INFO$", "  level: DEBUG", old_config)
    assert new_config != old_config
    dep.write("/root/b.yaml", new_config)
    result = dep.timed("upgrade_s", INSTALL, "--wheels", "/wheels", "--version", b, "--config", "/root/b.yaml")
    assert f"camsvc {b} is running and healthy" in result.stdout
    assert (dep.current(), dep.previous()) == (f"releases/{b}", f"releases/{a}")
    assert dep.read("/etc/camera-service/camsvc.yaml") == new_config
    backups = dep.sh("sh", "-c", "ls /etc/camera-service/camsvc.yaml.bak-*").stdout.split()
    assert len(backups) == 1 and re.search(r"\.bak-\d{8}T\d{6}$", backups[0])
    assert dep.read(backups[0]) == old_config
    assert dep.sh("ls", "/var/recordings/marker.mp4", "/var/snapshots/marker.jpg").returncode == 0
    version = dep.sh(f"{PREFIX}/current/venv/bin/python", "-c", "import importlib.metadata as m; print(m.version('camsvc'))")
    assert version.stdout.strip() == b
    assert dep.http_status() == 200


def test_missing_wheel_directory(deployment: Deployment) -> None:
    dep = deployment
    result = dep.sh(INSTALL, "--wheels", "/no/such/wheels", "--version", dep.versions.c, check=False)
    assert result.returncode == 1
    assert "wheel directory '/no/such/wheels' does not exist" in result.stderr
    assert dep.current() == f"releases/{dep.versions.b}" and dep.http_status() == 200


def test_invalid_config_switches_nothing(deployment: Deployment) -> None:
    dep = deployment
    dep.write("/root/bad.yaml", "server:\n  port: 99999\nno_such_section: {}\n")
    before = dep.read("/etc/camera-service/camsvc.yaml")
    pid = dep.main_pid()
    result = dep.sh(INSTALL, "--wheels", "/wheels", "--version", dep.versions.c, "--config", "/root/bad.yaml", check=False)
    assert result.returncode == 2, _output(result)
    assert "server.port" in result.stderr
    assert f"is invalid for camsvc {dep.versions.c}" in result.stderr
    assert f"nothing was switched, {dep.versions.b} keeps running" in result.stderr
    assert dep.current() == f"releases/{dep.versions.b}"
    assert dep.read("/etc/camera-service/camsvc.yaml") == before
    assert dep.main_pid() == pid and dep.http_status() == 200


def test_port_in_use_switches_nothing(deployment: Deployment) -> None:
    dep = deployment
    config = re.sub(r"(?m)^(http:\n(?:  .*\n)*?  port: )8003$", r"\g<1>9300", dep.read("/etc/camera-service/camsvc.yaml"))
    assert "port: 9300" in config
    dep.write("/root/port.yaml", config)
    dep.sh("systemd-run", "--unit=port-squatter", "python3", "-m", "http.server", "9300", "--bind", "127.0.0.1")
    try:
        dep.wait_for("the squatter to listen", lambda: dep.http_status("http://127.0.0.1:9300/") == 200)
        result = dep.sh(
            INSTALL, "--wheels", "/wheels", "--version", dep.versions.c, "--config", "/root/port.yaml", check=False
        )
    finally:
        dep.sh("systemctl", "stop", "port-squatter")
    assert result.returncode == 3, _output(result)
    assert "port 9300 is in use by pid" in result.stderr and "port-squatter.service" in result.stderr
    assert f"{dep.versions.b} keeps running" in result.stderr
    assert dep.current() == f"releases/{dep.versions.b}" and dep.http_status() == 200


def test_unhealthy_upgrade_goes_back(deployment: Deployment) -> None:
    dep, a, b, c = deployment, deployment.versions.a, deployment.versions.b, deployment.versions.c
    good_config = dep.read("/etc/camera-service/camsvc.yaml")
    # Valid, but MediaMTX is not there: /health/ready stays 503, so release C must not stay.
    dep.write("/root/c.yaml", good_config.replace("http://127.0.0.1:9997", "http://127.0.0.1:9"))
    result = dep.sh(
        INSTALL, "--wheels", "/wheels", "--version", c, "--config", "/root/c.yaml", "--health-timeout", "6", check=False
    )
    assert result.returncode == 4, _output(result)
    assert f"camsvc {c} was not healthy within 6s; {b} with the previous config is running again" in result.stderr
    assert (dep.current(), dep.previous()) == (f"releases/{b}", f"releases/{a}")
    assert dep.read("/etc/camera-service/camsvc.yaml") == good_config
    assert dep.http_status() == 200


def test_killed_service_is_restarted(deployment: Deployment) -> None:
    dep = deployment
    pid = dep.main_pid()
    dep.sh("sh", "-c", f"kill -9 {pid}")  # the shell's builtin: minbase has no procps
    start = time.monotonic()
    dep.wait_for("a new main process", lambda: dep.main_pid() not in (0, pid))
    dep.wait_for("/health/ready after the restart", lambda: dep.http_status() == 200)
    dep.figures["restart_after_kill9_s"] = round(time.monotonic() - start, 1)
    restarts = dep.sh("systemctl", "show", "-p", "NRestarts", "--value", "camera-service").stdout.strip()
    assert int(restarts) >= 1


def test_rollback(deployment: Deployment) -> None:
    dep, a, b = deployment, deployment.versions.a, deployment.versions.b
    result = dep.timed("rollback_s", f"{PREFIX}/bin/rollback.sh")
    match = re.search(rf"rolled back to camsvc {re.escape(a)} in ([\d.]+) s", result.stdout)
    assert match, _output(result)
    dep.figures["rollback_reported_s"] = float(match.group(1))
    assert (dep.current(), dep.previous()) == (f"releases/{a}", f"releases/{b}")
    version = dep.sh(f"{PREFIX}/current/venv/bin/python", "-c", "import importlib.metadata as m; print(m.version('camsvc'))")
    assert version.stdout.strip() == a
    assert dep.http_status() == 200


def test_transient_unit(deployment: Deployment) -> None:
    dep = deployment
    config = dep.read("/etc/camera-service/camsvc.yaml")
    config = re.sub(r"(?m)^(server:\n(?:  .*\n)*?  port: )8002$", r"\g<1>18002", config)
    config = re.sub(r"(?m)^(http:\n(?:  .*\n)*?  port: )8003$", r"\g<1>18003", config)
    for key, path in (("dir", "/var/recordings/tryout"), ("dir", "/var/snapshots/tryout"), ("state_dir", "/var/lib/camera-service/tryout")):
        section = {"/var/recordings/tryout": "recording", "/var/snapshots/tryout": "snapshots"}.get(path, "storage")
        config = re.sub(rf"(?m)^({section}:\n(?:  .*\n)*?  {key}: ).*$", rf"\g<1>{path}", config)
        dep.sh("install", "-d", "-o", "camera-service", "-g", "camera-service", path)
    assert "18002" in config and "18003" in config and "/var/lib/camera-service/tryout" in config
    dep.write("/root/tryout.yaml", config)
    result = dep.sh(
        f"{PREFIX}/bin/deploy-transient", "--venv", f"{PREFIX}/current/venv", "--config", "/root/tryout.yaml",
        "--unit", "camsvc-tryout", "--wait-ready", "30", check=False,
    )
    assert result.returncode == 0, _output(result)
    assert "systemctl stop camsvc-tryout.service" in result.stdout
    try:
        assert dep.sh("systemctl", "is-active", "camsvc-tryout").stdout.strip() == "active"
        shown = dep.sh(
            "systemctl", "show", "camsvc-tryout", "-p", "User", "-p", "ProtectSystem", "-p", "MemoryDenyWriteExecute",
            "-p", "NoNewPrivileges", "-p", "Type",
        ).stdout.split()
        assert sorted(shown) == sorted(
            ["User=camera-service", "ProtectSystem=strict", "MemoryDenyWriteExecute=yes", "NoNewPrivileges=yes", "Type=notify"]
        )
        assert dep.http_status("http://127.0.0.1:18003/health/live") == 200
        assert dep.http_status() == 200, "the installed service keeps running beside the try-out"
    finally:
        dep.sh("systemctl", "stop", "camsvc-tryout")
    assert dep.sh("systemctl", "is-active", "camsvc-tryout", check=False).stdout.strip() in ("inactive", "unknown")
    assert dep.http_status("http://127.0.0.1:18003/health/live") == 0
    # From a checkout (the bind-mounted tree) with the release's interpreter for the dependencies.
    result = dep.sh(
        "/src/tools/deploy-transient", "--checkout", "/src", "--python", f"{PREFIX}/current/venv/bin/python",
        "--config", "/root/tryout.yaml", "--unit", "camsvc-checkout", "--wait-ready", "30", check=False,
    )
    try:
        assert result.returncode == 0, _output(result)
        assert dep.http_status("http://127.0.0.1:18003/health/live") == 200
    finally:
        dep.sh("systemctl", "stop", "camsvc-checkout")
    # An invalid config is refused before anything starts.
    dep.write("/root/broken.yaml", "server:\n  port: -1\n")
    result = dep.sh(
        f"{PREFIX}/bin/deploy-transient", "--venv", f"{PREFIX}/current/venv", "--config", "/root/broken.yaml",
        "--unit", "camsvc-broken", check=False,
    )
    assert result.returncode == 2 and "server.port" in result.stderr and "nothing started" in result.stderr, _output(result)
    # A try-out that cannot start (the installed service holds its ports) is shown with its log and stopped,
    # not left restarting.
    result = dep.sh(
        f"{PREFIX}/bin/deploy-transient", "--venv", f"{PREFIX}/current/venv", "--config", "/etc/camera-service/camsvc.yaml",
        "--unit", "camsvc-clash", check=False,
    )
    assert result.returncode == 1 and "did not start" in result.stderr, _output(result)
    assert "800" in result.stderr, "the service's own complaint about its port is shown"
    assert dep.sh("systemctl", "is-active", "camsvc-clash", check=False).stdout.strip() in ("inactive", "unknown", "failed")
    assert dep.http_status() == 200


def test_uninstall_keeps_data_and_config(deployment: Deployment) -> None:
    dep = deployment
    result = dep.timed("uninstall_s", f"{PREFIX}/bin/uninstall.sh")
    assert "uninstalled in" in result.stdout
    assert dep.sh("test", "-e", PREFIX, check=False).returncode == 1
    assert dep.sh("test", "-e", "/etc/systemd/system/camera-service.service", check=False).returncode == 1
    assert dep.sh("systemctl", "is-active", "camera-service", check=False).stdout.strip() in ("inactive", "unknown")
    assert dep.http_status() == 0
    assert dep.sh("ls", "/var/recordings/marker.mp4", "/var/snapshots/marker.jpg").returncode == 0
    listing = dep.sh("ls", "/etc/camera-service").stdout.split()
    assert "camsvc.yaml" in listing and any(name.startswith("camsvc.yaml.bak-") for name in listing)
    assert dep.sh("id", "camera-service").returncode == 0


def test_purge_removes_data_config_and_users(deployment: Deployment) -> None:
    dep = deployment
    result = dep.sh("/src/tools/uninstall.sh", "--purge")
    assert "purged data, config, logs and users" in result.stdout
    for path in ("/var/recordings", "/var/snapshots", "/var/lib/camera-service", "/etc/camera-service"):
        assert dep.sh("test", "-e", path, check=False).returncode == 1, path
    for user in ("camera-service", "mediamtx"):
        assert dep.sh("id", user, check=False).returncode == 1, user
