"""How the composition root builds the monitors room (root child ``monitors``)."""

from __future__ import annotations

from supervisor import Backoff, ChildSpec

from ..services import Services
from .actor import Monitors
from .health_watch import HealthWatcher
from .heap_trim import HeapTrimmer
from .loop_lag import LoopLagMonitor
from .sampler import MetricsSampler


def build_monitors(services: Services) -> Monitors:
    """The watchers and the heap trim. (API keys need none: every use checks the store's data_version itself.)"""
    return Monitors(
        lag=LoopLagMonitor(),
        sampler=MetricsSampler(services),
        health_watch=HealthWatcher(services.health, services.bus),
        heap_trim=HeapTrimmer(),
    )


def monitors_child(monitors: Monitors) -> ChildSpec:
    # A restart here means a bug in a watcher; come back briskly so metrics do not go stale.
    return ChildSpec("monitors", monitors.run, backoff=Backoff(initial=0.2, max=5.0))
