"""Recording sessions: MediaMTX writes the files, we own the session around them.

A session is started by setting ``Camera.recording`` through the camera actor
(the reconciler turns that into ``record: true`` on the camera's MediaMTX path)
and waiting for ``mediamtx.sync`` to confirm MediaMTX accepted it; if it did
not, the desired state is rolled back and the caller gets -32050. Stopping
clears it again. A session's files are the segments MediaMTX wrote for that
camera between the session's start and end (``<camera>_<local time>-<µs>.<ext>``).

Sessions are rows in SQLite, written *before* the desired state changes, so a
crash at any point leaves a row that the next start reconciles: a session left
``RECORDING`` is resumed when its camera shows up within ``recording.resume_grace``
(the same session id; MediaMTX usually kept recording meanwhile), otherwise it is
closed as FAILED with its real end time (its newest segment's mtime) and its files.
Nothing here ever deletes or rewrites a segment.

While MediaMTX is away (unreachable, or restarted since we last looked) a session's media stops:
the session keeps the hole as a *gap* — from the last write of the segment written before it to the
start of the first segment written after it — persisted with the session, shown by
``get_recording_status`` and ``stop_recording``, and announced by a ``recording_status_update``
(status RECORDING, ``interrupted: true``) when it opens and another (``interrupted: false``) when
recording resumes. An API outage during which the segment keeps growing is not a gap.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
import trio

from ..cameras.model import Camera, CameraStatus, RecordingState
from ..cameras.registry import CameraRegistry
from ..errors import CamsvcError, DependencyFailed, InvalidParams, InvalidState, NotFound
from ..events import EventBus
from ..health import iso
from ..storage import names
from ..storage.disk import StorageGate
from ..storage.files import SESSION_SLACK, FileEntry
from ..storage.state import StateStore
from .deps import CameraDirectoryLike, MediamtxLike

log = logging.getLogger("camsvc.media.recordings")

RECORDING, STOPPED, FAILED = "RECORDING", "STOPPED", "FAILED"
#: a timed session's files may be this much shorter than asked before recording is extended
TOP_UP_TOLERANCE = 0.2
#: the most a timed session is extended to reach its duration
MAX_TOP_UP = 10.0
#: the most media a recorder is assumed to hold unwritten (its fragment/part length)
MAX_UNWRITTEN = 2.0
#: how often MediaMTX's state is looked at while something records
OUTAGE_POLL = 0.5
#: while MediaMTX is unreachable, a newest segment unwritten this long means its recording stopped
#: (MediaMTX writes an fMP4 part every recordPartDuration, 1 s by default)
STALL = 3.0
#: how long past its nominal end a timed session without media yet waits for its first segment
#: (starting a recording recreates the MediaMTX path, so the stream must come up again first)
MEDIA_WAIT = 15.0
#: the reason of a session that ended without a single segment (it is FAILED, never STOPPED)
NO_MEDIA = "no_media"
#: API format → MediaMTX recordFormat (``mp4`` is accepted and reported as given)
FORMATS = {"fmp4": "fmp4", "mp4": "fmp4", "mpegts": "mpegts"}

SCHEMA = [
    """
    CREATE TABLE recording_sessions (
        session_id TEXT PRIMARY KEY,
        device TEXT NOT NULL,
        filename TEXT NOT NULL,
        format TEXT NOT NULL,
        record_format TEXT NOT NULL,
        start_time REAL NOT NULL,
        duration INTEGER,
        status TEXT NOT NULL,
        end_time REAL,
        reason TEXT,
        files TEXT NOT NULL DEFAULT '[]',
        file_size INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX recording_sessions_status ON recording_sessions(status);
    CREATE INDEX recording_sessions_device ON recording_sessions(device, start_time)
    """,
    # when the media really began (the first segment's start): timed sessions count from here
    "ALTER TABLE recording_sessions ADD COLUMN media_start REAL",
    # holes in the media while MediaMTX was away: JSON [[start, end or null], ...]
    "ALTER TABLE recording_sessions ADD COLUMN gaps TEXT NOT NULL DEFAULT '[]'",
]

Scan = Callable[[], Awaitable[list[FileEntry]]]


@attrs.frozen
class Session:
    session_id: str
    device: str
    #: the first segment's name; None until MediaMTX created it (a name is never guessed)
    filename: str | None
    #: as the client asked (fmp4 | mp4 | mpegts)
    format: str
    #: what MediaMTX writes (fmp4 | mpegts)
    record_format: str
    start_time: float
    #: requested seconds; None = until stopped
    duration: int | None = None
    status: str = RECORDING
    end_time: float | None = None
    reason: str | None = None
    files: tuple[str, ...] = ()
    file_size: int = 0
    #: wall-clock start of the first segment, once MediaMTX wrote it
    media_start: float | None = None
    #: holes in the media while MediaMTX was away: (start, end); end None while it lasts
    gaps: tuple[tuple[float, float | None], ...] = ()

    @property
    def interrupted(self) -> bool:
        return bool(self.gaps) and self.gaps[-1][1] is None

    def deadline(self) -> float | None:
        """When a timed session ends: ``duration`` seconds of *media*, so counted from the first
        segment's start (the stream may take a moment to come up), else from the request."""
        if self.duration is None:
            return None
        return (self.media_start if self.media_start is not None else self.start_time) + self.duration

    def state(self) -> RecordingState:
        return RecordingState(
            self.session_id, self.filename, self.start_time, self.record_format, self.duration
        )

    def elapsed(self, now: float | None = None) -> float:
        end = self.end_time if self.end_time is not None else (time.time() if now is None else now)
        return round(max(0.0, end - self.start_time), 3)

    @classmethod
    def from_row(cls, row: Any) -> Session:
        return cls(
            row["session_id"],
            row["device"],
            row["filename"] or None,  # stored as '' while unknown (the column is NOT NULL)
            row["format"],
            row["record_format"],
            row["start_time"],
            row["duration"],
            row["status"],
            row["end_time"],
            row["reason"],
            tuple(json.loads(row["files"] or "[]")),
            row["file_size"] or 0,
            row["media_start"],
            tuple((g[0], g[1]) for g in json.loads(row["gaps"] or "[]")),
        )


@attrs.frozen
class StartResult:
    session: Session
    low_space_warning: bool


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(text: object) -> float | None:
    """RFC 3339 (MediaMTX: nanoseconds, local offset) → epoch seconds; None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = dt.datetime.fromisoformat(_FRACTION.sub(r"\1", text.replace("Z", "+00:00")))
    except ValueError:
        return None
    if when.tzinfo is None or when.year < 2000:  # a zero time means "never"
        return None
    return when.timestamp()


def session_segments(
    entries: list[FileEntry], device: str, start: float, end: float | None
) -> list[FileEntry]:
    """The segments of ``device`` that began within [start, end] (end None = open), oldest first."""
    out = [
        e
        for e in entries
        if e.device == device
        and names.SEGMENT_NAME.fullmatch(e.name)
        and e.created >= start - SESSION_SLACK
        and (end is None or e.created <= end)
    ]
    out.sort(key=lambda e: (e.created, e.name))
    return out


class Recordings:
    """Owns every recording session; one per camera at a time."""

    def __init__(
        self,
        *,
        directory: str,
        registry: CameraRegistry,
        store: StateStore,
        bus: EventBus,
        gate: StorageGate,
        scan: Scan,
        cameras: CameraDirectoryLike | None,
        mediamtx: MediamtxLike | None,
        default_format: str = "fmp4",
        sync_timeout: float = 10.0,
        first_segment_wait: float = 3.0,
        resume_grace: float = 15.0,
        poll_interval: float = 0.2,
        settle_interval: float = 0.3,
        outage_poll: float = OUTAGE_POLL,
        stall: float = STALL,
        media_wait: float = MEDIA_WAIT,
        probe: Callable[[str], Awaitable[float | None]] | None = None,
    ) -> None:
        self.directory = directory
        self._registry = registry
        self._store = store
        self._bus = bus
        self._gate = gate
        self._scan = scan
        self._cameras = cameras
        self._mediamtx = mediamtx
        self.default_format = default_format
        self.sync_timeout = sync_timeout
        self.first_segment_wait = first_segment_wait
        self.resume_grace = resume_grace
        self.poll_interval = poll_interval
        self.settle_interval = settle_interval
        self.outage_poll = outage_poll
        self.stall = stall
        self.media_wait = media_wait
        #: looks taken at MediaMTX's state while sessions were active (tests wait on it)
        self.outage_checks = 0
        #: media duration of a file (ffprobe), for timed sessions' final check
        self._probe = probe
        #: sessions recording now, by camera id (added through _activate)
        self._active: dict[str, Session] = {}
        #: set when a session becomes active: the outage watch sleeps on it while nothing records
        self._activated = trio.Event()
        #: sessions found RECORDING at start, not yet resumed or closed
        self._recovering: dict[str, Session] = {}
        #: one lock per camera id while someone holds or waits for it: weak, so the ids of cameras that
        #: came and went (external streams added and removed for months) do not pile up
        self._locks: weakref.WeakValueDictionary[str, trio.Lock] = weakref.WeakValueDictionary()
        #: cameras whose start / stop is under way: state errors are answered from these at once
        #: instead of queueing behind the camera's lock, and a removal leaves the session's end to them
        self._starting: set[str] = set()
        self._stopping: set[str] = set()
        #: cameras whose removal has begun (until their id is released): no session may start on them
        self._removing: set[str] = set()
        #: session id → its tail claim (a stop MediaMTX has not confirmed yet; see _claim_tail)
        self._tails: dict[str, trio.CancelScope] = {}
        #: sessions started whose RECORDING event is not out yet (the start still looks for the first segment)
        self._unannounced: set[str] = set()
        #: camera id → the start of the newest session begun on it (rolled back or not): where a tail ends
        self._last_start: dict[str, float] = {}
        self._timers: dict[str, trio.CancelScope] = {}
        self._nursery: trio.Nursery | None = None
        self._removal_hooked = False
        self.recovered: list[tuple[str, str]] = []  # (session_id, "resumed" | "closed") for tests and logs

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Create the table and load sessions a crash left RECORDING (synchronous, at build time)."""
        self._store.ensure_schema("recordings", SCHEMA)
        rows = self._store.run_sync(
            lambda c: c.execute("SELECT * FROM recording_sessions WHERE status = ?", (RECORDING,)).fetchall()
        )
        for row in rows:
            session = Session.from_row(row)
            self._recovering[session.session_id] = session

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The ``recordings`` child: duration timers, crash recovery, the camera-removed hook."""
        self._hook_removal()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for session in list(self._active.values()):
                    self._schedule_timer(session)  # a restart of this child re-arms timers
                    if session.filename is None:
                        self._watch_first_segment(session)
                for session in list(self._recovering.values()):
                    nursery.start_soon(self._recover, session)
                nursery.start_soon(self._stop_when_full)
                nursery.start_soon(self._watch_outages)
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None
            self._timers.clear()
            self._tails.clear()

    def _hook_removal(self) -> None:
        directory = self._cameras
        if directory is not None and not self._removal_hooked:
            directory.on_removed(self._on_camera_removed)
            directory.on_id_released(self._released)
            self._removal_hooked = True

    def _released(self, camera_id: str) -> None:
        self._removing.discard(camera_id)
        self._last_start.pop(camera_id, None)

    # ------------------------------------------------------------------ queries

    def active(self) -> Mapping[str, Session]:
        return dict(self._active)

    def active_starts(self) -> dict[str, float]:
        """camera id → start of the session recording it now (also sessions awaiting recovery:
        MediaMTX may still be writing their newest segment)."""
        starts = {s.device: s.start_time for s in self._recovering.values()}
        starts.update({cam: s.start_time for cam, s in self._active.items()})
        return starts

    @property
    def active_count(self) -> int:
        return len(self._active)

    def session_for(self, camera_id: str) -> Session | None:
        return self._active.get(camera_id)

    async def get(self, session_id: str) -> Session | None:
        row = await self._store.fetchone(
            "SELECT * FROM recording_sessions WHERE session_id = ?", (session_id,)
        )
        return Session.from_row(row) if row is not None else None

    def status(self, device: str) -> dict[str, Any]:
        """get_recording_status (spec §4)."""
        camera = self._camera(device)
        session = self._active.get(camera.id)
        if session is None:
            return {
                "device": camera.id,
                "recording": False,
                "session_id": None,
                "filename": None,
                "start_time": None,
                "elapsed": None,
                "duration": None,
                "format": None,
                "interrupted": False,
                "gaps": [],
            }
        return {
            "device": camera.id,
            "recording": True,
            "session_id": session.session_id,
            "filename": session.filename,
            "start_time": iso(session.start_time),
            "elapsed": session.elapsed(),
            "duration": session.duration,
            "format": session.format,
            "interrupted": session.interrupted,
            "gaps": gaps_doc(session),
        }

    def _camera(self, device: str) -> Camera:
        camera = self._registry.get(device)
        if camera is None:
            raise NotFound("camera", device)
        return camera

    def _lock(self, camera_id: str) -> trio.Lock:
        lock = self._locks.get(camera_id)
        if lock is None:
            lock = self._locks[camera_id] = trio.Lock()
        return lock

    # ------------------------------------------------------------------ start

    async def start(
        self, device: str, *, duration: int | None = None, format: str | None = None
    ) -> StartResult:  # noqa: A002
        camera = self._camera(device)
        fmt = format if format is not None else self.default_format
        if fmt not in FORMATS:
            raise InvalidParams("format", "invalid_value", f"format must be one of {', '.join(FORMATS)}")
        if duration is not None and (
            not isinstance(duration, int) or isinstance(duration, bool) or duration <= 0
        ):
            raise InvalidParams("duration", "out_of_range", "duration must be a whole number of seconds > 0")
        self._refuse_start(camera)  # at once: an already_recording answer must not queue behind a start
        async with self._lock(camera.id):
            camera = self._camera(camera.id)
            self._refuse_start(camera)
            self._starting.add(camera.id)
            try:
                gate = await self._gate.check(self.directory)
                gateway = self._require_mediamtx()
                gateway.ensure_available()
                directory = self._require_cameras()
                actor = directory.actor(camera.id)
                session = Session(
                    str(uuid.uuid4()), camera.id, None, fmt, FORMATS[fmt], time.time(), duration
                )
                # From the first write on, a caller that goes away (client disconnected) must not leave a
                # half-started session: the rest is shielded, bounded by the sync and first-segment waits.
                with trio.CancelScope(shield=True):
                    session, applied_at = await self._begin(session, actor, gateway)
            finally:
                self._starting.discard(camera.id)
        with trio.CancelScope(shield=True):
            session = await self._announce(session, applied_at)
        return StartResult(session, gate.warning)

    def _refuse_start(self, camera: Camera) -> None:
        if (
            camera.id in self._active
            or camera.id in self._starting
            or camera.recording is not None
            or self._recovering_for(camera.id)
        ):
            raise InvalidState("already_recording", f"camera {camera.id} is already recording")
        if camera.id in self._removing:
            raise InvalidState("camera_disconnected", f"camera {camera.id} is being removed")
        if camera.status is not CameraStatus.CONNECTED:
            raise InvalidState("camera_disconnected", f"camera {camera.id} is {camera.status.value}")

    async def _begin(self, session: Session, actor: Any, gateway: MediamtxLike) -> tuple[Session, float]:
        """Persist, set the desired state, have MediaMTX apply it (or roll back); the session and when
        MediaMTX applied it. The caller holds the camera's lock."""
        # Persist first: a crash from here on leaves a row the next start reconciles.
        await self._insert(session)
        self._last_start[session.device] = session.start_time
        try:
            # Inside the try: the camera may have been removed while the row was written, and the row
            # must not outlive the refusal.
            actor.set_recording(session.state())
            await gateway.sync(self.sync_timeout, name=session.device)
        except Exception as exc:
            await self._roll_back(session, actor)
            if isinstance(exc, CamsvcError) and not isinstance(exc, DependencyFailed):
                raise
            detail = exc.data.get("detail", str(exc)) if isinstance(exc, CamsvcError) else str(exc)
            raise DependencyFailed("mediamtx", f"MediaMTX did not accept the recording: {detail}") from None
        applied_at = time.time()
        self._activate(session)
        if session.device in self._removing or self._registry.get(session.device) is None:
            # The camera's removal began while MediaMTX applied the start (its callback found no session
            # yet): end it here, owning whatever MediaMTX wrote meanwhile, rather than leave a zombie.
            # Nothing recorded yet: undone, as a refused start is.
            await self._end(session, FAILED, "camera_disconnected", clear=True, sync=True, undo_empty=True)
            raise InvalidState("camera_disconnected", f"camera {session.device} was removed")
        self._schedule_timer(session)
        self._unannounced.add(session.session_id)
        log.info(
            "recording started",
            extra={"camera": session.device, "session": session.session_id, "format": session.format},
        )
        return session, applied_at

    async def _announce(self, session: Session, applied_at: float) -> Session:
        """Adopt the first segment and say RECORDING; the wait for the segment is outside the camera's
        lock, so a stop (or a state error) need not wait for it. A session that ended meanwhile was
        announced by its end (see _close), which keeps the events in order."""
        first = await self._wait_first_segment(session, self.first_segment_wait)
        async with self._lock(session.device):
            if session.session_id not in self._unannounced:
                return session
            self._unannounced.discard(session.session_id)
            current = self._active.get(session.device, session)  # unannounced: still active
            if first is not None:
                current = await self._rename(current, first, applied_at)
            else:
                # The stream is slow to start: the result and this event say filename null, and a further
                # RECORDING event names the segment once MediaMTX created it. A guessed name would never exist.
                self._watch_first_segment(current)
            self._publish(current)
            return current

    def _recovering_for(self, camera_id: str) -> bool:
        return any(s.device == camera_id for s in self._recovering.values())

    def _require_mediamtx(self) -> MediamtxLike:
        gateway = self._mediamtx
        if gateway is None:
            raise DependencyFailed("mediamtx", "MediaMTX is not configured", reason="mediamtx_unavailable")
        return gateway

    def _require_cameras(self) -> CameraDirectoryLike:
        directory = self._cameras
        if directory is None:
            raise DependencyFailed("cameras", "camera actors are not running")
        self._hook_removal()
        return directory

    async def _roll_back(self, session: Session, actor: Any) -> None:
        with trio.CancelScope(shield=True):
            try:
                actor.set_recording(None)
            except Exception:
                log.exception("could not clear the recording state after a failed start")
            await self._delete(session)
        # MediaMTX may have applied record: true before the failure showed (a timeout, a pass that failed
        # on another path): whatever it wrote until it confirms record: false gets a FAILED session.
        self._claim_tail(
            attrs.evolve(session, status=FAILED, end_time=time.time(), reason="mediamtx_unavailable"),
            gone=False,
        )
        log.warning(
            "recording start rolled back", extra={"camera": session.device, "session": session.session_id}
        )

    async def _wait_first_segment(self, session: Session, wait: float) -> str | None:
        with trio.move_on_after(wait):
            while True:
                segments = session_segments(await self._scan(), session.device, session.start_time, None)
                if segments:
                    return segments[0].name
                await trio.sleep(self.poll_interval)
        return None

    def _watch_first_segment(self, session: Session) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(self._adopt_first_segment, session.session_id)

    async def _adopt_first_segment(self, session_id: str, patience: float = 120.0) -> None:
        """Later: take the real first segment's name once MediaMTX wrote it (slow stream start), and say so."""
        with trio.move_on_after(patience):
            while True:
                await trio.sleep(max(self.poll_interval, 1.0))
                session = next((s for s in self._active.values() if s.session_id == session_id), None)
                if session is None:
                    return
                segments = session_segments(await self._scan(), session.device, session.start_time, None)
                if segments:
                    async with self._lock(session.device):
                        current = self._active.get(session.device)
                        if current is not None and current.session_id == session_id:
                            self._publish(await self._rename(current, segments[0].name, current.start_time))
                    return
        log.warning("recording has written no segment yet", extra={"session": session_id})

    async def _media_start(self, device: str, applied_at: float, filename: str) -> float:
        """When the recorded media begins: once MediaMTX recorded *and* the stream was up.

        The stream's ready time comes from MediaMTX's runtime; without it, the first segment's
        name (MediaMTX names a segment after its first frame), else the moment record was applied.
        """
        gateway = self._mediamtx
        if gateway is not None:
            try:
                runtime = await gateway.runtime(device)
            except DependencyFailed:
                runtime = None
            ready_at = parse_time(getattr(runtime, "ready_time", None)) if runtime is not None else None
            if ready_at is not None and getattr(runtime, "ready", False):
                return max(applied_at, ready_at)
        named = names.segment_start(filename)
        return named if named is not None else applied_at

    async def _rename(self, session: Session, filename: str, applied_at: float) -> Session:
        """Adopt the real first segment: its name, and when the media really began."""
        media_start = await self._media_start(session.device, applied_at, filename)
        if filename == session.filename and media_start == session.media_start:
            return session
        session = attrs.evolve(session, filename=filename, media_start=media_start)
        await self._store.execute(
            "UPDATE recording_sessions SET filename = ?, media_start = ? WHERE session_id = ?",
            (filename, media_start, session.session_id),
        )
        self._active[session.device] = session
        directory = self._cameras
        if directory is not None:
            try:
                directory.actor(session.device).set_recording(session.state())
            except CamsvcError:
                pass
        return session

    # ------------------------------------------------------------------ stop

    async def stop(self, device: str) -> Session:
        camera_id = self._registry.resolve(device)
        if camera_id in self._stopping or (camera_id not in self._active and camera_id not in self._starting):
            # at once: a not_recording answer must not queue behind a stop (or anything else) under way
            self._camera(device)  # unknown camera → -32010 rather than not_recording
            raise InvalidState("not_recording", f"camera {camera_id} is not recording")
        async with self._lock(camera_id):
            session = self._active.get(camera_id)
            if session is None:
                self._camera(device)
                raise InvalidState("not_recording", f"camera {camera_id} is not recording")
            return await self._finish(session, STOPPED, None)

    async def _finish(
        self, session: Session, status: str, reason: str | None, *, clear: bool = True, sync: bool = True
    ) -> Session:
        """End an active session (caller holds the camera's lock).

        Shielded: once begun, a stop is finished (desired state cleared, row closed, event sent) even if
        the caller goes away; it is bounded by the sync timeout and the settle wait.
        """
        self._stopping.add(session.device)
        try:
            with trio.CancelScope(shield=True):
                ended = await self._end(session, status, reason, clear=clear, sync=sync)
        finally:
            self._stopping.discard(session.device)
        return ended

    async def _end(
        self,
        session: Session,
        status: str,
        reason: str | None,
        *,
        clear: bool,
        sync: bool,
        undo_empty: bool = False,
    ) -> Session:
        """``undo_empty``: a session that ends without a file loses its row (a start that is refused)."""
        timer = self._timers.pop(session.session_id, None)
        if timer is not None:
            timer.cancel()
        end = time.time()
        self._active.pop(session.device, None)
        if clear:
            directory = self._cameras
            try:
                if directory is not None:
                    directory.actor(session.device).set_recording(None)
            except CamsvcError:
                pass  # camera gone: its path goes with it
        confirmed = not sync
        gateway = self._mediamtx
        if sync and gateway is not None:
            try:
                await gateway.sync(self.sync_timeout, name=session.device)
            except DependencyFailed as exc:
                # The desired state says "not recording"; the reconciler converges when MediaMTX is back.
                log.warning(
                    "MediaMTX not synced after stop",
                    extra={"session": session.session_id, "detail": exc.data.get("detail")},
                )
            else:
                # MediaMTX recorded until it applied record: false, so the session owns every segment
                # begun until now (one that rotated in while the stop was applied included).
                confirmed = True
                end = time.time()
                await self._settle(session, end)
        closed = await self._close(session, status, reason, end)
        if undo_empty and not closed.files:
            await self._delete(closed)  # before any tail, which writes the row back if a file turns up
        if not confirmed or not clear:
            self._claim_tail(closed, gone=not clear)
        return closed

    async def _settle(self, session: Session, end: float, limit: float = 3.0) -> None:
        """Give MediaMTX a moment to finish the last segment, so the reported sizes are final."""
        last: tuple[Any, ...] | None = None
        with trio.move_on_after(limit):
            while True:
                segments = session_segments(await self._scan(), session.device, session.start_time, end)
                now = tuple((e.name, e.size, e.mtime_ns) for e in segments[-1:])
                if now == last:
                    return
                last = now
                await trio.sleep(self.settle_interval)

    async def _close(self, session: Session, status: str, reason: str | None, end: float) -> Session:
        segments = session_segments(await self._scan(), session.device, session.start_time, end)
        filename = segments[0].name if segments else session.filename
        if session.session_id in self._unannounced:  # a stop overtook the start's announcement
            self._unannounced.discard(session.session_id)
            self._publish(session)
        if not segments and status == STOPPED:
            # Asked to stop (or timed out) before the stream produced a frame: nothing was recorded,
            # and the session must not claim success with no files.
            status, reason = FAILED, NO_MEDIA
        sizes = await trio.to_thread.run_sync(_sizes_now, self.directory, [e.name for e in segments])
        gaps = session.gaps
        if session.interrupted:  # ended while MediaMTX was away: the media is missing up to the end
            gaps = (*gaps[:-1], (gaps[-1][0], max(gaps[-1][0], end)))
        closed = attrs.evolve(
            session,
            filename=filename,
            status=status,
            end_time=end,
            reason=reason,
            files=tuple(e.name for e in segments),
            file_size=sum(sizes),
            gaps=gaps,
        )
        with trio.CancelScope(shield=True):  # the row must say how it ended even if our caller is cancelled
            await self._store.execute(
                "UPDATE recording_sessions SET filename = ?, status = ?, end_time = ?, reason = ?, files = ?, "
                "file_size = ?, gaps = ? WHERE session_id = ?",
                (
                    filename or "",
                    status,
                    end,
                    reason,
                    json.dumps(closed.files),
                    closed.file_size,
                    json.dumps(closed.gaps),
                    session.session_id,
                ),
            )
        log.info(
            "recording ended",
            extra={
                "camera": session.device,
                "session": session.session_id,
                "status": status,
                "reason": reason,
                "files": len(closed.files),
            },
        )
        self._publish(closed)
        return closed

    # ------------------------------------------------------------------ tails

    def _claim_tail(self, session: Session, *, gone: bool) -> None:
        if self._nursery is not None and session.session_id not in self._tails:
            scope = trio.CancelScope()
            self._tails[session.session_id] = scope
            self._nursery.start_soon(self._own_tail, session, gone, scope)

    async def _own_tail(
        self, session: Session, gone: bool, scope: trio.CancelScope, patience: float = 300.0
    ) -> None:
        """A closed session keeps the segments its camera's path writes until MediaMTX confirms it stopped.

        A stop MediaMTX did not confirm (slow, restarting, unreachable) may leave it recording for a
        while, and a removed camera's path records until the reconciler deletes it; without this, those
        segments would belong to no session. Confirmation is a successful sync once the desired state no
        longer records the path (``gone``: once the camera left the registry, so its path is deleted);
        a later session on the same camera takes over from its own start. A start that was undone
        (rolled back, or refused by the camera's removal before a file existed) has no row: one is
        written (FAILED) only if MediaMTX wrote something for it after all, so the tail writes its
        row whole rather than assume it is there.
        """
        gateway = self._mediamtx
        with scope, trio.move_on_after(patience):
            while gateway is not None:
                if not gone or self._registry.get(session.device) is None:
                    try:
                        await gateway.sync(self.sync_timeout, name=session.device)
                    except DependencyFailed:
                        pass
                    else:
                        break
                await trio.sleep(max(self.poll_interval, 1.0))
            await self._settle(session, time.time())
        self._tails.pop(session.session_id, None)
        confirmed = time.time()
        newest = self._last_start.get(session.device)
        end = newest if newest is not None and session.start_time < newest < confirmed else confirmed
        segments = session_segments(await self._scan(), session.device, session.start_time, end)
        names_ = tuple(e.name for e in segments)
        if names_ == session.files or not set(session.files) <= set(names_):
            return
        sizes = await trio.to_thread.run_sync(_sizes_now, self.directory, list(names_))
        with trio.CancelScope(shield=True):
            await self._store.execute(
                "INSERT INTO recording_sessions(session_id, device, filename, format, record_format, "
                "start_time, duration, status, end_time, reason, files, file_size, gaps) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(session_id) DO UPDATE SET "
                "files = excluded.files, file_size = excluded.file_size, filename = excluded.filename",
                (
                    session.session_id,
                    session.device,
                    names_[0],
                    session.format,
                    session.record_format,
                    session.start_time,
                    session.duration,
                    session.status,
                    session.end_time,
                    session.reason,
                    json.dumps(names_),
                    sum(sizes),
                    json.dumps(session.gaps),
                ),
            )
        log.info(
            "recording's tail claimed: MediaMTX recorded on after the stop",
            extra={"session": session.session_id, "files": len(names_) - len(session.files)},
        )

    # ------------------------------------------------------------------ timers

    def _schedule_timer(self, session: Session) -> None:
        if session.duration is None or self._nursery is None or session.session_id in self._timers:
            return
        scope = trio.CancelScope()
        self._timers[session.session_id] = scope
        self._nursery.start_soon(self._timer, session, scope)

    async def _timer(self, session: Session, scope: trio.CancelScope) -> None:
        with scope:
            while True:
                # Re-read the session each time: learning the media start moves the deadline later.
                current = self._active.get(session.device)
                if current is None or current.session_id != session.session_id:
                    return
                deadline = current.deadline()
                assert deadline is not None
                left = deadline - time.time()
                if left <= 0:
                    if current.media_start is None and -left < self.media_wait:
                        # No media yet: the duration counts from the first frame, which is still to come.
                        await trio.sleep(self.poll_interval)
                        continue
                    break
                await trio.sleep(left)
            await self._top_up(session)
            # From here on the stop must not be cancelled by a manual stop racing us.
            self._timers.pop(session.session_id, None)
        if scope.cancelled_caught:
            return
        async with self._lock(session.device):
            current = self._active.get(session.device)
            if current is None or current.session_id != session.session_id:
                return
            try:
                await self._finish(current, STOPPED, "duration_reached")
            except Exception:
                log.exception("timed recording could not be stopped", extra={"session": session.session_id})

    async def _top_up(self, session: Session) -> None:
        """At the deadline, make sure the files really hold ``duration`` seconds of media.

        The media start is an estimate (MediaMTX begins a segment at a keyframe, a moment after the
        stream was ready), so the recorded media is measured once and, if it is short, recording goes
        on for what is missing (at most MAX_TOP_UP). An in-progress fMP4 shows only its finished
        fragments, so this errs on the long side: a recording is never cut short.
        """
        if self._probe is None or session.duration is None:
            return
        segments = session_segments(await self._scan(), session.device, session.start_time, None)
        if not segments:
            return
        recorded = 0.0
        for entry in segments:
            try:
                length = await self._probe(os.path.join(self.directory, entry.name))
            except DependencyFailed:
                return  # cannot tell: keep the planned end
            recorded += length or 0.0
        # What the recorder holds but has not written yet: media since the newest file's last write.
        try:
            newest = await trio.to_thread.run_sync(os.stat, os.path.join(self.directory, segments[-1].name))
        except OSError:
            return
        unwritten = min(max(0.0, time.time() - newest.st_mtime), MAX_UNWRITTEN)
        missing = session.duration - recorded - unwritten
        if missing > TOP_UP_TOLERANCE:
            extra = min(missing, MAX_TOP_UP)
            log.info(
                "recording extended to reach its duration",
                extra={"session": session.session_id, "extra": extra},
            )
            await trio.sleep(extra)

    # ------------------------------------------------------------------ MediaMTX outages

    async def _watch_outages(self) -> None:
        """Keep the gaps MediaMTX outages leave in running sessions, and announce them."""
        gateway = self._mediamtx
        if gateway is None:
            return
        seen_started: str | None = None
        while True:
            if not self._active:
                # Nothing records, so no outage can cut anything: no wake-ups until a session begins.
                self._activated = trio.Event()
                await self._activated.wait()
                seen_started = gateway.status().server_started
            await trio.sleep(self.outage_poll)
            st = gateway.status()
            restarted_at: float | None = None
            if st.server_started is not None:
                if seen_started is not None and st.server_started != seen_started:
                    # Restarted since we last looked (perhaps without our ever seeing it down).
                    restarted_at = parse_time(st.server_started) or time.time()
                seen_started = st.server_started
            if not self._active:
                continue
            self.outage_checks += 1
            if (
                st.reachable
                and restarted_at is None
                and not any(s.interrupted for s in self._active.values())
            ):
                continue
            try:
                entries = await self._scan()
                for camera_id in list(self._active):
                    async with self._lock(camera_id):
                        session = self._active.get(camera_id)
                        if session is not None:
                            await self._track_gap(session, entries, st.reachable, restarted_at)
            except OSError as exc:  # a failing disk must not restart-loop the recordings child
                log.warning("cannot check recordings for MediaMTX outages", extra={"error": str(exc)})

    def _activate(self, session: Session) -> None:
        """``session`` records from now on."""
        self._active[session.device] = session
        self._activated.set()

    async def _track_gap(
        self, session: Session, entries: list[FileEntry], reachable: bool, restarted_at: float | None
    ) -> None:
        segments = session_segments(entries, session.device, session.start_time, None)
        if not session.interrupted:
            gap_start: float | None = None
            if restarted_at is not None and restarted_at > session.start_time:
                # the media ended with the last write of a segment the previous instance wrote
                gap_start = max((e.modified for e in segments if e.created < restarted_at), default=None)
            elif not reachable and segments and time.time() - segments[-1].modified >= self.stall:
                gap_start = segments[-1].modified
            if gap_start is None:
                return  # still recording (an API-only outage), or no media yet to interrupt
            session = await self._set_gaps(session, (*session.gaps, (gap_start, None)))
            log.warning(
                "recording interrupted: MediaMTX away",
                extra={"camera": session.device, "session": session.session_id},
            )
            self._publish(session, "mediamtx_unavailable")
        if session.interrupted and reachable:
            gap_start = session.gaps[-1][0]
            # begun after the gap opened, and written since (the segment that ended the media was not)
            resumed = next((e for e in segments if e.created > gap_start and e.modified > gap_start), None)
            if resumed is None:
                return
            session = await self._set_gaps(session, (*session.gaps[:-1], (gap_start, resumed.created)))
            log.info(
                "recording resumed after MediaMTX outage",
                extra={
                    "camera": session.device,
                    "session": session.session_id,
                    "gap": resumed.created - gap_start,
                },
            )
            self._publish(session, "recording_resumed")

    async def _set_gaps(self, session: Session, gaps: tuple[tuple[float, float | None], ...]) -> Session:
        session = attrs.evolve(session, gaps=gaps)
        await self._store.execute(
            "UPDATE recording_sessions SET gaps = ? WHERE session_id = ?",
            (json.dumps(gaps), session.session_id),
        )
        self._active[session.device] = session
        return session

    # ------------------------------------------------------------------ full disk

    async def _stop_when_full(self) -> None:
        """Stop every running session once the recordings' disk reaches ``block_percent``.

        Stopping (not just flagging) is what keeps the files playable: MediaMTX finishes the segment it
        is writing while there is still room for it, instead of failing mid-write at 100%.
        """
        while True:
            sample = await self._gate.wait_sample()
            usage = sample.usages.get(self.directory)
            if usage is None or not self._gate.blocks(usage) or not self._active:
                continue
            log.warning(
                "disk full: stopping recordings",
                extra={"usage_percentage": round(usage.usage_percentage, 2), "sessions": len(self._active)},
            )
            async with trio.open_nursery() as nursery:
                for camera_id in list(self._active):
                    nursery.start_soon(self._stop_for_space, camera_id)

    async def _stop_for_space(self, camera_id: str) -> None:
        async with self._lock(camera_id):
            session = self._active.get(camera_id)
            if session is None:
                return
            try:
                await self._finish(session, STOPPED, "storage_full")
            except Exception:
                log.exception(
                    "recording could not be stopped for space", extra={"session": session.session_id}
                )

    # ------------------------------------------------------------------ camera removal

    async def _on_camera_removed(self, camera: Camera) -> None:
        """Called by cameras before a camera disappears: the session ends FAILED, its files kept.

        From here until the id is released no session starts on it; a start already past its checks
        sees the mark once MediaMTX applied it and ends its session itself.
        """
        self._removing.add(camera.id)
        if camera.id in self._starting or camera.id in self._stopping:
            return  # the start or stop under way ends the session (and MediaMTX may be slow to confirm)
        async with self._lock(camera.id):
            session = self._active.get(camera.id)
            if session is None:
                return
            await self._finish(session, FAILED, "camera_disconnected", clear=False, sync=False)

    # ------------------------------------------------------------------ crash recovery

    async def _recover(self, session: Session) -> None:
        directory: CameraDirectoryLike | None = None
        with trio.move_on_after(self.resume_grace):
            while True:
                version = self._registry.version
                directory = self._cameras
                if directory is not None and self._registry.get(session.device) is not None:
                    break
                with trio.move_on_after(1.0):  # the directory may be wired after us
                    await self._registry.wait_changed(version)
        async with self._lock(session.device):
            self._recovering.pop(session.session_id, None)
            camera = self._registry.get(session.device)
            if directory is not None and camera is not None and session.device not in self._active:
                try:
                    self._hook_removal()
                    directory.actor(session.device).set_recording(session.state())
                except CamsvcError as exc:
                    log.warning(
                        "cannot resume recording", extra={"session": session.session_id, "error": str(exc)}
                    )
                else:
                    self._activate(session)
                    self.recovered.append((session.session_id, "resumed"))
                    log.info(
                        "recording resumed after restart",
                        extra={"camera": session.device, "session": session.session_id},
                    )
                    gateway = self._mediamtx
                    if gateway is not None:
                        try:
                            await gateway.sync(self.sync_timeout, name=session.device)
                        except DependencyFailed as exc:
                            log.warning(
                                "MediaMTX not synced after resume", extra={"detail": exc.data.get("detail")}
                            )
                    self._schedule_timer(session)
                    if session.filename is None:
                        self._watch_first_segment(session)
                    self._publish(session)
                    return
            # The camera is gone: close the session with what was really recorded.
            segments = session_segments(await self._scan(), session.device, session.start_time, None)
            end = max((e.modified for e in segments), default=session.start_time)
            await self._close(session, FAILED, "camera_disconnected", end)
            self.recovered.append((session.session_id, "closed"))  # once the row says so

    # ------------------------------------------------------------------ events and persistence

    def _publish(self, session: Session, reason: str | None = None) -> None:
        params: dict[str, Any] = {
            "device": session.device,
            "status": session.status,
            "session_id": session.session_id,
            "filename": session.filename,
            "duration": session.duration if session.status == RECORDING else session.elapsed(),
            "interrupted": session.interrupted,
            "gaps": gaps_doc(session),
        }
        reason = reason if reason is not None else session.reason
        if reason is not None:
            params["reason"] = reason
        if session.status != RECORDING:
            params["files"] = list(session.files)
        self._bus.publish("recording_status_update", params, device=session.device)

    async def _delete(self, session: Session) -> None:
        await self._store.execute(
            "DELETE FROM recording_sessions WHERE session_id = ?", (session.session_id,)
        )

    async def _insert(self, session: Session) -> None:
        await self._store.execute(
            "INSERT INTO recording_sessions(session_id, device, filename, format, record_format, start_time, "
            "duration, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session.session_id,
                session.device,
                session.filename or "",
                session.format,
                session.record_format,
                session.start_time,
                session.duration,
                session.status,
            ),
        )


def gaps_doc(s: Session) -> list[dict[str, Any]]:
    """A session's gaps as the API shows them (an open gap has ``end`` and ``duration`` null)."""
    return [
        {"start": iso(start), "end": iso(end), "duration": round(end - start, 3) if end is not None else None}
        for start, end in s.gaps
    ]


def _sizes_now(directory: str, names_: list[str]) -> list[int]:
    """Sizes stat()ed now: the last segment may have grown since the scan that found it."""
    out = []
    for name in names_:
        try:
            out.append(os.stat(os.path.join(directory, name), follow_symlinks=False).st_size)
        except OSError:
            continue
    return out


def start_result(result: StartResult) -> dict[str, Any]:
    """start_recording's result (spec §4)."""
    s = result.session
    doc: dict[str, Any] = {
        "device": s.device,
        "session_id": s.session_id,
        "filename": s.filename,
        "status": RECORDING,
        "start_time": iso(s.start_time),
        "duration": s.duration,
        "format": s.format,
    }
    if result.low_space_warning:
        doc["low_space_warning"] = True
    return doc


def stop_result(s: Session) -> dict[str, Any]:
    """stop_recording's result (spec §4)."""
    return {
        "device": s.device,
        "session_id": s.session_id,
        "filename": s.filename,
        "status": s.status,
        "start_time": iso(s.start_time),
        "end_time": iso(s.end_time),
        "duration": s.elapsed(),
        "file_size": s.file_size,
        "format": s.format,
        "files": list(s.files),
        "gaps": gaps_doc(s),
    }
