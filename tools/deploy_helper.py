"""Small stdlib helpers for the deployment shell scripts (install.sh, rollback.sh, deploy-transient).

Run with the release's venv python (it has PyYAML; everything else is stdlib):

    deploy_helper.py facts CONFIG          shell assignments for the ports and directories the config uses
    deploy_helper.py port-owners PORT...   who listens on each TCP port: "PORT PID UNIT COMMAND"
    deploy_helper.py wait-http URL SECS    poll until URL answers 200; exit 1 with the last answer otherwise

Facts are read from the YAML with the documented defaults (conf/camsvc.yaml); camsvc's own
``check-config`` has already validated the file when the installer asks for them.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

# (shell name, section, key, default) — defaults as documented in conf/camsvc.yaml.
FACTS: tuple[tuple[str, str, str, str], ...] = (
    ("SERVER_PORT", "server", "port", "8002"),
    ("HTTP_HOST", "http", "host", "0.0.0.0"),
    ("HTTP_PORT", "http", "port", "8003"),
    ("MEDIAMTX_API_URL", "mediamtx", "api_url", "http://127.0.0.1:9997"),
    ("RECORDINGS_DIR", "recording", "dir", "/var/recordings"),
    ("SNAPSHOTS_DIR", "snapshots", "dir", "/var/snapshots"),
    ("STATE_DIR", "storage", "state_dir", "/var/lib/camera-service"),
    ("LOG_FILE", "logging", "file", ""),
)


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - the release venv always has PyYAML
        print(f"warning: PyYAML missing, using defaults instead of {path}", file=sys.stderr)
        return {}
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    return data if isinstance(data, dict) else {}


def facts(config: Path) -> dict[str, str]:
    data = load_yaml(config)
    result: dict[str, str] = {}
    for name, section, key, default in FACTS:
        value = (data.get(section) or {}).get(key, default)
        env = os.environ.get(f"CAMSVC_{section.upper()}__{key.upper()}")
        result[name] = str(env if env is not None else ("" if value is None else value))
    return result


def listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(inode)
    return inodes


def unit_of(pid: str) -> str:
    try:
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            for part in reversed(line.split(":", 2)[-1].split("/")):
                if part.endswith((".service", ".scope")):
                    return part
    except OSError:
        pass
    return "-"


def port_owners(port: int) -> list[tuple[str, str, str]]:
    """(pid, unit, command) of every process holding a listening socket on the port."""
    wanted = {f"socket:[{inode}]" for inode in listening_inodes(port)}
    owners: list[tuple[str, str, str]] = []
    if not wanted:
        return owners
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            links = {os.readlink(fd) for fd in (proc / "fd").iterdir()}
        except OSError:
            continue
        if links & wanted:
            try:
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                command = "?"
            owners.append((proc.name, unit_of(proc.name), command or "?"))
    if not owners:  # a socket we cannot attribute (another user namespace, exited process)
        owners.append(("?", "-", "unknown process"))
    return owners


def wait_http(url: str, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    last = "no answer"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    print(f"{url}: 200 {response.read(300).decode(errors='replace')}")
                    return 0
                last = f"{response.status}"
        except urllib.error.HTTPError as exc:
            last = f"{exc.code} {exc.read(300).decode(errors='replace')}"
        except (OSError, ValueError) as exc:
            last = f"no answer ({exc})"
        if time.monotonic() >= deadline:
            print(f"{url}: not healthy after {seconds:.0f} s; last answer: {last}")
            return 1
        time.sleep(0.25)


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "facts":
        for name, value in facts(Path(argv[1])).items():
            print(f"{name}={shlex.quote(value)}")
        return 0
    if len(argv) >= 2 and argv[0] == "port-owners":
        for port_text in argv[1:]:
            for pid, unit, command in port_owners(int(port_text)):
                print(f"{port_text} {pid} {unit} {command}")
        return 0
    if len(argv) == 3 and argv[0] == "wait-http":
        return wait_http(argv[1], float(argv[2]))
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
