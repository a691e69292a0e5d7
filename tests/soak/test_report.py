"""The soak report: RSS window medians see through the periodic trim's swings; files the service deleted;
camera chaos an observer did not see."""

from __future__ import annotations

import collections
from pathlib import Path

from tools.soak.report import camera_events, deleted_by_service, process_growth
from tools.soak.workload import Seen

MB = 1024 * 1024


def _samples(rss_mb: list[float]) -> list[dict[str, float]]:
    return [{"t": 5.0 * i, "rss": mb * MB, "fds": 200.0, "load": 1.0} for i, mb in enumerate(rss_mb)]


def test_a_flat_but_swinging_rss_shows_no_median_growth() -> None:
    # a plateau the trim swings by 4 MB, which happens to start low and end high
    swings = [68.0, 70.0, 72.0] * 20
    p = process_growth(_samples([66.0, *swings, 72.0]), warmup=5.0)
    assert p["rss_growth_pct"] > 5  # the point figure is fooled
    assert abs(p["rss_growth_median_pct"]) < 1
    assert len(p["rss_window_medians_mb"]) == 6


def test_a_steady_climb_shows_in_the_window_medians() -> None:
    p = process_growth(_samples([60.0 + 0.1 * i for i in range(120)]), warmup=0.0)
    medians = p["rss_window_medians_mb"]
    assert medians == sorted(medians) and medians[-1] - medians[0] > 9
    assert p["rss_growth_median_pct"] > 10


def test_files_the_service_says_it_deleted_are_not_missing(tmp_path: Path) -> None:
    log = tmp_path / "camsvc.log"
    log.write_text(
        '{"level": "info", "logger": "camsvc.storage.files", "event": "file deleted", "file": "camera0_a.mp4"}\n'
        '{"level": "info", "event": "retention cleanup", "deleted": 1}\n'
        "not json at all, \"file deleted\"\n"
    )
    assert deleted_by_service(log) == {"camera0_a.mp4"}
    assert deleted_by_service(tmp_path / "absent.log") == set()


def test_camera_chaos_an_observer_did_not_see_is_counted_missed() -> None:
    seen = Seen()
    seen.plugs["camera50"] = seen.unplugs["camera50"] = 1
    crashes = collections.Counter({"camera0": 2})
    whole = [("camera0", "CONNECTED"), ("camera0", "ERROR"), ("camera0", "CONNECTED"), ("camera50", "CONNECTED"),
             ("camera0", "ERROR"), ("camera0", "CONNECTED"), ("camera50", "DISCONNECTED")]  # fmt: skip
    # one recovery and the unplug never arrived; an ERROR without the CONNECTED after it is not a recovery
    partial = [("camera0", "ERROR"), ("camera0", "CONNECTED"), ("camera0", "ERROR"), ("camera50", "CONNECTED")]
    seen.camera_events = [whole, partial]
    result = camera_events(seen, crashes)
    assert result["expected_per_observer"] == 4
    assert result["missed_by_observer"] == [0, 2]
