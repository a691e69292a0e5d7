"""How the composition root builds the rpc room: method table and server."""

from __future__ import annotations

from ..monitors.actor import Monitors
from ..services import Services
from .catalog import load_table
from .server import RpcServer


def build_rpc(services: Services, monitors: Monitors) -> RpcServer:
    """The RPC actor; sets ``services.rpc_stats``. get_metrics reads lag and samples from ``monitors``.

    Raises ValueError when ``security.permissions`` names an unknown method or the
    JWT secret is unusable (reported at start, not at first call).
    """
    table = load_table(services.config.security.permissions)
    server = RpcServer(services, table, monitors)
    services.rpc_stats = server.stats
    return server
