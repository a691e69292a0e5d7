"""``GET /metrics``: Prometheus text exposition (spec §7).

A collector reads the same sources as get_metrics and /health at scrape time —
RPC counters, the camera registry, the supervision tree, the MediaMTX gateway,
the background system sample and the event-loop lag monitor — into a registry of
its own (so several services in one test process never share metrics).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from quart import Blueprint, Response

from ..rpc.stats import LATENCY_BUCKETS
from ..services import Services

if TYPE_CHECKING:
    from ..monitors.actor import Monitors
    from ..rpc.server import RpcServer


class ServiceCollector:
    def __init__(self, services: Services, rpc: RpcServer, monitors: Monitors) -> None:
        self.services = services
        self.rpc = rpc
        self.monitors = monitors

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield from self._rpc()
        yield from self._cameras()
        yield from self._supervisor()
        yield from self._dependencies()

    def _rpc(self) -> Iterator[Metric]:
        stats = self.rpc.stats
        requests = CounterMetricFamily("camsvc_rpc_requests", "JSON-RPC requests by method and result code (0 = success).", labels=["method", "code"])
        for (method, code), count in sorted(stats.by_method_code.items()):
            requests.add_metric([method, str(code)], count)
        yield requests
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip(LATENCY_BUCKETS, stats.latency_counts, strict=False):
            running += count
            buckets.append((repr(bound), running))
        buckets.append(("+Inf", stats.total_requests))
        yield HistogramMetricFamily("camsvc_rpc_request_duration_seconds", "Time from a request's arrival to its answer.", buckets=buckets, sum_value=stats.total_time)
        yield GaugeMetricFamily("camsvc_rpc_connections", "Open WebSocket connections.", value=stats.active_connections)
        yield CounterMetricFamily("camsvc_rpc_connections_accepted", "WebSocket connections accepted.", value=stats.total_connections)
        closed = CounterMetricFamily("camsvc_rpc_connections_closed_by_server", "Connections the server refused or closed, by reason.", labels=["reason"])
        for reason, count in sorted(stats.closed_by_server.items()):
            closed.add_metric([reason], count)
        yield closed
        yield CounterMetricFamily("camsvc_events_published", "Events published on the bus.", value=self.services.bus.published)
        yield CounterMetricFamily("camsvc_rpc_notifications_queued", "Event notifications queued to clients.", value=self.rpc.hub.delivered)
        lag = self.monitors.lag
        yield GaugeMetricFamily("camsvc_event_loop_lag_seconds", "Longest scheduler pass (wall time) over the last ~10 s: how late I/O could be served.", value=lag.recent_max_ms / 1000)
        yield GaugeMetricFamily("camsvc_event_loop_hold_seconds", "Most CPU time one scheduler pass took over the last ~10 s: the longest hold by our own code.", value=lag.recent_max_hold_ms / 1000)

    def _cameras(self) -> Iterator[Metric]:
        cameras = list(self.services.registry.snapshot().values())
        by_status = GaugeMetricFamily("camsvc_cameras", "Known cameras by status.", labels=["status"])
        for status in ("CONNECTED", "DISCONNECTED", "ERROR"):
            by_status.add_metric([status], sum(1 for c in cameras if c.status.value == status))
        yield by_status
        yield GaugeMetricFamily("camsvc_recordings_active", "Cameras recording now.", value=sum(1 for c in cameras if c.recording is not None))

    def _supervisor(self) -> Iterator[Metric]:
        restarts = CounterMetricFamily("camsvc_supervisor_restarts", "Restarts of each supervised child.", labels=["child"])
        running = GaugeMetricFamily("camsvc_supervisor_child_running", "1 while a supervised child runs.", labels=["child"])
        try:
            children = self.services.health.snapshot().walk()
        except AssertionError:  # scraped before the tree exists
            children = []
        for path, child in children:
            restarts.add_metric([path], child.restarts)
            running.add_metric([path], 1 if child.state.value == "running" else 0)
        yield restarts
        yield running

    def _dependencies(self) -> Iterator[Metric]:
        gateway: Any = self.services.mediamtx
        if gateway is not None:
            yield GaugeMetricFamily("camsvc_mediamtx_reachable", "1 while the MediaMTX control API answers.", value=1 if gateway.status().reachable else 0)
        sample = self.monitors.sampler.latest
        if sample.taken_at:
            storage = GaugeMetricFamily("camsvc_storage_bytes", "Recording filesystem space.", labels=["kind"])
            storage.add_metric(["total"], sample.disk_total)
            storage.add_metric(["used"], sample.disk_used)
            storage.add_metric(["free"], sample.disk_free)
            yield storage
            yield GaugeMetricFamily("camsvc_storage_usage_percent", "Recording filesystem usage.", value=sample.disk_percent)
            yield GaugeMetricFamily("camsvc_process_resident_memory_bytes", "Resident memory of the service.", value=sample.process_rss_bytes)


def metrics_blueprint(services: Services, rpc: RpcServer, monitors: Monitors) -> Blueprint:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(services, rpc, monitors))
    bp = Blueprint("metrics", __name__)

    @bp.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return bp
