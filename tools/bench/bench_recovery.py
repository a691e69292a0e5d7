"""Recovery after a MediaMTX crash: SIGKILL → its API answers again → every camera path restored; prints JSON.

MediaMTX runs as a separate process the benchmark owns, as systemd runs the shipped unit: each cycle
kills it with SIGKILL, waits a random gap (0 to ``--gap-max`` seconds, the unit's ``RestartSec`` is 2),
starts it again and times three moments on the trio clock:

- ``kill``: the SIGKILL;
- ``answering``: the first ``GET /v3/info`` (polled every 2 ms by the benchmark) that answers;
- ``restored``: the first ``GET /v3/config/paths/list`` (polled every 20 ms, so as not to load a Python emulator) that holds every camera.

The reconciler (the service's actor, shipped defaults apart from the API URL) keeps ``--cameras`` camera
paths in MediaMTX throughout. Targets: ``emulator`` (``python -m tools.mediamtx_emulator`` as a process)
and ``real`` (``--mediamtx PATH``, else ``$CAMSVC_TEST_MEDIAMTX``, else ``mediamtx`` on PATH; skipped,
saying so, when there is none), started with ``conf/mediamtx.yml`` on free loopback ports. The goal is
``answer_to_restored`` under 1 s. With fewer than 1000 cycles only the median and "max of n" are given.

    python -m tools.bench.bench_recovery [--cycles 20] [--cameras 10] [--gap-max 2] [--mediamtx PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from camsvc.cameras.model import Camera, Source, SourceKind
from camsvc.cameras.registry import CameraRegistry
from camsvc.config import parse
from camsvc.mediamtx.client import MediamtxClient, MediamtxError
from camsvc.mediamtx.reconciler import MediamtxReconciler
from camsvc.storage.state import StateStore
from tools.mediamtx_config import loopback_config

REPO = Path(__file__).resolve().parents[2]
GOAL_S = 1.0
#: a start that takes longer than this is a broken benchmark, not a measurement
START_LIMIT_S = 30.0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def camera(i: int) -> Camera:
    src = Source(SourceKind.SYNTHETIC, ffmpeg_input=("-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=5"))
    return Camera(id=f"cam{i:03d}", name=f"bench {i}", source=src)


def real_binary(given: str | None) -> str | None:
    return given or os.environ.get("CAMSVC_TEST_MEDIAMTX") or shutil.which("mediamtx")


def real_command(binary: str, tmp: Path, api_port: int) -> list[str]:
    """The shipped conf/mediamtx.yml on free loopback ports, RTSP only."""
    conf = loopback_config(tmp, api_port=api_port, rtsp_port=free_port(), record_dir=tmp / "rec")
    return [binary, str(conf)]


def emulator_command(api_port: int) -> list[str]:
    return [sys.executable, "-m", "tools.mediamtx_emulator", "--api", f"127.0.0.1:{api_port}", "--no-rtsp", "--quiet-hooks"]


@asynccontextmanager
async def reconciling(api_url: str, tmp: Path, cameras: int) -> AsyncIterator[MediamtxReconciler]:
    config = parse(
        {
            "mediamtx": {"api_url": api_url, "ffmpeg_path": "true"},
            "recording": {"dir": str(tmp / "recordings")},
            "storage": {"state_dir": str(tmp / "state")},
        },
        environ={},
    )
    registry = CameraRegistry()
    for i in range(cameras):
        registry.put(camera(i))
    store = StateStore(tmp / "state.db")
    store.open()
    rec = MediamtxReconciler(config=config, registry=registry, store=store)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(rec.run)
            yield rec
            nursery.cancel_scope.cancel()
    finally:
        store.close()


async def poll(what: Callable[[], Any], interval: float) -> float:
    """Call ``what`` until it returns true without raising MediamtxError; the trio time it did."""
    with trio.fail_after(START_LIMIT_S):
        while True:
            try:
                if await what():
                    return trio.current_time()
            except MediamtxError:
                pass
            await trio.sleep(interval)


def stats(values: list[float]) -> dict[str, Any]:
    ms = sorted(v * 1000 for v in values)
    out: dict[str, Any] = {"n": len(ms), "p50_ms": round(statistics.median(ms), 1)}
    if len(ms) >= 1000:
        q = statistics.quantiles(ms, n=1000, method="inclusive")
        out["p99_ms"], out["p999_ms"] = round(q[989], 1), round(q[998], 1)
        out["max_ms"] = round(ms[-1], 1)
    else:
        out[f"max_of_{len(ms)}_ms"] = round(ms[-1], 1)
    return out


async def run_target(command: Callable[[int], list[str]], tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    names = {camera(i).id for i in range(args.cameras)}
    rng = random.Random(args.seed)
    kill_to_answer: list[float] = []
    answer_to_restored: list[float] = []
    proc: trio.Process | None = None

    async def start() -> trio.Process:
        return await trio.lowlevel.open_process(
            command(port),
            cwd=tmp,  # whatever it writes stays in the temporary directory
            env={**os.environ, "PYTHONPATH": str(REPO)},  # the emulator is a module of this repository
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    try:
        async with MediamtxClient(url, timeout=2) as api:

            async def answering() -> bool:
                await api.info()
                return True

            async def restored() -> bool:
                return names <= {item.get("name") for item in await api.list_path_configs()}

            proc = await start()
            async with reconciling(url, tmp, args.cameras):
                await poll(restored, 0.05)
                for _ in range(args.cycles):
                    killed = trio.current_time()
                    proc.kill()
                    await proc.wait()
                    await trio.sleep(rng.uniform(0, args.gap_max))
                    proc = await start()
                    answered = await poll(answering, 0.002)
                    done = await poll(restored, 0.02)
                    kill_to_answer.append(answered - killed)
                    answer_to_restored.append(done - answered)
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            with trio.CancelScope(shield=True):
                await proc.wait()
    return {
        "kill_to_answering": stats(kill_to_answer),
        "answering_to_restored": stats(answer_to_restored),
        "goal_met": max(answer_to_restored) < GOAL_S,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    result: dict[str, Any] = {
        "benchmark": "recovery",
        "cycles": args.cycles,
        "cameras": args.cameras,
        "gap_max_s": args.gap_max,
        "goal_answering_to_restored_s": GOAL_S,
        "targets": {},
    }
    binary = real_binary(args.mediamtx)
    targets: dict[str, Callable[[Path, int], list[str]] | str] = {"emulator": lambda _tmp, port: emulator_command(port)}
    if binary is None:
        targets["real"] = "no MediaMTX binary: give --mediamtx PATH, set CAMSVC_TEST_MEDIAMTX or put mediamtx on PATH"
    else:
        targets["real"] = lambda tmp, port: real_command(binary, tmp, port)
    for name, target in targets.items():
        if name not in args.targets:
            continue
        if isinstance(target, str):
            result["targets"][name] = {"skipped": target}
            continue
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            result["targets"][name] = await run_target(lambda port, t=target, d=tmp: t(d, port), tmp, args)
    if binary is not None and "real" in result["targets"]:
        result["targets"]["real"]["binary"] = binary
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--cameras", type=int, default=10)
    parser.add_argument("--gap-max", type=float, default=2.0, help="longest wait between kill and restart (s)")
    parser.add_argument("--mediamtx", default=None, help="the real MediaMTX binary")
    parser.add_argument("--targets", nargs="+", default=["emulator", "real"], choices=["emulator", "real"])
    parser.add_argument("--seed", type=int, default=1)
    print(json.dumps(trio.run(main, parser.parse_args())))
