"""Media facts (duration, resolution) of files, remembered by path + mtime + size.

ffprobe costs ~0.1 s of a core per file, so listings never probe everything:
they read what is cached and probe only the page they return (see
:mod:`camsvc.storage.files`). A file that changed (new mtime or size) is probed
again; a file that is not media is remembered as such (``None``) so it is not
probed on every listing.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import attrs
import trio

from ..errors import DependencyFailed
from .media_info import MediaInfo, MediaProber

log = logging.getLogger("camsvc.storage.probe_cache")


@attrs.frozen
class FileKey:
    path: str
    mtime_ns: int
    size: int


class ProbeCache:
    def __init__(
        self, runner: MediaProber, *, max_entries: int = 50_000, concurrency: int = 2, timeout: float = 10.0
    ) -> None:
        self._runner = runner
        self._max = max_entries
        self._timeout = timeout
        self._entries: OrderedDict[str, tuple[FileKey, MediaInfo | None]] = OrderedDict()
        # Separate from the runner's limit so listings never take every ffmpeg slot from snapshots.
        self._limiter = trio.CapacityLimiter(concurrency)
        self.probes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: FileKey) -> tuple[bool, MediaInfo | None]:
        """(known, info): known is False when the file was never probed in this exact version."""
        entry = self._entries.get(key.path)
        if entry is None or entry[0] != key:
            return False, None
        self._entries.move_to_end(key.path)
        return True, entry[1]

    def forget(self, path: str) -> None:
        self._entries.pop(path, None)

    def _store(self, key: FileKey, info: MediaInfo | None) -> None:
        self._entries[key.path] = (key, info)
        self._entries.move_to_end(key.path)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def get(self, key: FileKey) -> MediaInfo | None:
        """The file's media facts, probing it if this version is not cached; None if it is not media."""
        known, info = self.lookup(key)
        if known:
            return info
        async with self._limiter:
            known, info = self.lookup(key)  # someone may have probed it while we waited
            if known:
                return info
            self.probes += 1
            try:
                info = await self._runner.probe(key.path, timeout=self._timeout)
            except DependencyFailed as exc:
                log.info(
                    "file is not readable media", extra={"path": key.path, "detail": exc.data.get("detail")}
                )
                info = None
        self._store(key, info)
        return info

    async def fill(self, keys: list[FileKey], *, budget: float) -> None:
        """Probe the uncached ``keys`` concurrently for at most ``budget`` seconds; unfinished ones stay unknown."""
        missing = [k for k in keys if not self.lookup(k)[0]]
        if not missing:
            return
        with trio.move_on_after(budget):
            async with trio.open_nursery() as nursery:
                for key in missing:
                    nursery.start_soon(self.get, key)
