"""Reads and writes on a plain TCP socket's descriptor, beside its trio stream.

On this service's request/answer hot path two system calls per message are avoidable:

- writing: ``stream.send_all`` costs a task switch to a writer even when the socket
  would take the answer at once; :meth:`DirectSocket.try_write` writes what fits now
  and the caller queues only the rest;
- reading: ``stream.receive_some`` tries the read first, and right after an answer
  the next request is nearly never there yet (a failed ``recv`` per message);
  :meth:`DirectSocket.receive` waits for readability first, then reads once, and
  :meth:`DirectSocket.read_now` reads a socket the poller (poller.py) saw ready.

The stream stays the owner of the socket: trio made the descriptor non-blocking,
closing goes through the stream, and :meth:`detach` must come before it so a
descriptor number the OS hands out again is never written to. A TLS stream has no
descriptor we may touch: writes then report 0 bytes and reads go through the stream.
"""

from __future__ import annotations

import os

import trio

RECEIVE_BYTES = 65536


class DirectSocket:
    __slots__ = ("_stream", "_fd")

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream
        #: the descriptor of a plain TCP stream; -1 for TLS and once detached
        self._fd = stream.socket.fileno() if isinstance(stream, trio.SocketStream) else -1

    def try_write(self, data: bytes) -> int:
        """Bytes of ``data`` written now without waiting (0 also when the socket is broken:
        the stream's next send finds out and reports it properly)."""
        if self._fd < 0:
            return 0
        try:
            return os.write(self._fd, data)
        except OSError:  # BlockingIOError and InterruptedError included
            return 0

    @property
    def fd(self) -> int:
        """The descriptor (-1: none to use, for TLS and once detached)."""
        return self._fd

    def read_now(self) -> bytes | None:
        """What the peer sent, without waiting: None when nothing is there after all, b"" when it
        closed (or the connection broke)."""
        try:
            return os.read(self._fd, RECEIVE_BYTES)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return b""

    async def receive(self) -> bytes:
        """The next bytes from the peer; b"" when it closed (or the connection broke)."""
        fd = self._fd
        if fd >= 0:
            try:
                await trio.lowlevel.wait_readable(fd)
                return os.read(fd, RECEIVE_BYTES)
            except (BlockingIOError, InterruptedError):
                pass  # woken without data after all: the stream's own path below
            except (OSError, trio.ClosedResourceError):
                return b""
        try:
            return bytes(await self._stream.receive_some(RECEIVE_BYTES))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return b""

    def detach(self) -> None:
        """Stop using the descriptor (call before the stream is closed)."""
        self._fd = -1
