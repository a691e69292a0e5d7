"""WebSocket load client for the RPC benchmarks: picows on uvloop, run as its own process.

Each connection runs a closed loop: send one request, wait for its answer, send the
next (``--inflight`` > 1 keeps several outstanding). Latency is measured per
request from send to answer. With ``--rate`` it runs an open loop instead: requests
fall due on a fixed schedule and latency runs from when each was due, so a server
stall shows in every request it delayed, not in one. The client prints one JSON object with throughput,
p50/p99 latency and its own CPU use, so a run can show the client was not the
bottleneck (a client near 100 % of a core is; see ``--mode client-ceiling``).

    python tools/bench/load_client.py --url ws://127.0.0.1:8002/ws --connections 50 \
        --duration 5 --request '{"jsonrpc":"2.0","id":1,"method":"ping"}'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time

import uvloop
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect


class _Loop(WSListener):  # type: ignore[misc]
    """One connection's closed request loop."""

    def __init__(self, run: _Run, held: bool = False) -> None:
        self.run = run
        #: an idle connection held open beside the load (it only answers the server's pings)
        self.held = held
        self.transport: WSTransport | None = None
        #: send (or, open loop, scheduled) times of the requests awaiting their answer
        self.sent: list[float] = []
        #: open loop: scheduled times of requests not sent yet (the previous one is still unanswered)
        self.due: list[float] = []
        self.ready = asyncio.get_running_loop().create_future()
        self.prelude = list(run.prelude)

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        if self.prelude:
            transport.send(WSMsgType.TEXT, self.prelude.pop(0))
        else:
            self.ready.set_result(None)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.CLOSE:
            self.run.closed += 1
            self.run.held_closed += self.held
            transport.disconnect()
            return
        if frame.msg_type is not WSMsgType.TEXT:
            return
        if not self.ready.done():
            if self.run.check_prelude and b'"error"' in frame.get_payload_as_bytes():
                self.ready.set_exception(RuntimeError(frame.get_payload_as_utf8_text()))
                return
            if self.prelude:
                transport.send(WSMsgType.TEXT, self.prelude.pop(0))
            else:
                self.ready.set_result(None)
            return
        if self.held:
            return  # notifications to an idle connection: read, nothing to answer
        now = time.perf_counter()
        run = self.run
        if self.sent:
            started = self.sent.pop(0)
            if run.measuring:
                run.latencies.append(now - started)
                run.count += 1
                if run.check and b'"error"' in frame.get_payload_as_bytes():
                    run.errors += 1
        if run.stopping:
            return
        if run.rate:
            if self.due:  # behind schedule: the next request goes now, timed from when it was due
                self.sent.append(self.due.pop(0))
                transport.send(WSMsgType.TEXT, run.request)
        else:
            self.sent.append(now)
            transport.send(WSMsgType.TEXT, run.request)

    def tick(self, scheduled: float) -> None:
        """Open loop: one request is due now; it waits while the previous one is unanswered."""
        if self.sent:
            self.due.append(scheduled)
        else:
            assert self.transport is not None
            self.sent.append(scheduled)
            self.transport.send(WSMsgType.TEXT, self.run.request)

    def start(self, inflight: int) -> None:
        assert self.transport is not None
        for _ in range(inflight):
            self.sent.append(time.perf_counter())
            self.transport.send(WSMsgType.TEXT, self.run.request)


class _Run:
    def __init__(self, request: bytes, prelude: list[bytes], check: bool, rate: float = 0.0) -> None:
        self.request = request
        #: requests per second per connection on a fixed schedule (0: closed loop)
        self.rate = rate
        self.prelude = prelude
        self.check = check
        self.check_prelude = True
        self.measuring = False
        self.stopping = False
        self.latencies: list[float] = []
        self.count = 0
        self.errors = 0
        self.closed = 0
        self.held_closed = 0


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return sorted_values[index]


async def _connect(run: _Run, url: str, count: int, *, held: bool) -> list[_Loop]:
    """Open and prepare (prelude answered) ``count`` connections."""
    listeners: list[_Loop] = []
    # Connect in modest waves so the server's accept backlog is not the thing measured.
    wave = 100
    for start in range(0, count, wave):
        batch = await asyncio.gather(
            *(ws_connect(lambda: _Loop(run, held), url, max_frame_size=16 * 1024 * 1024)
              for _ in range(start, min(count, start + wave)))
        )
        listeners.extend(listener for _, listener in batch)
    await asyncio.gather(*(listener.ready for listener in listeners))
    return listeners


async def _main(args: argparse.Namespace) -> dict[str, object]:
    prelude = [p.encode() for p in args.prelude]
    run = _Run(args.request.encode(), prelude, check=not args.no_check, rate=args.rate)
    held = await _connect(run, args.url, args.hold, held=True)
    listeners = await _connect(run, args.url, args.connections, held=False)
    ticker = None
    if args.rate:
        ticker = asyncio.get_running_loop().create_task(_ticks(run, listeners))
    else:
        for listener in listeners:
            listener.start(args.inflight)
    await asyncio.sleep(args.warmup)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0, wall0 = time.perf_counter(), time.time()
    run.measuring = True
    await asyncio.sleep(args.duration)
    run.measuring = False
    elapsed = time.perf_counter() - t0
    wall1 = time.time()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    run.stopping = True
    if ticker is not None:
        ticker.cancel()
    behind = sum(len(listener.due) for listener in listeners)
    for listener in [*listeners, *held]:
        if listener.transport is not None:
            listener.transport.send_close(WSCloseCode.OK)
            listener.transport.disconnect()
    latencies = sorted(run.latencies)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        "connections": args.connections,
        "held": args.hold,
        "held_closed_by_server": run.held_closed,
        "inflight": args.inflight,
        "rate_per_connection": args.rate,
        "still_due_at_end": behind,
        "requests": run.count,
        "errors": run.errors,
        "closed_by_server": run.closed,
        "seconds": round(elapsed, 3),
        "throughput": round(run.count / elapsed, 1),
        "p50_ms": round((_percentile(latencies, 0.50) or 0) * 1000, 3),
        "p99_ms": round((_percentile(latencies, 0.99) or 0) * 1000, 3),
        "max_ms": round((latencies[-1] if latencies else 0) * 1000, 3),
        "client_cpu_percent": round(100 * cpu / elapsed, 1),
        #: the measured window in wall-clock time (connecting and closing are outside it)
        "window_unix": [round(wall0, 3), round(wall1, 3)],
    }


async def _ticks(run: _Run, listeners: list[_Loop]) -> None:
    """Open loop: every connection's next request falls due each 1/rate s, answered or not.

    A closed loop sends nothing while the server stalls, so a stall costs it one slow sample
    (coordinated omission); here every request that fell due during it is late by what it waited.
    """
    period = 1.0 / run.rate
    due = time.perf_counter()
    while not run.stopping:
        due += period
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        for listener in listeners:
            listener.tick(due)


async def _echo_server(port: int) -> None:
    """A picows echo server: the client's own ceiling is measured against it."""
    from picows import ws_create_server

    class Echo(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type is WSMsgType.TEXT:
                transport.send(WSMsgType.TEXT, frame.get_payload_as_bytes())
            elif frame.msg_type is WSMsgType.CLOSE:
                transport.disconnect()

    server = await ws_create_server(lambda _req: Echo(), "127.0.0.1", port)
    print(json.dumps({"listening": server.sockets[0].getsockname()[1]}), flush=True)
    await server.serve_forever()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="ws://127.0.0.1:8002/ws")
    p.add_argument("--connections", type=int, default=1)
    p.add_argument("--inflight", type=int, default=1)
    p.add_argument("--rate", type=float, default=0.0, help="open loop: requests per second per connection (latency from when each was due)")
    p.add_argument("--hold", type=int, default=0, help="idle connections (with the prelude) held open beside the load")
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--request", default='{"jsonrpc":"2.0","id":1,"method":"ping"}')
    p.add_argument("--prelude", action="append", default=[], help="messages sent (and answered) before the loop")
    p.add_argument("--no-check", action="store_true", help="do not count answers containing an error")
    p.add_argument("--echo-server", type=int, metavar="PORT", help="run a picows echo server instead")
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.hold + args.connections + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    if args.echo_server is not None:
        uvloop.run(_echo_server(args.echo_server))
        return 0
    result = uvloop.run(_main(args))
    print(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
