"""The input poller (camsvc/rpc/poller.py) and the inline handlers it runs outside any task."""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from pathlib import Path
from typing import Any

from camsvc.app import Service
from camsvc.rpc.dispatch import Dispatcher
from camsvc.rpc.stats import RpcStats
from camsvc.rpc.table import Method, MethodTable
from tests.rpc_client import apoll, rpc_client, running_service, ws_url


def _awaits(function: Any) -> list[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Await | ast.AsyncFor | ast.AsyncWith)]


async def test_inline_handlers_never_await(service: Service) -> None:
    """The poller runs inline handlers to their end in one step: one that awaited would be stopped."""
    inline = [m for m in service.extras["rpc"].table if m.inline]
    assert {"ping", "get_camera_list"} <= {m.name for m in inline}
    assert {m.name: _awaits(m.handler) for m in inline if _awaits(m.handler)} == {}


@types.coroutine
def _suspend() -> Any:
    yield "suspended"


async def test_an_inline_handler_that_suspends_is_stopped_with_an_internal_error(service: Service) -> None:
    finished: list[bool] = []

    async def bad(ctx: Any, params: dict[str, Any]) -> str:
        try:
            await _suspend()
            return "never"
        finally:
            finished.append(True)

    table = MethodTable([Method("bad", bad, None, "suspends", inline=True)])
    dispatcher = Dispatcher(table, service.services, RpcStats())

    class Peer:
        id, identity, address, host = "p", None, "127.0.0.1", None

        def take_token(self) -> float:
            return 0.0

    prepared = dispatcher.prepare(Peer(), '{"jsonrpc":"2.0","id":7,"method":"bad"}')  # type: ignore[arg-type]
    answer = dispatcher.run_now(prepared.calls[0])
    assert answer is not None and '"id":7' in answer and '"code":-32603' in answer
    assert finished == [True]  # closed, not left half-run


async def test_connections_leave_the_poller_when_they_close(tmp_path: Path) -> None:
    async with running_service(tmp_path) as svc:
        rpc = svc.extras["rpc"]
        async with rpc_client(ws_url(svc)) as a, rpc_client(ws_url(svc)) as b:
            for _ in range(3):
                assert await a.call("ping") == "pong" and await b.call("ping") == "pong"
            assert len(rpc.poller) == 2
        await apoll(lambda: not rpc.connections, what="connections gone")
        assert len(rpc.poller) == 0

