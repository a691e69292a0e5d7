"""How the composition root builds the rpc room: authenticator, method table, server."""

from __future__ import annotations

from ..security.auth import Authenticator
from ..services import Services
from .catalog import load_table
from .server import RpcServer


def build_rpc(services: Services) -> RpcServer:
    """The RPC actor; sets ``services.auth`` and ``services.rpc_stats``.

    Raises ValueError when ``security.permissions`` names an unknown method or the
    JWT secret is unusable (reported at start, not at first call).
    """
    if services.auth is None:
        services.auth = Authenticator(services.config, services.store)
    table = load_table(services.config.security.permissions)
    server = RpcServer(services, table)
    services.rpc_stats = server.stats
    return server
