"""``python -m tools.mediamtx_emulator --api 127.0.0.1:9997 [--rtsp-port N] [--record-dir DIR] ...``"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

import trio

from tools.mediamtx_emulator.app import EmulatorConfig, serve
from tools.mediamtx_emulator.conffile import ConfFileError


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def _user_pass(value: str) -> tuple[str, str]:
    user, sep, password = value.partition(":")
    if not sep or not user:
        raise argparse.ArgumentTypeError(f"expected USER:PASS, got {value!r}")
    return user, password


def parse_args(argv: list[str] | None = None) -> EmulatorConfig:
    parser = argparse.ArgumentParser(
        prog="python -m tools.mediamtx_emulator",
        description="Stand-in for MediaMTX v1.20.1: v3 control API plus an RTSP relay with recording.",
    )
    parser.add_argument("--config", type=Path, default=None, metavar="MEDIAMTX.YML",
                        help="MediaMTX configuration file to start from (addresses given here win)")  # fmt: skip
    parser.add_argument("--api", type=_host_port, default=("127.0.0.1", 9997), metavar="HOST:PORT",
                        help="control API address (port 0: any free port); default 127.0.0.1:9997")  # fmt: skip
    parser.add_argument(
        "--rtsp-port", type=int, default=8554, help="RTSP port (0: any free port); default 8554"
    )
    parser.add_argument("--rtsp-host", default="127.0.0.1", help="RTSP listen address; default 127.0.0.1")
    parser.add_argument("--no-rtsp", action="store_true", help="run without the RTSP server")
    parser.add_argument("--record-dir", type=Path, default=None,
                        help="MediaMTX working directory: relative recordPaths resolve here (default: cwd)")  # fmt: skip
    parser.add_argument("--auth", type=_user_pass, default=None, metavar="USER:PASS",
                        help="require these Basic credentials on the API (from loopback too)")  # fmt: skip
    parser.add_argument("--auth-fail-delay", type=float, default=None, metavar="SECONDS",
                        help="delay before refusing wrong credentials (default: random 0-4 s, as MediaMTX)")  # fmt: skip
    parser.add_argument("--ffmpeg", default="ffmpeg", help="ffmpeg binary for recording and pulled sources")
    parser.add_argument("--quiet-hooks", action="store_true", help="discard runOnInit/runOnDemand output")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    return EmulatorConfig(
        api_host=args.api[0],
        api_port=args.api[1],
        rtsp_host=args.rtsp_host,
        rtsp_port=None if args.no_rtsp else args.rtsp_port,
        record_dir=args.record_dir,
        config_file=args.config,
        auth=args.auth,
        auth_failure_delay=args.auth_fail_delay,
        ffmpeg=args.ffmpeg,
        hook_output="discard" if args.quiet_hooks else "inherit",
    )


async def main(config: EmulatorConfig) -> None:
    async with trio.open_nursery() as nursery:
        emu = await nursery.start(serve, config)
        rtsp = emu.rtsp_url if emu.rtsp_available else f"unavailable ({emu.rtsp_unavailable_reason})"
        print(f"mediamtx-emulator listening api={emu.api_url} rtsp={rtsp}", flush=True)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


if __name__ == "__main__":
    try:
        trio.run(main, parse_args())
    except (OSError, ConfFileError) as exc:
        print(f"mediamtx-emulator: {exc}", file=sys.stderr)
        sys.exit(1)
