"""The async client: the typed API methods over a self-healing :class:`Connection`."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import trio

from .connection import DEFAULT_BACKOFF, Backoff, Connection, Notification, TokenProvider
from .downloads import save, target_path
from .errors import ClientError
from .methods import ApiMethods


class Client(ApiMethods):
    """An async (trio) client of the camsvc JSON-RPC API::

        async with Client("ws://localhost:8002/ws", token=jwt) as client:
            cameras = await client.get_camera_list()
            snap = await client.take_snapshot("camera0")
            await client.download("snapshot", snap["filename"], "shots/")
            async for event in client.notifications():
                print(event.method, event.params)

    Entering connects and authenticates (``token`` is a JWT, ``api_key`` a ``csk_`` key;
    raises :class:`ConnectError` or :class:`AuthError` at once when that fails). After that
    the client keeps the session up by itself: a JWT is refreshed before it expires, a
    call refused with ``token_expired`` re-authenticates (with ``token_provider`` when the
    token itself is too old) and is sent again, and a dropped socket is replaced with
    capped backoff, authenticated and subscribed again.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        api_key: str | None = None,
        token_provider: TokenProvider | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        connect_timeout: float = 10.0,
        call_timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if token is not None and api_key is not None:
            raise ValueError("pass token or api_key, not both")
        self._ssl = ssl_context
        self.connection = Connection(
            url,
            credential=token if token is not None else api_key,
            token_provider=token_provider,
            backoff=backoff,
            connect_timeout=connect_timeout,
            call_timeout=call_timeout,
            ssl_context=ssl_context,
        )
        self._nursery_cm: Any = None
        self._nursery: trio.Nursery | None = None

    async def __aenter__(self) -> Client:
        self._nursery_cm = trio.open_nursery()
        self._nursery = await self._nursery_cm.__aenter__()
        try:
            await self.connection.open(self._nursery)
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        # The background tasks handle their own errors, so the nursery exits cleanly and an
        # exception from the caller's block propagates as itself, not wrapped in a group.
        await self.connection.aclose()
        nursery_cm, nursery = self._nursery_cm, self._nursery
        self._nursery_cm = self._nursery = None
        if nursery_cm is None or nursery is None:
            return
        nursery.cancel_scope.cancel()
        await nursery_cm.__aexit__(None, None, None)

    @property
    def session(self) -> dict[str, Any] | None:
        """The last ``authenticate`` result (role, permissions, expires_at, ...)."""
        return self.connection.session

    @property
    def connected(self) -> bool:
        return self.connection.connected

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call any API method by name; the result as the API returns it.

        Each call waits at most ``call_timeout`` seconds (:class:`CallTimeout`); wrap it in
        ``trio.move_on_after`` / ``fail_after`` for a shorter bound.
        """
        return await self.connection.call(method, dict(params) if params else None)

    def notifications(self) -> AsyncIterator[Notification]:
        """Server events as they arrive (across reconnects), until the client closes.

        The client buffers the latest 1000 events; older ones are dropped when nobody reads.
        """
        return self.connection.iterate()

    async def download(
        self,
        file_type: str,
        filename: str,
        dest: str | os.PathLike[str] | None = None,
        *,
        expires_in: int | None = None,
    ) -> Path:
        """Fetch a recording or snapshot through a signed URL; the path written.

        ``dest`` is a file path or a directory (default: the working directory).
        """
        link = await self.get_download_url(file_type, filename, expires_in)
        url = link.get("url")
        if not isinstance(url, str):
            raise ClientError("get_download_url returned no url")
        return await self.fetch(url, filename, dest)

    async def fetch(self, url: str, filename: str, dest: str | os.PathLike[str] | None = None) -> Path:
        """Fetch a signed URL from ``get_download_url`` as ``filename`` (in) ``dest``; the path written."""
        target = target_path(dest, filename)
        await save(url, target, verify=self._ssl or True)
        return target
