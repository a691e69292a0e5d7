"""The soak report's RSS figures: window medians see through the periodic trim's swings."""

from __future__ import annotations

from tools.soak.report import process_growth

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
