"""In-process event bus: producers publish, subscribers get every event synchronously.

Delivery is a plain function call so that publishing never awaits and one slow
subscriber cannot delay another: a subscriber that queues (an RPC connection)
does so with ``send_nowait`` and decides itself what to do when its queue is full.
The JSON-RPC notification text of an event is encoded once, lazily, and shared
by every connection that sends it (fan-out is a hot path).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import trio

log = logging.getLogger("camsvc.events")

#: the topics of the API contract (spec §5)
TOPICS = ("camera_status_update", "recording_status_update", "snapshot_taken", "system_health_update")


@attrs.frozen(eq=False)
class Event:
    topic: str
    #: params as rendered for a client that connected without a usable Host
    params: dict[str, Any]
    #: camera id the event concerns, for device filters
    device: str | None = None
    #: params for a client that connected through ``host`` (stream URLs name the
    #: host the client used unless a public host is configured); None: host-independent
    render: Callable[[str], dict[str, Any]] | None = None
    _encoded: dict[str | None, str] = attrs.field(factory=dict, init=False, repr=False)

    def notification(self, host: str | None = None) -> str:
        """The JSON-RPC 2.0 notification text, encoded once per distinct host and then shared."""
        key = host if self.render is not None else None
        text = self._encoded.get(key)
        if text is None:
            params = self.render(key) if (self.render is not None and key is not None) else self.params
            text = json.dumps({"jsonrpc": "2.0", "method": self.topic, "params": params}, separators=(",", ":"))
            self._encoded[key] = text
        return text


Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[int, Subscriber] = {}
        self._next = 0
        self.published = 0

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Register ``subscriber``; returns a function that unregisters it."""
        key = self._next
        self._next += 1
        self._subscribers[key] = subscriber

        def unsubscribe() -> None:
            self._subscribers.pop(key, None)

        return unsubscribe

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(
        self,
        topic: str,
        params: dict[str, Any],
        *,
        device: str | None = None,
        render: Callable[[str], dict[str, Any]] | None = None,
    ) -> Event:
        event = Event(topic, params, device, render)
        self.published += 1
        for subscriber in list(self._subscribers.values()):
            try:
                subscriber(event)
            except Exception:  # one broken subscriber must not stop the others
                log.exception("event subscriber failed", extra={"topic": topic})
        return event

    @contextlib.contextmanager
    def stream(self, max_buffer: int = 256) -> Iterator[trio.MemoryReceiveChannel[Event]]:
        """Events as a channel, for in-process consumers; events that do not fit are dropped and logged."""
        send, receive = trio.open_memory_channel[Event](max_buffer)

        def push(event: Event) -> None:
            try:
                send.send_nowait(event)
            except trio.WouldBlock:
                log.warning("event stream full; event dropped", extra={"topic": event.topic})
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

        unsubscribe = self.subscribe(push)
        try:
            with receive:
                yield receive
        finally:
            unsubscribe()
            send.close()
