"""RPC throughput and latency: ``ping`` and authenticated ``get_camera_list`` at 1, 50, 100 and 500 connections.

Every server runs in its own process and so does the load client (picows on uvloop,
tools/bench/load_client.py). Measured in the same run:

- ``echo_ceiling``: a raw trio-websocket echo server (the socket library the goals
  are stated against) — the ratios are ours / that;
- ``client_ceiling``: the load client against a picows echo server, to show the
  client is not the bottleneck (its rate is far above anything measured here).

Each load also reports the server's CPU time per request and the rate that means
for one fully used core (``capacity_per_core``): on a shared machine wall-clock
throughput swings with other load, CPU per request much less.

Prints one JSON object. Not part of the test suite. For before/after figures of a
change, run it from a checkout of each side (the server imports camsvc from the
checkout the script sits in).

    .venv/bin/python tools/bench/bench_rpc.py [--duration 4] [--connections 1,50,500]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
CLIENT = str(REPO / "tools" / "bench" / "load_client.py")


# ------------------------------------------------------------------ servers (child processes)


def serve_camsvc(state: str) -> None:
    """The real service, one camera in the registry, limits opened for load."""
    sys.path.insert(0, str(REPO))
    import logging

    import trio

    from camsvc.security.roles import Role
    from tools.bench.bench_service import bench_camera, bench_service

    logging.basicConfig(level=logging.ERROR)
    service = bench_service(state, max_connections=20000)
    camera = bench_camera()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            # After start-up: the cameras actor publishes its own (empty, discovery off) view at start,
            # so a camera put before it was gone and get_camera_list answered an empty list.
            service.services.registry.put(camera)
            token, _ = service.services.auth.issue_token("bench", Role.VIEWER, 3600)
            print(json.dumps({"port": service.extras["rpc"].bound_port, "token": token}), flush=True)

    trio.run(main)


def serve_echo() -> None:
    """trio-websocket's own echo loop: the socket library's ceiling."""
    import trio
    from trio_websocket import ConnectionClosed, serve_websocket

    async def handler(request: Any) -> None:
        ws = await request.accept()
        try:
            while True:
                await ws.send_message(await ws.get_message())
        except ConnectionClosed:
            pass

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(lambda task_status: serve_websocket(handler, "127.0.0.1", 0, None, task_status=task_status))
            print(json.dumps({"port": server.port}), flush=True)

    trio.run(main)


# ------------------------------------------------------------------ orchestration


def start(args: list[str]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"server {args} did not start")
    info = json.loads(line)
    return proc, info


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(url: str, connections: int, duration: float, request: str, prelude: list[str], server_pid: int) -> dict[str, Any]:
    args = [PY, CLIENT, "--url", url, "--connections", str(connections), "--duration", str(duration), "--warmup", "1", "--request", request]
    for p in prelude:
        args += ["--prelude", p]
    before = cpu_seconds(server_pid)
    t0 = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, timeout=duration + 120)
    elapsed = time.monotonic() - t0
    if done.returncode != 0:
        raise RuntimeError(f"load client failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    cpu = cpu_seconds(server_pid) - before
    result["server_cpu_percent_whole_run"] = round(100 * cpu / elapsed, 1)
    # CPU per request is what the server's code costs, and holds up on a busy machine where
    # wall-clock throughput does not: requests ≈ throughput × (warmup + measured window).
    served = result["throughput"] * (1 + duration)
    if served:
        result["server_cpu_us_per_request"] = round(1e6 * cpu / served, 1)
        result["capacity_per_core"] = round(served / cpu) if cpu else None
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=4.0)
    p.add_argument("--connections", default="1,50,100,500")
    p.add_argument("--serve", choices=["camsvc", "echo"], help=argparse.SUPPRESS)
    p.add_argument("--state", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve == "camsvc":
        serve_camsvc(args.state)
        return 0
    if args.serve == "echo":
        serve_echo()
        return 0

    levels = [int(x) for x in args.connections.split(",")]
    ping = '{"jsonrpc":"2.0","id":1,"method":"ping"}'
    out: dict[str, Any] = {"duration_s": args.duration, "cpu_count": os.cpu_count(), "results": {}}
    with tempfile.TemporaryDirectory() as state:
        # The client's own ceiling, against a C-level (picows/uvloop) echo server.
        client_echo = subprocess.Popen([PY, CLIENT, "--echo-server", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert client_echo.stdout is not None
        port = json.loads(client_echo.stdout.readline())["listening"]
        try:
            out["client_ceiling"] = load(f"ws://127.0.0.1:{port}/", 50, args.duration, ping, [], client_echo.pid)
        finally:
            client_echo.terminate()
            client_echo.wait()

        servers = {"echo_ceiling": start([PY, __file__, "--serve", "echo"])}
        servers["camsvc"] = start([PY, __file__, "--serve", "camsvc", "--state", state])
        try:
            echo_proc, echo = servers["echo_ceiling"]
            cam_list = '{"jsonrpc":"2.0","id":1,"method":"get_camera_list"}'
            for n in levels:
                row: dict[str, Any] = {}
                row["echo_ceiling"] = load(f"ws://127.0.0.1:{echo['port']}/ws", n, args.duration, ping, [], echo_proc.pid)
                ceiling = row["echo_ceiling"]["throughput"] or 1
                proc, svc = servers["camsvc"]
                auth = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "authenticate", "params": {"auth_token": svc["token"]}})
                row["ping"] = load(f"ws://127.0.0.1:{svc['port']}/ws", n, args.duration, ping, [], proc.pid)
                row["get_camera_list"] = load(f"ws://127.0.0.1:{svc['port']}/ws", n, args.duration, cam_list, [auth], proc.pid)
                row["ping_vs_echo"] = round(row["ping"]["throughput"] / ceiling, 3)
                row["get_camera_list_vs_echo"] = round(row["get_camera_list"]["throughput"] / ceiling, 3)
                out["results"][str(n)] = row
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(timeout=10)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
