"""Notification fan-out through the real service: one event, ``--subscribers`` receivers.

``--subscribers`` authenticated connections (picows on uvloop, this process) receive the default
``camera_status_update``. A control connection adds an external stream ``fan<k>`` (a real API call:
persisted, reconciled, announced), and every subscriber's receive time of that camera's first update,
minus the time the call was sent, is one delivery latency. The next event starts when every subscriber
has its delivery (or after ``--timeout``, counting the missing ones), then the stream is removed again
(not measured), so each measured event is about a camera no other event names. The removal's own
notification is awaited at every subscriber too before the next event: otherwise the next event's
fan-out would be measured behind the tail of the previous one (and behind this process reading it),
which is a burst of two notifications, not one.

Prints one JSON object: p50/p99 over all deliveries and over each event's slowest delivery, both
from the call (its handling included: persisting and starting the camera) and from the event's first
delivery (the fan-out alone: publishing to the first subscriber's write is one direct write).

    python tools/bench/fanout_client.py --url ws://127.0.0.1:8002/ws --auth '{...authenticate...}' \
        --subscribers 1000 --events 500
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import time
from typing import Any

import orjson
import uvloop
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect


class _Subscriber(WSListener):  # type: ignore[misc]
    def __init__(self, bench: _Bench) -> None:
        self.bench = bench
        self.transport: WSTransport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        transport.send(WSMsgType.TEXT, self.bench.auth)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is not WSMsgType.TEXT:
            return
        now = time.perf_counter()
        if not self.ready.done():
            self.ready.set_result(None)  # the authenticate answer
            return
        # A byte search, not a JSON parse: the client's own per-message work delays every later
        # delivery in this process, and would be counted as the server's fan-out time.
        marker = self.bench.marker
        if marker and marker in frame.get_payload_as_bytes():
            self.bench.delivered(self, now)


class _Control(WSListener):  # type: ignore[misc]
    def __init__(self, bench: _Bench) -> None:
        self.bench = bench
        self.transport: WSTransport | None = None
        self.answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            message = orjson.loads(frame.get_payload_as_memoryview())
            if "id" in message:
                self.answers.put_nowait(message)

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.transport is not None
        self.transport.send(WSMsgType.TEXT, orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        answer = await self.answers.get()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer


class _Bench:
    def __init__(self, auth: bytes, subscribers: int) -> None:
        self.auth = auth
        self.subscribers = subscribers
        #: the bytes that identify the awaited event's notification (empty: none awaited)
        self.marker = b""
        self.sent_at = 0.0
        self.first_at = 0.0
        self.got: set[int] = set()
        self.latencies: list[float] = []
        #: each delivery after the event's first one: the fan-out alone, without the call's handling
        self.spread: list[float] = []
        self.event_max: list[float] = []
        self.event_spread: list[float] = []
        self.all_in = asyncio.Event()
        #: False while awaiting an unmeasured event (the removal's notification)
        self.measuring = True

    def expect(self, device: str, *, measure: bool = True) -> None:
        # camera_status_update params are the camera object; its "device" names the camera
        self.marker, self.sent_at = f'"device":"{device}"'.encode(), time.perf_counter()
        self.measuring = measure
        self.got = set()
        self.all_in.clear()

    def delivered(self, subscriber: _Subscriber, now: float) -> None:
        if id(subscriber) in self.got:
            return
        if not self.got:
            self.first_at = now
        self.got.add(id(subscriber))
        if not self.measuring:
            if len(self.got) == self.subscribers:
                self.all_in.set()
            return
        self.latencies.append(now - self.sent_at)
        self.spread.append(now - self.first_at)
        if len(self.got) == self.subscribers:
            self.event_max.append(now - self.sent_at)
            self.event_spread.append(now - self.first_at)
            self.all_in.set()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3) if ordered else 0.0


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    bench = _Bench(args.auth.encode(), args.subscribers)
    subscribers: list[_Subscriber] = []
    for start in range(0, args.subscribers, 100):
        batch = await asyncio.gather(
            *(ws_connect(lambda: _Subscriber(bench), args.url) for _ in range(start, min(args.subscribers, start + 100)))
        )
        subscribers.extend(listener for _, listener in batch)
    await asyncio.gather(*(s.ready for s in subscribers))
    _, control = await ws_connect(lambda: _Control(bench), args.url)
    await control.call("authenticate", json.loads(args.auth)["params"])
    missing = 0
    t0, wall0 = time.perf_counter(), time.time()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    for k in range(args.events):
        name = f"fan{k % 1000}"
        bench.expect(name)
        await control.call("add_external_stream", {"stream_name": name, "stream_url": f"rtsp://127.0.0.1:9/{name}"})
        try:
            await asyncio.wait_for(bench.all_in.wait(), args.timeout)
        except TimeoutError:
            missing += args.subscribers - len(bench.got)
        bench.expect(name, measure=False)
        await control.call("remove_external_stream", {"stream_name": name})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(bench.all_in.wait(), args.timeout)
        bench.marker = b""
    elapsed = time.perf_counter() - t0
    wall1 = time.time()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    for s in [*subscribers, control]:
        if s.transport is not None:
            s.transport.send_close(WSCloseCode.OK)
            s.transport.disconnect()
    return {
        "subscribers": args.subscribers,
        "events": args.events,
        "deliveries": len(bench.latencies),
        "missing": missing,
        "seconds": round(elapsed, 1),
        #: near 100 the client, not the service, sets the pace
        "client_cpu_percent": round(100 * cpu / elapsed, 1),
        #: the measured window in wall-clock time (connecting and closing are outside it)
        "window_unix": [round(wall0, 3), round(wall1, 3)],
        "delivery_p50_ms": _pct(bench.latencies, 0.50),
        "delivery_p99_ms": _pct(bench.latencies, 0.99),
        "event_last_delivery_p50_ms": _pct(bench.event_max, 0.50),
        "event_last_delivery_p99_ms": _pct(bench.event_max, 0.99),
        "event_last_delivery_max_ms": _pct(bench.event_max, 1.0),
        "fanout_p50_ms": _pct(bench.spread, 0.50),
        "fanout_p99_ms": _pct(bench.spread, 0.99),
        "event_fanout_p99_ms": _pct(bench.event_spread, 0.99),
        "event_fanout_max_ms": _pct(bench.event_spread, 1.0),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--auth", required=True, help="the authenticate request every connection sends first")
    p.add_argument("--subscribers", type=int, default=1000)
    p.add_argument("--events", type=int, default=500)
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for one event's deliveries")
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.subscribers + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(args.subscribers + 100, hard), hard))
    print(json.dumps(uvloop.run(_main(args))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
