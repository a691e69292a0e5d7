"""RPC at scale: 10,000 authenticated idle connections, fan-out to 1,000 subscribers, loop blocking.

The service runs in one process, the clients (picows on uvloop) in another. Phases:

1. hold: open and authenticate ``--connections`` (10,000) connections; the server's RSS
   growth divided by that is the memory per connection; while they are held, a few
   other connections ping in a closed loop (p50/p99);
2. fan-out: ``--subscribers`` (1,000) of them subscribe to ``snapshot_taken``; the server
   publishes ``--events`` events carrying their publish time, and every subscriber's
   receive time gives the delivery latency (p50/p99 over all deliveries);
3. blocking: a trio instrument in the server records the longest single task step
   (how long the event loop was held) while each read method is called repeatedly.

Prints one JSON object; raises its own open-files limit (both processes). Not a test.

    /work/venv/bin/python tools/bench/bench_rpc_scale.py [--connections 10000] [--subscribers 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


def raise_nofile(want: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(target, hard) if hard != resource.RLIM_INFINITY else hard))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(target, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


# --------------------------------------------------------------------------- server


def serve(state: str, connections: int, baseline: bool) -> None:
    raise_nofile(connections + 1000)
    sys.path.insert(0, str(REPO))
    import logging

    import trio

    from camsvc.rpc import subscriptions

    if baseline:  # the fan-out as it was before its optimisation, for before/after figures
        subscriptions.FANOUT_DIRECT = False
        subscriptions.FANOUT_TURN = float("inf")

    from camsvc.rpc.params import ParamChecker
    from camsvc.rpc.table import Method, Param
    from camsvc.security.roles import Role
    from tools.bench.bench_service import bench_camera, bench_service

    logging.basicConfig(level=logging.ERROR)
    service = bench_service(state, max_connections=connections + 100)
    service.services.registry.put(
        bench_camera()
    )

    class StepTimer(trio.abc.Instrument):
        """The longest task step: how long the event loop was held by one task at a time."""

        def __init__(self) -> None:
            self.max = 0.0
            self.started = 0.0

        def before_task_step(self, task: trio.lowlevel.Task) -> None:
            self.started = time.perf_counter()

        def after_task_step(self, task: trio.lowlevel.Task) -> None:
            self.max = max(self.max, time.perf_counter() - self.started)

    timer = StepTimer()
    import gc

    gc_pauses: list[tuple[int, float]] = []
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            gc_pauses.append((info["generation"], time.perf_counter() - gc_started[0]))

    gc.callbacks.append(on_gc)
    import cProfile

    profiler = cProfile.Profile()

    async def control(ctx: Any, params: dict[str, Any]) -> Any:
        action = params.get("action")
        if action == "publish":
            fanout_started[0] = time.perf_counter()
            service.bus.publish("snapshot_taken", {"device": "camera0", "filename": "bench.jpg", "ts": time.time()}, device="camera0")
            return True
        if action == "fanout_server_ms":
            return [round(1000 * d, 3) for d in fanout_done]
        if action == "instrument":
            trio.lowlevel.add_instrument(timer)
            return True
        if action == "step_reset":
            timer.max = 0.0
            return True
        if action == "step_max_ms":
            return round(timer.max * 1000, 3)
        if action == "gc_objects":
            return len(gc.get_objects())
        if action == "gc_types":  # diagnostic: tracked objects by type
            import collections

            return dict(collections.Counter(type(o).__qualname__ for o in gc.get_objects()).most_common(60))
        if action == "gc_reset":
            gc_pauses.clear()
            return True
        if action == "gc_stats":
            full = [p for g, p in gc_pauses if g == 2]
            return {"collections": len(gc_pauses), "full": len(full), "max_ms": round(1000 * max((p for _, p in gc_pauses), default=0), 3)}
        if action == "profile_start":  # BENCH_PROFILE=file: profile the fan-out phase (development aid)
            profiler.enable()
            return True
        if action == "profile_stop":
            profiler.disable()
            if os.environ.get("BENCH_PROFILE"):
                profiler.dump_stats(os.environ["BENCH_PROFILE"])
            return True
        return None

    rpc = service.extras["rpc"]
    # Server-side fan-out time: from publish until the last notification was handed to its socket/queue.
    fanout_started = [0.0]
    fanout_done: list[float] = []
    original_chunk = rpc.hub._send_chunk

    def timed_chunk() -> None:
        original_chunk()
        if not rpc.hub._pending and fanout_started[0]:
            fanout_done.append(time.perf_counter() - fanout_started[0])
            fanout_started[0] = 0.0

    rpc.hub._send_chunk = timed_chunk
    method = Method("bench.control", control, None, "benchmark control (bench_rpc_scale only)", params=(Param("action", "string"),), inline=True)
    rpc.table.add(method)
    rpc.dispatcher._methods[method.name] = (method, ParamChecker(method))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            viewer, _ = service.services.auth.issue_token("bench", Role.VIEWER, 7200)
            admin, _ = service.services.auth.issue_token("bench-admin", Role.ADMIN, 7200)
            print(json.dumps({"port": rpc.bound_port, "viewer": viewer, "admin": admin}), flush=True)

    trio.run(main)


# --------------------------------------------------------------------------- client


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(1000 * values[min(len(values) - 1, int(q * len(values)))], 3)


async def client(args: argparse.Namespace, info: dict[str, Any], server_pid: int) -> dict[str, Any]:
    from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    class Conn(WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.transport: WSTransport | None = None
            self.waiting: asyncio.Future[Any] | None = None
            self.events: list[float] = []

        def on_ws_connected(self, transport: WSTransport) -> None:
            self.transport = transport

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type is not WSMsgType.TEXT:
                return
            now = time.time()
            message = json.loads(frame.get_payload_as_bytes())
            if "method" in message and "id" not in message:
                if message["method"] == "snapshot_taken":
                    self.events.append(now - message["params"]["ts"])
                return
            if self.waiting is not None and not self.waiting.done():
                self.waiting.set_result(message)

        async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
            assert self.transport is not None
            self.waiting = asyncio.get_running_loop().create_future()
            self.transport.send(WSMsgType.TEXT, json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).encode())
            answer = await asyncio.wait_for(self.waiting, 30)
            if "error" in answer:
                raise RuntimeError(f"{method}: {answer['error']}")
            return answer["result"]

    url = f"ws://127.0.0.1:{info['port']}/ws"

    async def open_conn(token: str | None) -> Conn:
        _, conn = await ws_connect(Conn, url, websocket_handshake_timeout=60)
        if token:
            await conn.call("authenticate", {"auth_token": token})
        return conn

    out: dict[str, Any] = {}
    control = await open_conn(None)
    admin = await open_conn(info["admin"])
    await admin.call("get_camera_list")
    await asyncio.sleep(0.5)
    rss_before = rss_bytes(server_pid)
    objects_before = await control.call("bench.control", {"action": "gc_objects"})

    # 1. hold
    t0 = time.monotonic()
    held: list[Conn] = []
    wave = 250
    for start in range(0, args.connections, wave):
        n = min(wave, args.connections - start)
        held.extend(await asyncio.gather(*(open_conn(info["viewer"]) for _ in range(n))))
    out["connect_and_auth_seconds"] = round(time.monotonic() - t0, 2)
    await asyncio.sleep(1.0)
    rss_after = rss_bytes(server_pid)
    out["connections_held"] = len(held)
    out["server_rss_before_mb"] = round(rss_before / 2**20, 1)
    out["server_rss_after_mb"] = round(rss_after / 2**20, 1)
    out["rss_per_connection_kb"] = round((rss_after - rss_before) / len(held) / 1024, 2)
    objects_after = await control.call("bench.control", {"action": "gc_objects"})
    out["gc_tracked_objects_per_connection"] = round((objects_after - objects_before) / len(held), 1)

    pingers = held[:10]
    latencies: list[float] = []
    deadline = time.monotonic() + args.ping_seconds

    async def ping_loop(conn: Conn) -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            await conn.call("ping")
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(ping_loop(c) for c in pingers))
    out["ping_during_hold"] = {"count": len(latencies), "p50_ms": pct(latencies, 0.5), "p99_ms": pct(latencies, 0.99), "max_ms": pct(latencies, 1.0)}

    # 2. fan-out
    subscribers = held[: args.subscribers]
    await asyncio.gather(*(c.call("subscribe_events", {"topics": ["snapshot_taken"]}) for c in subscribers))
    await control.call("bench.control", {"action": "gc_reset"})
    if os.environ.get("BENCH_PROFILE"):
        await control.call("bench.control", {"action": "profile_start"})
    for _ in range(args.events):
        await control.call("bench.control", {"action": "publish"})
        await asyncio.sleep(0.3)
    await asyncio.sleep(1.0)
    if os.environ.get("BENCH_PROFILE"):
        await control.call("bench.control", {"action": "profile_stop"})
    out["gc_during_fanout"] = await control.call("bench.control", {"action": "gc_stats"})
    server_ms = await control.call("bench.control", {"action": "fanout_server_ms"})
    out["fanout_server_side_ms"] = {"p50": pct([v / 1000 for v in server_ms], 0.5), "max": pct([v / 1000 for v in server_ms], 1.0)} if server_ms else None
    deliveries = [d for c in subscribers for d in c.events]
    per_event = [sorted(c.events[i] for c in subscribers if len(c.events) > i) for i in range(args.events)]
    out["fanout_slowest_delivery_per_event_ms"] = [round(1000 * e[-1], 1) for e in per_event if e]
    out["fanout"] = {
        "subscribers": len(subscribers),
        "events": args.events,
        "deliveries": len(deliveries),
        "expected": len(subscribers) * args.events,
        "p50_ms": pct(deliveries, 0.5),
        "p99_ms": pct(deliveries, 0.99),
        "max_ms": pct(deliveries, 1.0),
    }

    # 3. the longest event-loop hold per method (instrumented), with the connections still held
    await control.call("bench.control", {"action": "instrument"})
    methods = {
        "ping": None, "get_camera_list": None, "get_camera_status": {"device": "camera0"},
        "get_camera_capabilities": {"device": "camera0"}, "get_server_info": None, "get_status": None,
        "get_system_status": None, "get_metrics": None, "get_subscription_stats": None, "rpc.discover": None,
    }
    blocking: dict[str, float] = {}
    for name, params in methods.items():
        await control.call("bench.control", {"action": "step_reset"})
        for _ in range(20):
            try:
                await admin.call(name, params)
            except RuntimeError:
                pass  # e.g. MediaMTX is not running in this bench: the error path is measured too
        blocking[name] = await control.call("bench.control", {"action": "step_max_ms"})
    out["max_loop_block_ms_by_method"] = blocking
    out["max_loop_block_ms"] = max(blocking.values())

    for c in [*held, control, admin]:
        if c.transport is not None:
            c.transport.send_close(WSCloseCode.OK)
            c.transport.disconnect()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--connections", type=int, default=10000)
    p.add_argument("--subscribers", type=int, default=1000)
    p.add_argument("--events", type=int, default=20)
    p.add_argument("--ping-seconds", type=float, default=5.0)
    p.add_argument("--baseline", action="store_true", help="switch the fan-out optimisations off (before figures)")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--state", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.state, args.connections, args.baseline)
        return 0
    limit = raise_nofile(args.connections + 1000)
    with tempfile.TemporaryDirectory() as state:
        proc = subprocess.Popen(
            [PY, __file__, "--serve", "--state", state, "--connections", str(args.connections), *(["--baseline"] if args.baseline else [])],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
        )
        try:
            assert proc.stdout is not None
            info = json.loads(proc.stdout.readline())
            import uvloop

            result = uvloop.run(client(args, info, proc.pid))
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    result["open_files_limit"] = limit
    result["variant"] = "baseline (fan-out optimisations off)" if args.baseline else "current"
    result["targets"] = {"rss_per_connection_kb": "< 25", "ping_p99_ms": "< 100", "fanout_p99_ms": "< 50", "max_loop_block_ms": "< 10"}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
