"""One readiness poller for the input of every plain-TCP connection whose reader is idle.

trio waits for a socket one task at a time: every wait re-arms the descriptor in trio's
epoll (an ``epoll_ctl`` per message) and every arrival is a task switch through trio's
scheduler. On the benchmark box that was ~8 µs of a ~35 µs ping, more than parsing,
dispatch and the answer's encoding together. Here an idle reader's socket stays in one
level-triggered epoll that a single task waits on; one pass reads every ready socket
and its connection handles, right there, all that needs no waiting (inline answers,
control frames, starting request tasks). Only input that must wait (a full request-slot
semaphore, the closing handshake, refused frames) or the end of the input wakes the
connection's reader task, which takes the socket back until it is idle again.

The poller never closes a descriptor and holds none once its connection has called
:meth:`Poller.forget` (before the socket is closed, so a number the OS hands out again
never reaches the wrong connection).
"""

from __future__ import annotations

import select
import time
from typing import Protocol

import trio

#: a pass is one scheduler step: it handles at most this many sockets and stops taking the next one
#: after PASS_SECONDS (a ping is ~15 µs, but one receive may carry hundreds of messages); sockets
#: left over stay ready and come first in the next pass
BATCH = 128
PASS_SECONDS = 0.002


class Watcher(Protocol):
    def on_readable(self) -> None:
        """Input is waiting; never raises (what fails is handed to the watcher's own task)."""


class Poller:
    """The epoll and the task waiting on it; a connection arms its socket whenever its reader goes idle."""

    __slots__ = ("_epoll", "_watchers", "_paused")

    def __init__(self) -> None:
        self._epoll: select.epoll | None = None
        self._watchers: dict[int, Watcher] = {}
        #: descriptors known but not registered right now (their reader task has the socket)
        self._paused: set[int] = set()

    def __len__(self) -> int:
        """Descriptors known (watched or paused)."""
        return len(self._watchers)

    def arm(self, fd: int, watcher: Watcher) -> bool:
        """Watch ``fd`` for ``watcher`` until :meth:`pause`; False when the poller cannot (not running)."""
        epoll = self._epoll
        if epoll is None:
            return False
        if fd not in self._watchers or fd in self._paused:
            try:
                epoll.register(fd, select.EPOLLIN)
            except OSError:  # the kernel refused (out of memory...): the caller waits on its socket itself
                return False
            self._paused.discard(fd)
        self._watchers[fd] = watcher
        return True

    def pause(self, fd: int) -> None:
        """Stop reporting ``fd`` while its reader task reads it itself.

        Unregistered, not just given an empty event mask: epoll reports a hang-up or an
        error whatever the mask, and would report it on every pass until the task came back.
        """
        if fd in self._watchers and fd not in self._paused:
            self._paused.add(fd)
            self._unregister(fd)

    def forget(self, fd: int) -> None:
        """Drop ``fd`` for good (before its socket is closed)."""
        if self._watchers.pop(fd, None) is None:
            return
        if fd in self._paused:
            self._paused.discard(fd)
        else:
            self._unregister(fd)

    def _unregister(self, fd: int) -> None:
        if self._epoll is not None:
            try:
                self._epoll.unregister(fd)
            except OSError:  # already closed: the kernel dropped it with the socket
                pass

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        epoll = self._epoll = select.epoll()
        fileno = epoll.fileno()
        watchers = self._watchers
        try:
            task_status.started()
            while True:
                await trio.lowlevel.wait_readable(fileno)
                until = time.perf_counter() + PASS_SECONDS
                for fd, _ in epoll.poll(0, BATCH):
                    watcher = watchers.get(fd)
                    if watcher is not None:
                        watcher.on_readable()
                        if time.perf_counter() > until:
                            break
                # a connection that has ended is not kept alive until the next pass
                watcher = None
        finally:
            self._epoll = None
            watchers.clear()
            self._paused.clear()
            trio.lowlevel.notify_closing(fileno)
            epoll.close()
