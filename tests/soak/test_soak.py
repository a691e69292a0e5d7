"""The soak, short: the real ``camsvc run`` with 200 clients, churn and chaos for ~40 s (tools/soak).

The 30-minute run against the real MediaMTX is ``python -m tools.soak`` (docs/soak.md).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tools.soak import report
from tools.soak.runner import soak
from tools.soak.stack import Stack
from tools.soak.workload import Options

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed (synthetic cameras need it)"),
]

#: fds may differ by a few between two idle moments (a pooled HTTP connection, a lazily opened file)
FD_MARGIN = 5


async def test_short_soak_against_the_emulator(tmp_path: Path) -> None:
    options = Options(duration=40, clients=200, kill_interval=15, crash_interval=8, churn_interval=3,
                      crash_actor_interval=6, hotplug_interval=5, sample_interval=2)  # fmt: skip
    result = await soak(Stack(tmp_path, "emulator"), options)
    print(report.summary(result))  # shown on failure
    assert result["service_exit_code"] == 0
    assert result["errors"]["unexpected"] == {}
    assert result["chaos"]["mediamtx_kills"] >= 2 and result["chaos"]["externals_added"] >= 3
    assert result["notifications"]["lost"] == 0
    # camera actors crashed inside camsvc: each crash restarted by the cameras supervisor, the restarts
    # shown at /supervisor and /health/system alike; fake nodes plugged in and out
    chaos = result["chaos"]
    assert chaos["actor_crashes"] >= 4 and chaos["actor_crashes_refused"] == {}
    assert chaos["crashes_without_restart"] == {}
    assert chaos["health_system_camera_restarts"] == chaos["camera_actor_restarts"]
    assert chaos["hotplugs"] >= 3 and chaos["unplugs"] == chaos["hotplugs"]
    # every observer saw each crashed camera come back (ERROR, then CONNECTED) and each plugged one come and go
    assert result["notifications"]["camera_events"]["missed"] == 0
    assert abs(result["process"]["fd_growth"]) <= FD_MARGIN
    files = result["files"]
    assert files["sessions_started_by_clients"] > 0
    # every session accounted for: known to the service, closed, its files on disk; every snapshot there
    for key in ("sessions_unknown_to_service", "sessions_still_open", "sessions_with_missing_files",
                "snapshots_missing"):  # fmt: skip
        assert files[key] == [], key
