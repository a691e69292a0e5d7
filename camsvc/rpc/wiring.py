"""How the composition root builds the rpc room: method table and server."""

from __future__ import annotations

from ..monitors.actor import Monitors
from ..services import Services
from .catalog import load_table
from .server import RpcServer


def build_rpc(services: Services, monitors: Monitors) -> RpcServer:
    """The RPC actor; it counts into ``services.rpc_stats`` and get_metrics reads lag and samples from ``monitors``.

    Raises ValueError when ``security.permissions`` names an unknown method or the
    JWT secret is unusable (reported at start, not at first call).
    """
    table = load_table(services.config.security.permissions)
    return RpcServer(services, table, monitors)
