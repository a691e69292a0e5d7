"""What media needs from other rooms, as structural types (interfaces.md, "Cross-room interfaces").

The real objects are the cameras room's ``CameraDirectory``/``CameraActor`` and
the mediamtx room's ``MediamtxGateway``; tests pass small fakes with the same shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from ..cameras.model import Camera, RecordingState

T = TypeVar("T")


class CameraActorLike(Protocol):
    async def call(self, op: Callable[[Camera], Awaitable[T]], *, exclusive: bool = True) -> T: ...

    def set_recording(self, state: RecordingState | None) -> None: ...


class CameraDirectoryLike(Protocol):
    def actor(self, camera_id_or_alias: str) -> CameraActorLike: ...

    def on_removed(self, callback: Callable[[Camera], Awaitable[None]]) -> None: ...

    def on_id_released(self, callback: Callable[[str], None]) -> None: ...


class PathRuntimeLike(Protocol):
    ready: bool


class MediamtxStatusLike(Protocol):
    @property
    def reachable(self) -> bool: ...

    #: MediaMTX's /v3/info ``started`` (RFC 3339; changes when it restarts)
    @property
    def server_started(self) -> str | None: ...


class MediamtxLike(Protocol):
    def status(self) -> MediamtxStatusLike: ...

    def ensure_available(self) -> None: ...

    async def runtime(self, name: str) -> Any: ...

    async def sync(self, timeout: float, *, name: str | None = None) -> None: ...  # noqa: ASYNC109 - the gateway's interface
