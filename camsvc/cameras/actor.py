"""The camera actor: one per camera, a dynamic child ``cameras/<id>`` of the cameras supervisor.

It owns its camera's published value, a bounded mailbox, the per-device lock that keeps two ffmpeg processes
from fighting over one V4L2 node, and the ``start_streaming`` lease. Others use only its methods:

- ``await actor.call(op, exclusive=True)`` runs ``op(camera)`` inside the actor (cancelled with it), one
  exclusive op at a time in arrival order; raises ``InvalidState("camera_disconnected")`` when the camera is
  not CONNECTED or goes away before the op finishes. If the caller is cancelled, so is its op.
- ``set_recording(state)`` / ``set_keep_streaming(flag)`` publish a new :class:`Camera` value into the
  registry (a ``camera_status_update`` goes out and the MediaMTX reconciler wakes).
- ``open_lease()`` / ``close_lease()``: the stream lease behind ``start_streaming``/``stop_streaming``.

Supervision: when the actor's loop fails, its camera is published as ERROR and the supervisor restarts
this actor alone (after backoff); the new run publishes the camera again, keeping the recording and
streaming flags the registry holds, so MediaMTX's desired state does not flicker. The actor object outlives
its runs, so handles held by others stay valid.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs
import trio

from supervisor import describe_error

from ..errors import InvalidState
from .model import Camera, CameraStatus, RecordingState
from .registry import CameraRegistry

log = logging.getLogger("camsvc.cameras.actor")

T = TypeVar("T")

#: ``readers(camera_id)``: how many clients read the camera's stream now; None when unknown (no MediaMTX)
ReadersFn = Callable[[str], Awaitable[int | None]]

DEFAULT_MAILBOX = 32


def camera_disconnected(camera_id: str) -> InvalidState:
    return InvalidState("camera_disconnected", f"camera {camera_id!r} is not connected")


@attrs.frozen
class StreamLease:
    """A ``start_streaming`` lease: the stream stays up (``keep_streaming``) from start to end."""

    #: wall-clock seconds
    start_time: float
    end_time: float | None = None
    #: "stop" (stop_streaming) or "idle" (no readers for ``idle_close`` seconds)
    ended_by: str | None = None

    @property
    def duration(self) -> float:
        end = self.end_time if self.end_time is not None else time.time()
        return max(0.0, end - self.start_time)


@attrs.define(eq=False)
class _Reply:
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    done: trio.Event = attrs.Factory(trio.Event)
    value: Any = None
    error: BaseException | None = None

    def resolve(self, value: Any = None, error: BaseException | None = None) -> None:
        if not self.done.is_set():
            self.value, self.error = value, error
            self.done.set()


@attrs.frozen(eq=False)
class _Call:
    op: Callable[[Camera], Awaitable[Any]]
    exclusive: bool
    reply: _Reply


@attrs.define(eq=False)
class CameraActor:
    """See the module docstring. ``camera`` is the value published when the actor (re)starts."""

    camera: Camera
    registry: CameraRegistry
    readers: ReadersFn | None = None
    #: seconds without readers after which a lease ends; 0 = never
    idle_close: float = 0.0
    mailbox_size: int = DEFAULT_MAILBOX
    wall_clock: Callable[[], float] = time.time
    #: how many times ``run`` has started (1 + restarts); tests and health read it
    starts: int = attrs.field(default=0, init=False)
    _send: trio.MemorySendChannel[object] | None = attrs.field(default=None, init=False)
    _device_lock: trio.Lock = attrs.field(factory=trio.Lock, init=False)
    _outstanding: set[_Reply] = attrs.field(factory=set, init=False)
    _lease: StreamLease | None = attrs.field(default=None, init=False)
    _idle_closed: StreamLease | None = attrs.field(default=None, init=False)
    _lease_opened: trio.Event = attrs.field(factory=trio.Event, init=False)

    @property
    def id(self) -> str:
        return self.camera.id

    @property
    def running(self) -> bool:
        return self._send is not None

    def current(self) -> Camera | None:
        """The camera's published value (None once removed)."""
        return self.registry.get(self.id)

    # ------------------------------------------------------------------------------------------ lifecycle

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        send, receive = trio.open_memory_channel[object](self.mailbox_size)
        # A fresh lock per run: an op of a crashed run must not keep the device locked.
        self._device_lock = trio.Lock()
        try:
            async with trio.open_nursery() as nursery, receive:
                self._publish_start()
                self.starts += 1
                self._send = send
                if self.readers is not None and self.idle_close > 0:
                    nursery.start_soon(self._watch_lease_idle)
                task_status.started()
                async for message in receive:
                    self._handle(message, nursery)
        except Exception as exc:
            self._publish_error(describe_error(exc))
            raise
        finally:
            self._send = None
            send.close()
            for reply in list(self._outstanding):
                reply.resolve(error=camera_disconnected(self.id))

    def _publish_start(self) -> None:
        # Keep the desired-state flags (recording, keep_streaming) that outlive a restart.
        before = self.registry.get(self.id)
        camera = attrs.evolve(self.camera, since=self.wall_clock())
        if before is not None:
            camera = attrs.evolve(camera, recording=before.recording, keep_streaming=before.keep_streaming)
            if before.status is camera.status:
                camera = attrs.evolve(camera, since=before.since)
        self.registry.put(camera)

    def _publish_error(self, error: str) -> None:
        before = self.registry.get(self.id)
        if before is not None:
            log.error("camera actor failed", extra={"camera": self.id, "error": error})
            self.registry.put(
                attrs.evolve(before, status=CameraStatus.ERROR, since=self.wall_clock(), error=error)
            )

    def _handle(self, message: object, nursery: trio.Nursery) -> None:
        if isinstance(message, _Call):
            nursery.start_soon(self._run_call, message)
        else:
            # A message the actor does not understand is a bug: crash, and let the supervisor restart us.
            raise TypeError(f"camera actor {self.id!r} got an unknown message {message!r}")

    async def _post(self, message: object) -> None:
        """Put a raw message in the mailbox: the supervised-crash path is tested through this, and the soak's
        fault injection crashes actors through it (camsvc/fault_injection.py)."""
        if self._send is None:
            raise camera_disconnected(self.id)
        await self._send.send(message)

    # ------------------------------------------------------------------------------------------ operations

    async def call(self, op: Callable[[Camera], Awaitable[T]], *, exclusive: bool = True) -> T:
        """Run ``op(camera)`` inside the actor; exclusive ops on one camera never overlap."""
        send = self._send
        camera = self.registry.get(self.id)
        if send is None or camera is None or camera.status is not CameraStatus.CONNECTED:
            raise camera_disconnected(self.id)
        reply = _Reply()
        self._outstanding.add(reply)
        try:
            try:
                await send.send(_Call(op, exclusive, reply))  # waits while the mailbox is full
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                raise camera_disconnected(self.id) from None
            await reply.done.wait()
        finally:
            if not reply.done.is_set():
                reply.scope.cancel()  # the caller gave up: so does its op
            self._outstanding.discard(reply)
        if reply.error is not None:
            raise reply.error
        return reply.value  # type: ignore[no-any-return]

    async def _run_call(self, call: _Call) -> None:
        reply = call.reply
        try:
            with reply.scope:
                if call.exclusive:
                    async with self._device_lock:
                        await self._invoke(call)
                else:
                    await self._invoke(call)
        finally:
            # Cancelled by the actor stopping (or the caller leaving): the device is gone for this op.
            reply.resolve(error=camera_disconnected(self.id))

    async def _invoke(self, call: _Call) -> None:
        camera = self.registry.get(self.id)
        if camera is None or camera.status is not CameraStatus.CONNECTED:
            call.reply.resolve(error=camera_disconnected(self.id))
            return
        try:
            value = await call.op(camera)
        except Exception as exc:  # the op's failure is the caller's, not the actor's
            call.reply.resolve(error=exc)
        else:
            call.reply.resolve(value)

    # ---------------------------------------------------------------------------------------- published state

    def _update(self, **changes: Any) -> Camera | None:
        camera = self.registry.get(self.id)
        if camera is None:
            return None
        updated = attrs.evolve(camera, **changes)
        self.registry.put(updated)
        return updated

    def set_recording(self, state: RecordingState | None) -> None:
        """Publish the camera recording (``state``) or not (None); clearing a removed camera is a no-op."""
        if self._update(recording=state) is None and state is not None:
            raise camera_disconnected(self.id)

    def set_keep_streaming(self, keep: bool) -> None:
        """Publish whether the stream must stay up without readers."""
        if self._update(keep_streaming=keep) is None and keep:
            raise camera_disconnected(self.id)

    # ------------------------------------------------------------------------------------------- stream lease

    @property
    def lease(self) -> StreamLease | None:
        return self._lease

    def open_lease(self) -> StreamLease:
        """Keep the stream up until :meth:`close_lease` or ``idle_close`` seconds without readers.
        Opening an open lease returns it unchanged (its real start time)."""
        camera = self.registry.get(self.id)
        if not self.running or camera is None or camera.status is not CameraStatus.CONNECTED:
            raise camera_disconnected(self.id)
        if self._lease is None:
            self._lease = StreamLease(start_time=self.wall_clock())
            self._idle_closed = None
            self._lease_opened.set()
        self.set_keep_streaming(True)
        return self._lease

    def close_lease(self, ended_by: str = "stop") -> StreamLease | None:
        """End the lease; returns it with its end time. If it had already ended for idleness, that lease
        is returned (once); None when there was none."""
        lease, self._lease = self._lease, None
        if lease is None:
            closed, self._idle_closed = self._idle_closed, None
            return closed
        self._lease_opened = trio.Event()
        self._update(keep_streaming=False)
        closed = attrs.evolve(lease, end_time=self.wall_clock(), ended_by=ended_by)
        if ended_by == "idle":
            self._idle_closed = closed
            log.info(
                "stream lease closed after idling", extra={"camera": self.id, "idle_close": self.idle_close}
            )
        return closed

    async def reader_count(self) -> int | None:
        """Clients reading the stream now; None when unknown (no MediaMTX, or it did not answer)."""
        if self.readers is None:
            return None
        try:
            return await self.readers(self.id)
        except Exception as exc:  # unknown is not idle: MediaMTX trouble must not end a lease
            log.debug("reader count unavailable", extra={"camera": self.id, "error": describe_error(exc)})
            return None

    async def _watch_lease_idle(self) -> None:
        # Idle time counts from the first check that saw no readers, so a lease never ends early.
        interval = max(0.5, min(5.0, self.idle_close / 4))
        while True:
            await self._lease_opened.wait()
            idle_since: float | None = None
            while self._lease is not None:
                await trio.sleep(interval)
                if self._lease is None:
                    break
                readers = await self.reader_count()
                now = trio.current_time()
                if readers is None or readers > 0:
                    idle_since = None
                elif idle_since is None:
                    idle_since = now
                elif now - idle_since >= self.idle_close - 1e-9:
                    self.close_lease("idle")

    def idle_close_after(self) -> int | None:
        """``auto_close_after`` of start_streaming: seconds, None when leases never idle out."""
        if self.readers is None or self.idle_close <= 0 or not math.isfinite(self.idle_close):
            return None
        return int(self.idle_close)
