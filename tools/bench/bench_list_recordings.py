"""list_recordings over 10,000 recording files: latency p50/p99, in the handler and over JSON-RPC.

The files are hard links of one real 1-second fMP4 segment (so probing is real ffprobe work but the
disk is not filled), named like MediaMTX's segments for four cameras. Measured:

- ``cold_first_page_ms``: the first call, which probes the 50 files of its page (bounded by
  ``storage.probe_budget``);
- ``first_visit_ms`` of each query (it probes its page, bounded by the budget);
- warm p50/p99 (every duration of the page cached) of: the first page, a deep page (offset 9000), a
  device filter, and a 1000-file page — in the handler (``services.media.list_files``) and through
  the real RPC server over a WebSocket (``rpc``);
- ``handler_dir_changing_first_page``: the first page while the directory changes before every call
  (so it is read again every time), the worst case.

    python tools/bench/bench_list_recordings.py [--files 10000] [--iterations 200]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from camsvc.app import build  # noqa: E402
from camsvc.config import parse  # noqa: E402
from camsvc.security.roles import Role  # noqa: E402
from camsvc.storage.files import FileKind  # noqa: E402


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "max_ms": round(ordered[-1] * 1000, 3),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
        "n": len(ordered),
    }


def make_files(directory: Path, count: int) -> None:
    sample = directory / ".sample.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=15",
            "-t",
            "1",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "15",
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
            "-f",
            "mp4",
            str(sample),
        ],
        check=True,
        timeout=60,
    )
    start = time.time() - count * 60
    for i in range(count):
        when = dt.datetime.fromtimestamp(start + i * 60)
        name = f"camera{i % 4}_{when:%Y-%m-%d_%H-%M-%S}-{when.microsecond:06d}.mp4"
        os.link(sample, directory / name)
    # Recordings on a real box were finished long ago (all the links share the sample's inode).
    os.utime(sample, (start, start))


async def _warm(fn: Callable[[], Awaitable[Any]], media: Any) -> None:
    """Call until a call probes nothing new (every file of the page has its duration cached)."""
    while True:
        before = media.probes.probes
        await fn()
        if media.probes.probes == before:
            return


async def _time(fn: Callable[[], Awaitable[Any]], iterations: int) -> list[float]:
    samples = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - t0)
    return samples


async def bench(files: int, iterations: int) -> dict[str, Any]:
    from trio_websocket import open_websocket_url

    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        rec = tmp / "recordings"
        rec.mkdir()
        t0 = time.perf_counter()
        make_files(rec, files)
        setup_s = time.perf_counter() - t0
        config = parse(
            {
                # the per-connection rate limit is not what is measured here
                "server": {
                    "host": "127.0.0.1",
                    "port": 0,
                    "rate_limit_per_second": 1e6,
                    "rate_limit_burst": 1000000,
                },
                "http": {"host": "127.0.0.1", "port": 0},
                "storage": {"state_dir": str(tmp / "state")},
                "recording": {"dir": str(rec)},
                "snapshots": {"dir": str(tmp / "snapshots")},
                "cameras": {"discovery": "disabled"},
                "mediamtx": {"api_url": "http://127.0.0.1:9", "backoff_max": 1.0},
                "security": {"jwt_secret": "bench-secret-0123456789-0123456789-abcdef"},
                "logging": {"level": "ERROR"},
            },
            environ={},
            source="bench",
        )
        service = build(config)
        media = service.services.media
        out: dict[str, Any] = {"files": files, "iterations": iterations, "setup_seconds": round(setup_s, 2)}
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)

            def lister(**kw: Any) -> Callable[[], Awaitable[Any]]:
                args = {"limit": 50, "offset": 0, "device": None, "host": "127.0.0.1", **kw}
                return lambda: media.list_files(FileKind.RECORDING, **args)

            t0 = time.perf_counter()
            first = await lister()()
            out["cold_first_page_ms"] = round((time.perf_counter() - t0) * 1000, 3)
            out["cold_first_page_with_duration"] = sum(1 for f in first["files"] if "duration" in f)
            assert first["total"] == files, first["total"]
            handler: dict[str, Any] = {}
            first_visit: dict[str, float] = {}
            for label, fn in (
                ("first_page", lister()),
                ("deep_page_offset_9000", lister(offset=min(9000, files - 50))),
                ("device_filter", lister(device="camera2")),
                ("page_of_1000", lister(limit=1000)),
            ):
                t0 = time.perf_counter()
                await fn()  # a first visit probes this page's durations (within storage.probe_budget)
                first_visit[label] = round((time.perf_counter() - t0) * 1000, 1)
                await _warm(fn, media)
                handler[label] = _percentiles(await _time(fn, iterations))
            out["first_visit_ms"] = first_visit
            out["handler_warm"] = handler

            # A directory that changes before every call (files added or removed all the time) is
            # read again on every call: the worst case of the incremental scan.
            def touch() -> None:
                os.utime(rec)

            async def rescanning() -> None:
                await trio.to_thread.run_sync(touch)
                await lister()()

            out["handler_dir_changing_first_page"] = _percentiles(await _time(rescanning, iterations))
            await trio.sleep(1.2)  # let the directory be quiet again, so scans are reused

            rpc = service.extras["rpc"]
            token, _ = service.services.auth.issue_token("bench", Role.VIEWER, 3600)
            url = f"ws://127.0.0.1:{rpc.bound_port}{config.server.ws_path}"
            async with open_websocket_url(url, max_message_size=64 * 1024 * 1024) as ws:
                await ws.send_message(
                    json.dumps(
                        {"jsonrpc": "2.0", "id": 0, "method": "authenticate", "params": {"auth_token": token}}
                    )
                )
                assert "result" in json.loads(await ws.get_message())
                over_rpc: dict[str, Any] = {}
                for label, params in (
                    ("first_page", {}),
                    ("deep_page_offset_9000", {"offset": min(9000, files - 50)}),
                    ("device_filter", {"device": "camera2"}),
                    ("page_of_1000", {"limit": 1000}),
                ):
                    request = json.dumps(
                        {"jsonrpc": "2.0", "id": 1, "method": "list_recordings", "params": params}
                    )

                    async def call(request: str = request) -> None:
                        await ws.send_message(request)
                        reply = json.loads(await ws.get_message())
                        assert "result" in reply, reply

                    await call()
                    over_rpc[label] = _percentiles(await _time(call, iterations))
                out["rpc"] = over_rpc
            out["probes_run"] = media.probes.probes
            nursery.cancel_scope.cancel()
        out["first_page_p99_under_100ms"] = out["rpc"]["first_page"]["p99_ms"] < 100
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(trio.run(bench, args.files, args.iterations), indent=2))


if __name__ == "__main__":
    main()
