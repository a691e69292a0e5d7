"""The shipped ``conf/mediamtx.yml`` moved onto given loopback ports, for tests, benchmarks and the soak.

Several real MediaMTX instances must be able to run on one box at once (and beside a deployed one), so
only the control API and RTSP over TCP listen, on the ports given; HLS, WebRTC, MoQ and the other
listeners, whose ports the file fixes, are off. Everything else is the shipped file, so what runs is
what we ship.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SHIPPED = Path(__file__).resolve().parents[1] / "conf" / "mediamtx.yml"


def loopback_config(
    work: Path, *, api_port: int, rtsp_port: int, record_dir: Path | None = None, **overrides: Any
) -> Path:
    """Write ``work/mediamtx.yml``; recordings under ``record_dir`` when given. Returns its path."""
    conf: dict[str, Any] = yaml.safe_load(SHIPPED.read_text())
    conf.update(
        apiAddress=f"127.0.0.1:{api_port}",
        rtspAddress=f"127.0.0.1:{rtsp_port}",
        rtspTransports=["tcp"],
        hls=False,
        webrtc=False,
        rtmp=False,
        srt=False,
        moq=False,
        metrics=False,
        pprof=False,
        playback=False,
    )
    if record_dir is not None:
        conf["pathDefaults"]["recordPath"] = str(record_dir / "%path_%Y-%m-%d_%H-%M-%S-%f")
    conf.update(overrides)
    work.mkdir(parents=True, exist_ok=True)
    path = work / "mediamtx.yml"
    path.write_text(yaml.safe_dump(conf, sort_keys=False))
    return path
