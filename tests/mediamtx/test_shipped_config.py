"""The real MediaMTX started with conf/mediamtx.yml as shipped: exactly the documented listeners, no stray file.

The file is used byte for byte (no port is rewritten: that would test another file). Its default
ports may be taken on a shared machine, so the server runs in a network namespace of its own
(``unshare --net``, as root) where they are always free; without one it runs on the host only when
every default port is free, and skips otherwise, naming why. Its sockets are read from /proc: the
inodes of its file descriptors matched against /proc/PID/net/{tcp,tcp6,udp,udp6} (that process's
namespace), so nothing needs to reach it over the network.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import REPO, own_group, port_is_free, stop_group
from tests.mediamtx_targets import SHIPPED_CONFIG, log_tail, real_binary

DOC = REPO / "docs" / "mediamtx.md"
TCP_LISTEN, UDP_UNCONNECTED = "0A", "07"
Socket = tuple[str, str, int]  # proto, host ("*" for any), port


def documented_sockets() -> set[Socket]:
    """The rows of the "Listening ports" table in docs/mediamtx.md."""
    section = DOC.read_text().split("## Listening ports", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (tcp|udp) \| (\S+):(\d+) \|", section, re.MULTILINE)
    assert rows, "docs/mediamtx.md has no Listening ports table"
    return {(proto, host, int(port)) for proto, host, port in rows}


def _hex_address(text: str) -> tuple[str, int]:
    host_hex, port_hex = text.split(":")
    raw = bytes.fromhex(host_hex)
    if len(raw) == 4:
        host = ".".join(str(b) for b in reversed(raw))
    else:  # four little-endian 32-bit words
        words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
        host = ":".join(b"".join(words).hex()[i : i + 4] for i in range(0, 32, 4))
        host = {"0000:0000:0000:0000:0000:0000:0000:0000": "::", "0000:0000:0000:0000:0000:0000:0000:0001": "::1"}.get(
            host, host
        )
    return host, int(port_hex, 16)


def listening_sockets(pid: int) -> set[Socket]:
    """TCP listeners and bound UDP sockets of process ``pid``, any-address as ``*``."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = fd.readlink() if fd.is_symlink() else Path()
        if m := re.fullmatch(r"socket:\[(\d+)\]", str(target)):
            inodes.add(m.group(1))
    found: set[Socket] = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if inode not in inodes or state not in (TCP_LISTEN, UDP_UNCONNECTED):
                continue
            host, port = _hex_address(local)
            found.add((table.rstrip("6"), "*" if host in ("0.0.0.0", "::") else host, port))
    return found


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False).returncode == 0


@pytest.fixture
def shipped_mediamtx(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    binary = real_binary()
    if _can_unshare():
        argv = ["unshare", "--net", str(binary), str(SHIPPED_CONFIG)]  # unshare execs: same pid
    else:
        busy = sorted(port for _, _, port in documented_sockets() if not port_is_free(port))
        if busy:
            pytest.skip(f"no network namespace (unshare --net refused) and default ports {busy} are busy")
        argv = [str(binary), str(SHIPPED_CONFIG)]
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    log = tmp_path / "mediamtx.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, **own_group()
        )
    try:
        # the API is the last listener MediaMTX opens; its line means start-up is over
        deadline = time.monotonic() + 15
        while "[API] started" not in log.read_text(errors="replace"):
            assert proc.poll() is None, f"mediamtx exited with {proc.returncode}:\n{log_tail(log)}"
            assert time.monotonic() < deadline, f"mediamtx did not start:\n{log_tail(log)}"
            time.sleep(0.02)  # polling interval of a deadline loop
        yield proc, cwd
    finally:
        stop_group(proc)


def test_the_shipped_config_opens_only_the_documented_ports(
    shipped_mediamtx: tuple[subprocess.Popen[bytes], Path],
) -> None:
    proc, _ = shipped_mediamtx
    assert listening_sockets(proc.pid) == documented_sockets()


def test_the_shipped_config_writes_nothing_into_the_working_directory(
    shipped_mediamtx: tuple[subprocess.Popen[bytes], Path],
) -> None:
    proc, cwd = shipped_mediamtx
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0
    assert sorted(p.name for p in cwd.iterdir()) == []  # no auto.key/auto.crt, no log file
