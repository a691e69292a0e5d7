"""``python -m tools.soak``: see docs/soak.md."""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
from pathlib import Path

import trio

from . import report
from .runner import soak
from .stack import Stack, find_mediamtx
from .workload import Options


def main(argv: list[str] | None = None) -> int:
    d = Options()
    p = argparse.ArgumentParser(prog="python -m tools.soak", description=__doc__)
    p.add_argument("--duration", type=float, default=d.duration, help="seconds of load (default %(default)s)")
    p.add_argument("--clients", type=int, default=d.clients, help="JSON-RPC clients (default %(default)s)")
    p.add_argument("--observers", type=int, default=d.observers, help="listen-only clients counting lost events")
    p.add_argument("--think", type=float, default=d.think, help="mean seconds between a client's calls")
    p.add_argument("--mediamtx", choices=("emulator", "real"), default="emulator",
                   help="real: the binary from $CAMSVC_TEST_MEDIAMTX or PATH, supervised by camsvc")  # fmt: skip
    p.add_argument("--kill-interval", type=float, default=d.kill_interval, help="seconds between MediaMTX kills")
    p.add_argument("--crash-interval", type=float, default=d.crash_interval, help="seconds between publisher kills")
    p.add_argument("--churn-interval", type=float, default=d.churn_interval, help="seconds between stream churn")
    p.add_argument("--crash-actor-interval", type=float, default=d.crash_actor_interval,
                   help="seconds between camera actor crashes inside camsvc (fault injection); 0 = none")
    p.add_argument("--hotplug-interval", type=float, default=d.hotplug_interval,
                   help="seconds between a fake V4L2 node plugged in or out (fault injection); 0 = none")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--work", type=Path, help="keep data, logs and config here (default: a temporary directory)")
    p.add_argument("--report", type=Path, help="write the JSON report here")
    p.add_argument("--trace-memory", type=float, metavar="SECONDS",
                   help="camsvc dumps its tracemalloc growth every SECONDS to WORK/tracemalloc.txt (slow; a leak hunt)")
    p.add_argument("--census", type=float, metavar="SECONDS",
                   help="camsvc appends a memory census every SECONDS to WORK/census.jsonl (cheap; camsvc/memtrace.py)")
    p.add_argument("--retention-mb", type=float, metavar="MIB",
                   help="set a size retention policy keeping MIB of files (as an operator would), so data stops growing")
    args = p.parse_args(argv)
    if args.duration <= 0 or args.duration > 24 * 3600 or not 0 < args.clients <= 5000:
        p.error("--duration must be in (0, 86400] and --clients in (0, 5000]")
    options = Options(
        duration=args.duration, clients=args.clients, observers=args.observers, think=args.think,
        kill_interval=args.kill_interval, crash_interval=args.crash_interval,
        churn_interval=args.churn_interval, crash_actor_interval=args.crash_actor_interval,
        hotplug_interval=args.hotplug_interval, seed=args.seed, retention_mb=args.retention_mb,
    )  # fmt: skip
    binary = find_mediamtx() if args.mediamtx == "real" else None
    if args.mediamtx == "real" and binary is None:
        p.error("--mediamtx real: no binary (set CAMSVC_TEST_MEDIAMTX or put mediamtx on PATH)")
    with tempfile.TemporaryDirectory(prefix="camsvc-soak-") as tmp:
        stack = Stack(
            args.work or Path(tmp), args.mediamtx, binary, trace_memory=args.trace_memory, census=args.census,
            faults=options.crash_actor_interval > 0 or options.hotplug_interval > 0,
        )  # fmt: skip
        result = trio.run(functools.partial(soak, stack, options))
        print(report.summary(result))
        if args.report:
            report.write(result, args.report)
    return 1 if result["errors"]["unexpected_total"] else 0


if __name__ == "__main__":
    sys.exit(main())
