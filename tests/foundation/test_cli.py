"""The camsvc command as an operator meets it: exit codes and messages, no tracebacks."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers import REPO, camsvc_process, free_port, poll, port_is_free


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "camsvc", *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_check_config_names_all_three_mistakes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  port: -1\nhttp:\n  prot: 1\nrecording:\n  format: avi\n")
    result = run_cli("check-config", str(bad))
    assert result.returncode == 2
    for key in ("server.port", "http.prot", "recording.format"):
        assert key in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_accepts_the_shipped_files() -> None:
    for name in ("camsvc.yaml", "demo.yaml"):
        result = run_cli("check-config", str(REPO / "conf" / name))
        assert result.returncode == 0, result.stderr


def test_run_with_bad_config_inputs_gives_one_clear_message(tmp_path: Path) -> None:
    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("server:\n  port: [\n")
    cases = {
        str(syntax): "YAML syntax error",
        str(tmp_path / "missing.yaml"): "file not found",
        str(tmp_path): "is a directory",
    }
    for path, expected in cases.items():
        result = run_cli("run", "--config", path)
        assert result.returncode == 2
        assert expected in result.stderr
        assert "Traceback" not in result.stderr + result.stdout


def test_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        proc = camsvc_process(
            ["run", "--log-format", "json"],
            env={"CAMSVC_HTTP__HOST": "127.0.0.1", "CAMSVC_HTTP__PORT": str(port), "CAMSVC_SERVER__PORT": str(free_port())},
            tmp=tmp_path,
        )
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert f"127.0.0.1:{port}" in err and "in use" in err
    assert "Traceback" not in err


def test_sigterm_exits_zero_quickly_and_frees_ports(tmp_path: Path) -> None:
    http_port, ws_port = free_port(), free_port()
    proc = camsvc_process(
        ["run", "--demo"],
        env={"CAMSVC_HTTP__PORT": str(http_port), "CAMSVC_SERVER__PORT": str(ws_port),
             "CAMSVC_MEDIAMTX__API_URL": f"http://127.0.0.1:{free_port()}",
             "CAMSVC_CAMERAS__DISCOVERY": "disabled"},
        tmp=tmp_path,
    )
    try:
        doc = poll(lambda: httpx.get(f"http://127.0.0.1:{http_port}/health/system").json(), timeout=20,
                   what="health/system")
        assert "http" in doc["components"]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)  # the operator's goal: exit within 5 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert port_is_free(http_port)
    assert port_is_free(ws_port)
