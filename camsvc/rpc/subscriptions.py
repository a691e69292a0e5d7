"""Event subscriptions (spec §5): topics, aliases, device filters and the fan-out.

Each connection keeps the topics exactly as it subscribed them (aliases such as
``camera.connected`` are kept as given, for ``get_subscription_stats``); matching
uses the canonical topic. The hub is the one event-bus subscriber of the RPC
server: for each event it walks only the connections subscribed to that topic,
and hands each the notification frame, encoded once per client host and shared.
Delivery never awaits: a connection whose queue is full closes itself (1008).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import trio

from ..errors import InvalidParams
from ..events import TOPICS, Event
from .frames import text_frame

#: dotted forms older clients use → canonical topic
ALIASES = {
    "camera.connected": "camera_status_update",
    "camera.disconnected": "camera_status_update",
    "camera.status_change": "camera_status_update",
    "recording.start": "recording_status_update",
    "recording.started": "recording_status_update",
    "recording.stop": "recording_status_update",
    "recording.stopped": "recording_status_update",
    "recording.error": "recording_status_update",
    "snapshot.taken": "snapshot_taken",
    "system.health": "system_health_update",
}
DEFAULT_TOPICS = ("camera_status_update", "recording_status_update")
#: how long one scheduler turn may hand out notifications (bounds the event-loop hold of a
#: fan-out): about 700 direct writes on the benchmark box, so 1,000 subscribers take two turns,
#: not four fixed slices with every other runnable task (the publisher's own handler, the
#: reconciler) run in between
FANOUT_TURN = 0.005
#: deliveries between two readings of the clock
FANOUT_CHUNK = 64
#: write notifications straight to idle sockets; a switch so the benchmark can measure the
#: one-writer-task-wake-per-delivery path it replaced
FANOUT_DIRECT = True
ALL_TOPIC_NAMES = (*TOPICS, *ALIASES)


def canonical(topic: str) -> str | None:
    if topic in TOPICS:
        return topic
    return ALIASES.get(topic)


class Subscriber(Protocol):
    id: str
    host: str | None
    #: topic as given → device filter (None = every device)
    topics: dict[str, str | None]

    def send_frame(self, frame: bytes, *, direct: bool = False) -> None: ...


class SubscriptionHub:
    def __init__(self, resolve_device: Callable[[str], str] = lambda d: d) -> None:
        #: canonical topic → subscriber → the devices it wants that topic for (None: every device),
        #: kept from its topics as given so that a fan-out reads one entry per subscriber
        self._index: dict[str, dict[Subscriber, frozenset[str] | None]] = {t: {} for t in TOPICS}
        self._resolve = resolve_device
        self.delivered = 0
        #: subscriptions (topics as given) over all connections, and connections with any
        self._total = 0
        self._clients: dict[Subscriber, None] = {}
        #: notifications not yet handed to their connection, in publication order
        self._pending: collections.deque[tuple[Subscriber, bytes]] = collections.deque()
        self._wake = trio.Event()

    # ------------------------------------------------------------ changes

    def subscribe(self, sub: Subscriber, topics: Iterable[str], device: str | None = None) -> list[str]:
        """Add topics (validated first: one unknown topic rejects the whole call)."""
        topics = list(topics)
        for topic in topics:
            if canonical(topic) is None:
                raise InvalidParams("topics", "unknown_topic", f"unknown topic {topic!r}; known: {', '.join(ALL_TOPIC_NAMES)}")
        device = self._resolve(device) if device else None
        for topic in topics:
            if topic not in sub.topics:
                self._total += 1
            sub.topics[topic] = device
        self._reindex(sub)
        return topics

    def unsubscribe(self, sub: Subscriber, topics: Iterable[str] | None = None) -> list[str]:
        """Remove the given topics (as given or canonical), or all of them; returns those removed."""
        if topics is None:
            removed = list(sub.topics)
        else:
            wanted = list(topics)
            for topic in wanted:
                if canonical(topic) is None:
                    raise InvalidParams("topics", "unknown_topic", f"unknown topic {topic!r}")
            removed = [t for t in sub.topics if t in wanted or canonical(t) in wanted]
        for topic in removed:
            del sub.topics[topic]
        self._total -= len(removed)
        self._reindex(sub)
        return removed

    def drop(self, sub: Subscriber) -> None:
        self._total -= len(sub.topics)
        sub.topics.clear()
        self._reindex(sub)

    def _reindex(self, sub: Subscriber) -> None:
        wanted: dict[str, list[str | None]] = {}
        for topic, device in sub.topics.items():
            wanted.setdefault(canonical(topic) or topic, []).append(device)
        for topic, subs in self._index.items():
            devices = wanted.get(topic)
            if devices is None:
                subs.pop(sub, None)
            else:
                subs[sub] = None if None in devices else frozenset(d for d in devices if d is not None)
        if sub.topics:
            self._clients[sub] = None
        else:
            self._clients.pop(sub, None)

    # ------------------------------------------------------------ reading

    def stats(self) -> dict[str, object]:
        """Kept as counters: O(topics), whatever the number of connections."""
        return {
            "total_subscriptions": self._total,
            "active_clients": len(self._clients),
            "topic_counts": {topic: len(subs) for topic, subs in self._index.items()},
        }

    # ----------------------------------------------------------- delivery

    def deliver(self, event: Event) -> None:
        """Event-bus subscriber: hand the event's notification to every matching connection."""
        subs = self._index.get(event.topic)
        if not subs:
            return
        frames: dict[str | None, bytes] = {}
        device = event.device
        pending = self._pending
        was_idle = not pending
        for sub, devices in list(subs.items()):
            if devices is not None and device is not None and device not in devices:
                continue  # filtered to other devices (an event about no device goes to all)
            host = sub.host if event.render is not None else None
            frame = frames.get(host)
            if frame is None:
                frame = frames[host] = text_frame(event.notification(host).encode())
            pending.append((sub, frame))
            self.delivered += 1
        if was_idle and pending:
            # What fits in this turn goes out right now; the flusher takes the rest after a checkpoint.
            self._send_chunk()
        if pending:
            self._wake.set()

    def _send_chunk(self) -> None:
        """Hand out queued notifications for at most FANOUT_TURN (whole chunks of FANOUT_CHUNK)."""
        pending = self._pending
        direct = FANOUT_DIRECT
        deadline = time.perf_counter() + FANOUT_TURN
        while pending:
            for _ in range(min(FANOUT_CHUNK, len(pending))):
                sub, frame = pending.popleft()
                sub.send_frame(frame, direct=direct)
            if time.perf_counter() >= deadline:
                return

    async def run_flusher(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Send what deliver() left queued, a chunk per scheduler turn, in publication order.

        One FIFO for every notification keeps each connection's events in order; writing to
        idle sockets directly (``send_frame(direct=True)``) spares a task switch per delivery,
        and the per-turn time budget bounds how long the event loop is held by one fan-out.
        """
        task_status.started()
        while True:
            if not self._pending:
                self._wake = trio.Event()
                await self._wake.wait()
            await trio.lowlevel.checkpoint()
            self._send_chunk()
