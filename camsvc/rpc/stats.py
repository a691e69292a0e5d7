"""RPC counters (``services.rpc_stats``): read by get_metrics and the Prometheus /metrics route.

Plain integers and floats updated on the hot path (a dict increment and a bisect
per request); the Prometheus view is computed from them only when scraped.
"""

from __future__ import annotations

import bisect
import collections

#: upper bounds (seconds) of the request-latency histogram
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: the method label of requests naming no known method (keeps label cardinality bounded)
UNKNOWN_METHOD = "(unknown)"


class RpcStats:
    def __init__(self) -> None:
        self.active_connections = 0
        self.total_connections = 0
        #: connections refused or closed by the server, by reason (max_connections, origin, slow_consumer...)
        self.closed_by_server: collections.Counter[str] = collections.Counter()
        self.total_requests = 0
        self.total_errors = 0
        self.total_time = 0.0
        #: (method, code) → count; code 0 = success
        self.by_method_code: collections.Counter[tuple[str, int]] = collections.Counter()
        self.latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.notifications_sent = 0

    def record(self, method: str, code: int, seconds: float) -> None:
        self.total_requests += 1
        if code:
            self.total_errors += 1
        self.total_time += seconds
        self.by_method_code[(method, code)] += 1
        self.latency_counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1

    @property
    def average_response_time_ms(self) -> float:
        return round(1000 * self.total_time / self.total_requests, 3) if self.total_requests else 0.0

    @property
    def error_rate(self) -> float:
        return round(self.total_errors / self.total_requests, 4) if self.total_requests else 0.0
