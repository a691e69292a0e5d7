"""Runtime paths (notes §7, §11): sources, readers, on-demand start/stop, hooks and recording.

A runtime path exists for every plain configuration entry from the moment it is configured, and for a
name matched only by a regexp/``all_others`` entry while something uses it. It becomes *ready* when its
source delivers a stream: a publisher (any RTSP client doing ANNOUNCE/RECORD, typically the runOnInit or
runOnDemand command), or a pulled ``source`` URL. As in MediaMTX, a runOnDemand command or an on-demand
source is started only by a reader (RTSP DESCRIBE/SETUP); ``record: true`` does not demand anything, it
records while the path happens to be ready.
"""

from __future__ import annotations

import logging
import secrets
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import trio

from tools.mediamtx_emulator.commands import run_command
from tools.mediamtx_emulator.confstore import ConfError, ConfigStore, PathMatch
from tools.mediamtx_emulator.gotypes import SECOND, ZERO_TIME, format_go_time
from tools.mediamtx_emulator.pathconf import HOT_RELOAD_FIELDS, is_static_source, path_regexp
from tools.mediamtx_emulator.recorder import RECORD_FIELDS, run_recorder
from tools.mediamtx_emulator.recordpath import find_recorded_names, list_segments
from tools.mediamtx_emulator.sdp import SessionDescription
from tools.mediamtx_emulator.staticsource import run_static_source, source_type_for
from tools.mediamtx_emulator.stream import Stream, StreamClient

log = logging.getLogger(__name__)

INTERNAL_PREFIX = "__mtxemu_internal__/"  # RTSP mount prefix of the emulator's own relay and recorder


class PathError(Exception):
    """Refusal of an RTSP-side request; ``status`` is the RTSP status code to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@attrs.frozen
class RuntimeSettings:
    base_dir: Path  # MediaMTX's working directory: relative recordPaths and hook cwd
    rtsp_port: int
    ffmpeg: str = "ffmpeg"
    hook_output: str = "inherit"  # "inherit" (like MediaMTX) or "discard"
    retry_pause: float = 5.0  # static source retry, as MediaMTX
    cleaner_interval: float = 30.0


@attrs.frozen
class InternalMount:
    path: RuntimePath
    role: str  # "source" (pull relay publishes here) or "recorder" (reads here)


class _Timer:
    """A one-shot timer running in the path's task set."""

    def __init__(self, path: RuntimePath, delay: float, action: Callable[[], None]) -> None:
        async def fire() -> None:
            await trio.sleep(delay)
            action()

        self.scope = path.spawn(fire, "timer")

    def cancel(self) -> None:
        self.scope.cancel()


class OnDemand:
    """MediaMTX's on-demand state machine, for a runOnDemand command or an on-demand pulled source."""

    def __init__(
        self,
        path: RuntimePath,
        start: Callable[[str], trio.CancelScope],
        start_timeout: float,
        close_after: float,
        on_stopped: Callable[[], None] | None = None,
    ) -> None:
        self.path = path
        self._start = start
        self.start_timeout = start_timeout
        self.close_after = close_after
        self._on_stopped = on_stopped
        self.state = "initial"  # initial | waiting | ready | closing
        self.query = ""
        self.attempt = 0  # bumped at every start, so waiters can tell their attempt's fate
        self.stopped_attempt = -1
        self.stop_reason = ""
        self._task: trio.CancelScope | None = None
        self._ready_timer: _Timer | None = None
        self._close_timer: _Timer | None = None

    def request(self, query: str) -> None:
        if self.state != "initial":
            return
        self.query = query
        self.attempt += 1
        self._task = self._start(query)
        self._ready_timer = _Timer(self.path, self.start_timeout, self._on_ready_timeout)
        self.state = "waiting"

    def _on_ready_timeout(self) -> None:
        if self.state == "waiting":
            log.info("path %s: on-demand source has timed out", self.path.name)
            self.stop("timed out")

    def on_ready(self) -> None:
        if self.state == "initial":
            return
        if self._ready_timer:
            self._ready_timer.cancel()
            self._ready_timer = None
        self._schedule_close()

    def on_reader_added(self) -> None:
        if self.state == "closing":
            if self._close_timer:
                self._close_timer.cancel()
                self._close_timer = None
            self.state = "ready"

    def on_readers_gone(self) -> None:
        if self.state == "ready":
            self._schedule_close()

    def _schedule_close(self) -> None:
        if self._close_timer:
            self._close_timer.cancel()
        self._close_timer = _Timer(self.path, self.close_after, self._on_close_timer)
        self.state = "closing"

    def _on_close_timer(self) -> None:
        if self.state == "closing":
            log.info("path %s: on-demand source not needed by anyone, closing", self.path.name)
            self.stop("not needed by anyone")

    def on_source_lost(self) -> None:
        """The stream went away while started: close after the usual delay unless it comes back."""
        if self.state in ("ready", "closing"):
            self._schedule_close()

    def timed_out(self, attempt: int) -> bool:
        return self.stopped_attempt == attempt and self.stop_reason == "timed out"

    def stop(self, reason: str) -> None:
        for timer in (self._ready_timer, self._close_timer):
            if timer:
                timer.cancel()
        self._ready_timer = self._close_timer = None
        if self._task is not None:
            self._task.cancel()
            self._task = None
        was_active = self.state != "initial"
        if was_active:
            self.stopped_attempt, self.stop_reason = self.attempt, reason
        self.state = "initial"
        self.path.notify()
        if was_active and self._on_stopped:
            self._on_stopped()


class RuntimePath:
    def __init__(self, manager: PathManager, name: str, match: PathMatch) -> None:
        self.manager = manager
        self.name = name
        self.conf_name = match.conf_name
        self.conf: Mapping[str, Any] = match.conf
        self.groups = match.groups
        self.dynamic = path_regexp(match.conf_name) is not None
        self.closed = False
        self.publisher: StreamClient | None = None  # an RTSP publisher (external or the pull relay)
        self.stream: Stream | None = None
        self.ready_ns: int | None = None
        self.readers: dict[StreamClient, None] = {}
        self.pending = 0  # readers waiting for an on-demand source
        self._changed = trio.Event()
        self._scopes: set[trio.CancelScope] = set()
        self._running = 0
        self._idle = trio.Event()
        self._idle.set()
        self._recorder: trio.CancelScope | None = None
        self.recording_files: set[Path] = set()
        self.source_token = secrets.token_hex(8)
        self.recorder_token = secrets.token_hex(8)
        self.on_demand: OnDemand | None = None
        self.static_source = is_static_source(self.conf["source"]) and self.conf["source"] != "rpiCamera"
        self.source_kind = source_type_for(self.conf["source"])

    # ---- task plumbing

    def spawn(self, fn: Callable[[], Awaitable[None]], what: str) -> trio.CancelScope:
        """Run ``fn`` in the manager's nursery, cancelled when this path closes."""
        scope = trio.CancelScope()
        self._scopes.add(scope)
        self._running += 1
        if self._idle.is_set():
            self._idle = trio.Event()  # an unset one is kept, so whoever waits on it is woken

        async def runner() -> None:
            try:
                with scope:
                    await fn()
            except Exception:
                log.exception("path %s: %s failed", self.name, what)
            finally:
                self._scopes.discard(scope)
                self._running -= 1
                if self._running == 0:
                    self._idle.set()

        self.manager.nursery.start_soon(runner)
        if self.closed:
            scope.cancel()
        return scope

    def notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def hook_env(self, query: str | None = None) -> dict[str, str]:
        env = {
            "MTX_PATH": self.name,
            "RTSP_PATH": self.name,
            "RTSP_PORT": str(self.manager.settings.rtsp_port),
        }
        for i, group in enumerate(self.groups, start=1):
            env[f"G{i}"] = group
        if query is not None:
            # MediaMTX passes the reader's query escaped as Go's url.QueryEscape does ("a%3Db%26c")
            env["MTX_QUERY"] = urllib.parse.quote_plus(query, safe="")
        return env

    def _run_hook(self, command: str, restart: bool, env: dict[str, str], label: str) -> trio.CancelScope:
        settings = self.manager.settings

        async def go() -> None:
            await run_command(
                command,
                env,
                cwd=str(settings.base_dir),
                restart=restart,
                label=f"path {self.name} {label}",
                output=settings.hook_output,
            )

        return self.spawn(go, label)

    # ---- lifecycle

    def start(self) -> None:
        conf = self.conf
        if self.static_source:
            if conf["sourceOnDemand"]:
                self.on_demand = OnDemand(
                    self,
                    lambda q: self.spawn(lambda: self._pull(q), "source"),
                    conf["sourceOnDemandStartTimeout"] / SECOND,
                    conf["sourceOnDemandCloseAfter"] / SECOND,
                )
            else:
                self.spawn(lambda: self._pull(""), "source")
        elif conf["runOnDemand"]:
            self.on_demand = OnDemand(
                self,
                lambda q: self._run_hook(
                    conf["runOnDemand"], conf["runOnDemandRestart"], self.hook_env(q), "runOnDemand"
                ),
                conf["runOnDemandStartTimeout"] / SECOND,
                conf["runOnDemandCloseAfter"] / SECOND,
                on_stopped=self._on_demand_stopped,
            )
        if conf["runOnInit"]:
            self._run_hook(conf["runOnInit"], conf["runOnInitRestart"], self.hook_env(), "runOnInit")

    def _on_demand_stopped(self) -> None:
        if self.conf["runOnUnDemand"] and self.on_demand is not None:
            self._run_hook(
                self.conf["runOnUnDemand"], False, self.hook_env(self.on_demand.query), "runOnUnDemand"
            )

    async def _pull(self, query: str) -> None:
        await run_static_source(
            ffmpeg=self.manager.settings.ffmpeg,
            source=self.conf["source"],
            conf=self.conf,
            env=self.hook_env(query),
            publish_url=self.manager.internal_url(self.source_token),
            retry_pause=self.manager.settings.retry_pause,
            label=f"path {self.name} source",
        )

    async def aclose(self) -> None:
        """Close the path: disconnect everyone, stop commands (SIGINT), wait for them to exit."""
        if self.closed:
            await self._wait_idle()
            return
        self.closed = True
        if self.on_demand is not None:
            self.on_demand.stop("path closed")
        publisher, self.publisher = self.publisher, None
        self._set_not_ready()
        if publisher is not None:
            publisher.kick()
        for reader in list(self.readers):
            reader.kick()
        self.readers.clear()
        for scope in list(self._scopes):
            scope.cancel()
        self.notify()
        await self._wait_idle()

    async def _wait_idle(self) -> None:
        # Tasks may still be spawned while closing (e.g. a segment-complete hook): wait for all.
        while self._running > 0:
            await self._idle.wait()

    def update_conf(self, match: PathMatch) -> None:
        """Hot reload (only record*/forward/image settings changed)."""
        old = self.conf
        self.conf = match.conf
        if any(old.get(k) != self.conf.get(k) for k in RECORD_FIELDS):
            self._stop_recorder()
            if self.stream is not None and self.conf["record"]:
                self._start_recorder()

    def should_close(self) -> bool:
        return (
            self.dynamic
            and self.publisher is None
            and not self.readers
            and self.pending == 0
            and (self.on_demand is None or self.on_demand.state == "initial")
        )

    # ---- sources

    def add_publisher(self, client: StreamClient, desc: SessionDescription) -> Stream:
        if self.conf["source"] != "publisher":
            raise PathError(400, f"can't publish to path '{self.name}' since 'source' is not 'publisher'")
        if self.publisher is not None:
            if not self.conf["overridePublisher"]:
                raise PathError(400, f"someone is already publishing to path '{self.name}'")
            old = self.publisher
            self.remove_publisher(old)
            old.kick()
        self.publisher = client
        return self._set_ready(desc)

    def add_relay_publisher(self, client: StreamClient, desc: SessionDescription) -> Stream:
        """The emulator's own pull relay delivering a static source."""
        if self.publisher is not None:
            old = self.publisher
            self.remove_publisher(old)
            old.kick()
        self.publisher = client
        return self._set_ready(desc)

    def remove_publisher(self, client: StreamClient) -> None:
        if self.publisher is not client:
            return
        self.publisher = None
        self._set_not_ready()
        self.manager.maybe_close(self)

    def _set_ready(self, desc: SessionDescription) -> Stream:
        self.stream = Stream(desc)
        self.ready_ns = time.time_ns()
        if self.on_demand is not None:
            self.on_demand.on_ready()
        if self.conf["record"]:
            self._start_recorder()
        self.notify()
        return self.stream

    def _set_not_ready(self) -> None:
        self._stop_recorder()
        stream, self.stream = self.stream, None
        self.ready_ns = None
        self.readers.clear()
        if stream is not None:
            stream.close()
            if self.on_demand is not None:
                self.on_demand.on_source_lost()
        self.notify()

    # ---- readers

    async def wait_stream(self, query: str) -> Stream:
        """DESCRIBE/SETUP by a reader: the stream, after starting an on-demand source if needed.

        As in MediaMTX, only "no stream is available" is a 404; any other failure (a source that
        timed out, a path closed meanwhile, a name that is not configured) is a 400."""
        if self.stream is not None:
            return self.stream
        od = self.on_demand
        if od is None:
            raise PathError(404, f"no stream is available on path '{self.name}'")
        od.request(query)
        attempt = od.attempt
        self.pending += 1
        try:
            # Every way forward has a timer (start timeout, close delay), so this loop always ends.
            while self.stream is None:
                if self.closed:
                    raise PathError(400, "terminated")
                if od.state == "initial":
                    if od.timed_out(attempt):
                        raise PathError(400, f"source of path '{self.name}' has timed out")
                    od.request(query)  # the attempt we joined was closed for another reason
                    attempt = od.attempt
                await self._changed.wait()
            return self.stream
        finally:
            self.pending -= 1
            self.manager.maybe_close(self)

    def add_reader(self, client: StreamClient) -> Stream:
        if self.stream is None:
            raise PathError(404, f"no stream is available on path '{self.name}'")
        max_readers = self.conf["maxReaders"]
        if max_readers and len(self.readers) >= max_readers:
            raise PathError(400, "maximum reader count reached")
        self.readers[client] = None
        self.stream.attach(client)
        if self.on_demand is not None:
            self.on_demand.on_reader_added()
        return self.stream

    def remove_reader(self, client: StreamClient) -> None:
        if client in self.readers:
            del self.readers[client]
            if self.stream is not None:
                self.stream.detach(client)
            if not self.readers and self.on_demand is not None:
                self.on_demand.on_readers_gone()
        self.manager.maybe_close(self)

    # ---- recording

    def _start_recorder(self) -> None:
        if self._recorder is not None or self.closed:
            return
        settings = self.manager.settings
        conf = self.conf
        self._recorder = self.spawn(
            lambda: run_recorder(
                ffmpeg=settings.ffmpeg,
                input_url=self.manager.internal_url(self.recorder_token),
                conf=conf,
                path_name=self.name,
                base_dir=settings.base_dir,
                in_progress=self.recording_files,
                on_segment=self._on_segment_event,
                label=f"path {self.name} recorder",
            ),
            "recorder",
        )

    def _stop_recorder(self) -> None:
        if self._recorder is not None:
            self._recorder.cancel()
            self._recorder = None

    def _on_segment_event(self, event: str, file: Path, duration: float | None) -> None:
        command = self.conf["runOnRecordSegmentCreate" if event == "create" else "runOnRecordSegmentComplete"]
        if command:
            env = self.hook_env() | {"MTX_SEGMENT_PATH": str(file)}
            if duration is not None:
                env["MTX_SEGMENT_DURATION"] = f"{duration:g}"
            self._run_hook(command, False, env, f"runOnRecordSegment{event.capitalize()}")

    # ---- API view

    def api_item(self) -> dict[str, Any]:
        ready = self.stream is not None
        ready_time = format_go_time(self.ready_ns) if self.ready_ns is not None else None
        source: dict[str, str] | None
        if self.static_source or self.conf["source"] == "rpiCamera":
            source = {"type": self.source_kind, "id": ""}
        elif self.conf["source"] == "redirect":
            source = {"type": "redirect", "id": ""}
        elif self.publisher is not None:
            source = self.publisher.api_ref()
        else:
            source = None
        if ready:
            online, online_time = True, ready_time
        elif source is not None and self.publisher is None and self.conf["source"] != "publisher":
            # A static source object exists before it connects: online with a zero time (notes §7).
            online, online_time = True, ZERO_TIME
        else:
            online, online_time = False, None
        stream = self.stream
        inbound = stream.bytes_received if stream else 0
        outbound = stream.bytes_sent if stream else 0
        return {
            "name": self.name,
            "confName": self.conf_name,
            "source": source,
            "ready": ready,
            "readyTime": ready_time,
            "available": ready,
            "availableTime": ready_time,
            "online": online,
            "onlineTime": online_time,
            "tracks": stream.tracks() if stream else [],
            "tracks2": stream.tracks2() if stream else [],
            "readers": [r.api_ref() for r in self.readers if not r.internal],
            "inboundBytes": inbound,
            "outboundBytes": outbound,
            "inboundFramesInError": 0,
            "bytesReceived": inbound,
            "bytesSent": outbound,
        }


def _conf_differs_only_hot(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    keys = set(old) | set(new)
    return all(old.get(k) == new.get(k) for k in keys if k not in HOT_RELOAD_FIELDS)


class PathManager:
    """All runtime paths, kept in step with the configuration store."""

    def __init__(self, store: ConfigStore, settings: RuntimeSettings) -> None:
        self.store = store
        self.settings = settings
        self.paths: dict[str, RuntimePath] = {}
        self._nursery: trio.Nursery | None = None

    @property
    def nursery(self) -> trio.Nursery:
        assert self._nursery is not None, "PathManager.run() is not running"
        return self._nursery

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                await self.sync_config()
                nursery.start_soon(self._clean_recordings_forever)
                task_status.started()
                await trio.sleep_forever()
            finally:
                with trio.CancelScope(shield=True):
                    await self.close_all()

    def internal_url(self, token: str) -> str:
        return f"rtsp://127.0.0.1:{self.settings.rtsp_port}/{INTERNAL_PREFIX}{token}"

    def resolve_internal(self, name: str) -> InternalMount | None:
        if not name.startswith(INTERNAL_PREFIX):
            return None
        token = name[len(INTERNAL_PREFIX) :]
        for path in self.paths.values():
            if token == path.source_token:
                return InternalMount(path, "source")
            if token == path.recorder_token:
                return InternalMount(path, "recorder")
        return None

    # ---- configuration

    async def sync_config(self) -> None:
        """Create, hot-reload, recreate or close runtime paths after a configuration change."""
        effective = self.store.effective_paths()
        to_close: list[RuntimePath] = []
        to_create: list[str] = []
        for name, path in list(self.paths.items()):
            try:
                match = self.store.find(name)
            except ConfError:
                to_close.append(path)
                continue
            if match.conf_name != path.conf_name:
                to_close.append(path)
                if name in effective:
                    to_create.append(name)
            elif match.conf != path.conf:
                if _conf_differs_only_hot(path.conf, match.conf):
                    path.update_conf(match)
                else:
                    to_close.append(path)
                    if name in effective:
                        to_create.append(name)
        for path in to_close:
            if self.paths.get(path.name) is path:
                del self.paths[path.name]
        async with trio.open_nursery() as nursery:
            for path in to_close:
                nursery.start_soon(path.aclose)
        for name in effective:
            if path_regexp(name) is None and name not in self.paths and name not in to_create:
                to_create.append(name)
        for name in to_create:
            if name not in self.paths:
                self._create(name, self.store.find(name))

    def _create(self, name: str, match: PathMatch) -> RuntimePath:
        path = RuntimePath(self, name, match)
        self.paths[name] = path
        path.start()
        return path

    async def close_all(self) -> None:
        paths, self.paths = list(self.paths.values()), {}
        async with trio.open_nursery() as nursery:
            for path in paths:
                nursery.start_soon(path.aclose)

    def maybe_close(self, path: RuntimePath) -> None:
        if path.should_close() and self.paths.get(path.name) is path and not path.closed:
            del self.paths[path.name]
            self.nursery.start_soon(path.aclose)

    # ---- RTSP side

    def get_or_create(self, name: str) -> RuntimePath:
        path = self.paths.get(name)
        if path is not None:
            return path
        try:
            match = self.store.find(name)
        except ConfError as exc:
            raise PathError(400, exc.message) from None
        return self._create(name, match)

    # ---- API side

    def api_items(self) -> list[dict[str, Any]]:
        return [self.paths[name].api_item() for name in sorted(self.paths)]

    def api_item(self, name: str) -> dict[str, Any] | None:
        path = self.paths.get(name)
        return path.api_item() if path is not None else None

    # ---- recordDeleteAfter

    async def _clean_recordings_forever(self) -> None:
        while True:
            await trio.sleep(self.settings.cleaner_interval)
            try:
                await trio.to_thread.run_sync(self.clean_recordings_once)
            except Exception:
                log.exception("recording cleaner failed")

    def clean_recordings_once(self) -> None:
        """Delete segments older than their entry's recordDeleteAfter (0 disables), like MediaMTX's cleaner."""
        now = time.time()
        in_progress = {f for p in list(self.paths.values()) for f in p.recording_files}
        for conf_name, conf in self.store.effective_paths().items():
            delete_after = conf["recordDeleteAfter"] / SECOND
            if delete_after <= 0:
                continue
            base = self.settings.base_dir
            for name in find_recorded_names(base, conf["recordPath"], conf["recordFormat"]):
                try:
                    if self.store.find(name).conf_name != conf_name:
                        continue
                except ConfError:
                    continue
                for segment in list_segments(base, conf["recordPath"], conf["recordFormat"], name):
                    if segment.file not in in_progress and segment.start.timestamp() < now - delete_after:
                        segment.file.unlink(missing_ok=True)
