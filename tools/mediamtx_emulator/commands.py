"""External commands (runOnInit, runOnDemand, ...) run the way MediaMTX's ``externalcmd`` runs them.

The command string first has ``$VAR``/``${VAR}`` expanded (Go ``os.Expand``: the hook environment, then
the process environment), is then split shell-style and executed directly, without a shell, in its own
process group. Stopping sends SIGINT to the group; a process that ignores it is killed after a grace
period. With ``restart`` the command is relaunched 5 s after it exits. Output goes where MediaMTX's goes:
to the server's own stdout/stderr (or is discarded when configured so).
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
from collections.abc import Callable, Mapping

import trio

log = logging.getLogger(__name__)

RESTART_PAUSE = 5.0  # seconds, as MediaMTX
STOP_GRACE = 5.0


class CommandError(Exception):
    pass


def _is_alnum(c: str) -> bool:
    return c == "_" or ("0" <= c <= "9") or ("a" <= c <= "z") or ("A" <= c <= "Z")


def _shell_name(s: str) -> tuple[str, int]:
    # Go os.getShellName
    if s[0] == "{":
        if len(s) > 2 and s[1] in "*#$@!?-0123456789" and s[2] == "}":
            return s[1:2], 3
        for i in range(1, len(s)):
            if s[i] == "}":
                if i == 1:
                    return "", 2
                return s[1:i], i + 1
        return "", 1
    if s[0] in "*#$@!?-0123456789":
        return s[0:1], 1
    i = 0
    while i < len(s) and _is_alnum(s[i]):
        i += 1
    return s[:i], i


def expand(command: str, lookup: Callable[[str], str]) -> str:
    """Go ``os.Expand``."""
    out: list[str] = []
    i = 0
    j = 0
    while j < len(command):
        if command[j] == "$" and j + 1 < len(command):
            out.append(command[i:j])
            name, width = _shell_name(command[j + 1 :])
            if name == "" and width > 0:
                pass  # invalid syntax: the characters are eaten
            elif name == "":
                out.append("$")
            else:
                out.append(lookup(name))
            j += width
            i = j + 1
        j += 1
    out.append(command[i:])
    return "".join(out)


def prepare(command: str, env: Mapping[str, str]) -> list[str]:
    """The argument list MediaMTX would execute for ``command`` with hook variables ``env``."""
    expanded = expand(command, lambda name: env.get(name, os.environ.get(name, "")))
    try:
        argv = shlex.split(expanded)
    except ValueError as exc:
        raise CommandError(f"invalid command {command!r}: {exc}") from None
    if not argv:
        raise CommandError("empty command")
    return argv


async def _stop_group(proc: trio.Process, grace: float) -> None:
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGINT)
    except ProcessLookupError:
        return
    with trio.move_on_after(grace):
        await proc.wait()
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    await proc.wait()


async def run_command(
    command: str,
    env: Mapping[str, str],
    *,
    cwd: str | None,
    restart: bool,
    label: str,
    output: str = "inherit",
    on_exit: Callable[[int], None] | None = None,
) -> None:
    """Run ``command`` until it exits (or forever with ``restart``); cancel to stop it with SIGINT."""
    try:
        argv = prepare(command, env)
    except CommandError as exc:
        log.error("%s: %s", label, exc)
        return
    child_env = dict(os.environ)
    child_env.update(env)
    sink = None if output == "inherit" else subprocess.DEVNULL
    while True:
        log.info("%s: command started: %s", label, " ".join(argv))
        try:
            proc = await trio.lowlevel.open_process(
                argv,
                env=child_env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
                start_new_session=True,  # its own process group, so SIGINT reaches its children too
            )
        except OSError as exc:
            log.error("%s: cannot start %r: %s", label, argv[0], exc)
            code = -1
        else:
            try:
                code = await proc.wait()
            finally:
                with trio.CancelScope(shield=True):
                    await _stop_group(proc, STOP_GRACE)
        log.info("%s: command exited with code %d", label, code)
        if on_exit is not None:
            on_exit(code)
        if not restart:
            return
        await trio.sleep(RESTART_PAUSE)
