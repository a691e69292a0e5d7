"""camsvc doctor against real sockets, a real HTTP server, real directories and a stand-in systemctl."""

from __future__ import annotations

import grp
import io
import json
import os
import pwd
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from camsvc import doctor
from camsvc.config import Config, parse


class FakeService(BaseHTTPRequestHandler):
    """Answers as camsvc's HTTP side and as the MediaMTX API would."""

    ready = True

    def do_GET(self) -> None:  # noqa: N802
        routes: dict[str, tuple[int, Any]] = {
            "/health/live": (200, {"status": "alive"}),
            "/health/ready": (200, {"status": "ready"})
            if self.ready
            else (503, {"status": "not_ready", "details": "mediamtx unreachable"}),
            "/v3/info": (200, {"version": "v1.20.1", "started": "2026-01-01T00:00:00Z"}),
        }
        code, body = routes.get(self.path, (404, {}))
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def http_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def ws_listener() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fake_systemctl(tmp_path: Path, *, enabled: str = "enabled", mediamtx: str = "not-found") -> str:
    """An executable answering is-enabled / is-active / show like systemctl for our two units."""
    script = tmp_path / "systemctl"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1 $2" in\n'
        f'  "is-enabled camera-service.service") echo {enabled}; [ {enabled} = enabled ] ;;\n'
        '  "is-active camera-service.service") echo active ;;\n'
        f'  "is-enabled mediamtx.service") echo {mediamtx}; [ {mediamtx} = enabled ] ;;\n'
        '  "is-active mediamtx.service") echo inactive; exit 3 ;;\n'
        f'  "show --property=MainPID") echo {os.getpid()} ;;\n'
        "  *) echo unexpected; exit 9 ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    return str(script)


def make_config(tmp_path: Path, http_port: int, ws_port: int, mediamtx_port: int, **storage: float) -> Config:
    for name in ("recordings", "snapshots", "state"):
        (tmp_path / name).mkdir(exist_ok=True)
    return parse(
        {
            "server": {"host": "0.0.0.0", "port": ws_port},
            "http": {"host": "127.0.0.1", "port": http_port},
            "mediamtx": {"api_url": f"http://127.0.0.1:{mediamtx_port}"},
            "recording": {"dir": str(tmp_path / "recordings")},
            "snapshots": {"dir": str(tmp_path / "snapshots")},
            "storage": {"state_dir": str(tmp_path / "state"), **storage},
        },
        environ={},
    )


def run(config: Config, options: doctor.DoctorOptions) -> tuple[int, dict[str, tuple[str, str]], str]:
    out = io.StringIO()
    code = doctor.run_doctor(config, out=out, options=options)
    lines: dict[str, tuple[str, str]] = {}
    for line in out.getvalue().splitlines()[:-1]:
        status, rest = line.split(None, 1)
        name, _, detail = rest.partition("  ")
        lines[name.strip()] = (status, detail.strip())
    return code, lines, out.getvalue()


def current_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


@needs_ffmpeg
def test_healthy_deployment(tmp_path: Path, http_server: ThreadingHTTPServer, ws_listener: int) -> None:
    port = http_server.server_address[1]
    config = make_config(tmp_path, port, ws_listener, port)
    options = doctor.DoctorOptions(service_user=current_user(), systemctl=fake_systemctl(tmp_path), systemd_running=True)
    code, lines, text = run(config, options)
    for name in ("websocket port", "http port", "mediamtx api", "health live", "health ready", "recordings dir",
                 "snapshots dir", "state dir", "ffmpeg", "camera-service.service", "open files limit"):
        assert lines[name][0] == "OK", text
    assert lines["mediamtx.service"][0] == "WARN"
    assert "enabled, active" in lines["camera-service.service"][1]
    assert text.rstrip().splitlines()[-1].startswith("doctor: ")
    # Only the video group may fail here: the test runs as whoever runs pytest.
    failing = {name for name, (status, _) in lines.items() if status == "FAIL"}
    assert failing <= {"video group"}
    assert code == (1 if failing else 0)


def test_nothing_running(tmp_path: Path) -> None:
    http_port, ws_port = closed_port(), closed_port()
    config = make_config(tmp_path, http_port, ws_port, closed_port())
    code, lines, text = run(config, doctor.DoctorOptions(service_user=current_user(), systemd_running=False, timeout=1))
    assert code == 1
    assert lines["websocket port"][0] == "FAIL" and f"127.0.0.1:{ws_port}" in lines["websocket port"][1]
    assert lines["http port"][0] == "FAIL"
    assert lines["mediamtx api"][0] == "FAIL" and "mediamtx.service" in lines["mediamtx api"][1]
    assert lines["health ready"][0] == "FAIL" and "no answer" in lines["health ready"][1]
    assert lines["units"] == ("WARN", "systemd is not running here: unit checks skipped")


def test_not_ready_shows_reason(tmp_path: Path, http_server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FakeService, "ready", False)
    url = f"http://127.0.0.1:{http_server.server_address[1]}/health/ready"
    result = doctor.check_health("health ready", url, 2)
    assert result.status == "FAIL"
    assert "503" in result.detail and "mediamtx unreachable" in result.detail


def test_directories_as_another_user(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    (tmp_path / "f").write_text("x")
    results = list(
        doctor.check_directories(
            [("private", private), ("shared", shared), ("missing", tmp_path / "absent"), ("file", tmp_path / "f")],
            nobody,
        )
    )
    by_name = {r.name: r for r in results}
    if os.geteuid() == private.stat().st_uid and nobody.pw_uid != private.stat().st_uid:
        assert by_name["private"].status == "FAIL"
        assert "not writable by nobody" in by_name["private"].detail and "drwx------" in by_name["private"].detail
    assert by_name["shared"].status == "OK"
    assert by_name["missing"].status == "FAIL" and "does not exist" in by_name["missing"].detail
    assert by_name["file"].status == "FAIL" and "not a directory" in by_name["file"].detail


def test_group_write_counts_only_for_members(tmp_path: Path) -> None:
    directory = tmp_path / "group"
    directory.mkdir()
    directory.chmod(0o770)
    info = directory.stat()
    outsider = pwd.struct_passwd(("outsider", "x", 65000, 65000, "", "/", "/bin/false"))
    member = pwd.struct_passwd(("member", "x", 65001, info.st_gid, "", "/", "/bin/false"))
    assert doctor.writable_by(directory, member) is True
    assert doctor.writable_by(directory, outsider) is False


def test_video_group_membership() -> None:
    try:
        video = grp.getgrnam("video")
    except KeyError:
        pytest.skip("no video group on this system")
    inside = pwd.struct_passwd(("cam", "x", 65002, video.gr_gid, "", "/", "/bin/false"))
    outside = pwd.struct_passwd(("stranger-user", "x", 65003, 65003, "", "/", "/bin/false"))
    assert doctor.check_video_group(inside, "cam").status == "OK"
    result = doctor.check_video_group(outside, "stranger-user")
    assert result.status == "FAIL" and "usermod -aG video stranger-user" in result.detail
    assert doctor.check_video_group(None, "ghost").status == "WARN"


def test_missing_ffmpeg(tmp_path: Path) -> None:
    result = doctor.check_ffmpeg(str(tmp_path / "no-ffmpeg"), 1)
    assert result.status == "FAIL" and "apt-get install ffmpeg" in result.detail


def test_disabled_unit_fails(tmp_path: Path) -> None:
    results = {r.name: r for r in doctor.check_units(fake_systemctl(tmp_path, enabled="disabled"), 2)}
    assert results["camera-service.service"].status == "FAIL"
    assert "systemctl enable --now camera-service.service" in results["camera-service.service"].detail


def test_missing_systemctl_warns(tmp_path: Path) -> None:
    results = list(doctor.check_units(str(tmp_path / "nope"), 1))
    assert [r.status for r in results] == ["WARN"] and "not a systemd host" in results[0].detail


def test_disk_thresholds(tmp_path: Path) -> None:
    config = make_config(tmp_path, 1, 1, 1, warn_percent=0.0, block_percent=100.0)
    assert doctor.check_disk_space(config).status == "WARN"
    config = make_config(tmp_path, 1, 1, 1, warn_percent=0.0, block_percent=0.0)
    assert doctor.check_disk_space(config).status == "FAIL"


def test_low_open_files_limit_warns(tmp_path: Path) -> None:
    soft = int(Path("/proc/self/limits").read_text().split("Max open files")[1].split()[0])
    result = doctor.check_nofile(fake_systemctl(tmp_path), soft, 2)
    assert result.status == "WARN" and "LimitNOFILE" in result.detail
    assert doctor.check_nofile(fake_systemctl(tmp_path), 1, 2).status == "OK"
