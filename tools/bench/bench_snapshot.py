"""take_snapshot latency per tier on a synthetic camera, through the MediaMTX emulator and real ffmpeg.

Tiers (docs/media.md):

- ``direct``: the camera's stream is idle → ffmpeg captures straight from the synthetic source;
- ``rtsp``: the stream is kept up (start_streaming) → ffmpeg reads one frame from MediaMTX;
- ``on_demand``: a network camera (an external stream pulling ``rtsp://…/camera0`` from the emulator)
  that is idle → reading it makes MediaMTX start the pull, which in turn starts camera0's on-demand
  publisher; every sample waits until both closed again, so each one is a cold start.

    python tools/bench/bench_snapshot.py [--samples 30] [--on-demand-samples 8]

Prints one JSON object: p50/p99/max per tier (milliseconds, measured around
``services.media.snapshots.take``), plus the snapshot size and resolution.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from camsvc.app import build  # noqa: E402
from camsvc.config import parse  # noqa: E402
from camsvc.media.ffmpeg import FfmpegRunner  # noqa: E402
from tools.mediamtx_emulator import EmulatorConfig, open_emulator  # noqa: E402


def _stats(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {
        "p50_ms": pick(0.5),
        "p99_ms": pick(0.99),
        "max_ms": round(ordered[-1] * 1000, 1),
        "n": len(ordered),
    }


async def _until(fn: Any, what: str, limit: float = 20.0) -> Any:
    with trio.move_on_after(limit):
        while True:
            value = await fn()
            if value:
                return value
            await trio.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


async def bench(samples: int, on_demand_samples: int, width: int, height: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        emu_config = EmulatorConfig(
            api_port=0, rtsp_port=0, record_dir=tmp / "mtx", hook_output="discard", auth_failure_delay=0
        )
        async with open_emulator(emu_config) as emu:
            if emu.media_unavailable_reason is not None:
                return {"skipped": emu.media_unavailable_reason}
            config = parse(
                {
                    "server": {"host": "127.0.0.1", "port": 0},
                    "http": {"host": "127.0.0.1", "port": 0},
                    "storage": {"state_dir": str(tmp / "state")},
                    "recording": {"dir": str(tmp / "recordings")},
                    "snapshots": {"dir": str(tmp / "snapshots")},
                    "mediamtx": {
                        "api_url": emu.api_url,
                        "rtsp_port": emu.rtsp_port,
                        "reconcile_interval": 0.5,
                        "backoff_max": 0.5,
                        "on_demand_close_after": 1.0,
                    },
                    "cameras": {
                        "discovery": "disabled",
                        "synthetic": [{"id": "camera0", "width": width, "height": height, "fps": 15}],
                        "keyframe_interval": 0.5,
                        "external": [
                            {
                                "id": "relay",
                                "url": f"rtsp://127.0.0.1:{emu.rtsp_port}/camera0",
                                "name": "relay",
                            }
                        ],
                    },
                    "security": {"jwt_secret": "bench-secret-0123456789-0123456789-abcdef"},
                    "logging": {"level": "ERROR"},
                },
                environ={},
                source="bench",
            )
            service = build(config)
            services = service.services
            media = services.media
            mediamtx = services.mediamtx
            out: dict[str, Any] = {"camera": f"{width}x{height}@15 synthetic", "cpus": _cpus()}
            async with trio.open_nursery() as nursery:
                await nursery.start(service.run)

                async def ready(name: str) -> bool:
                    runtime = await mediamtx.runtime(name)
                    return bool(runtime and runtime.ready)

                async def idle(*names: str) -> bool:
                    return not any([await ready(n) for n in names])

                await _until(lambda: _has_path(mediamtx, "camera0"), "camera0 path in MediaMTX")
                await _until(lambda: _has_path(mediamtx, "relay"), "relay path in MediaMTX")

                async def measure(device: str, expected: str, n: int, between: Any = None) -> dict[str, Any]:
                    times = []
                    last = None
                    for _ in range(n):
                        if between is not None:
                            await between()
                        t0 = time.perf_counter()
                        last = await media.snapshots.take(device)
                        times.append(time.perf_counter() - t0)
                        if last.tier != expected:
                            raise RuntimeError(f"expected tier {expected}, got {last.tier}")
                    assert last is not None
                    info = await FfmpegRunner().probe(last.path, timeout=10)
                    return {**_stats(times), "bytes": last.file_size, "resolution": info.resolution}

                await _until(lambda: idle("camera0"), "camera0 idle")
                out["direct"] = await measure("camera0", "direct", samples)

                services.cameras.actor("camera0").set_keep_streaming(True)
                await mediamtx.sync(10.0)
                await _until(lambda: ready("camera0"), "camera0 stream up")
                out["rtsp"] = await measure("camera0", "rtsp", samples)
                services.cameras.actor("camera0").set_keep_streaming(False)
                await mediamtx.sync(10.0)

                async def cold() -> None:
                    await _until(lambda: idle("camera0", "relay"), "streams closed", limit=30)

                out["on_demand"] = await measure("relay", "on_demand", on_demand_samples, cold)
                nursery.cancel_scope.cancel()
            return out


async def _has_path(mediamtx: Any, name: str) -> bool:
    try:
        return await mediamtx.runtime(name) is not None
    except Exception:  # noqa: BLE001 - the reconciler may not be up yet
        return False


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--on-demand-samples", type=int, default=8)
    parser.add_argument("--size", default="640x480", help="synthetic camera size WxH")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        print(json.dumps({"skipped": "ffmpeg not installed"}))
        return
    width, height = (int(v) for v in args.size.split("x"))
    print(json.dumps(trio.run(bench, args.samples, args.on_demand_samples, width, height), indent=2))


if __name__ == "__main__":
    main()
