"""A stand-in *mediamtx binary* for the process-supervision tests (the emulator is not one).

``<launcher> CONFIG.yml`` reads ``apiAddress`` from CONFIG (a MediaMTX config file) and runs the
MediaMTX emulator there, printing a MediaMTX-style log line first. Test-only keys in CONFIG:
``testExitCode: N`` prints an error line and exits with N at once; ``testIgnoreSigint: true``
ignores SIGINT (to exercise the SIGKILL escalation) and never opens the API.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import trio
import yaml

from tools.mediamtx_emulator import EmulatorConfig
from tools.mediamtx_emulator.__main__ import main as emulator_main


def launcher(path: Path, repo: Path) -> Path:
    """Write an executable script at ``path`` that runs this module with the current Python."""
    path.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(repo)!r})\n"
        "from tests.mediamtx.emulator_as_mediamtx import main\n"
        "main(sys.argv[1:])\n"
    )
    path.chmod(0o755)
    return path


def main(argv: list[str]) -> None:
    conf = yaml.safe_load(Path(argv[0]).read_text()) or {}
    print("2026/01/01 00:00:00 INF MediaMTX v1.20.1 (emulator stand-in)", flush=True)
    if "testExitCode" in conf:
        print("2026/01/01 00:00:00 ERR bad configuration: testExitCode", file=sys.stderr, flush=True)
        sys.exit(int(conf["testExitCode"]))
    if conf.get("testIgnoreSigint"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("2026/01/01 00:00:00 WAR ignoring SIGINT", flush=True)
        while True:
            time.sleep(3600)
    host, _, port = str(conf.get("apiAddress", "127.0.0.1:9997")).rpartition(":")
    config = EmulatorConfig(api_host=host or "127.0.0.1", api_port=int(port), rtsp_port=None, hook_output="discard")
    trio.run(emulator_main, config)
