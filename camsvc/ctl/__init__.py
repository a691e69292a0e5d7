"""``camsvc ctl``: drive a running service from the shell through the SDK (:mod:`camsvc.client`).

    camsvc ctl [--url URL] [--token T | --api-key K] COMMAND [--json]

The URL defaults to the WebSocket server of the configuration every camsvc command
reads (:func:`camsvc.config.locate`); the credential to ``$CAMSVC_TOKEN`` (or
``$CAMSVC_API_KEY``). Errors end with a non-zero exit and one line on stderr naming
the API's ``reason`` — never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from .. import config as config_mod
from .commands import COMMANDS, Command

if TYPE_CHECKING:
    from ..client import ClientError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def default_url(cfg: config_mod.Config) -> str:
    """The configured WebSocket server as a client reaches it from this host."""
    host = cfg.server.host
    if host in ("", "0.0.0.0", "::"):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    scheme = "wss" if cfg.server.tls_cert else "ws"
    return f"{scheme}://{host}:{cfg.server.port}{cfg.server.ws_path}"


def _describe(exc: ClientError) -> str:
    from ..client import RpcError

    if isinstance(exc, RpcError):
        extra = {k: v for k, v in exc.data.items() if k != "reason"}
        text = f"{exc.reason}: {exc.message}" + (f" {json.dumps(extra)}" if extra else "")
        if exc.reason == "auth_required":
            text += " (pass --token or --api-key, or set CAMSVC_TOKEN)"
        return text
    return str(exc)


def add_ctl_command(
    sub: Any, config_help: str, load_config: Callable[[str | None], config_mod.Config | None]
) -> None:
    """Add ``ctl``; ``load_config(--config)`` is the CLI's loader (None: it reported why)."""
    json_flag = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's own --json must not reset one given before the command
    json_flag.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print the API result as JSON")
    ctl = sub.add_parser(
        "ctl",
        parents=[json_flag],
        help="control a running service (cameras, snapshots, recordings, files, events)",
        description="Control a running camsvc over its JSON-RPC API.",
    )
    ctl.add_argument("--url", help="WebSocket URL (default: the server of the configuration)")
    cred = ctl.add_mutually_exclusive_group()
    cred.add_argument("--token", help="JWT (default: $CAMSVC_TOKEN)")
    cred.add_argument("--api-key", help="API key csk_... (default: $CAMSVC_API_KEY)")
    ctl.add_argument("--config", help=config_help)
    ctl.set_defaults(func=cmd_ctl, load_config=load_config)
    commands = ctl.add_subparsers(dest="ctl_command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        p = commands.add_parser(command.name, parents=[json_flag], help=command.help, description=command.help)
        command.arguments(p)
        p.set_defaults(ctl=command)


def _credential(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """--token / --api-key, else $CAMSVC_TOKEN, else $CAMSVC_API_KEY (one of them, or neither)."""
    if args.token or args.api_key:
        return args.token, args.api_key
    token = os.environ.get("CAMSVC_TOKEN") or None
    return token, None if token else (os.environ.get("CAMSVC_API_KEY") or None)


async def _run(command: Command, args: argparse.Namespace, url: str, token: str | None, api_key: str | None) -> None:
    from ..client import Client

    async with Client(url, token=token, api_key=api_key) as client:
        result = await command.run(client, args)
    if command.name == "watch":
        return
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        text = command.render(result, args)
        if text:
            print(text)


def cmd_ctl(args: argparse.Namespace) -> int:
    # The SDK (trio-websocket, httpx) is loaded here, not with the parser: `camsvc run` never needs it.
    from ..client import ClientError, ConnectError

    # --json has no default anywhere: a default on one level of subparsers would reset the other's
    args.json = getattr(args, "json", False)
    url = args.url
    if not url:
        cfg = args.load_config(args.config)
        if cfg is None:
            return EXIT_USAGE
        url = default_url(cfg)
    token, api_key = _credential(args)
    try:
        trio.run(_run, args.ctl, args, url, token, api_key)
    except ConnectError as exc:
        print(f"camsvc ctl: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ClientError as exc:
        print(f"camsvc ctl: {_describe(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # `camsvc ctl ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return EXIT_FAILED
    except OSError as exc:  # writing a download
        print(f"camsvc ctl: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_OK
