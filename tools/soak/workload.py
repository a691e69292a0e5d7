"""What the soak does for its duration, and what it saw.

- ``clients`` JSON-RPC clients (authenticated; a few as admin) each loop: pick an operation by weight, call it,
  record latency and outcome, think for a random ~``think`` seconds. Operations: status reads, listings,
  snapshots, recordings (started open-ended or timed, stopped), download URLs fetched over HTTP, subscription
  changes, stream status.
- ``observers`` more clients subscribe to every topic and only listen: notifications they miss are "lost".
- churn: external streams (pulling camera0 from MediaMTX itself) are added and removed.
- chaos: MediaMTX SIGKILLed every ``kill_interval`` s; a camera's publisher killed every ``crash_interval`` s;
  through camsvc's fault-injection seam, a stable camera's actor crashed every ``crash_actor_interval`` s and
  a fake V4L2 node plugged in or out every ``hotplug_interval`` s (clients use it while it is there).
- sampling: RSS and open fds of the camsvc process; the restarts ``/supervisor`` shows.
"""

from __future__ import annotations

import collections
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import attrs
import httpx
import jwt
import psutil
import trio
from trio_websocket import HandshakeError, open_websocket_url

from .client import Client, Disconnected, RpcError
from .stack import SECRET, Stack

#: errors a client is expected to meet under churn and chaos: (code, reason); None = any reason
EXPECTED: frozenset[tuple[int, str | None]] = frozenset(
    {
        (-32020, "already_recording"),  # clients race for the same camera
        (-32020, "not_recording"),
        (-32020, "camera_disconnected"),  # camera churned or its stream is down
        (-32020, "file_in_use"),
        (-32010, None),  # a camera removed by churn, a file not yet/no longer there
        (-32050, None),  # MediaMTX killed, restarting, or a capture failed meanwhile
    }
)

STABLE_CAMERAS = ("camera0", "camera1")
#: fake V4L2 nodes /dev/videoN the soak hot-plugs, N cycling through this range (camsvc's ids: cameraN)
HOTPLUG_NODES = range(50, 100)
#: a client's connection failing or dropped: counted as an unexpected error (code 0), never fatal to the soak
CONNECTION_ERRORS = (Disconnected, OSError, HandshakeError, trio.TooSlowError)


def is_expected(code: int, reason: str) -> bool:
    return (code, reason) in EXPECTED or (code, None) in EXPECTED


def token(role: str, user: str) -> str:
    now = int(time.time())
    return jwt.encode({"user_id": user, "role": role, "iat": now, "exp": now + 86400}, SECRET, "HS256")


@attrs.define
class Options:
    duration: float = 60.0
    clients: int = 200
    observers: int = 5
    think: float = 1.0
    kill_interval: float = 60.0
    crash_interval: float = 20.0
    churn_interval: float = 5.0
    #: seconds between camera actor crashes (camsvc's fault-injection seam); 0 = none
    crash_actor_interval: float = 30.0
    #: seconds between a fake V4L2 node being plugged in and out (camsvc's fault-injection seam); 0 = none
    hotplug_interval: float = 20.0
    sample_interval: float = 5.0
    seed: int = 13
    #: MiB of recordings + snapshots a size retention policy keeps (set through the API); None = no retention
    retention_mb: float | None = None


@attrs.define
class Seen:
    """Everything the soak observed; :mod:`.report` turns it into figures."""

    latencies: dict[str, list[float]] = attrs.Factory(lambda: collections.defaultdict(list))
    #: (method, code, reason) → count; code 0 = disconnected, 1 = timeout, 2 = HTTP download failure
    errors: collections.Counter[tuple[str, int, str]] = attrs.Factory(collections.Counter)
    #: session_id → device, for every start_recording that succeeded
    sessions: dict[str, str] = attrs.Factory(dict)
    snapshots: set[str] = attrs.Factory(set)
    #: one set per observer of (topic, key) it received
    observed: list[set[tuple[str, str]]] = attrs.Factory(list)
    observers_connected: int = 0
    #: one list per observer of (device, status) of each camera_status_update, in order
    camera_events: list[list[tuple[str, str]]] = attrs.Factory(list)
    #: camera id → times its fake node was plugged in / out
    plugs: collections.Counter[str] = attrs.Factory(collections.Counter)
    unplugs: collections.Counter[str] = attrs.Factory(collections.Counter)
    #: {t, rss, fds, load}: load False before the clients connect and after they left
    samples: list[dict[str, float]] = attrs.Factory(list)
    supervisor: dict[str, Any] = attrs.Factory(dict)
    health_system: dict[str, Any] = attrs.Factory(dict)
    #: what the service's fds are, when their count did not come back to idle (sockets by state, files)
    fd_detail: dict[str, int] = attrs.Factory(dict)
    downloads: int = 0
    churn_added: int = 0
    churn_removed: int = 0
    started_at: float = attrs.Factory(time.monotonic)


class Soak:
    def __init__(self, stack: Stack, options: Options) -> None:
        self.stack = stack
        self.o = options
        self.seen = Seen()
        self.rng = random.Random(options.seed)
        #: cameras clients pick from: the stable ones plus churned externals currently added
        self.cameras: list[str] = list(STABLE_CAMERAS)
        self.externals: list[str] = []
        self._ext_seq = 0
        #: the fake node plugged in now (its index), and how many plugs so far
        self.plugged: int | None = None
        self._plug_seq = 0
        self.http = httpx.AsyncClient(base_url=stack.http_url, timeout=30)

    # ------------------------------------------------------------------------------------------- running

    async def run(self) -> Seen:
        async with trio.open_nursery() as nursery:
            for i in range(self.o.observers):
                self.seen.observed.append(set())
                self.seen.camera_events.append([])
                await nursery.start(self._observer, i)
            await self._sample(load=False)
            if self.o.retention_mb is not None:
                await self._set_retention(self.o.retention_mb)
            with trio.move_on_after(self.o.duration):
                async with trio.open_nursery() as load:
                    load.start_soon(self._sampler)
                    for i in range(self.o.clients):
                        load.start_soon(self._client, i)
                        await trio.sleep(0.01)  # ramp up rather than 200 handshakes at once
                    load.start_soon(self._churn)
                    load.start_soon(self._mediamtx_chaos)
                    load.start_soon(self._publisher_chaos)
                    if self.o.crash_actor_interval > 0:
                        load.start_soon(self._actor_chaos)
                    if self.o.hotplug_interval > 0:
                        load.start_soon(self._hotplug)
            await self._settle()
            await self.http.aclose()  # its keep-alive connections are ours, not a leak of the service
            await self._idle_sample(baseline=self.seen.samples[0]["fds"] if self.seen.samples else 0)
            async with httpx.AsyncClient(base_url=self.stack.http_url, timeout=30) as http:
                self.seen.supervisor = (await http.get("/supervisor")).json()
                self.seen.health_system = (await http.get("/health/system")).json()
            nursery.cancel_scope.cancel()
        return self.seen

    async def _set_retention(self, mib: float) -> None:
        """What an operator of a box that records for months does: keep the newest ``mib`` of files."""
        async with self._connect("admin", "retention") as client:
            await client.call(
                "set_retention_policy", {"policy_type": "size", "enabled": True, "max_size_gb": mib / 1024}
            )

    async def _settle(self) -> None:
        """Load is over: the emulator runs again, every recording is stopped, churned streams removed,
        and the observers get a moment to receive the last events."""
        self.stack.restart_emulator()
        async with self._connect("admin", "settle") as client:
            with trio.move_on_after(60):
                while True:  # until MediaMTX answers again (it may just have been killed)
                    try:
                        await client.call("get_streams", limit=5)
                        break
                    except (RpcError, trio.TooSlowError):
                        await trio.sleep(1)
            await self._settle_cameras(client)
            for name in list(self.externals):
                await self._call(client, "remove_external_stream", {"stream_name": name})
            for device in STABLE_CAMERAS:
                await self._call(client, "stop_recording", {"device": device})
            await trio.sleep(3)  # notifications in flight reach the observers

    async def _settle_cameras(self, client: Client, within: float = 30.0) -> None:
        """Unplug the fake node, and wait (polling, bounded) until camsvc no longer lists it, has served
        every crash request, and every stable camera is CONNECTED again, so their sessions can be stopped."""
        if self.plugged is not None:
            self._unplug()
        with trio.move_on_after(within):
            while True:
                cameras = await self._call(client, "get_camera_list") or {}
                status = {c["device"]: c["status"] for c in cameras.get("cameras", [])}
                gone = not any(f"camera{n}" in status for n in HOTPLUG_NODES)
                served = len(self.stack.crash_journal()) >= self.stack.actor_crash_requests
                if gone and served and all(status.get(d) == "CONNECTED" for d in STABLE_CAMERAS):
                    return
                await trio.sleep(0.5)  # polling interval of a deadline loop

    # ------------------------------------------------------------------------------------------ clients

    def _connect(self, role: str, user: str) -> AbstractAsyncContextManager[Client]:
        return connect(self.stack.ws_url, token(role, user), self._on_notification_for(None))

    def _on_notification_for(self, observer: int | None) -> Callable[[dict[str, Any]], None]:
        if observer is None:
            return lambda message: None
        into = self.seen.observed[observer]
        cameras = self.seen.camera_events[observer]

        def on_notification(message: dict[str, Any]) -> None:
            topic = message.get("method", "")
            params = message.get("params") or {}
            if topic == "recording_status_update":
                into.add((topic, f"{params.get('session_id')}:{params.get('status')}"))
            elif topic == "snapshot_taken":
                into.add((topic, str(params.get("filename"))))
            elif topic == "camera_status_update":
                cameras.append((str(params.get("device")), str(params.get("status"))))

        return on_notification

    async def _observer(self, i: int, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with connect(self.stack.ws_url, token("viewer", f"observer{i}"), self._on_notification_for(i)) as c:
            await c.call(
                "subscribe_events",
                {"topics": ["camera_status_update", "recording_status_update", "snapshot_taken",
                            "system_health_update"]},
            )  # fmt: skip
            self.seen.observers_connected += 1
            task_status.started()
            await c.closed.wait()
            self.seen.errors[("observer", 0, "disconnected")] += 1

    async def _client(self, i: int) -> None:
        role = "admin" if i % 10 == 0 else "operator"
        # one client in RECORDER_EVERY drives recordings, as an operator's app would; the rest read
        operations = RECORDER_OPERATIONS if i % RECORDER_EVERY == 1 else READER_OPERATIONS
        weights = [w for _, w in operations]
        rng = random.Random(self.o.seed * 1000 + i)
        try:
            async with self._connect(role, f"client{i}") as client:
                subscribed = False
                while True:
                    op = rng.choices(operations, weights=weights)[0][0]
                    if op == "subscription":
                        subscribed = await self._subscription(client, subscribed)
                    else:
                        await getattr(self, f"_op_{op}")(client, rng, role)
                    await trio.sleep(rng.uniform(0.5, 1.5) * self.o.think)
        except CONNECTION_ERRORS as exc:
            self.seen.errors[("client", 0, type(exc).__name__)] += 1
        except RpcError as exc:  # authenticate refused
            self.seen.errors[("authenticate", exc.code, exc.reason)] += 1

    async def _call(self, client: Client, method: str, params: dict[str, Any] | None = None) -> Any:
        """Call, timing it; errors are counted and return None."""
        began = time.perf_counter()
        try:
            result = await client.call(method, params)
        except RpcError as exc:
            self.seen.errors[(method, exc.code, exc.reason)] += 1
            return None
        except trio.TooSlowError:
            self.seen.errors[(method, 1, "timeout")] += 1
            return None
        finally:
            self.seen.latencies[method].append(time.perf_counter() - began)
        return result

    # ------------------------------------------------------------------------------------------ operations

    def _camera(self, rng: random.Random) -> str:
        return rng.choice(self.cameras)

    async def _op_status(self, client: Client, rng: random.Random, role: str) -> None:
        method = rng.choice(["get_camera_list", "get_system_status", "ping", "get_streams"]
                            + (["get_status", "get_metrics"] if role == "admin" else []))  # fmt: skip
        await self._call(client, method)

    async def _op_camera(self, client: Client, rng: random.Random, role: str) -> None:
        method = rng.choice(["get_camera_status", "get_recording_status", "get_stream_status", "get_stream_url"])
        await self._call(client, method, {"device": self._camera(rng)})

    async def _op_snapshot(self, client: Client, rng: random.Random, role: str) -> None:
        result = await self._call(client, "take_snapshot", {"device": rng.choice(STABLE_CAMERAS)})
        if result is not None:
            self.seen.snapshots.add(result["filename"])

    async def _op_record(self, client: Client, rng: random.Random, role: str) -> None:
        params: dict[str, Any] = {"device": self._camera(rng)}
        if rng.random() < 0.5:
            params["duration"] = rng.randint(5, 20)
        result = await self._call(client, "start_recording", params)
        if result is not None:
            self.seen.sessions[result["session_id"]] = result["device"]

    async def _op_stop(self, client: Client, rng: random.Random, role: str) -> None:
        await self._call(client, "stop_recording", {"device": self._camera(rng)})

    async def _op_list(self, client: Client, rng: random.Random, role: str) -> None:
        method = rng.choice(["list_recordings", "list_snapshots"])
        await self._call(client, method, {"limit": rng.choice([10, 50])})

    async def _op_download(self, client: Client, rng: random.Random, role: str) -> None:
        kind = rng.choice(["recording", "snapshot"])
        listing = await self._call(client, f"list_{kind}s", {"limit": 20})
        # only finished files: a segment being written has no stable size yet
        files = [f for f in (listing or {}).get("files", []) if kind == "snapshot" or f.get("duration") is not None]
        if not files:
            return
        chosen = rng.choice(files)
        grant = await self._call(client, "get_download_url", {"file_type": kind, "filename": chosen["filename"]})
        if grant is None:
            return
        began = time.perf_counter()
        try:
            response = await self.http.get(grant["url"])
        except httpx.HTTPError as exc:
            self.seen.errors[("download", 2, type(exc).__name__)] += 1
            return
        finally:
            self.seen.latencies["download"].append(time.perf_counter() - began)
        if response.status_code == 404:
            self.seen.errors[("download", -32010, "http_404")] += 1  # deleted meanwhile: as -32010
        elif response.status_code != 200:
            self.seen.errors[("download", 2, f"http_{response.status_code}")] += 1
        else:
            self.seen.downloads += 1

    async def _subscription(self, client: Client, subscribed: bool) -> bool:
        if subscribed:
            await self._call(client, "unsubscribe_events", {"topics": ["snapshot_taken", "camera.status_change"]})
            return False
        await self._call(client, "subscribe_events", {"topics": ["snapshot_taken", "camera.status_change"]})
        return True

    # ----------------------------------------------------------------------------------- churn and chaos

    async def _churn(self) -> None:
        while True:  # a dropped connection is counted by _call; churn goes on with a new one
            try:
                await self._churn_on_connection()
            except CONNECTION_ERRORS as exc:
                self.seen.errors[("churn", 0, type(exc).__name__)] += 1
                await trio.sleep(1)

    async def _churn_on_connection(self) -> None:
        async with self._connect("operator", "churn") as client:
            while True:
                await trio.sleep(self.o.churn_interval)
                if len(self.externals) < 3 and (not self.externals or self.rng.random() < 0.6):
                    self._ext_seq += 1
                    name = f"ext{self._ext_seq}"
                    url = f"{self.stack.rtsp_base}/camera0"
                    if await self._call(client, "add_external_stream", {"stream_url": url, "stream_name": name}):
                        self.seen.churn_added += 1
                        self.externals.append(name)
                        self.cameras.append(name)
                else:
                    name = self.rng.choice(self.externals)
                    self.externals.remove(name)
                    self.cameras.remove(name)
                    if await self._call(client, "remove_external_stream", {"stream_name": name}):
                        self.seen.churn_removed += 1

    async def _mediamtx_chaos(self) -> None:
        while True:
            await trio.sleep(self.o.kill_interval)
            if self.stack.kill_mediamtx():
                await trio.sleep(1.0)  # down for a moment, as after a crash
                await trio.to_thread.run_sync(self.stack.restart_emulator)

    async def _publisher_chaos(self) -> None:
        while True:
            await trio.sleep(self.o.crash_interval)
            await trio.to_thread.run_sync(self.stack.kill_publisher, self.rng.choice(STABLE_CAMERAS))

    async def _actor_chaos(self) -> None:
        while True:
            await trio.sleep(self.o.crash_actor_interval)
            await trio.to_thread.run_sync(self.stack.crash_actor, self.rng.choice(STABLE_CAMERAS))

    async def _hotplug(self) -> None:
        """Plug a fake node in, or the plugged one out; a new node (a new camera id) each time."""
        while True:
            await trio.sleep(self.o.hotplug_interval)
            if self.plugged is not None:
                self._unplug()
                continue
            index = HOTPLUG_NODES[self._plug_seq % len(HOTPLUG_NODES)]
            self._plug_seq += 1
            camera_id = await trio.to_thread.run_sync(self.stack.plug, index)
            self.plugged = index
            self.seen.plugs[camera_id] += 1
            self.cameras.append(camera_id)  # clients may find it not there yet: -32010, expected

    def _unplug(self) -> None:
        assert self.plugged is not None
        camera_id = f"camera{self.plugged}"
        self.cameras.remove(camera_id)
        self.stack.unplug(self.plugged)  # one unlink in the soak's directory
        self.seen.unplugs[camera_id] += 1
        self.plugged = None

    async def _sampler(self) -> None:
        while True:
            await trio.sleep(self.o.sample_interval)
            await self._sample(load=True)

    async def _idle_sample(self, baseline: float, within: float = 15.0) -> None:
        """The idle sample after the load: closed connections take a moment to be reaped (close handshakes,
        keep-alive pools), so wait up to ``within`` seconds for the fd count to come back to ``baseline``."""
        with trio.move_on_after(within):
            while True:
                await self._sample(load=False)
                if self.seen.samples and self.seen.samples[-1]["fds"] <= baseline:
                    return
                self.seen.samples.pop()
                await trio.sleep(1)
        await self._sample(load=False)
        self.seen.fd_detail = await trio.to_thread.run_sync(_fd_kinds, self.stack.service_process())

    async def _sample(self, *, load: bool) -> None:
        try:
            proc = self.stack.service_process()
            with proc.oneshot():
                rss, fds = proc.memory_info().rss, proc.num_fds()
        except psutil.Error:
            return
        self.seen.samples.append({"t": time.monotonic() - self.seen.started_at, "rss": rss, "fds": fds, "load": load})


def _fd_kinds(proc: psutil.Process) -> dict[str, int]:
    """The service's fds by kind; a TCP connection also says whether its peer is still open in the soak."""
    kinds: collections.Counter[str] = collections.Counter()
    try:
        ours = {c.laddr for c in psutil.Process().net_connections(kind="inet") if c.laddr}
        for conn in proc.net_connections(kind="inet"):
            port = conn.laddr.port if conn.laddr else 0
            peer = "" if not conn.raddr else (" peer open" if conn.raddr in ours else " peer gone")
            kinds[f"tcp {conn.status} local:{port}{peer}"] += 1
        for f in proc.open_files():
            kinds[f"file {f.path}"] += 1
    except psutil.Error:
        pass
    return dict(kinds)


#: (operation, weight) of most clients: reads dominate; a snapshot (one ffmpeg run) is rare
READER_OPERATIONS: list[tuple[str, float]] = [
    ("status", 30),
    ("camera", 25),
    ("list", 12),
    ("download", 5),
    ("subscription", 4),
    ("snapshot", 0.3),
]
#: of the clients that drive recordings (one in RECORDER_EVERY)
RECORDER_OPERATIONS: list[tuple[str, float]] = [("status", 4), ("camera", 4), ("record", 5), ("stop", 3)]
RECORDER_EVERY = 20


@asynccontextmanager
async def connect(url: str, auth: str, on_notification: Callable[[dict[str, Any]], None]) -> AsyncIterator[Client]:
    """An authenticated :class:`Client` whose reader runs in the background."""
    async with open_websocket_url(url, max_message_size=4 * 1024 * 1024) as ws:
        client = Client(ws, on_notification)
        error: Exception | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.reader)
            try:
                await client.call("authenticate", {"auth_token": auth})
                yield client
            except Exception as exc:  # re-raised below, outside the nursery: not wrapped in a group
                error = exc
            finally:
                nursery.cancel_scope.cancel()
        if error is not None:
            raise error
