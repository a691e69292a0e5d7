"""The RPC actor (root child ``rpc``): the JSON-RPC WebSocket server and its helpers.

It listens on ``server.host:server.port`` (``bound_port`` holds the real port, for
port 0 in tests), runs one :class:`Connection` per client, pings every client each
``server.ping_interval``, and is the event bus's subscriber for notifications.
What get_metrics reports beside its own counters (lag, system sample) it reads
from the ``monitors`` child, which keeps running while this one restarts.
"""

from __future__ import annotations

import itertools
import logging
import ssl
from collections.abc import Coroutine
from functools import partial
from typing import Any

import trio

from ..config import Config
from ..monitors.actor import Monitors
from ..services import Services
from .connection import Connection
from .dispatch import Dispatcher
from .poller import Poller
from .stats import RpcStats
from .subscriptions import DEFAULT_TOPICS, SubscriptionHub
from .table import MethodTable

log = logging.getLogger("camsvc.rpc.server")

#: connections pinged per scheduler turn by the keepalive (~1 ms of work on the benchmark box)
KEEPALIVE_SLICE = 100


def _ssl_context(config: Config) -> ssl.SSLContext | None:
    cfg = config.server
    if not (cfg.tls_cert and cfg.tls_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise OSError(f"server.tls_cert/tls_key: cannot load {cfg.tls_cert} / {cfg.tls_key}: {exc}") from None
    return context


class RpcServer:
    def __init__(self, services: Services, table: MethodTable, monitors: Monitors) -> None:
        self.services = services
        self.monitors = monitors
        self.config: Config = services.config
        self.table = table
        self.stats: RpcStats = services.rpc_stats
        self.dispatcher = Dispatcher(table, services, self.stats)
        self.hub = SubscriptionHub(services.registry.resolve)
        self.default_topics: tuple[str, ...] = DEFAULT_TOPICS
        self.connections: dict[str, Connection] = {}
        #: the input of every idle plain-TCP connection (poller.py)
        self.poller = Poller()
        self.bound_port: int | None = None
        self._ids = itertools.count(1)
        self._ssl = _ssl_context(self.config)

    # ------------------------------------------------------------ clients

    def admit(self, conn: Connection) -> bool:
        """Register an accepted connection unless ``server.max_connections`` are open."""
        if len(self.connections) >= self.config.server.max_connections:
            return False
        self.connections[conn.id] = conn
        self.stats.active_connections = len(self.connections)
        self.stats.total_connections += 1
        return True

    def release(self, conn: Connection) -> None:
        """Forget a connection that has ended (admitted or not)."""
        if self.connections.pop(conn.id, None) is not None:
            self.hub.drop(conn)
            self.stats.active_connections = len(self.connections)

    def _handle(self, stream: trio.abc.Stream) -> Coroutine[Any, Any, None]:
        """The listener's handler: a plain function returning the connection's own ``serve``, so an
        idle connection's task holds no coroutine frame of the server's (serve logs its failure)."""
        if self._ssl is not None:
            stream = trio.SSLStream(stream, self._ssl, server_side=True, https_compatible=True)
        return Connection(self, stream, f"c{next(self._ids)}").serve()

    def clients(self) -> list[Connection]:
        return list(self.connections.values())

    # --------------------------------------------------------- background

    async def _keepalive(self) -> None:
        """Ping every client once per ``ping_interval``, spread over the first half of it.

        One pass over 10,000 connections in a single turn held the loop for >100 ms (and their
        pongs came back as one burst). Slices of KEEPALIVE_SLICE, evenly paced, keep each turn
        short; the pass ends by mid-interval, so each client is still pinged once per interval.
        """
        interval = self.config.server.ping_interval
        start = trio.current_time()
        while True:
            start += interval
            await trio.sleep_until(start)
            clients = self.clients()
            slices = range(0, len(clients), KEEPALIVE_SLICE)
            step = interval / 2 / max(1, len(slices))
            for k, first in enumerate(slices):
                for conn in clients[first : first + KEEPALIVE_SLICE]:
                    conn.ping()
                await trio.sleep_until(start + (k + 1) * step)

    # ---------------------------------------------------------------- run

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        cfg = self.config.server
        try:
            listeners = await trio.open_tcp_listeners(cfg.port, host=cfg.host or None)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen on {cfg.host}:{cfg.port} (WebSocket): {exc.strerror}") from None
        self.bound_port = listeners[0].socket.getsockname()[1]
        unsubscribe = self.services.bus.subscribe(self.hub.deliver)
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.hub.run_flusher)
                await nursery.start(self.poller.run)
                nursery.start_soon(self._keepalive)
                await nursery.start(partial(trio.serve_listeners, self._handle, listeners))
                log.info(
                    "rpc listening",
                    extra={"port": self.bound_port, "path": cfg.ws_path, "tls": self._ssl is not None, "methods": len(self.table)},
                )
                task_status.started()
        finally:
            unsubscribe()
            self.connections.clear()
            self.stats.active_connections = 0
