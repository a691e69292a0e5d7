"""How the composition root builds the monitors room (root child ``monitors``)."""

from __future__ import annotations

from supervisor import Backoff, ChildSpec

from ..security.api_keys import ApiKeyStore
from ..services import Services
from .actor import Monitors
from .health_watch import HealthWatcher
from .loop_lag import LoopLagMonitor
from .sampler import MetricsSampler


def build_monitors(services: Services, *, keys: ApiKeyStore | None) -> Monitors:
    """The watchers; ``keys`` are refreshed from the database every second (None: no refresher)."""
    return Monitors(
        lag=LoopLagMonitor(),
        sampler=MetricsSampler(services),
        health_watch=HealthWatcher(services.health, services.bus),
        keys=keys,
    )


def monitors_child(monitors: Monitors) -> ChildSpec:
    # A restart here means a bug in a watcher; come back briskly so metrics do not go stale.
    return ChildSpec("monitors", monitors.run, backoff=Backoff(initial=0.2, max=5.0))
