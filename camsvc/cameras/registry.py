"""The camera registry: the current :class:`Camera` of every known camera.

Writers (camera actors, the discovery actor) replace whole values; readers get an
immutable mapping that is swapped, never mutated, so a snapshot taken by an RPC
handler or the reconciler stays consistent while they use it. Each change bumps
``version`` and wakes waiters, which is how the reconciler is level-triggered.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping

import trio

from .model import DEVICE_ALIAS, Camera, usb_id

ChangeListener = Callable[[Camera | None, Camera | None], None]


class CameraRegistry:
    def __init__(self) -> None:
        self._cameras: Mapping[str, Camera] = types.MappingProxyType({})
        self._version = 0
        self._changed = trio.Event()
        self._listeners: list[ChangeListener] = []

    @property
    def version(self) -> int:
        return self._version

    def snapshot(self) -> Mapping[str, Camera]:
        """All cameras by id; an immutable mapping that later changes do not affect."""
        return self._cameras

    def resolve(self, id_or_alias: str) -> str:
        """The camera id for an id or a ``/dev/videoN`` alias (compatibility)."""
        if DEVICE_ALIAS.fullmatch(id_or_alias):
            return usb_id(id_or_alias) or id_or_alias
        return id_or_alias

    def get(self, id_or_alias: str) -> Camera | None:
        return self._cameras.get(self.resolve(id_or_alias))

    def add_listener(self, listener: ChangeListener) -> None:
        """``listener(before, after)`` is called synchronously on every change (None = absent)."""
        self._listeners.append(listener)

    def put(self, camera: Camera) -> None:
        before = self._cameras.get(camera.id)
        if before == camera:
            return
        cameras = dict(self._cameras)
        cameras[camera.id] = camera
        self._commit(cameras, before, camera)

    def remove(self, camera_id: str) -> Camera | None:
        before = self._cameras.get(camera_id)
        if before is None:
            return None
        cameras = dict(self._cameras)
        del cameras[camera_id]
        self._commit(cameras, before, None)
        return before

    async def wait_changed(self, seen_version: int) -> int:
        """Return the current version once it differs from ``seen_version``."""
        while self._version == seen_version:
            await self._changed.wait()
        return self._version

    def _commit(self, cameras: dict[str, Camera], before: Camera | None, after: Camera | None) -> None:
        self._cameras = types.MappingProxyType(cameras)
        self._version += 1
        changed, self._changed = self._changed, trio.Event()
        changed.set()
        for listener in self._listeners:
            listener(before, after)
