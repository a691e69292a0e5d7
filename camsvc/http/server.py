"""The HTTP actor: a Quart (quart-trio) app served by hypercorn's trio worker."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import attrs
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app
from quart import Blueprint, Response
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

log = logging.getLogger("camsvc.http")


def create_app(blueprints: Iterable[Blueprint]) -> QuartTrio:
    app = QuartTrio("camsvc")
    app.config["JSON_SORT_KEYS"] = False
    for bp in blueprints:
        app.register_blueprint(bp)

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> tuple[dict[str, Any], int]:
        # Every 4xx/5xx carries a JSON body, never Quart's HTML page.
        reason = (exc.name or "error").lower().replace(" ", "_")
        return {"error": exc.description or exc.name, "reason": reason}, exc.code or 500

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> tuple[dict[str, Any], int]:
        log.exception("unhandled error in HTTP handler")
        return {"error": "internal error", "reason": "internal_error"}, 500

    @app.after_request
    async def no_sniff(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    return app


@attrs.define(eq=False)
class HttpServer:
    """Serves ``app`` on host:port; ``bound_port`` is set once listening (port 0 → the OS's choice)."""

    app: QuartTrio
    host: str
    port: int
    graceful_timeout: float = 2.0
    bound_port: int | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        config = HypercornConfig()
        config.bind = [f"{self.host}:{self.port}"]
        config.graceful_timeout = self.graceful_timeout
        config.accesslog = None
        config.errorlog = logging.getLogger("hypercorn.error")
        config.keep_alive_timeout = 5
        # We create the listening sockets ourselves so a bind error surfaces here,
        # as one clear OSError naming the address, and so they are always closed.
        try:
            sockets = config.create_sockets()
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen on {self.host}:{self.port} (HTTP): {exc.strerror}") from None
        try:
            for sock in sockets.insecure_sockets:
                sock.listen(config.backlog)
            self.bound_port = sockets.insecure_sockets[0].getsockname()[1]

            async with trio.open_nursery() as nursery:
                binds = await nursery.start(
                    lambda task_status: worker_serve(
                        wrap_app(self.app, config.wsgi_max_body_size, None), config, sockets=sockets, task_status=task_status
                    )
                )
                log.info("http listening", extra={"binds": ",".join(binds)})
                task_status.started()
        finally:
            for sock in sockets.insecure_sockets:
                sock.close()
