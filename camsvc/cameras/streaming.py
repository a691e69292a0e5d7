"""A stream lease end to end (what ``start_streaming`` does): open the camera's lease, have
MediaMTX apply it, and wait until the stream is really up, so "STARTED" is true when answered.

On failure the lease this call opened is closed again; a lease that was already open (an
earlier start_streaming) stays. The gateway is the mediamtx room's, seen through
:class:`StreamGateway` (that room builds on this one, so it cannot be imported here).
"""

from __future__ import annotations

from typing import Protocol

import trio

from ..errors import DependencyFailed
from .actor import CameraActor, StreamLease

#: seconds between readiness checks while waiting for the stream
READY_POLL = 0.2


class PathReadiness(Protocol):
    @property
    def ready(self) -> bool: ...


class StreamGateway(Protocol):
    def ensure_available(self) -> None: ...

    async def sync(self, timeout: float, *, name: str | None = None) -> None: ...  # noqa: ASYNC109 - the gateway's interface

    async def runtime(self, name: str) -> PathReadiness | None: ...


async def wait_ready(gateway: StreamGateway, name: str, within: float) -> None:
    """Poll MediaMTX until the path's stream is ready; DependencyFailed after ``within`` seconds."""
    with trio.move_on_after(within):
        while True:
            runtime = await gateway.runtime(name)
            if runtime is not None and runtime.ready:
                return
            await trio.sleep(READY_POLL)
    raise DependencyFailed(
        "mediamtx", f"stream {name!r} did not become ready within {within:g} s", reason="stream_not_ready"
    )


async def open_stream(
    actor: CameraActor, gateway: StreamGateway | None, *, sync_timeout: float, ready_timeout: float
) -> StreamLease:
    """The camera's lease, once its stream is up (without a gateway: at once)."""
    if gateway is not None:
        gateway.ensure_available()  # fail fast (-32050) while MediaMTX is known to be down
    was_open = actor.lease is not None
    lease = actor.open_lease()
    if gateway is None:
        return lease
    try:
        await gateway.sync(sync_timeout)
        await wait_ready(gateway, actor.id, ready_timeout)
    except Exception:
        if not was_open:
            actor.close_lease()
        raise
    return lease
