"""A supervised mediamtx process (child ``mediamtx-server`` of the ``mediamtx`` supervisor), when configured.

Runs ``<binary> <config_file>`` in its own process group. Its stdout/stderr lines, and
those of the hooks it runs, go to our log (logger ``camsvc.mediamtx.server``) at the
level :func:`server_log.classify` reads from them: MediaMTX's own tags, ffmpeg's. The child reports ready once the control API
answers, or after ``mediamtx.server_start_timeout`` anyway (the reconciler copes with
an unreachable API; a slow start must not fail the whole tree). When mediamtx exits
the child raises :class:`MediamtxExited` with the last lines it printed, and the
supervisor restarts it with backoff. On cancel: SIGINT, then SIGKILL to the whole
group after ``mediamtx.server_stop_timeout``; hooks it left behind are killed too.
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
import signal
import subprocess

import attrs
import trio

from ..config import MediamtxConfig
from .client import MediamtxClient, MediamtxError
from .server_log import classify

log = logging.getLogger("camsvc.mediamtx.server")

_MAX_LINE = 4096
_TAIL = 20


class MediamtxExited(Exception):
    """mediamtx ended on its own; the message carries its exit status and last output."""


def resolve_binary(m: MediamtxConfig) -> str | None:
    """The mediamtx executable to supervise, or None when we do not run one.

    ``mediamtx.binary`` wins; otherwise ``mediamtx`` from PATH when ``mediamtx.manage``
    is true (a warning is logged when it is not found).
    """
    if m.binary:
        return m.binary
    if m.manage:
        found = shutil.which("mediamtx")
        if found is None:
            log.warning("mediamtx.manage is true but no mediamtx is on PATH; not starting one")
        return found
    return None


@attrs.define(eq=False)
class MediamtxProcess:
    binary: str
    config_file: str
    api_url: str
    start_timeout: float = 10.0
    stop_timeout: float = 5.0
    username: str | None = None
    password: str | None = None
    #: pid of the running process (tests and diagnostics)
    pid: int | None = None
    _tail: collections.deque[str] = attrs.field(factory=lambda: collections.deque(maxlen=_TAIL))

    @classmethod
    def from_config(cls, m: MediamtxConfig, binary: str) -> MediamtxProcess:
        return cls(
            binary=binary,
            config_file=m.config_file,
            api_url=m.api_url,
            start_timeout=m.server_start_timeout,
            stop_timeout=m.server_stop_timeout,
            username=m.username,
            password=m.password,
        )

    def _check_files(self) -> None:
        if not os.path.isfile(self.binary) or not os.access(self.binary, os.X_OK):
            raise FileNotFoundError(f"mediamtx binary {self.binary!r} does not exist or is not executable")
        if not os.path.isfile(self.config_file):
            raise FileNotFoundError(f"mediamtx config file {self.config_file!r} does not exist (mediamtx.config_file)")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._check_files()
        self._tail.clear()
        proc = await trio.lowlevel.open_process(
            [self.binary, self.config_file],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its hooks (ffmpeg) join its group, so we can stop them all
        )
        self.pid = proc.pid
        log.info("mediamtx started", extra={"pid": proc.pid, "binary": self.binary, "config_file": self.config_file})
        try:
            pumps_done = trio.Event()

            async def pump_output() -> None:
                assert proc.stdout is not None and proc.stderr is not None
                async with trio.open_nursery() as pumps:
                    pumps.start_soon(self._pump, proc.stdout, logging.INFO)
                    pumps.start_soon(self._pump, proc.stderr, logging.WARNING)
                pumps_done.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(pump_output)
                if await self._wait_ready(proc):
                    task_status.started()
                code = await proc.wait()
                # Hooks it left running may hold the pipes open: give the last lines a moment, no more.
                with trio.move_on_after(0.5):
                    await pumps_done.wait()
                nursery.cancel_scope.cancel()
            raise MediamtxExited(self._exit_message(code))
        finally:
            self.pid = None
            with trio.CancelScope(shield=True):
                await self._stop(proc)

    def _exit_message(self, code: int) -> str:
        how = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
        tail = " | ".join(list(self._tail)[-5:])
        return f"mediamtx {how}" + (f"; last output: {tail}" if tail else "")

    async def _wait_ready(self, proc: trio.Process) -> bool:
        """False when mediamtx exited before its API answered (a start failure)."""
        async with MediamtxClient(
            self.api_url, timeout=min(1.0, self.start_timeout), username=self.username, password=self.password
        ) as api:
            with trio.move_on_after(self.start_timeout):
                while True:
                    if proc.poll() is not None:
                        return False
                    try:
                        await api.info()
                    except MediamtxError:
                        await trio.sleep(0.1)  # poll interval while it starts
                        continue
                    log.info("mediamtx API answers", extra={"api_url": self.api_url})
                    return True
        log.warning(
            "mediamtx API did not answer in time; reporting started anyway",
            extra={"api_url": self.api_url, "timeout": self.start_timeout},
        )
        return True

    async def _pump(self, stream: trio.abc.ReceiveStream, default: int) -> None:
        buffer = b""
        async for chunk in stream:
            # ffmpeg ends its progress lines with a bare CR
            buffer += chunk.replace(b"\r", b"\n")
            *lines, buffer = buffer.split(b"\n")
            for raw in lines:
                self._emit(raw, default)
            if len(buffer) > _MAX_LINE:
                self._emit(buffer, default)
                buffer = b""
        if buffer:
            self._emit(buffer, default)

    def _emit(self, raw: bytes, default: int) -> None:
        line = raw[:_MAX_LINE].decode("utf-8", "replace").rstrip()
        if not line:
            return
        entry = classify(line, default)
        if entry.level >= logging.INFO:
            self._tail.append(line)  # for the exit message: what it said, not ffmpeg's progress
        log.log(entry.level, entry.message, extra={"source": entry.source})

    async def _stop(self, proc: trio.Process) -> None:
        if proc.returncode is None:
            try:
                proc.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass
            with trio.move_on_after(self.stop_timeout):
                await proc.wait()
            if proc.returncode is None:
                log.warning("mediamtx ignored SIGINT; killing it", extra={"pid": proc.pid, "grace": self.stop_timeout})
                _kill_group(proc.pid)
                proc.kill()
                await proc.wait()
        # Stray hooks of a crashed mediamtx would otherwise hold cameras open.
        _kill_group(proc.pid)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
