"""The ``camsvc ctl`` commands: which API method each calls and how its result reads for people.

Each command is one :class:`Command`: its arguments, an async ``run`` that calls the
API through :class:`camsvc.client.Client` and returns the method's result exactly as
the API sent it (that is what ``--json`` prints), and ``render`` for the human view.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from . import render as r

if TYPE_CHECKING:  # the SDK is imported when a command runs (camsvc/ctl/__init__.py:cmd_ctl)
    from ..client import Client

Run = Callable[["Client", argparse.Namespace], Awaitable[Any]]


@attrs.frozen
class Command:
    name: str
    help: str
    run: Run
    render: Callable[[Any, argparse.Namespace], str]
    arguments: Callable[[argparse.ArgumentParser], None] = lambda p: None


def _file_type(args: argparse.Namespace) -> str:
    """recording or snapshot: --type, else from the name (images are snapshots)."""
    if args.type:
        return str(args.type)
    return "snapshot" if Path(args.filename).suffix.lower() in (".jpg", ".jpeg", ".png") else "recording"


# -------------------------------------------------------------------- runs


async def _cameras(client: Client, args: argparse.Namespace) -> Any:
    return await client.get_camera_list()


async def _status(client: Client, args: argparse.Namespace) -> Any:
    if args.device:
        return await client.get_camera_status(args.device)
    return await client.get_system_status()


async def _snapshot(client: Client, args: argparse.Namespace) -> Any:
    return await client.take_snapshot(args.device, filename=args.filename, format=args.format)


async def _record(client: Client, args: argparse.Namespace) -> Any:
    if args.action == "start":
        return await client.start_recording(args.device, duration=args.duration, format=args.format)
    return await client.stop_recording(args.device)


async def _files(client: Client, args: argparse.Namespace) -> Any:
    if args.action == "list":
        lister = client.list_snapshots if args.kind == "snapshots" else client.list_recordings
        return await lister(limit=args.limit, offset=args.offset, device=args.device)
    file_type = _file_type(args)
    if args.action == "delete":
        if file_type == "snapshot":
            return await client.delete_snapshot(args.filename)
        return await client.delete_recording(args.filename)
    link = await client.get_download_url(file_type, args.filename)
    target = await client.fetch(link["url"], args.filename, args.output)
    print(f"saved {target}", file=sys.stderr)
    return link


async def _streams(client: Client, args: argparse.Namespace) -> Any:
    return await client.get_streams()


async def _watch(client: Client, args: argparse.Namespace) -> Any:
    if args.topic or args.device:
        topics = args.topic or ["camera_status_update", "recording_status_update"]
        await client.subscribe_events(topics, {"device": args.device} if args.device else None)
    seen = 0
    async for event in client.notifications():
        if args.json:
            print(json.dumps({"method": event.method, "params": event.params}), flush=True)
        else:
            params = event.params if isinstance(event.params, dict) else {"value": event.params}
            summary = " ".join(f"{k}={r.cell(v)}" for k, v in params.items() if not isinstance(v, dict))
            print(f"{event.method}  {summary}", flush=True)
        seen += 1
        if args.count and seen >= args.count:
            break
    return None


async def _health(client: Client, args: argparse.Namespace) -> Any:
    return await client.get_status()


async def _server_info(client: Client, args: argparse.Namespace) -> Any:
    return await client.get_server_info()


# ------------------------------------------------------------------ renders


def _render_cameras(result: Any, args: argparse.Namespace) -> str:
    rows = [
        (c.get("device"), c.get("status"), c.get("resolution"), c.get("fps"), c.get("recording"), c.get("name"))
        for c in result["cameras"]
    ]
    text = r.table(("DEVICE", "STATUS", "RESOLUTION", "FPS", "RECORDING", "NAME"), rows)
    return f"{text}\n{result['connected']} of {result['total']} connected"


def _render_fields(result: Any, args: argparse.Namespace) -> str:
    return r.fields(result)


def _render_files(result: Any, args: argparse.Namespace) -> str:
    if args.action != "list":
        return r.fields(result) if args.action == "delete" else ""
    rows = [
        (f["filename"], f.get("device"), r.size(f.get("file_size")), f.get("created_time"), f.get("duration"))
        for f in result["files"]
    ]
    text = r.table(("FILENAME", "DEVICE", "SIZE", "CREATED", "DURATION"), rows)
    shown = f"{result['offset'] + 1}-{result['offset'] + len(rows)}" if rows else "0"
    return f"{text}\n{shown} of {result['total']} {args.kind}"


def _render_streams(result: Any, args: argparse.Namespace) -> str:
    rows = [(s["name"], s.get("ready"), s.get("readers"), r.size(s.get("bytes_sent")), s.get("source")) for s in result]
    return r.table(("NAME", "READY", "READERS", "SENT", "SOURCE"), rows)


def _render_health(result: Any, args: argparse.Namespace) -> str:
    head = f"status: {result['status']}  version: {result.get('version')}  uptime: {r.cell(result.get('uptime'))} s"
    rows = sorted(result.get("components", {}).items())
    return f"{head}\n{r.table(('COMPONENT', 'STATE'), rows)}"


def _nothing(result: Any, args: argparse.Namespace) -> str:
    return ""


# ---------------------------------------------------------------- arguments


def _device(p: argparse.ArgumentParser) -> None:
    p.add_argument("device", help="camera id, e.g. camera0")


def _status_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("device", nargs="?", help="a camera (omitted: the service's readiness)")


def _snapshot_args(p: argparse.ArgumentParser) -> None:
    _device(p)
    p.add_argument("--filename", help="name to save as (extension added if missing)")
    p.add_argument("--format", choices=("jpg", "png"))


def _record_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("start", "stop"))
    _device(p)
    p.add_argument("--duration", type=int, help="seconds; stop by itself after this long (start only)")
    p.add_argument("--format", choices=("fmp4", "mp4", "mpegts"), help="container (start only)")


def _files_args(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", required=True, metavar="list|download|delete")
    ls = actions.add_parser("list", help="list recordings or snapshots, newest first")
    ls.add_argument("kind", nargs="?", choices=("recordings", "snapshots"), default="recordings")
    ls.add_argument("--device")
    ls.add_argument("--limit", type=int)
    ls.add_argument("--offset", type=int)
    dl = actions.add_parser("download", help="download a file through a signed URL")
    dl.add_argument("filename")
    dl.add_argument("-o", "--output", help="file or directory to write (default: the working directory)")
    rm = actions.add_parser("delete", help="delete a file (admin)")
    rm.add_argument("filename")
    for sub in (dl, rm):
        sub.add_argument("--type", choices=("recording", "snapshot"), help="default: snapshot for .jpg/.png names")
    for sub in (ls, dl, rm):
        sub.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _watch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--topic", action="append", help="subscribe to this topic too (repeatable)")
    p.add_argument("--device", help="only this camera's events")
    p.add_argument("--count", type=int, help="stop after this many events")


COMMANDS = [
    Command("cameras", "list the cameras", _cameras, _render_cameras),
    Command("status", "one camera's status, or the service's readiness", _status, _render_fields, _status_args),
    Command("snapshot", "take a snapshot", _snapshot, _render_fields, _snapshot_args),
    Command("record", "start or stop recording", _record, _render_fields, _record_args),
    Command("files", "list, download or delete recordings and snapshots", _files, _render_files, _files_args),
    Command("streams", "the MediaMTX streams", _streams, _render_streams),
    Command("watch", "print live events until interrupted", _watch, _nothing, _watch_args),
    Command("health", "overall health and every component (admin)", _health, _render_health),
    Command("server-info", "server name, version and capabilities", _server_info, _render_fields),
]
