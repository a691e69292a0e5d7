"""The ``camsvc`` command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sqlite3
import sys
from collections.abc import Sequence

import trio

from supervisor import StartError, SupervisorGaveUp

from . import __version__, gc_policy, logs, sd_notify
from . import config as config_mod

log = logging.getLogger("camsvc.cli")

CONFIG_HELP = (
    f"config file (default: $CAMSVC_CONFIG, else conf/demo.yaml when run from a source checkout, "
    f"else {config_mod.SYSTEM_CONFIG} if present)"
)

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _config_path(arg: str | None) -> str | None:
    return config_mod.locate(arg)


def _print_config_error(exc: config_mod.ConfigError) -> None:
    print(f"camsvc: invalid configuration ({exc.source}):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  - {problem}", file=sys.stderr)


def _load_config(arg: str | None) -> config_mod.Config | None:
    """The configuration `--config arg` names, or None after printing every mistake in it."""
    try:
        return config_mod.load(_config_path(arg))
    except config_mod.ConfigError as exc:
        _print_config_error(exc)
        return None


async def _serve(service: object) -> None:
    from .app import Service

    assert isinstance(service, Service)
    async with trio.open_nursery() as nursery:

        async def stop_on_signal() -> None:
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    log.info("signal received; shutting down", extra={"signal": signal.Signals(signum).name})
                    sd_notify.notify("STOPPING=1")
                    nursery.cancel_scope.cancel()
                    return

        nursery.start_soon(stop_on_signal)
        await nursery.start(service.run)
        # from here on the collector walks the young generations, and the old only in short age passes (gc_policy.py)
        await nursery.start(gc_policy.GcPolicy().run)
        sd_notify.notify("READY=1")
        # The watchdog proves the event loop itself is alive; it returns at once without one.
        await nursery.start(sd_notify.run_watchdog)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def cmd_run(args: argparse.Namespace) -> int:
    from .app import build

    try:
        cfg = config_mod.load(_config_path(args.config))
    except config_mod.ConfigError as exc:
        _print_config_error(exc)
        return EXIT_CONFIG
    logs.configure(
        level=args.log_level or cfg.logging.level,
        fmt=args.log_format or cfg.logging.format,
        file=cfg.logging.file,
        max_bytes=cfg.logging.max_bytes,
        backup_count=cfg.logging.backup_count,
    )
    from . import allocator, fault_injection
    from .memtrace import start_from_env

    allocator.configure()  # before any thread starts (see camsvc/allocator.py)
    start_from_env()
    try:
        service = build(cfg, demo=args.demo, faults=fault_injection.from_env())
    except (OSError, ValueError, sqlite3.Error) as exc:
        print(f"camsvc: cannot start: {exc}", file=sys.stderr)
        return EXIT_FAILED
    gc_policy.settle(2)  # the full pass over imports and the built service, before there is a loop to hold
    failures: list[BaseException] = []
    try:
        trio.run(_serve, service)
    except* (StartError, SupervisorGaveUp) as group:
        failures.extend(_leaves(group))
    for failure in failures:
        print(f"camsvc: cannot run: {failure}", file=sys.stderr)
    if failures:
        return EXIT_FAILED
    log.info("stopped")
    return EXIT_OK


def cmd_check_config(args: argparse.Namespace) -> int:
    path = args.file or _config_path(None)
    try:
        config_mod.load(path)
    except config_mod.ConfigError as exc:
        _print_config_error(exc)
        return EXIT_CONFIG
    print(f"{path or 'defaults'}: OK")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import run_doctor

    try:
        cfg = config_mod.load(_config_path(args.config))
    except config_mod.ConfigError as exc:
        _print_config_error(exc)
        return EXIT_CONFIG
    return run_doctor(cfg, out=sys.stdout)


def cmd_config_template(args: argparse.Namespace) -> int:
    sys.stdout.write(config_mod.render_markdown() if args.markdown else config_mod.render_template())
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="camsvc", description="Camera service")
    p.add_argument("--version", action="version", version=f"camsvc {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the service")
    run.add_argument("--config", help=CONFIG_HELP)
    run.add_argument("--demo", action="store_true", help="add a synthetic camera0 when no /dev/video0 exists")
    run.add_argument("--log-format", choices=["json", "console"], help="override logging.format")
    run.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="override logging.level")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check-config", help="validate a config file; exit 2 when it has mistakes")
    check.add_argument("file", nargs="?")
    check.set_defaults(func=cmd_check_config)

    doctor = sub.add_parser("doctor", help="check a deployment: ports, health, directories, ffmpeg, units")
    doctor.add_argument("--config", help=CONFIG_HELP)
    doctor.set_defaults(func=cmd_doctor)

    tmpl = sub.add_parser("config-template", help="print the documented default config")
    tmpl.add_argument("--markdown", action="store_true", help="as the docs/configuration.md table")
    tmpl.set_defaults(func=cmd_config_template)

    from .security.cli_commands import add_security_commands

    add_security_commands(sub, CONFIG_HELP, _load_config)

    from .ctl import add_ctl_command

    add_ctl_command(sub, CONFIG_HELP, _load_config)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
