"""Fault injection for the control API, so clients can be tested against a misbehaving MediaMTX."""

from __future__ import annotations

import attrs
import trio


@attrs.frozen
class RequestRecord:
    """One API request as the emulator saw it (most recent last in ``Emulator.requests``)."""

    method: str
    target: str
    status: int | None  # None while the request is held by a hang


class ApiFaults:
    """How the API misbehaves; changes apply to requests that arrive afterwards.

    * ``fail(status=500, error="terminated")``: answer every request with that JSON error.
    * ``hang()``: accept requests and never answer them (until ``clear()``, which lets held ones proceed).
    * ``delay(seconds)``: answer normally, late.
    * ``only(prefix)``: restrict the fault to request paths starting with ``prefix``.
    """

    def __init__(self) -> None:
        self.mode = "none"
        self.status = 500
        self.error = "terminated"
        self.seconds = 0.0
        self.prefix = ""
        self._release = trio.Event()

    def fail(self, status: int = 500, error: str = "terminated") -> None:
        self.mode, self.status, self.error = "fail", status, error

    def hang(self) -> None:
        self.mode = "hang"
        self._release = trio.Event()

    def delay(self, seconds: float) -> None:
        self.mode, self.seconds = "delay", seconds

    def only(self, prefix: str) -> None:
        self.prefix = prefix

    def clear(self) -> None:
        self.mode = "none"
        self.prefix = ""
        self._release.set()

    def applies_to(self, path: str) -> bool:
        return self.mode != "none" and path.startswith(self.prefix)

    async def wait_released(self) -> None:
        await self._release.wait()
