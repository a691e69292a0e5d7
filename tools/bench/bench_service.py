"""The in-process service the RPC benchmarks load: real build, one camera, limits opened for load."""

from __future__ import annotations

import time

from camsvc.app import Service, build
from camsvc.cameras.model import Camera, Resolution, Source, SourceKind
from camsvc.config import parse


def bench_camera() -> Camera:
    return Camera(
        "camera0",
        "Bench camera",
        Source(SourceKind.V4L2, device_path="/dev/video0"),
        resolution=Resolution(1280, 720),
        fps=30,
        since=time.time(),
    )


def bench_service(state: str, *, max_connections: int) -> Service:
    """Loopback, ports 0, no discovery, rate limits out of the way, data under ``state``."""
    config = parse(
        {
            "server": {
                "host": "127.0.0.1",
                "port": 0,
                "max_connections": max_connections,
                "rate_limit_per_second": 1e9,
                "rate_limit_burst": 10**9,
            },
            "http": {"host": "127.0.0.1", "port": 0},
            "storage": {"state_dir": f"{state}/state"},
            "recording": {"dir": f"{state}/rec"},
            "snapshots": {"dir": f"{state}/snap"},
            "cameras": {"discovery": "disabled"},
            "mediamtx": {"api_url": "http://127.0.0.1:9"},
            "logging": {"level": "ERROR"},
        },
        environ={},
    )
    return build(config)
