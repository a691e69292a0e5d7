"""Reconcile latency: time from ``registry.put(camera)`` to its path existing in MediaMTX; prints one JSON object.

Runs the reconciler actor (as the service does) against the in-process MediaMTX emulator. "Exists" is
the moment the emulator finishes answering 200 to the request that created the path (the emulator
stores and applies a config before answering, so that is when a GET would first see it).

Scenarios, each over ``--cameras`` cameras (default 100), already-registered cameras staying registered:

- ``sequential``: one camera at a time; the next is registered once the previous path exists
  (pure latency of one change while N paths are already configured). Run with the shipped
  ``reconcile_interval`` (5 s) and with a short one (``--busy-interval``, default 0.05 s) so the
  periodic full passes (info + full list of N effective configs) keep colliding with changes.
- ``burst``: all cameras registered at once; latency of each until its path exists (coalescing).
- ``full_only``: like ``sequential`` but every pass is a full one (info + list + plan): what the
  latency would be without incremental passes, for comparison.

    python -m tools.bench.bench_reconcile [--cameras 100] [--busy-interval 0.05]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from camsvc.cameras.model import Camera, Source, SourceKind
from camsvc.cameras.registry import CameraRegistry
from camsvc.config import parse
from camsvc.mediamtx.reconciler import MediamtxReconciler
from camsvc.storage.state import StateStore
from tools.mediamtx_emulator import Emulator, EmulatorConfig, open_emulator

GOAL_P99_MS = 100.0


def camera(i: int) -> Camera:
    src = Source(
        SourceKind.SYNTHETIC,
        ffmpeg_input=("-re", "-f", "lavfi", "-i", "testsrc=size=640x480:rate=15"),
        ffmpeg_encode=("-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency"),
    )
    return Camera(id=f"cam{i:03d}", name=f"bench {i}", source=src)


class PathWatcher:
    """Timestamps (trio clock) of the emulator's successful path creations, by name."""

    def __init__(self, emu: Emulator) -> None:
        self.created: dict[str, float] = {}
        self._waiters: dict[str, trio.Event] = {}
        original = emu.complete_request

        def complete(index: int, status: int) -> None:
            original(index, status)
            pos = index - emu._request_base  # noqa: SLF001 (the emulator's request log)
            if status == 200 and 0 <= pos < len(emu.requests):
                rec = emu.requests[pos]
                for verb in ("/v3/config/paths/add/", "/v3/config/paths/replace/"):
                    if rec.target.startswith(verb):
                        name = rec.target[len(verb):]
                        self.created.setdefault(name, trio.current_time())
                        if name in self._waiters:
                            self._waiters.pop(name).set()

        emu.complete_request = complete  # type: ignore[method-assign]

    async def wait(self, name: str) -> float:
        if name not in self.created:
            event = self._waiters.setdefault(name, trio.Event())
            with trio.fail_after(10):
                await event.wait()
        return self.created[name]


@asynccontextmanager
async def reconciler(emu: Emulator, tmp: Path, interval: float, incremental: bool) -> AsyncIterator[CameraRegistry]:
    config = parse(
        {
            "mediamtx": {"api_url": emu.api_url, "reconcile_interval": interval, "ffmpeg_path": "true"},
            "recording": {"dir": str(tmp / "rec")},
            "storage": {"state_dir": str(tmp / "state")},
        },
        environ={},
    )
    registry = CameraRegistry()
    store = StateStore(tmp / "state" / f"bench-{interval}-{incremental}.db")
    store.open()
    rec = MediamtxReconciler(config=config, registry=registry, store=store, incremental=incremental)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(rec.run)
            await rec.gateway.sync(10)
            yield registry
            nursery.cancel_scope.cancel()
    finally:
        store.close()


def summary(latencies_s: list[float]) -> dict[str, Any]:
    ms = sorted(x * 1000 for x in latencies_s)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "n": len(ms),
        "p50_ms": round(q[49], 2),
        "p99_ms": round(q[98], 2),
        "max_ms": round(ms[-1], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


async def sequential(emu: Emulator, tmp: Path, n: int, interval: float, incremental: bool = True) -> dict[str, Any]:
    emu.store = emu._new_store()  # noqa: SLF001 (a fresh, empty MediaMTX config per scenario)
    emu.manager.store = emu.store
    watcher = PathWatcher(emu)
    latencies = []
    async with reconciler(emu, tmp, interval, incremental) as registry:
        for i in range(n):
            cam = camera(i)
            t0 = trio.current_time()
            registry.put(cam)
            latencies.append(await watcher.wait(cam.id) - t0)
    return summary(latencies)


async def burst(emu: Emulator, tmp: Path, n: int, interval: float) -> dict[str, Any]:
    emu.store = emu._new_store()  # noqa: SLF001
    emu.manager.store = emu.store
    watcher = PathWatcher(emu)
    async with reconciler(emu, tmp, interval, True) as registry:
        t0 = trio.current_time()
        cams = [camera(i) for i in range(n)]
        for cam in cams:
            registry.put(cam)
        done = [await watcher.wait(cam.id) for cam in cams]
    return {**summary([t - t0 for t in done]), "all_ms": round((max(done) - t0) * 1000, 2)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        config = EmulatorConfig(api_port=0, rtsp_port=None, record_dir=tmp / "mtx", hook_output="discard")
        async with open_emulator(config) as emu:
            result: dict[str, Any] = {
                "benchmark": "reconcile",
                "cameras": args.cameras,
                "goal_p99_ms": GOAL_P99_MS,
                "sequential": await sequential(emu, tmp, args.cameras, 5.0),
                "sequential_busy": {
                    "reconcile_interval": args.busy_interval,
                    **await sequential(emu, tmp, args.cameras, args.busy_interval),
                },
                "burst": await burst(emu, tmp, args.cameras, 5.0),
                "full_only": await sequential(emu, tmp, args.cameras, 5.0, incremental=False),
            }
    result["goal_met"] = result["sequential"]["p99_ms"] < GOAL_P99_MS
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cameras", type=int, default=100)
    parser.add_argument("--busy-interval", type=float, default=0.05)
    print(json.dumps(trio.run(main, parser.parse_args())))
