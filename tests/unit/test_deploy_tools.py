"""Fast checks of the deployment tools on the host (the full story runs in tests/deploy in a container)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools"
UNIT = REPO / "conf" / "systemd" / "camera-service.service"
HELPER = TOOLS / "deploy_helper.py"


def run(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=30, check=False, env=env, cwd=REPO)


def test_facts_read_config_with_defaults_and_env(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("http:\n  port: 9100\nrecording:\n  dir: /srv/rec dings\n")
    env = {**os.environ, "CAMSVC_SERVER__PORT": "9200"}
    result = run(sys.executable, str(HELPER), "facts", str(config), env=env)
    assert result.returncode == 0, result.stderr
    facts = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert facts["HTTP_PORT"] == "9100"
    assert facts["SERVER_PORT"] == "9200"
    assert facts["RECORDINGS_DIR"] == "'/srv/rec dings'", "values are shell-quoted for eval"
    assert facts["SNAPSHOTS_DIR"] == "/var/snapshots"
    assert facts["LOG_FILE"] == "''"


def test_port_owners_names_the_listening_process() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run(sys.executable, str(HELPER), "port-owners", str(port))
    owners = [line.split(None, 3) for line in result.stdout.splitlines()]
    assert any(fields[0] == str(port) and fields[1] == str(os.getpid()) for fields in owners), result.stdout


def test_port_owners_is_silent_for_a_free_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert run(sys.executable, str(HELPER), "port-owners", str(port)).stdout == ""


def test_wait_http_reports_the_last_answer() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run(sys.executable, str(HELPER), "wait-http", f"http://127.0.0.1:{port}/health/ready", "0")
    assert result.returncode == 1
    assert "not healthy after 0 s" in result.stdout and "no answer" in result.stdout


def unit_service_keys() -> set[str]:
    keys: set[str] = set()
    section = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            keys.add(line.split("=", 1)[0])
    return keys


def test_transient_unit_copies_the_installed_hardening(tmp_path: Path) -> None:
    checkout = REPO
    if str(checkout).startswith(("/home/", "/root/", "/tmp/")):
        pytest.skip(f"checkout {checkout} is under a path the sandbox hides")
    python = "/usr/bin/python3"
    if not Path(python).exists():
        pytest.skip("no /usr/bin/python3")
    config = tmp_path / "c.yaml"
    config.write_text("{}\n")
    result = run(sys.executable, str(TOOLS / "deploy-transient"), "--checkout", str(checkout), "--python", python,
                 "--config", str(config), "--unit", "camsvc-x", "--dry-run")
    assert result.returncode == 0, result.stderr
    command = result.stdout
    expected = unit_service_keys() - {"ExecStart", "LogNamespace"}
    try:
        pwd.getpwnam("camera-service")
    except KeyError:  # not installed here: the try-out runs as a dynamic user instead
        expected -= {"User", "Group"}
        assert "--property=DynamicUser=yes" in command
    for key in expected:
        assert f"--property={key}=" in command or f"'--property={key}=" in command, key
    assert "ExecStart" not in command and "LogNamespace" not in command
    assert "ReadWritePaths=-/var/recordings -/var/snapshots" in command, "missing data dirs must not stop a try-out"
    assert "--unit=camsvc-x" in command and "check-config" not in command
    assert f"PYTHONPATH={checkout}" in command


def test_transient_refuses_a_venv_the_sandbox_hides(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "camsvc").write_text("")
    config = tmp_path / "c.yaml"
    config.write_text("{}\n")
    result = run(sys.executable, str(TOOLS / "deploy-transient"), "--venv", str(venv), "--config", str(config), "--dry-run")
    assert result.returncode == 1
    assert "hidden inside the sandbox" in result.stderr and "/opt or /srv" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keep", "1"], "--keep must be 2 or more"),
        (["--health-timeout", "soon"], "--health-timeout must be whole seconds"),
        (["--health-gate", "maybe"], "--health-gate must be ready, live or auto"),
        (["--prefix", "relative/dir"], "--prefix must be an absolute path"),
        (["--version"], "--version needs a value"),
        (["--frobnicate"], "unknown argument: --frobnicate"),
    ],
)
def test_install_rejects_bad_usage_before_touching_anything(args: list[str], message: str) -> None:
    result = run("bash", str(TOOLS / "install.sh"), *args)
    assert result.returncode == 1
    assert message in result.stderr


@pytest.mark.parametrize("script", ["install.sh", "rollback.sh", "uninstall.sh", "deploy-lib.sh"])
def test_scripts_parse_and_pass_shellcheck(script: str) -> None:
    assert run("bash", "-n", str(TOOLS / script)).returncode == 0
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed")
    result = run("shellcheck", "-x", "-S", "warning", str(TOOLS / script))
    assert result.returncode == 0, result.stdout
