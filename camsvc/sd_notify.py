"""Minimal systemd notification protocol (sd_notify) using only the standard library.

systemd starts a ``Type=notify`` service with ``NOTIFY_SOCKET`` set to the path of a datagram socket
(or ``@name`` for a Linux abstract-namespace socket). The service reports its state by sending
newline-separated ``KEY=VALUE`` assignments to it, e.g.::

    from camsvc import sd_notify

    sd_notify.notify("READY=1")            # supervision tree is up: `systemctl start` returns
    sd_notify.notify("STATUS=serving 3 cameras")
    sd_notify.notify("STOPPING=1")         # graceful shutdown began

When ``NOTIFY_SOCKET`` is unset (tests, a terminal, another supervisor) every call is a no-op that returns
False, so callers never need to check where they run.

The watchdog (``WatchdogSec=`` in the unit) sets ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``);
:func:`watchdog_interval` turns that into seconds, and :func:`run_watchdog` is a trio task that sends
``WATCHDOG=1`` at half the interval, as sd_watchdog_enabled(3) recommends.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import trio

__all__ = ["notify", "notify_socket_address", "watchdog_interval", "run_watchdog"]


def notify_socket_address(environ: Mapping[str, str] | None = None) -> str | bytes | None:
    """The address to send notifications to, or None when not run under a notify-aware manager.

    A leading ``@`` names an abstract-namespace socket: the kernel expects a leading NUL byte instead.
    Only absolute paths and ``@`` names are accepted (systemd itself only hands out those);
    anything else, e.g. a ``vsock:`` address, is ignored rather than guessed at.
    """
    env = os.environ if environ is None else environ
    raw = env.get("NOTIFY_SOCKET", "")
    if raw.startswith("@") and len(raw) > 1:
        return b"\0" + raw[1:].encode()
    if raw.startswith("/"):
        return raw
    return None


def notify(state: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """Send one notification (e.g. ``"READY=1"``; several assignments may be joined by newlines).

    Returns True when the datagram was sent, False when there is no notify socket. A socket that is
    configured but unreachable raises OSError: that is a real deployment fault worth seeing.
    """
    if not state:
        raise ValueError("sd_notify state must be a non-empty string such as 'READY=1'")
    address = notify_socket_address(environ)
    if address is None:
        return False
    # SOCK_CLOEXEC: an ffmpeg child must not inherit the socket and impersonate us.
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(address)
        sock.sendall(state.encode())
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None, *, pid: int | None = None) -> float | None:
    """The watchdog timeout in seconds when systemd expects keep-alives from this process, else None.

    ``WATCHDOG_PID``, when present, names the process the watchdog is meant for; a child that merely
    inherited the environment must not answer for its parent.
    """
    env = os.environ if environ is None else environ
    usec_text = env.get("WATCHDOG_USEC", "")
    if not usec_text:
        return None
    try:
        usec = int(usec_text)
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid_text = env.get("WATCHDOG_PID", "")
    if pid_text:
        own_pid = os.getpid() if pid is None else pid
        try:
            if int(pid_text) != own_pid:
                return None
        except ValueError:
            return None
    return usec / 1_000_000


async def run_watchdog(
    *,
    environ: Mapping[str, str] | None = None,
    task_status: trio.TaskStatus[float | None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Ping the systemd watchdog at half its interval until cancelled.

    Reports the interval (or None) through ``task_status``; returns at once when no watchdog is set, so
    it can be started unconditionally under a supervisor as a transient child.
    """
    interval = watchdog_interval(environ)
    task_status.started(interval)
    if interval is None:
        return
    while True:
        notify("WATCHDOG=1", environ=environ)
        await trio.sleep(interval / 2)
