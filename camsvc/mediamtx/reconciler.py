"""The MediaMTX reconciler (``mediamtx/reconciler``) and the gateway others use.

Level-triggered: a pass runs on every registry change (``registry.wait_changed``),
on ``sync()`` and every ``mediamtx.reconcile_interval`` seconds. Two kinds of pass:

- *full*: ``GET /v3/info`` (a changed ``started`` means MediaMTX restarted and forgot
  every API-made path), ``GET /v3/config/paths/list`` as the actual state, then
  :func:`paths.plan`. Runs periodically, first after start, and after any failure.
- *incremental* (between full passes): only the cameras whose desired conf differs
  from what we last applied are written, without reading MediaMTX
  (:func:`paths.incremental_plan`). This keeps "camera registered → path exists"
  at one HTTP request however many cameras there are; the periodic full pass
  corrects anything the incremental view got wrong.

Ownership: a desired name (a camera id) is always ours; an existing entry of that name
that we did not create is replaced once with a warning (a takeover). A name that is
not desired is deleted only when we created (or took over) it; that set is persisted
(:mod:`ownership`) so a restart of camsvc still cleans up paths of cameras that
vanished meanwhile. Persisted names are deleted only after a start-up grace of one
reconcile interval, so cameras not yet rediscovered do not lose their paths.
Catch-all and regexp entries and every other name are never touched.

Between passes the reconciler notices an outage or a restart without waiting for the next
full pass. With an ``http://`` API it holds one idle connection to the API port
(:mod:`liveness`): a MediaMTX that exits closes it, and that close triggers a *probe*
(``GET /v3/info``; a changed ``started`` means a restart) with no polling while MediaMTX is
up. Otherwise (``https://``, or the connection cannot be opened) a probe runs every
``mediamtx.probe_interval``.

Unreachable MediaMTX is not an error of this actor: the pass fails, the circuit opens,
health reports unhealthy and gateway calls fail fast with DependencyFailed. A server
that refuses connections is down or restarting: it is probed again on a short backoff
(0.1 s doubling up to ``probe_interval``) and the first probe it answers goes straight on
into a full pass, so paths are back within one probe of its return. Any other failure
(timeouts, 5xx, bad credentials) backs off up to ``mediamtx.backoff_max``, so that a
server that is there but unwell is not hammered. Only bugs escape ``run`` (and the
supervisor restarts the child).
"""

from __future__ import annotations

import logging
import time
import types
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
import trio

from supervisor import Backoff

from ..cameras.registry import CameraRegistry
from ..config import Config
from ..errors import DependencyFailed
from ..health import DEGRADED, HEALTHY, UNHEALTHY, ComponentHealth, Health, iso
from ..storage.state import StateStore
from .circuit import CLOSED, OPEN, Circuit
from .client import (
    AlreadyExists,
    Invalid,
    MediamtxClient,
    MediamtxError,
    NotFound,
    ServerInfo,
    Unauthorized,
    Unavailable,
    Unreachable,
)
from .liveness import ConnectionWatch, until_closed
from .ownership import OwnedPaths
from .paths import DesiredPaths, PathConf, PathSettings, Plan, incremental_plan, plan
from .runtime import PathRuntime

log = logging.getLogger("camsvc.mediamtx")

UNAVAILABLE = "mediamtx_unavailable"
FAILED = "mediamtx_failed"


@attrs.frozen
class MediamtxStatus:
    """What the reconciler knows about MediaMTX, as one immutable value."""

    #: the last contact with the API succeeded
    reachable: bool
    #: "closed" | "open" | "half_open"
    circuit: str
    last_error: str | None
    #: wall-clock time (epoch seconds) the desired state was last fully applied
    last_sync: float | None
    #: MediaMTX's /v3/info ``started`` (changes when it restarts)
    server_started: str | None
    #: number of path names we own
    paths_owned: int
    consecutive_failures: int
    api_url: str = ""
    server_version: str | None = None
    #: the reconciler actor is running (not crashed or stopped)
    running: bool = False
    #: MediaMTX restarts noticed since we started
    server_restarts: int = 0
    #: paths MediaMTX refused: name → its message
    path_errors: Mapping[str, str] = attrs.field(factory=lambda: types.MappingProxyType({}))


@attrs.frozen
class _PassResult:
    seq: int
    #: registry version the pass worked from
    version: int
    ok: bool
    error: str | None


def _unavailable(detail: str) -> DependencyFailed:
    return DependencyFailed("mediamtx", detail, reason=UNAVAILABLE)


class MediamtxReconciler:
    """The reconciler actor. ``run`` is the child body; ``gateway`` is what others get."""

    def __init__(
        self,
        *,
        config: Config,
        registry: CameraRegistry,
        store: StateStore,
        health: Health | None = None,
        client_factory: Callable[[], MediamtxClient] | None = None,
        watch_factory: Callable[[], ConnectionWatch | None] | None = None,
        incremental: bool = True,
    ) -> None:
        """``incremental=False`` makes every pass a full one (for benchmarks comparing the two).
        ``watch_factory`` returning None means timed probes only."""
        self.config = config
        self._m = config.mediamtx
        self._registry = registry
        self._incremental = incremental
        self._owned_store = OwnedPaths(store)
        self._desired = DesiredPaths(PathSettings.from_config(config))
        self._client_factory = client_factory or self._default_client
        self._watch_factory = watch_factory or (lambda: ConnectionWatch.for_url(self._m.api_url))
        self._circuit = Circuit(Backoff(initial=min(0.5, self._m.reconcile_interval), factor=2.0, max=self._m.backoff_max, jitter=0.1))
        #: for a server that refuses connections: it costs nothing to ask again soon
        self._probe_backoff = Backoff(
            initial=min(0.1, self._m.probe_interval), factor=2.0, max=self._m.probe_interval, jitter=0.2
        )
        self._client: MediamtxClient | None = None
        self._running = False
        self._reachable = False
        self._kick = trio.Event()
        self._pass_done = trio.Event()
        self._pass_seq = 0
        self._last_result: _PassResult | None = None
        self._last_sync: float | None = None
        self._server_started: str | None = None
        self._server_version: str | None = None
        self._server_restarts = 0
        self._need_full = True
        self._next_full_at = 0.0
        self._next_probe_at = 0.0
        #: the idle connection to the API is open: timed probes are off
        self._watching = False
        #: the watched connection ended: probe at once
        self._probe_due = False
        #: set whenever MediaMTX answers; the watch reconnects only after an answer
        self._answered = trio.Event()
        self._grace_until = 0.0
        # what MediaMTX holds, as far as we know: confs it accepted from us, and names present there
        self._applied: dict[str, PathConf] = {}
        self._present: set[str] = set()
        self._owned: set[str] = set()
        #: names desired at some point since this actor started: deleted at once when no longer
        #: desired (other owned names wait for the start-up grace)
        self._desired_here: set[str] = set()
        self._warned_takeover: set[str] = set()
        self._path_errors: dict[str, str] = {}
        self.gateway = MediamtxGateway(self)
        if health is not None:
            health.add_check("mediamtx", self.health)

    def _default_client(self) -> MediamtxClient:
        return MediamtxClient(
            self._m.api_url, timeout=self._m.request_timeout, username=self._m.username, password=self._m.password
        )

    # ------------------------------------------------------------------ actor

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if self._m.username and self._m.request_timeout <= 4.5:
            log.warning(
                "mediamtx.request_timeout is below MediaMTX's up-to-4 s delay on wrong credentials",
                extra={"request_timeout": self._m.request_timeout},
            )
        self._owned_store.ensure_schema()
        self._owned = await self._owned_store.load()
        self._desired_here = set()
        # A (re)started actor trusts nothing it believed before: first pass is a full one.
        self._applied, self._present, self._need_full = {}, set(), True
        self._watching, self._probe_due, self._answered = False, False, trio.Event()
        watch = self._watch_factory()
        self._grace_until = trio.current_time() + self._m.reconcile_interval
        async with self._client_factory() as client:
            self._client = client
            self._running = True
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._watch_registry)
                    if watch is not None:
                        nursery.start_soon(self._watch_server, watch)
                    task_status.started()
                    await self._loop()
            finally:
                self._running = False
                self._client = None
                self._pass_seq += 1
                self._finish_pass(self._pass_seq, -1, False, "reconciler stopped")

    async def _watch_registry(self) -> None:
        seen = self._registry.version
        while True:
            seen = await self._registry.wait_changed(seen)
            self._kick.set()

    async def _watch_server(self, watch: ConnectionWatch) -> None:
        """Hold the idle connection while MediaMTX answers; its end makes the loop probe."""
        connected_last_time = True
        while True:
            await self._answered.wait()
            self._answered = trio.Event()
            try:
                stream = await watch.connect()
            except OSError as exc:
                # Refused right after an answer: most likely it died meanwhile, so probe now.
                # Refused again (the API is reached some other way, e.g. a proxy): timed probes
                # carry on, and each answer tries the connection again.
                log.debug("cannot open the MediaMTX API connection to watch", extra={"error": str(exc)})
                self._probe_due, connected_last_time = connected_last_time, False
                self._kick.set()
                continue
            connected_last_time = True
            async with stream:
                self._watching = True
                try:
                    await until_closed(stream)
                finally:
                    self._watching = False
            self._probe_due = True
            self._kick.set()

    def _wake_at(self) -> float:
        if self._circuit.state == OPEN and self._circuit.retry_at is not None:
            return self._circuit.retry_at
        if self._need_full or self._circuit.state != CLOSED:
            return trio.current_time()
        return self._next_full_at if self._watching else min(self._next_full_at, self._next_probe_at)

    async def _loop(self) -> None:
        while True:
            with trio.move_on_at(self._wake_at()):
                await self._kick.wait()
            kicked = self._kick.is_set()
            # A new event before reading the registry: changes from here on wake the next pass.
            self._kick = trio.Event()
            probe_due, self._probe_due = self._probe_due, False
            if self._circuit.state != CLOSED or self._need_full or trio.current_time() >= self._next_full_at:
                await self._pass()  # a full pass starts with /v3/info: it is the probe too
                continue
            if probe_due or not kicked:
                await self._probe()
            if kicked:
                await self._pass()

    async def _probe(self) -> None:
        """Between full passes: is MediaMTX still there, and still the same process?"""
        self._next_probe_at = trio.current_time() + self._m.probe_interval
        client = self._client
        assert client is not None
        try:
            info = await client.info()
        except MediamtxError as exc:
            self._on_failure(exc)
            return
        self._answered.set()
        if info.started != self._server_started:
            # Restarted between two probes: it forgot every path; this answer starts the full pass.
            await self._pass(info)

    # ------------------------------------------------------------------ passes

    async def _pass(self, info: ServerInfo | None = None) -> None:
        """``info``: a ``/v3/info`` answer just read, which makes this a full pass that starts from it."""
        self._pass_seq += 1
        seq = self._pass_seq
        version = self._registry.version
        if self._circuit.state == OPEN:
            # Not due yet: do not hammer an unreachable MediaMTX on every registry change.
            self._finish_pass(seq, version, False, self._circuit_detail())
            return
        full = (
            info is not None
            or not self._incremental
            or self._need_full
            or trio.current_time() >= self._next_full_at
            or self._circuit.state != CLOSED
        )
        client = self._client
        assert client is not None
        try:
            if full:
                version = await self._full_pass(client, info)
            else:
                desired = self._read_desired()
                await self._apply(client, incremental_plan(desired, self._applied, self._present, self._owned), desired)
        except MediamtxError as exc:
            # Unreachable, refusing our credentials, or answering info/list in a way we do not
            # understand (unknown route, odd status): MediaMTX is not usable right now.
            # (A refused *path* is handled per path inside _apply.)
            self._on_failure(exc)
            self._finish_pass(seq, version, False, str(exc))
            return
        self._on_success()
        if full:
            self._need_full = False
            self._next_full_at = trio.current_time() + self._m.reconcile_interval
            self._next_probe_at = trio.current_time() + self._m.probe_interval
        self._last_sync = time.time()
        self._finish_pass(seq, version, True, None)

    def _finish_pass(self, seq: int, version: int, ok: bool, error: str | None) -> None:
        self._last_result = _PassResult(seq, version, ok, error)
        done, self._pass_done = self._pass_done, trio.Event()
        done.set()

    def _read_desired(self) -> dict[str, PathConf]:
        desired = self._desired(self._registry.snapshot())
        self._desired_here |= desired.keys()
        return desired

    async def _full_pass(self, client: MediamtxClient, info: ServerInfo | None) -> int:
        """Returns the registry version it brought MediaMTX to."""
        if info is None:
            info = await client.info()
        if self._server_started is not None and info.started != self._server_started:
            self._server_restarts += 1
            log.warning(
                "MediaMTX restarted; re-applying every path",
                extra={"previous_started": self._server_started, "started": info.started},
            )
        self._server_started, self._server_version = info.started, info.version
        items = await client.list_path_configs()
        actual = {item["name"]: item for item in items if isinstance(item.get("name"), str)}
        self._present = set(actual)
        # Desired state is read only now, so that changes made while MediaMTX was listing
        # are part of this pass rather than waiting for the next one.
        version = self._registry.version
        desired = self._read_desired()
        # Forget what we believed applied for entries that are gone or not ours to judge.
        self._applied = {n: c for n, c in self._applied.items() if n in actual}
        the_plan = plan(desired, actual, self._owned)
        unchanged = set(desired) & set(actual) - the_plan.changed_names()
        for name in unchanged:
            self._applied[name] = desired[name]
            self._path_errors.pop(name, None)
        await self._apply(client, the_plan, desired)
        return version

    async def _apply(self, client: MediamtxClient, the_plan: Plan, desired: Mapping[str, PathConf]) -> None:
        """Carry out a plan: ownership is recorded before writing, so a crash never orphans a path."""
        owned_before = set(self._owned)
        new = (set(the_plan.add) | set(the_plan.replace) | set(the_plan.adopt)) - self._owned
        if new:
            await self._owned_store.update(new, set())
            self._owned |= new
        for name, conf in the_plan.add.items():
            try:
                await client.add_path_config(name, conf)
            except AlreadyExists:
                # appeared since we looked: the name is a camera's, so it gets our config
                if name not in owned_before:
                    self._warn_takeover(name)
                if not await self._write(client.replace_path_config, name, conf):
                    continue
            except Invalid as exc:
                self._rejected(name, exc)
                continue
            self._accepted(name, desired[name])
        for name, diff in the_plan.patch.items():
            try:
                await client.patch_path_config(name, diff)
            except NotFound:
                # gone under us: MediaMTX restarted or someone deleted it; upsert and re-check everything
                self._need_full = True
                if not await self._write(client.replace_path_config, name, desired[name]):
                    continue
            except Invalid:
                # the stored overrides plus our keys do not validate: start from our whole conf
                if not await self._write(client.replace_path_config, name, desired[name]):
                    continue
            self._accepted(name, desired[name])
        for name, conf in the_plan.replace.items():
            if name not in owned_before:
                self._warn_takeover(name)
            if await self._write(client.replace_path_config, name, conf):
                self._accepted(name, desired[name])
        deleted: set[str] = set()
        for name in the_plan.delete:
            if name not in self._desired_here and trio.current_time() < self._grace_until:
                continue  # owned by an earlier run: wait until discovery had its chance
            try:
                await client.delete_path_config(name)
            except NotFound:
                pass
            log.info("deleted MediaMTX path of a camera that is gone", extra={"path": name})
            deleted.add(name)
            self._present.discard(name)
            self._applied.pop(name, None)
        forgotten = deleted | set(the_plan.forget)
        for name in forgotten:
            self._path_errors.pop(name, None)
        for name in list(self._path_errors):
            if name not in desired:
                del self._path_errors[name]
        if forgotten:
            self._owned -= forgotten
            await self._owned_store.update(set(), forgotten)

    async def _write(self, call: Callable[[str, PathConf], Awaitable[None]], name: str, conf: PathConf) -> bool:
        try:
            await call(name, conf)
        except Invalid as exc:
            self._rejected(name, exc)
            return False
        return True

    def _accepted(self, name: str, conf: PathConf) -> None:
        self._applied[name] = conf
        self._present.add(name)
        if self._path_errors.pop(name, None) is not None:
            log.info("MediaMTX accepted the path now", extra={"path": name})

    def _rejected(self, name: str, exc: MediamtxError) -> None:
        self._applied.pop(name, None)
        if self._path_errors.get(name) != exc.message:
            log.error("MediaMTX refused the path", extra={"path": name, "error": exc.message})
        self._path_errors[name] = exc.message

    def _warn_takeover(self, name: str) -> None:
        if name not in self._warned_takeover:
            self._warned_takeover.add(name)
            log.warning(
                "taking over a MediaMTX path we did not create: its name is a camera id, so it gets the camera's config",
                extra={"path": name},
            )

    # ---------------------------------------------------------------- circuit

    def _on_success(self) -> None:
        if self._circuit.success() or not self._reachable:
            log.info("MediaMTX reachable", extra={"api_url": self._m.api_url})
        self._reachable = True
        self._answered.set()

    def _on_failure(self, exc: MediamtxError) -> None:
        was_reachable = self._reachable or self._circuit.failures == 0
        # Refused connections: down or restarting, probe again soon. Anything else: back off properly.
        delay = self._circuit.failure(str(exc), backoff=self._probe_backoff if isinstance(exc, Unreachable) else None)
        self._reachable = False
        self._need_full = True
        # One warning per outage, then quiet retries.
        log.log(
            logging.WARNING if was_reachable else logging.DEBUG,
            "MediaMTX unavailable; retrying with backoff",
            extra={"api_url": self._m.api_url, "error": str(exc), "retry_in": round(delay, 3)},
        )
        self._kick.set()  # re-evaluate the wake-up time (the circuit's retry_at)

    def _circuit_detail(self) -> str:
        return f"circuit open after {self._circuit.failures} failure(s), retry in {self._circuit.retry_in():.1f}s: {self._circuit.last_error}"

    # ----------------------------------------------------------------- views

    def status(self) -> MediamtxStatus:
        return MediamtxStatus(
            reachable=self._reachable and self._circuit.state == CLOSED,
            circuit=self._circuit.state,
            last_error=self._circuit.last_error,
            last_sync=self._last_sync,
            server_started=self._server_started,
            paths_owned=len(self._owned),
            consecutive_failures=self._circuit.failures,
            api_url=self._m.api_url,
            server_version=self._server_version,
            running=self._running,
            server_restarts=self._server_restarts,
            path_errors=types.MappingProxyType(dict(self._path_errors)),
        )

    def health(self) -> ComponentHealth:
        st = self.status()
        result = self._last_result
        details: dict[str, Any] = {
            "api_url": st.api_url,
            "circuit": st.circuit,
            "last_error": st.last_error,
            "last_sync": iso(st.last_sync),
            "paths_owned": st.paths_owned,
            "server_started": st.server_started,
            "server_version": st.server_version,
            "consecutive_failures": st.consecutive_failures,
        }
        if st.path_errors:
            details["path_errors"] = dict(st.path_errors)
        if not st.running:
            return ComponentHealth(UNHEALTHY, {**details, "reason": "reconciler not running"})
        if not st.reachable:
            return ComponentHealth(UNHEALTHY, {**details, "reason": "unreachable" if st.last_error else "not yet contacted"})
        if result is None or not result.ok:
            return ComponentHealth(UNHEALTHY, {**details, "reason": "last reconcile failed"})
        if st.path_errors:
            return ComponentHealth(DEGRADED, {**details, "reason": "MediaMTX refused some paths"})
        return ComponentHealth(HEALTHY, details)

    # ----------------------------------------------------------- gateway work

    def ensure_available(self) -> None:
        if not self._running or self._client is None:
            raise _unavailable("the MediaMTX reconciler is not running")
        if self._circuit.state == OPEN:
            raise _unavailable(self._circuit_detail())

    async def _call(self, fn: Any, *args: Any) -> Any:
        self.ensure_available()
        client = self._client
        assert client is not None
        try:
            return await fn(client, *args)
        except (Unavailable, Unauthorized) as exc:
            self._on_failure(exc)
            raise _unavailable(str(exc)) from None

    async def runtime(self, name: str) -> PathRuntime | None:
        async def get(client: MediamtxClient, name: str) -> PathRuntime | None:
            try:
                return PathRuntime.from_api(await client.get_runtime_path(name))
            except NotFound:
                return None
            except MediamtxError as exc:
                if isinstance(exc, Unavailable | Unauthorized):
                    raise
                raise DependencyFailed("mediamtx", str(exc), reason=FAILED) from None

        result: PathRuntime | None = await self._call(get, name)
        return result

    async def list_runtime(self) -> list[PathRuntime]:
        async def get(client: MediamtxClient) -> list[PathRuntime]:
            try:
                return [PathRuntime.from_api(item) for item in await client.list_runtime_paths()]
            except MediamtxError as exc:
                if isinstance(exc, Unavailable | Unauthorized):
                    raise
                raise DependencyFailed("mediamtx", str(exc), reason=FAILED) from None

        result: list[PathRuntime] = await self._call(get)
        return result

    async def sync(self, timeout: float, *, name: str | None = None) -> None:  # noqa: ASYNC109 (interface)
        """Apply the current desired state now and wait for it (see MediamtxGateway.sync)."""
        self.ensure_available()
        target = self._registry.version
        started_before = self._pass_seq
        self._kick.set()
        with trio.move_on_after(timeout):
            while True:
                result = self._last_result
                if result is not None and result.seq > started_before:
                    if not result.ok:
                        raise _unavailable(result.error or "reconcile failed")
                    if result.version >= target:
                        errors = self._path_errors if name is None else {k: v for k, v in self._path_errors.items() if k == name}
                        if errors:
                            text = "; ".join(f"path {k!r} refused: {v}" for k, v in sorted(errors.items()))
                            raise DependencyFailed("mediamtx", text, reason=FAILED)
                        return
                    started_before = result.seq  # an older snapshot: wait for the next pass
                    self._kick.set()
                await self._pass_done.wait()
        raise _unavailable(f"desired paths not applied within {timeout:g}s")


class MediamtxGateway:
    """What other rooms use (``services.mediamtx``); never touches reconciler internals.

    - ``status() -> MediamtxStatus``
    - ``ensure_available()``: raises ``DependencyFailed(reason="mediamtx_unavailable")`` at once
      while the circuit is open (or the reconciler is not running): RPC maps it to -32050.
    - ``await runtime(name) -> PathRuntime | None`` / ``await list_runtime() -> list[PathRuntime]``:
      bounded by ``mediamtx.request_timeout``; DependencyFailed on failure (None: no such path).
    - ``await sync(timeout, name=None)``: request a pass now and wait until the current desired
      state is applied; DependencyFailed when it could not be (``name``: only that path's refusal counts).
    """

    def __init__(self, reconciler: MediamtxReconciler) -> None:
        self._r = reconciler

    def status(self) -> MediamtxStatus:
        return self._r.status()

    def ensure_available(self) -> None:
        self._r.ensure_available()

    async def runtime(self, name: str) -> PathRuntime | None:
        return await self._r.runtime(name)

    async def list_runtime(self) -> list[PathRuntime]:
        return await self._r.list_runtime()

    async def sync(self, timeout: float, *, name: str | None = None) -> None:  # noqa: ASYNC109 (interface)
        await self._r.sync(timeout, name=name)
