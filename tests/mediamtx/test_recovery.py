"""Recovery after MediaMTX goes away: probes while it is down, paths back on its first answer.

Most tests drive the reconciler against an in-memory MediaMTX (an httpx transport, no sockets)
under trio's MockClock, so the probe schedule is exact and virtual time costs nothing. "Restored on
the first answer" is asserted from the order of requests: the first probe MediaMTX answers is
followed by the list and the path writes, with no further probe (and no periodic pass, which is
60 virtual seconds away) in between. The idle connection that tells of MediaMTX's death is an
in-memory stream pair there; the emulator and real-binary tests watch a real socket.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio

from camsvc.cameras.registry import CameraRegistry
from camsvc.errors import DependencyFailed
from camsvc.mediamtx.client import MediamtxClient
from camsvc.mediamtx.liveness import ConnectionWatch
from camsvc.mediamtx.reconciler import MediamtxReconciler
from camsvc.storage.state import StateStore
from tests.mediamtx_targets import MediamtxTarget
from tools.mediamtx_emulator import Emulator

from .conftest import make_config, network, synthetic
from .test_reconciler import running, until

CAMERAS = ("camera0", "camera1", "stream0")


@attrs.frozen
class Seen:
    at: float
    method: str
    path: str
    #: HTTP status, or None when the connection was refused
    status: int | None


class FakeMediamtx:
    """Just enough of the control API for the reconciler; ``down``/``fail`` break it, ``restart`` resets it."""

    def __init__(self) -> None:
        self.paths: dict[str, dict[str, Any]] = {}
        self.started = "2026-01-01T00:00:00Z"
        self.down = False
        self.fail_status: int | None = None
        self.log: list[Seen] = []
        self._generation = 0

    def restart(self) -> None:
        """What a restarted MediaMTX looks like: API-made paths forgotten, a new ``started``."""
        self._generation += 1
        self.paths = {}
        self.started = f"2026-01-01T00:00:{self._generation:02d}Z"

    def handle(self, request: httpx.Request) -> httpx.Response:
        path, now = request.url.path, trio.current_time()
        if self.down:
            self.log.append(Seen(now, request.method, path, None))
            raise httpx.ConnectError("All connection attempts failed", request=request)
        response = self._answer(request.method, path, request.content)
        self.log.append(Seen(now, request.method, path, response.status_code))
        return response

    def _answer(self, method: str, path: str, content: bytes) -> httpx.Response:
        if self.fail_status is not None:
            return httpx.Response(self.fail_status, json={"status": "error", "error": "terminated"})
        if path == "/v3/info":
            return httpx.Response(200, json={"version": "v1.20.1", "started": self.started})
        if path == "/v3/config/paths/list":
            items = [{"name": n, **c} for n, c in self.paths.items()]
            return httpx.Response(200, json={"itemCount": len(items), "pageCount": 1, "items": items})
        verb, _, name = path.removeprefix("/v3/config/paths/").partition("/")
        if verb == "add" and name in self.paths:
            return httpx.Response(400, json={"status": "error", "error": "path already exists"})
        if verb in ("add", "replace"):
            self.paths[name] = json.loads(content)
        elif verb == "patch" and name in self.paths:
            self.paths[name].update(json.loads(content))
        elif verb == "delete" and name in self.paths:
            del self.paths[name]
        else:
            return httpx.Response(404, json={"status": "error", "error": "path not found"})
        return httpx.Response(200, json={"status": "ok"})



@asynccontextmanager
async def reconciling(
    tmp_path: Path, server: FakeMediamtx, watch: ConnectionWatch | None = None, **mediamtx: Any
) -> AsyncIterator[MediamtxReconciler]:
    """``watch``: None for timed probes only (there is no socket to watch in front of the fake)."""
    settings: dict[str, Any] = {"reconcile_interval": 60.0, "probe_interval": 0.5, "backoff_max": 8.0}
    config = make_config(tmp_path, "http://mediamtx.test", **{**settings, **mediamtx})
    registry = CameraRegistry()
    registry.put(synthetic("camera0"))
    registry.put(synthetic("camera1"))
    registry.put(network("stream0"))
    store = StateStore(tmp_path / "state.db")
    store.open()

    def client() -> MediamtxClient:
        return MediamtxClient("http://mediamtx.test", timeout=2, transport=httpx.MockTransport(server.handle))

    rec = MediamtxReconciler(config=config, registry=registry, store=store, client_factory=client, watch_factory=lambda: watch)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(rec.run)
            # No deadline here: the autojump clock would jump to it while SQLite records ownership
            # in its worker thread (pytest-timeout still bounds the test).
            await rec.gateway.sync(math.inf)
            assert set(server.paths) == set(CAMERAS)
            yield rec
            nursery.cancel_scope.cancel()
    finally:
        store.close()


def restored_on_first_answer(server: FakeMediamtx, mark: int) -> None:
    """From ``server.log[mark]`` on: the first answered request is a probe, and everything up to the last path
    write belongs to the pass it started (one list, the writes, no second probe)."""
    answered = [s for s in server.log[mark:] if s.status is not None]
    assert answered[0].path == "/v3/info" and answered[0].status == 200
    writes = [i for i, s in enumerate(answered) if s.method == "POST"]
    assert {answered[i].path.rsplit("/", 1)[1] for i in writes} == set(CAMERAS)
    between = [s.path for s in answered[1 : writes[0]]]
    assert between == ["/v3/config/paths/list"], between
    assert all(s.path != "/v3/info" for s in answered[1 : writes[-1] + 1])


async def test_paths_come_back_on_the_first_probe_the_returning_server_answers(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    server = FakeMediamtx()
    async with reconciling(tmp_path, server) as rec:
        down_at = len(server.log)
        server.down = True
        await trio.sleep(5)  # virtual: the reconciler probes meanwhile
        while_down = server.log[down_at:]
        assert while_down and {(s.method, s.path) for s in while_down} == {("GET", "/v3/info")}
        with pytest.raises(DependencyFailed):
            rec.gateway.ensure_available()  # fails fast while it is down

        server.restart()
        server.down = False
        back_at = len(server.log)
        await until(lambda: set(server.paths) == set(CAMERAS), what="paths restored")
        restored_on_first_answer(server, back_at)
        assert rec.gateway.status().server_restarts == 1
        assert rec.gateway.status().reachable


async def test_a_server_that_stays_down_is_probed_on_a_short_capped_backoff(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    server = FakeMediamtx()
    async with reconciling(tmp_path, server, probe_interval=0.5):
        down_at = len(server.log)
        server.down = True
        await trio.sleep(60)
        times = [s.at for s in server.log[down_at:]]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        # 0.1 s doubling (±20 % jitter) up to the 0.5 s cap: quick to notice a return, never a flood
        assert 0.08 <= gaps[0] <= 0.12
        assert max(gaps) <= 0.5 * 1.2
        assert all(g >= 0.4 for g in gaps[3:])
        assert len(times) <= 60 / 0.4 + 4


async def test_a_server_that_answers_errors_backs_off_further(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    server = FakeMediamtx()
    async with reconciling(tmp_path, server, probe_interval=0.5, backoff_max=8.0) as rec:
        failing_at = len(server.log)
        server.fail_status = 500
        await trio.sleep(60)
        times = [s.at for s in server.log[failing_at:]]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        # it is there but unwell: the long backoff (0.5 s doubling to backoff_max), not the probe cadence
        assert max(gaps) >= 8.0 * 0.9
        assert len(times) <= 15
        server.fail_status = None
        await until(lambda: rec.gateway.status().reachable, timeout=20, what="recovery")


async def test_a_restart_between_two_probes_is_noticed_by_the_next_probe(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    server = FakeMediamtx()
    async with reconciling(tmp_path, server, probe_interval=0.5) as rec:
        await trio.sleep(0.2)
        restart_at = len(server.log)
        server.restart()  # never seen down: only `started` tells
        await until(lambda: set(server.paths) == set(CAMERAS), what="paths restored")
        restored_on_first_answer(server, restart_at)
        assert rec.gateway.status().server_restarts == 1


async def test_emulator_restart_paths_follow_its_first_answer(tmp_path: Path, emu: Emulator) -> None:
    registry = CameraRegistry()
    registry.put(synthetic("camera0"))
    registry.put(network("stream0"))
    # reconcile_interval far away: only a probe can bring the paths back within this test
    async with running(tmp_path, emu, registry, reconcile_interval=60, probe_interval=0.2) as rig:
        await rig.reconciler.gateway.sync(5)
        mark = len(emu.requests)
        await emu.restart(downtime=0.5)

        # read the emulator's store, not its API: our own requests would mix with the reconciler's
        await until(lambda: {"camera0", "stream0"} <= set(emu.store.path_overrides), what="paths re-applied")
        targets = [r.target.split("?")[0] for r in list(emu.requests)[mark:]]
        first = targets.index("/v3/info")
        writes = [i for i, t in enumerate(targets) if t.startswith("/v3/config/paths/add/")]
        assert writes and targets[first + 1] == "/v3/config/paths/list"
        assert "/v3/info" not in targets[first + 1 : writes[-1]]
        assert rig.reconciler.gateway.status().server_restarts == 1


class FakeWatch(ConnectionWatch):
    """Idle "connections" in memory: the test closes ``peers[-1]`` where MediaMTX would."""

    def __init__(self) -> None:
        super().__init__("mediamtx.test", 80)
        self.peers: list[trio.abc.Stream] = []

    async def connect(self) -> trio.abc.Stream:
        ours, theirs = trio.testing.memory_stream_pair()
        self.peers.append(theirs)
        return ours


async def test_a_watched_server_is_not_polled_and_its_death_is_seen_at_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    server, watch = FakeMediamtx(), FakeWatch()
    async with reconciling(tmp_path, server, watch) as rec:
        await until(lambda: watch.peers, what="the idle connection")
        await trio.sleep(1)  # virtual: a timed probe may have been due before the connection opened
        quiet_from = len(server.log)
        await trio.sleep(30)  # virtual: 60 probe intervals, well before the periodic pass
        assert server.log[quiet_from:] == []

        server.down = True
        died_at = trio.current_time()
        await watch.peers[-1].aclose()  # what its exit does to our connection
        await trio.sleep(5)
        while_down = server.log[quiet_from:]
        assert while_down[0].at == died_at and while_down[0].path == "/v3/info"
        assert {s.path for s in while_down} == {"/v3/info"}
        assert not rec.gateway.status().reachable

        server.restart()
        server.down = False
        back_at = len(server.log)
        await until(lambda: set(server.paths) == set(CAMERAS), what="paths restored")
        restored_on_first_answer(server, back_at)
        await until(lambda: len(watch.peers) == 2, what="watching again")


async def test_a_connection_closed_while_idle_costs_one_probe_and_catches_a_quick_restart(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    server, watch = FakeMediamtx(), FakeWatch()
    async with reconciling(tmp_path, server, watch) as rec:
        await until(lambda: watch.peers, what="the idle connection")
        # MediaMTX closes idle API connections itself (its readTimeout): one probe, no pass
        mark = len(server.log)
        await watch.peers[-1].aclose()
        await until(lambda: len(watch.peers) == 2, what="watching again")
        assert [s.path for s in server.log[mark:]] == ["/v3/info"]

        # restarted faster than anything noticed: only the new `started` tells
        mark = len(server.log)
        server.restart()
        await watch.peers[-1].aclose()
        await until(lambda: set(server.paths) == set(CAMERAS), what="paths restored")
        restored_on_first_answer(server, mark)
        assert rec.gateway.status().server_restarts == 1


async def test_a_killed_mediamtx_is_noticed_through_the_idle_connection(
    tmp_path: Path, mediamtx_target: MediamtxTarget
) -> None:
    registry = CameraRegistry()
    registry.put(synthetic("camera0"))
    registry.put(network("stream0"))
    # probes 30 s and full passes 60 s apart: only the watched connection can notice within this test
    async with running(tmp_path, mediamtx_target, registry, reconcile_interval=60, probe_interval=30) as rig:
        await rig.reconciler.gateway.sync(5)
        await mediamtx_target.restart(downtime=0.3)
        await until(
            lambda: rig.reconciler.gateway.status().server_restarts == 1, timeout=8, what="restart noticed"
        )
        await until(
            lambda: all_present(mediamtx_target, ("camera0", "stream0")), timeout=8, what="paths re-applied"
        )


async def all_present(target: MediamtxTarget, names: tuple[str, ...]) -> bool:
    return all([not await target.path_gone(name) for name in names])
