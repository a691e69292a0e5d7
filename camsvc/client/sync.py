"""A blocking client for scripts: the async :class:`Client` run by trio in a background thread.

    with SyncClient("ws://localhost:8002/ws", token=jwt) as client:
        print(client.get_camera_list()["cameras"])
        snap = client.take_snapshot("camera0")
        client.download("snapshot", snap["filename"])
        for event in client.notifications():
            print(event.method, event.params)

Every API method of :class:`Client` is here with the same name and arguments,
blocking until the answer arrives. The calls cross into the trio thread through
``trio.from_thread`` (trio's portal), so one connection serves every thread.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import trio

from .client import Client
from .connection import Notification
from .errors import ConnectionLost
from .methods import api_methods

#: Python names of the API methods (the same on both clients)
_API_ATTRS = frozenset(api_methods(Client).values())


class SyncClient:
    def __init__(self, url: str, *, token: str | None = None, api_key: str | None = None, **options: Any) -> None:
        """Options as for :class:`Client` (token_provider, backoff, timeouts, ssl_context)."""
        self._client = Client(url, token=token, api_key=api_key, **options)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None

    def __enter__(self) -> SyncClient:
        self._thread = threading.Thread(target=trio.run, args=(self._main,), name="camsvc-client", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._thread is None:
            return
        if self._token is not None and self._stop is not None:
            try:
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        self._thread.join()
        self._thread = None

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        try:
            async with self._client:
                self._ready.set()
                await self._stop.wait()
        except Exception as exc:  # reported to __enter__ (a failure after it ends the calls instead)
            self._error = exc
        finally:
            self._ready.set()

    def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._token is None or self._thread is None:
            raise ConnectionLost("the client is not open (use it as a context manager)")
        try:
            return trio.from_thread.run(fn, *args, trio_token=self._token)
        except trio.RunFinishedError:
            raise ConnectionLost("the client is closed") from None

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in _API_ATTRS:
            raise AttributeError(name)
        method = getattr(self._client, name)

        @functools.wraps(method)
        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self._run(functools.partial(method, *args, **kwargs))

        return blocking

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *_API_ATTRS})

    @property
    def session(self) -> dict[str, Any] | None:
        return self._client.session

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._run(functools.partial(self._client.call, method, params))

    def notifications(self) -> Iterator[Notification]:
        """Server events, blocking for each, until the client closes."""
        while True:
            item = self._run(self._client.connection.notifications.get)
            if item is None:
                return
            yield item

    def download(self, file_type: str, filename: str, dest: str | os.PathLike[str] | None = None, **options: Any) -> Path:
        path: Path = self._run(functools.partial(self._client.download, file_type, filename, dest, **options))
        return path
