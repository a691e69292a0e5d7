"""Recordings and snapshots on disk: listing, info and deletion.

A listing is a cheap ``os.scandir`` of one directory (no ffprobe), filtered,
sorted newest first and sliced; only the returned page is probed for its
duration, within a time budget, and what was probed once is cached
(:mod:`camsvc.storage.probe_cache`). Temp files (dot-prefixed), symlinks,
foreign extensions and the segment MediaMTX is still writing are never listed,
and the segment being written cannot be deleted.
"""

from __future__ import annotations

import enum
import errno
import logging
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import trio

from ..errors import InvalidState, NotFound
from ..health import iso
from . import names
from .media_info import MediaInfo
from .probe_cache import FileKey, ProbeCache

log = logging.getLogger("camsvc.storage.files")

#: a segment may carry a start stamp slightly before the session's own start (clock granularity)
SESSION_SLACK = 1.0
#: a file written within this many seconds may still grow: scans stat it until it has been quiet this long
VOLATILE_SECONDS = 10.0
#: the directory is not read again while its mtime is unchanged, if it had been quiet this long
QUIET_SECONDS = 1.0


class FileKind(enum.Enum):
    RECORDING = "recording"
    SNAPSHOT = "snapshot"

    @property
    def url_segment(self) -> str:
        """The path segment in download URLs (``/files/<segment>/<name>``)."""
        return self.value + "s"

    @property
    def extensions(self) -> tuple[str, ...]:
        return names.RECORDING_EXTENSIONS if self is FileKind.RECORDING else names.SNAPSHOT_EXTENSIONS

    @classmethod
    def from_url_segment(cls, segment: str) -> FileKind | None:
        return {"recordings": cls.RECORDING, "snapshots": cls.SNAPSHOT}.get(segment)


@attrs.frozen
class FileEntry:
    name: str
    size: int
    mtime_ns: int
    #: wall-clock creation time: the time the name encodes, else the modification time
    created: float
    device: str | None
    inode: int = 0
    #: ``created`` is the time the name encodes (it never changes), not the modification time
    named: bool = False

    @property
    def modified(self) -> float:
        return self.mtime_ns / 1e9

    def key(self, directory: str) -> FileKey:
        return FileKey(os.path.join(directory, self.name), self.mtime_ns, self.size)


@attrs.frozen
class FilePage:
    files: list[FileEntry]
    total: int
    limit: int
    offset: int
    #: media facts of the page's files that are known (probed now or earlier)
    media: dict[str, MediaInfo | None]


def _newest_first(entry: FileEntry) -> tuple[float, str]:
    return (entry.created, entry.name)


def in_progress_segments(entries: Iterable[FileEntry], active: Mapping[str, float]) -> set[str]:
    """Names of the segments being written: per recording camera, its newest segment of the session."""
    newest: dict[str, FileEntry] = {}
    for entry in entries:
        start = active.get(entry.device or "")
        if start is None or entry.created < start - SESSION_SLACK:
            continue
        best = newest.get(entry.device or "")
        if best is None or (entry.created, entry.name) > (best.created, best.name):
            newest[entry.device or ""] = entry
    return {e.name for e in newest.values()}


class FileStore:
    """One directory of media files of one kind."""

    def __init__(
        self,
        kind: FileKind,
        directory: str | os.PathLike[str],
        probes: ProbeCache,
        *,
        active: Callable[[], Mapping[str, float]] = dict,
        device_hint: Callable[[str], str | None] = lambda _name: None,
        probe_budget: float = 1.0,
    ) -> None:
        self.kind = kind
        self.directory = os.fspath(directory)
        self.probes = probes
        #: camera id → session start of cameras recording now (recordings only)
        self._active = active
        #: device of names we did not generate (custom snapshot names), remembered by whoever made them
        self._device_hint = device_hint
        self.probe_budget = probe_budget
        #: the previous scan: entries by name, and the names in listing order
        self._known: dict[str, FileEntry] = {}
        self._order: list[FileEntry] = []
        #: names whose last stat found them unchanged for VOLATILE_SECONDS
        self._settled: set[str] = set()
        #: (dev, inode, mtime) of the directory when last read, if it had been quiet then
        self._dir_key: tuple[int, int, int] | None = None
        self._scan_lock = threading.Lock()

    # ------------------------------------------------------------------ scanning

    def ensure_dir(self) -> None:
        Path(self.directory).mkdir(parents=True, exist_ok=True)

    def scan_sync(self, busy_devices: frozenset[str] = frozenset()) -> list[FileEntry]:
        """Every listable file (regular, not hidden, our extensions), newest first; on a worker thread.

        Incremental, because a listing of 10,000 files must stay well under 100 ms:

        - a file is stat()ed again only unless it is *settled*: its last stat found it unchanged for
          ``VOLATILE_SECONDS`` already, it still has the same inode, and its camera is not recording
          (``busy_devices``). New, replaced, growing and just-finished files are always current; the
          thousands of finished segments cost a dictionary lookup;
        - while the directory's own mtime is unchanged (nothing added, removed or renamed) it is not
          even read again: only the unsettled and busy files are stat()ed. This shortcut is taken only
          if the directory had been quiet for ``QUIET_SECONDS`` when it was last read, so a change
          within the filesystem's timestamp granularity cannot hide behind an equal mtime.

        A settled file rewritten in place by another program keeps its old size until
        :meth:`invalidate`, which housekeeping calls on every run.
        """
        with self._scan_lock:
            now_ns = time.time_ns()
            try:
                dst = os.stat(self.directory)
            except FileNotFoundError:
                self._known, self._order, self._settled, self._dir_key = {}, [], set(), None
                return []
            key = (dst.st_dev, dst.st_ino, dst.st_mtime_ns)
            settled_before = now_ns - int(VOLATILE_SECONDS * 1e9)
            if key == self._dir_key and self._refresh(busy_devices, settled_before):
                return list(self._order)
            self._read_dir(busy_devices, settled_before)
            quiet = dst.st_mtime_ns < now_ns - int(QUIET_SECONDS * 1e9)
            self._dir_key = key if quiet else None
            return list(self._order)

    def _read_dir(self, busy_devices: frozenset[str], settled_before: int) -> None:
        known, settled = self._known, self._settled
        fresh: dict[str, FileEntry] = {}
        now_settled: set[str] = set()
        changed = False
        extensions = self.kind.extensions
        try:
            iterator = os.scandir(self.directory)
        except FileNotFoundError:
            self._known, self._order, self._settled = {}, [], set()
            return
        with iterator:
            for item in iterator:
                name = item.name
                if name[0] == "." or not name.lower().endswith(extensions):
                    continue
                try:
                    if not item.is_file(follow_symlinks=False):
                        continue
                    old = known.get(name)
                    if (
                        old is not None
                        and name in settled
                        and old.inode == item.inode()
                        and old.device not in busy_devices
                    ):
                        entry = old
                    else:
                        entry = self._entry(name, item.stat(follow_symlinks=False), old)
                        changed = changed or entry != old
                except OSError:
                    continue  # deleted while we looked
                fresh[name] = entry
                if entry.mtime_ns < settled_before:
                    now_settled.add(name)
        changed = self._apply_hints(fresh) or changed
        if changed or len(fresh) != len(known):
            self._order = sorted(fresh.values(), key=_newest_first, reverse=True)
        self._known, self._settled = fresh, now_settled

    def _refresh(self, busy_devices: frozenset[str], settled_before: int) -> bool:
        """The directory is unchanged: re-stat only what may have changed. False → read it again."""
        known, settled = self._known, self._settled
        suspects = [n for n in known if n not in settled] if len(settled) != len(known) else []
        if busy_devices:
            suspects += [e.name for e in known.values() if e.device in busy_devices and e.name in settled]
        changed = False
        for name in suspects:
            try:
                st = os.stat(os.path.join(self.directory, name), follow_symlinks=False)
            except OSError:
                return False
            old = known[name]
            if (st.st_ino, st.st_size, st.st_mtime_ns) != (old.inode, old.size, old.mtime_ns):
                known[name] = self._entry(name, st, old)
                changed = True
            if st.st_mtime_ns < settled_before:
                settled.add(name)
            else:
                settled.discard(name)
        changed = self._apply_hints(known) or changed
        if changed:
            self._order = sorted(known.values(), key=_newest_first, reverse=True)
        return True

    def _apply_hints(self, entries: dict[str, FileEntry]) -> bool:
        """A custom snapshot name's camera may have been recorded after we first saw the file."""
        if self.kind is not FileKind.SNAPSHOT:
            return False
        changed = False
        for name, entry in entries.items():
            if entry.device is None and (hint := self._device_hint(name)) is not None:
                entries[name] = attrs.evolve(entry, device=hint)
                changed = True
        return changed

    def invalidate(self) -> None:
        """Let the next scan read the directory and stat every file again."""
        with self._scan_lock:
            self._settled = set()
            self._dir_key = None

    def _entry(self, name: str, st: os.stat_result, old: FileEntry | None) -> FileEntry:
        """The entry for ``st``; what the name says is taken from ``old`` (the name's last entry) when there
        is one: a name's meaning never changes, and 10,000 regex+mktime per full re-stat add up."""
        if old is not None:
            device, created, named = old.device, old.created if old.named else st.st_mtime, old.named
            if device is None:  # a custom name whose camera may be known by now
                device = self._device_hint(name)
        else:
            device, stamp = names.parse_name(name)
            # one string per camera, not one per file: a box keeps an entry for every file it holds
            device = sys.intern(device) if device is not None else self._device_hint(name)
            created, named = (stamp, True) if stamp is not None else (st.st_mtime, False)
        return FileEntry(name, st.st_size, st.st_mtime_ns, created, device, st.st_ino, named)

    async def scan(self) -> list[FileEntry]:
        busy = frozenset(self._active()) if self.kind is FileKind.RECORDING else frozenset()
        return await trio.to_thread.run_sync(self.scan_sync, busy)

    def in_progress(self, entries: Iterable[FileEntry]) -> set[str]:
        if self.kind is not FileKind.RECORDING:
            return set()
        active = self._active()
        return in_progress_segments(entries, active) if active else set()

    async def listable(self) -> list[FileEntry]:
        """The files a listing shows, newest first."""
        entries = await self.scan()
        busy = self.in_progress(entries)
        return [e for e in entries if e.name not in busy] if busy else entries

    # ------------------------------------------------------------------ API operations

    async def list(self, *, limit: int, offset: int, device: str | None = None) -> FilePage:
        files = await self.listable()
        if device is not None:
            files = [e for e in files if e.device == device]
        page = files[offset : offset + limit]
        keys = {e.name: e.key(self.directory) for e in page}
        if self.kind is FileKind.RECORDING and page:
            await self.probes.fill(list(keys.values()), budget=self.probe_budget)
        media: dict[str, MediaInfo | None] = {}
        for name, key in keys.items():
            known, info = self.probes.lookup(key)
            if known:
                media[name] = info
        return FilePage(page, len(files), limit, offset, media)

    def stat(self, name: str) -> FileEntry:
        """The entry of one validated name (NotFound if absent, a symlink, or outside the directory)."""
        path = names.resolve_inside(self.directory, name)
        if not name.lower().endswith(self.kind.extensions):
            raise NotFound("file", name)
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            raise NotFound("file", name) from None
        if not stat.S_ISREG(st.st_mode):
            raise NotFound("file", name)
        return self._entry(name, st, self._known.get(name))

    async def info(self, name: str) -> tuple[FileEntry, MediaInfo | None]:
        """One file's entry and its media facts (probed unless cached)."""
        names.validate_name(name)
        entry = await trio.to_thread.run_sync(self.stat, name)
        info = await self.probes.get(entry.key(self.directory))
        return entry, info

    async def is_in_progress(self, name: str) -> bool:
        if self.kind is not FileKind.RECORDING or not self._active():
            return False
        return name in self.in_progress(await self.scan())

    async def delete(self, name: str) -> FileEntry:
        """Delete one file; the segment still being written is refused with ``file_in_use``."""
        names.validate_name(name)
        entry = await trio.to_thread.run_sync(self.stat, name)
        if await self.is_in_progress(name):
            raise InvalidState("file_in_use", f"{name} is still being written")
        await self.remove(entry)
        return entry

    async def remove(self, entry: FileEntry) -> bool:
        """Unlink a file found by a scan (retention); False when it was already gone."""
        path = os.path.join(self.directory, entry.name)

        def unlink() -> bool:
            try:
                os.unlink(path)
            except FileNotFoundError:
                return False
            except IsADirectoryError:
                raise NotFound("file", entry.name) from None
            except OSError as exc:
                if exc.errno == errno.EISDIR:
                    raise NotFound("file", entry.name) from None
                raise
            return True

        removed = await trio.to_thread.run_sync(unlink)
        self.probes.forget(path)
        if removed:
            log.info("file deleted", extra={"file": entry.name, "kind": self.kind.value, "bytes": entry.size})
        return removed

    def total_size_sync(self) -> int:
        return sum(e.size for e in self.scan_sync())


def file_object(
    kind: FileKind,
    entry: FileEntry,
    download_url: str,
    media: MediaInfo | None = None,
    *,
    with_duration: bool,
) -> dict[str, Any]:
    """The spec's file object: ``{filename, file_size, created_time, modified_time, download_url, device, format, duration?}``."""
    doc: dict[str, Any] = {
        "filename": entry.name,
        "file_size": entry.size,
        "created_time": iso(entry.created),
        "modified_time": iso(entry.modified),
        "download_url": download_url,
        "device": entry.device,
        "format": names.format_of(entry.name),
    }
    if kind is FileKind.RECORDING and (with_duration or (media is not None and media.duration is not None)):
        doc["duration"] = (
            round(media.duration, 3) if media is not None and media.duration is not None else None
        )
    return doc
